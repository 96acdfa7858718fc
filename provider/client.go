package provider

import (
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// providerData is what Configure hands every resource and data source.
type providerData struct {
	client  *paved.Client  // the cell of `endpoint`
	regions *paved.Regions // the cells of `regions` (none configured: empty)
	// globalHosts are the global hosts the replica sets of this run plan:
	// one provider process serves every resource of a plan, so two of them
	// claiming one host are caught before any cell is touched.
	globalHosts *hostClaims
}

// providerDataFrom takes what the provider configured (nil before then).
func providerDataFrom(data any, diags *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	d, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T; this is a bug in the provider", data))
		return nil
	}
	return d
}

// clientFrom takes the client of the provider's endpoint (nil before the
// provider is configured).
func clientFrom(data any, diags *diag.Diagnostics) *paved.Client {
	if d := providerDataFrom(data, diags); d != nil {
		return d.client
	}
	return nil
}

// regionsFrom takes the cells of the provider's regions (nil before the
// provider is configured).
func regionsFrom(data any, diags *diag.Diagnostics) *paved.Regions {
	if d := providerDataFrom(data, diags); d != nil {
		return d.regions
	}
	return nil
}

// hostClaims maps a global host to the replica set planning it.
type hostClaims struct {
	mu     sync.Mutex
	byHost map[string]string
}

func newHostClaims() *hostClaims { return &hostClaims{byHost: map[string]string{}} }

// claim records that replica set name plans host and returns the other
// replica set that already does, if any. The same name may claim again: a
// resource is planned more than once in one run (plan, then apply).
func (h *hostClaims) claim(host, name string) (other string, taken bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if holder, ok := h.byHost[host]; ok && holder != name {
		return holder, true
	}
	h.byHost[host] = name
	return "", false
}
