package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ServiceOfferingsDataSource is data.paved_service_offerings.
type ServiceOfferingsDataSource struct{ client *paved.Client }

// NewServiceOfferingsDataSource returns data.paved_service_offerings.
func NewServiceOfferingsDataSource() datasource.DataSource { return &ServiceOfferingsDataSource{} }

type serviceOfferingsModel struct {
	ID        types.String           `tfsdk:"id"`
	Offerings []serviceOfferingModel `tfsdk:"offerings"`
}

type serviceOfferingModel struct {
	Broker      types.String       `tfsdk:"broker"`
	Name        types.String       `tfsdk:"name"`
	Description types.String       `tfsdk:"description"`
	Bindable    types.Bool         `tfsdk:"bindable"`
	Tags        []types.String     `tfsdk:"tags"`
	Plans       []servicePlanModel `tfsdk:"plans"`
}

type servicePlanModel struct {
	Name        types.String `tfsdk:"name"`
	Description types.String `tfsdk:"description"`
	Free        types.Bool   `tfsdk:"free"`
	Updateable  types.Bool   `tfsdk:"updateable"`
	Bindable    types.Bool   `tfsdk:"bindable"`
}

// Metadata names the data source.
func (d *ServiceOfferingsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_service_offerings"
}

// Schema describes data.paved_service_offerings.
func (d *ServiceOfferingsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	boolean := func(desc string) schema.BoolAttribute {
		return schema.BoolAttribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The cell's marketplace: the services and plans of every registered service broker.",
		Attributes: map[string]schema.Attribute{
			"id": str("Always `offerings`."),
			"offerings": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "The offerings, by broker and name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"broker":      str("The broker offering it."),
					"name":        str("The service's name (`paved_service_instance.offering`)."),
					"description": str("What the broker says of it."),
					"bindable":    boolean("Whether its instances can be bound to apps."),
					"tags":        schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Its tags."},
					"plans": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "Its plans.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"name":        str("The plan's name (`paved_service_instance.plan`)."),
							"description": str("What the broker says of it."),
							"free":        boolean("Whether it is free."),
							"updateable":  boolean("Whether an instance may change to another plan in place."),
							"bindable":    boolean("Whether its instances can be bound."),
						}}},
				}}},
		},
	}
}

// Configure takes the provider's client.
func (d *ServiceOfferingsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// Read lists the offerings.
func (d *ServiceOfferingsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	os, err := d.client.ServiceOfferings.List(ctx)
	if err != nil {
		addError(&resp.Diagnostics, "Could not read the service offerings", err)
		return
	}
	m := serviceOfferingsModel{ID: types.StringValue("offerings"), Offerings: []serviceOfferingModel{}}
	for _, o := range os {
		om := serviceOfferingModel{Broker: types.StringValue(o.Broker), Name: types.StringValue(o.Name),
			Description: types.StringValue(o.Description), Bindable: types.BoolValue(o.Bindable), Tags: []types.String{}, Plans: []servicePlanModel{}}
		for _, t := range o.Tags {
			om.Tags = append(om.Tags, types.StringValue(t))
		}
		for _, p := range o.Plans {
			om.Plans = append(om.Plans, servicePlanModel{Name: types.StringValue(p.Name), Description: types.StringValue(p.Description),
				Free: types.BoolValue(p.Free), Updateable: types.BoolValue(p.Updateable), Bindable: types.BoolValue(p.Bindable)})
		}
		m.Offerings = append(m.Offerings, om)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
