package provider

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Config is the provider's configuration, as in the Terraform provider:
// one cell (endpoint, token) and, for multi-region resources, cells by
// region name.
type Config struct {
	Endpoint *string           `pulumi:"endpoint,optional"`
	Token    *string           `pulumi:"token,optional" provider:"secret"`
	Regions  map[string]Region `pulumi:"regions,optional"`

	client  *paved.Client
	regions *paved.Regions
}

// Region is one cell of the regions map.
type Region struct {
	Endpoint string  `pulumi:"endpoint"`
	Token    *string `pulumi:"token,optional" provider:"secret"`
}

// Annotate documents the configuration.
func (c *Config) Annotate(a infer.Annotator) {
	a.Describe(&c.Endpoint, "URL of the cell's API. Defaults to `$PAVED_ENDPOINT`, else http://127.0.0.1:7400.")
	a.Describe(&c.Token, "API token. Defaults to `$PAVED_TOKEN`.")
	a.Describe(&c.Regions, "Cells by region name, for multi-region resources (ReplicaSet). Defaults to `$PAVED_REGIONS` "+
		"(`NAME=ENDPOINT,…`, tokens from `$PAVED_TOKEN`).")
}

// Annotate documents a region.
func (r *Region) Annotate(a infer.Annotator) {
	a.SetToken("index", "Region")
	a.Describe(&r.Endpoint, "URL of the region's cell API.")
	a.Describe(&r.Token, "API token of the region's cell. Defaults to `$PAVED_TOKEN`.")
}

var _ infer.CustomConfigure = (*Config)(nil)

// Configure makes the clients. It calls no cell: an unreachable endpoint
// shows on the first request (for regions: as a degraded region).
func (c *Config) Configure(context.Context) error {
	ua := "pulumi-resource-paved/" + Version
	var err error
	if c.client, err = paved.NewClient(paved.Config{Endpoint: deref(c.Endpoint), Token: deref(c.Token), UserAgent: ua}); err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	cfgs := map[string]paved.Config{}
	if c.Regions == nil {
		// $PAVED_REGIONS, as the Terraform provider and the CLI read it;
		// tokens from $PAVED_TOKEN.
		if cfgs, err = paved.ParseRegions(os.Getenv(paved.RegionsEnv)); err != nil {
			return err
		}
	}
	for name, r := range c.Regions {
		cfgs[name] = paved.Config{Endpoint: r.Endpoint, Token: deref(r.Token)}
	}
	for name, cfg := range cfgs {
		cfg.UserAgent = ua
		cfgs[name] = cfg
	}
	if c.regions, err = paved.NewRegions(cfgs); err != nil {
		return fmt.Errorf("regions: %w", err)
	}
	return nil
}

// clientOf is the configured cell client.
func clientOf(ctx context.Context) *paved.Client { return infer.GetConfig[Config](ctx).client }

// regionsOf is the configured regions.
func regionsOf(ctx context.Context) *paved.Regions { return infer.GetConfig[Config](ctx).regions }

func regionNames(r *paved.Regions) []string {
	names := r.Names()
	sort.Strings(names)
	return names
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
