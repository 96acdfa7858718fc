// Package version holds the build version, set by the linker:
// -ldflags "-X github.com/pavedroad/terraform-provider-paved/internal/version.Version=v0.1.0".
package version

// Version of paved; "dev" in builds without -ldflags.
var Version = "dev"
