// Package paved is the Go library for paved cells: a typed client with one
// file per API resource, sentinel errors for errors.Is, retries that honour
// Retry-After, and the helpers (Archive) that the CLI, the Terraform provider
// and the Pulumi plugin share. Everything user-facing goes through here, so
// the three front ends cannot drift apart in semantics.
package paved
