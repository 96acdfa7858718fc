// Package provider is pulumi-resource-paved: paved's resources for Pulumi
// programs, built with pulumi-go-provider's infer on top of the paved Go
// library. The library holds the semantics (validation, uploads, rollouts,
// the multi-region fan-out); this package only maps Pulumi inputs and
// outputs onto it, the way the Terraform provider does.
package provider

import (
	"context"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Name is the Pulumi package name: resources are paved:index:App, …
const Name = "paved"

// Version is the plugin's version, also written into its schema (and so
// into the generated SDK, which asks the engine for this version). Builds
// may set it with -ldflags "-X github.com/pavedroad/terraform-provider-paved/pulumi/provider.Version=…";
// the SDK in sdk/go is generated with the default.
var Version = "0.1.0"

// GoImportPath is where the generated Go SDK lives.
const GoImportPath = "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"

// New returns the provider.
func New() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("paved").
		WithDescription("Apps, spaces, pipelines, preview environments and multi-region replica sets on paved cells: build, run, route, deliver and roll out with canaries and automatic rollback.").
		WithKeywords("paved", "paas", "category/infrastructure").
		WithPublisher("pavedroad").
		WithNamespace("pavedroad").
		WithLicense("MPL-2.0").
		WithRepository("https://github.com/pavedroad/terraform-provider-paved").
		WithGoImportPath(GoImportPath).
		WithConfig(infer.Config(&Config{})).
		WithResources(
			infer.Resource(&Space{}),
			infer.Resource(&App{}),
			infer.Resource(&ReplicaSet{}),
			infer.Resource(&Environment{}),
			infer.Resource(&Pipeline{}),
			infer.Resource(&ServiceInstance{}),
			infer.Resource(&ServiceBinding{}),
			infer.Resource(&UserProvidedService{}),
		).
		Build()
	if err != nil {
		return p.Provider{}, err
	}
	inner := prov.Diff
	prov.Diff = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := inner(ctx, req)
		if err != nil {
			return resp, err
		}
		return diffSecretInputs(req, resp), nil
	}
	return prov, nil
}

// Run serves the provider to the Pulumi engine (the plugin's main).
func Run(ctx context.Context) error {
	prov, err := New()
	if err != nil {
		return fmt.Errorf("paved provider: %w", err)
	}
	return p.RunProvider(ctx, Name, Version, prov)
}
