package paved

import (
	"errors"
	"fmt"
	"net"
	"slices"
)

// The checks in this file are what a replica set must satisfy: a cell's
// record of one (ReplicaSetRecord, which the cell's API refuses by them)
// and a replica set as a user declares it (ReplicaSetSpec, which the
// front ends check at plan time and Apply before it calls any cell). The
// two share one rule per field: the names, the global host and the
// regions (a record's peers are the spec's regions).

// MaxReplicaSetRegions bounds a replica set's regions, and so a record's
// peers: every cell probes every peer every interval.
const MaxReplicaSetRegions = 32

// Validate checks a cell's record of a replica set without calling the
// cell and returns every problem with its field ("peers[1].router"); the
// cell answers a refused write with the first of them. A record may have
// no peers: the fan-out writes only the regions whose routers it knows.
func (r ReplicaSetRecord) Validate() []FieldError {
	var errs fieldErrors
	errs.label("name", "replica set name", r.Name)
	errs.label("space", "space name", r.Space)
	errs.label("app", "app name", r.App)
	if err := checkGlobalHost(r.GlobalHost); err != nil {
		errs.fail("global_host", "%v", err)
	}
	regions := make([]string, len(r.Peers))
	for i, p := range r.Peers {
		regions[i] = p.Region
	}
	errs.regions("peers", func(i int) string { return fmt.Sprintf("peers[%d].region", i) }, regions, nil)
	for i, p := range r.Peers {
		if _, port, err := net.SplitHostPort(p.Router); err != nil || port == "" {
			errs.fail(fmt.Sprintf("peers[%d].router", i), "router %q must be HOST:PORT", p.Router)
		}
	}
	return errs
}

// fieldErrors gathers the problems of a spec.
type fieldErrors []FieldError

func (e *fieldErrors) fail(field, format string, args ...any) {
	*e = append(*e, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// label checks a name that must be a DNS label; kind says whose ("app name").
func (e *fieldErrors) label(field, kind, v string) {
	switch {
	case v == "":
		e.fail(field, "%s is required: a DNS label of 1 to 63 lowercase letters, digits and hyphens", kind)
	case !isDNSLabel(v):
		e.fail(field, "%s %q must be a DNS label: 1 to 63 lowercase letters, digits and hyphens", kind, v)
	}
}

// regions checks a replica set's regions (a record's peers): at most
// MaxReplicaSetRegions, each a DNS label listed once; known, when not nil,
// lists the configured regions. list is the list's field, at(i) the field
// of its element i.
func (e *fieldErrors) regions(list string, at func(int) string, regions, known []string) {
	if len(regions) > MaxReplicaSetRegions {
		e.fail(list, "a replica set spans at most %d regions, not %d", MaxReplicaSetRegions, len(regions))
	}
	for i, region := range regions {
		if !isDNSLabel(region) {
			e.label(at(i), "region", region)
		} else if first := slices.Index(regions, region); first < i {
			e.fail(at(i), "region %q is listed twice (also %s)", region, at(first))
		} else if known != nil && !slices.Contains(known, region) {
			e.fail(at(i), "region %q is not configured; %s", region, configuredRegions(known))
		}
	}
}

// checkGlobalHost checks a replica set's global host: a host name the
// routers match Host headers against.
func checkGlobalHost(host string) error {
	if host == "" {
		return errors.New("a global host is required, e.g. \"donations.example.test\"")
	}
	return CheckHost(host)
}
