package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// protoV6 serves the provider in-process to the real OpenTofu CLI that
// terraform-plugin-testing runs (TF_ACC_TERRAFORM_PATH).
var protoV6 = map[string]func() (tfprotov6.ProviderServer, error){
	"paved": providerserver.NewProtocol6WithError(New("test")()),
}

// accPreCheck skips acceptance tests unless TF_ACC is set (make test sets
// it, with the OpenTofu the repo's script builds).
func accPreCheck(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and TF_ACC_TERRAFORM_PATH (make test does)")
	}
}

// identityCLI is the first CLI version with resource identity (import
// blocks by identity): OpenTofu and Terraform 1.12.
var identityCLI = version.Must(version.NewVersion("1.12.0"))

// cliVersion is the name and version of the CLI the acceptance tests run
// (TF_ACC_TERRAFORM_PATH), asked once.
var cliVersion = sync.OnceValues(func() (string, *version.Version) {
	bin := os.Getenv("TF_ACC_TERRAFORM_PATH")
	out, err := exec.Command(bin, "version", "-json").Output()
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil {
		panic(fmt.Sprintf("cannot tell the version of %s: %v %s", bin, err, out))
	}
	name := "terraform"
	if strings.Contains(filepath.Base(bin), "tofu") {
		name = "tofu"
	}
	return name, version.Must(version.NewVersion(v.Version))
})

// accTest runs an acceptance test case on the CLI of this run. Steps that
// need what the CLI lacks (an import by resource identity before 1.12)
// are left out, each said in the log with the reason; every other step
// runs on both CLIs.
func accTest(t *testing.T, tc resource.TestCase) {
	t.Helper()
	accPreCheck(t)
	name, v := cliVersion()
	t.Logf("CLI: %s %s", name, v)
	steps := tc.Steps[:0:0]
	for i, st := range tc.Steps {
		if st.ImportStateKind == resource.ImportBlockWithResourceIdentity && v.LessThan(identityCLI) {
			t.Logf("step %d (import by resource identity) left out: %s %s has no resource identity (needs %s)", i+1, name, v, identityCLI)
			continue
		}
		steps = append(steps, st)
	}
	tc.Steps = steps
	resource.Test(t, tc)
}

// requiredProviders is the terraform block of every test config.
const requiredProviders = `
terraform {
  required_providers {
    paved = { source = "pavedroad/paved" }
  }
}
`

// providerConfig is the terraform and provider blocks for a test cell.
func providerConfig(c *testcell.Cell) string {
	return requiredProviders + fmt.Sprintf(`provider "paved" {
  endpoint = %q
  token    = %q
}
`, c.Endpoint, c.Token)
}

// helloSource copies examples/hello into a fresh directory a test may change.
func helloSource(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "examples", "hello")
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-r", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copy hello: %v %s", err, out)
	}
	os.Remove(filepath.Join(dst, "hello")) // a locally built binary is not part of the source
	return dst
}

func TestProviderSchemaIsValid(t *testing.T) {
	ctx := context.Background()
	p := New("test")()
	var resp provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
		t.Fatal(diags)
	}
	if n := len(p.Resources(ctx)); n != 10 {
		t.Fatalf("%d resources", n)
	}
	if n := len(p.DataSources(ctx)); n != 8 {
		t.Fatalf("%d data sources", n)
	}
	// Every resource's schema is one the framework accepts (write-only
	// attributes, plan modifiers and nested blocks included).
	for _, newResource := range p.Resources(ctx) {
		r := newResource()
		var md fwresource.MetadataResponse
		r.Metadata(ctx, fwresource.MetadataRequest{ProviderTypeName: "paved"}, &md)
		var sr fwresource.SchemaResponse
		r.Schema(ctx, fwresource.SchemaRequest{}, &sr)
		if sr.Diagnostics.HasError() {
			t.Fatalf("%s: %v", md.TypeName, sr.Diagnostics)
		}
		if diags := sr.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Fatalf("%s: %v", md.TypeName, diags)
		}
	}
	if n := len(p.(provider.ProviderWithEphemeralResources).EphemeralResources(ctx)); n != 2 {
		t.Fatalf("%d ephemeral resources", n)
	}
}
