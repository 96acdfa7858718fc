// Package provider is the Terraform/OpenTofu provider for paved, built on
// terraform-plugin-framework. Every resource is a thin adapter over the
// paved Go library, so Terraform, Pulumi and the CLI share one semantics.
package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

// Provider is the paved provider.
type Provider struct {
	version string
}

var (
	_ provider.Provider                       = (*Provider)(nil)
	_ provider.ProviderWithEphemeralResources = (*Provider)(nil)
)

// New returns a constructor for the provider at a version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &Provider{version: version} }
}

type providerModel struct {
	CACert   types.String `tfsdk:"ca_cert"`
	Insecure types.Bool   `tfsdk:"insecure"`
	Endpoint types.String `tfsdk:"endpoint"`
	Token    types.String `tfsdk:"token"`
	Regions  types.Map    `tfsdk:"regions"`
}

// Metadata names the provider "paved".
func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "paved"
	resp.Version = p.version
}

// Schema describes the provider block.
func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Drives [paved](https://github.com/pavedroad/terraform-provider-paved) cells: " +
			"apps that roll out with canaries and roll back by themselves, as code.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "URL of the cell API. Defaults to `$PAVED_ENDPOINT`, else `" + paved.DefaultEndpoint + "`.",
			},
			"token": schema.StringAttribute{
				Optional:            true,
				Sensitive:           true,
				MarkdownDescription: "API token. Defaults to `$PAVED_TOKEN`.",
			},
			"ca_cert": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "PEM certificate(s) to trust for `https` cells besides the system roots (a private CA or a self-signed cell). " +
					"Defaults to the file named by `$PAVED_CA_CERT`.",
			},
			"insecure": schema.BoolAttribute{
				Optional: true,
				MarkdownDescription: "Skip verifying the cells' TLS certificates (a first try against a self-signed cell only: anyone on the path " +
					"can read the token). Defaults to `$PAVED_INSECURE`.",
			},
			"regions": schema.MapNestedAttribute{
				Optional: true,
				MarkdownDescription: "Cells by region name, for multi-region resources (`paved_replica_set`, `paved_regions`). Defaults to `$PAVED_REGIONS` (`NAME=ENDPOINT,…`, tokens from `$PAVED_TOKEN`). " +
					"A name must be a DNS label and match the cell's own `--region`: cells name their peers by it.",
				Validators: []validator.Map{mapvalidator.KeysAre(validators.Name())},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"endpoint": schema.StringAttribute{Required: true, MarkdownDescription: "URL of the region's cell API."},
					"token":    schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "API token of the region's cell. Defaults to `$PAVED_TOKEN`."},
				}},
			},
		},
	}
}

// Configure builds the API clients the resources share: the endpoint's and
// one per region. It does not call any cell: the first request reports an
// unreachable endpoint by name (for regions: a degraded region).
func (p *Provider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg := p.clientConfig(m, m.Endpoint.ValueString(), m.Token.ValueString())
	if cfg.Endpoint == "" {
		cfg.Endpoint = os.Getenv("PAVED_ENDPOINT")
	}
	c, err := paved.NewClient(cfg)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Invalid paved endpoint", err.Error())
		return
	}
	regions, err := paved.NewRegions(p.regionConfigs(ctx, m, &resp.Diagnostics))
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("regions"), "Invalid region", err.Error())
		return
	}
	data := &providerData{client: c, regions: regions, globalHosts: newHostClaims()}
	resp.DataSourceData = data
	resp.ResourceData = data
	resp.EphemeralResourceData = data
}

type regionConfigModel struct {
	Endpoint types.String `tfsdk:"endpoint"`
	Token    types.String `tfsdk:"token"`
}

// regionConfigs is the client config of every region. A region without a
// token uses $PAVED_TOKEN, like the provider's own endpoint.
func (p *Provider) regionConfigs(ctx context.Context, m providerModel, diags *diag.Diagnostics) map[string]paved.Config {
	var regions map[string]regionConfigModel
	if !m.Regions.IsNull() && !m.Regions.IsUnknown() {
		diags.Append(m.Regions.ElementsAs(ctx, &regions, false)...)
	} else if env := os.Getenv(paved.RegionsEnv); env != "" {
		regions = regionsFromEnv(env, diags)
	}
	out := make(map[string]paved.Config, len(regions))
	for name, r := range regions {
		out[name] = p.clientConfig(m, r.Endpoint.ValueString(), r.Token.ValueString())
	}
	return out
}

// regionsFromEnv reads $PAVED_REGIONS (paved.RegionsEnv), the default of
// the regions attribute: it lets a shell, a CI job or a `tofu test` file
// without a provider block name the cells. Tokens come from $PAVED_TOKEN.
func regionsFromEnv(env string, diags *diag.Diagnostics) map[string]regionConfigModel {
	cfgs, err := paved.ParseRegions(env)
	if err != nil {
		diags.AddAttributeError(path.Root("regions"), "Invalid "+paved.RegionsEnv, err.Error())
		return nil
	}
	out := make(map[string]regionConfigModel, len(cfgs))
	for name, cfg := range cfgs {
		out[name] = regionConfigModel{Endpoint: types.StringValue(cfg.Endpoint), Token: types.StringNull()}
	}
	return out
}

// clientConfig is the config of one cell's client: its endpoint and token,
// and the provider's TLS settings, which apply to every cell.
func (p *Provider) clientConfig(m providerModel, endpoint, token string) paved.Config {
	return paved.Config{Endpoint: endpoint, Token: token, UserAgent: p.userAgent(),
		CACert: []byte(m.CACert.ValueString()), Insecure: m.Insecure.ValueBool()}
}

func (p *Provider) userAgent() string { return "terraform-provider-paved/" + p.version }

// Resources lists the resources.
func (p *Provider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewSpaceResource, NewAppResource, NewPipelineResource, NewEnvironmentResource, NewReplicaSetResource, NewTokenResource,
		NewServiceBrokerResource, NewServiceInstanceResource, NewServiceBindingResource, NewUserProvidedServiceResource}
}

// DataSources lists the data sources.
func (p *Provider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewSpaceDataSource, NewAppDataSource, NewReleaseDataSource, NewCellDataSource, NewPipelineBuildDataSource, NewSnapshotDataSource, NewRegionsDataSource,
		NewServiceOfferingsDataSource}
}

// EphemeralResources lists the ephemeral resources (Terraform 1.10 and
// OpenTofu 1.11 or later).
func (p *Provider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{NewTokenEphemeralResource, NewServiceCredentialsEphemeralResource}
}
