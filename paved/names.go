package paved

import "regexp"

// dnsLabelRE is the one DNS-label rule of paved (RFC 1123, lower case):
// names of spaces, apps, pipelines, regions and environments, and every
// label of a route's host, so that each can stand in a host name, a
// process name or a file name without escaping. The cell, the provider,
// the Pulumi plugin and the CLI all reach it through CheckName, CheckHost
// and CheckRoute.
var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func isDNSLabel(s string) bool { return dnsLabelRE.MatchString(s) }
