package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/tfmirror"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestEphemeralTokenSchemaIsValid(t *testing.T) {
	ctx := context.Background()
	p := New("test")().(provider.ProviderWithEphemeralResources)
	for _, f := range p.EphemeralResources(ctx) {
		var resp ephemeral.SchemaResponse
		f().Schema(ctx, ephemeral.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatal(resp.Diagnostics)
		}
		if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Fatal(diags)
		}
	}
	for d, want := range map[time.Duration]string{15 * time.Minute: "15m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%s) = %q, want %q", d, got, want)
		}
	}
	exp := time.Date(2026, 1, 1, 0, 15, 0, 0, time.UTC)
	if got := renewAt(exp, 15*time.Minute); !got.Equal(exp.Add(-5 * time.Minute)) {
		t.Errorf("renewAt = %v, want 5m before %v", got, exp)
	}
}

// ephemeralCLI runs a test only on a CLI with ephemeral resources:
// Terraform 1.10 and OpenTofu 1.11 or later; others skip it with the reason.
type ephemeralCLI struct{}

func (ephemeralCLI) CheckTerraformVersion(_ context.Context, req tfversion.CheckTerraformVersionRequest, resp *tfversion.CheckTerraformVersionResponse) {
	name, _ := cliVersion()
	need := tfversion.Version1_10_0
	if name == "tofu" {
		need = tfversion.Version1_11_0
	}
	if req.TerraformVersion.LessThan(need) {
		resp.Skip = fmt.Sprintf("%s %s has no ephemeral resources (needs %s)", name, req.TerraformVersion, need)
	}
}

// objectAttrs decodes an object of string attributes (null ones are "").
func objectAttrs(dv *tfprotov6.DynamicValue, typ tftypes.Type) (map[string]string, error) {
	v, err := dv.Unmarshal(typ)
	if err != nil {
		return nil, err
	}
	var fields map[string]tftypes.Value
	if err := v.As(&fields); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, f := range fields {
		var s *string
		if f.IsKnown() && f.Type().Is(tftypes.String) {
			if err := f.As(&s); err != nil {
				return nil, err
			}
		}
		if s != nil {
			out[k] = *s
		}
	}
	return out, nil
}

// ephemeralTokenConfig is a space made with the admin token and, when
// withTeam, an ephemeral space_developer token of it that configures the
// provider alias paved.team, through which the team's app is deployed and
// its space read.
func ephemeralTokenConfig(c *testcell.Cell, src string, withTeam bool) string {
	config := providerConfig(c) + `
resource "paved_space" "team" {
  name = "team"
}
`
	if !withTeam {
		return config
	}
	return config + fmt.Sprintf(`
ephemeral "paved_token" "team" {
  name  = "team-run"
  role  = "space_developer"
  space = paved_space.team.name
  ttl   = "5m"
}

provider "paved" {
  alias    = "team"
  endpoint = %q
  token    = ephemeral.paved_token.team.secret
}

resource "paved_app" "web" {
  provider  = paved.team
  space     = paved_space.team.name
  name      = "web"
  source    = %q
  build     = "go build -o hello ."
  command   = "./hello"
  instances = 1
  env       = { GREETING = "hello team" }
  routes    = ["web.team.example.test"]
  health_check {
    type     = "http"
    path     = "/healthz"
    interval = "200ms"
    timeout  = "150ms"
  }
}

data "paved_space" "team" {
  provider = paved.team
  name     = paved_app.web.space
}
`, c.Endpoint, src)
}

// ephemeralSecret is the form of the secrets the provider generates.
var ephemeralSecret = regexp.MustCompile(`pvt_[0-9a-f]{64}`)

// noTokenSecretInPlan fails when the plan JSON holds a token secret.
type noTokenSecretInPlan struct{}

func (noTokenSecretInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	data, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	if loc := ephemeralSecret.FindIndex(data); loc != nil {
		resp.Error = fmt.Errorf("the plan holds a token secret: …%s…", data[max(0, loc[0]-300):loc[0]])
	}
}

// noEphemeralInState checks every state file under dir: no token secret,
// and no paved_token at all (the config has only the ephemeral one).
func noEphemeralInState(dir string) error {
	found := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "terraform.tfstate" {
			return err
		}
		found++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ephemeralSecret.Match(data) {
			return fmt.Errorf("%s holds a token secret", p)
		}
		var st struct{ Resources []struct{ Mode, Type string } }
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range st.Resources {
			if r.Type == "paved_token" || r.Mode == "ephemeral" {
				return fmt.Errorf("%s holds a %s %s", p, r.Mode, r.Type)
			}
		}
		return nil
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no terraform.tfstate under %s", dir)
	}
	return err
}

// runTokens checks the tokens the runs so far opened, all named team-run:
// at least atLeast of them, every one a 5m space_developer of team and
// revoked. It returns their ids.
func runTokens(c *testcell.Cell, atLeast int) ([]string, error) {
	ts, err := c.Client.Tokens.List(context.Background())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, tok := range ts {
		if tok.Name != "team-run" {
			return nil, fmt.Errorf("token %s (%s) was not opened by the runs", tok.ID, tok.Name)
		}
		if !tok.Revoked() {
			return nil, fmt.Errorf("token %s is still active after the run", tok.ID)
		}
		if tok.Role != paved.RoleSpaceDeveloper || tok.Space != "team" || tok.TTL.D() != 5*time.Minute || tok.ExpiresAt == nil {
			return nil, fmt.Errorf("token %s is %+v, want a 5m space_developer of team", tok.ID, tok)
		}
		ids = append(ids, tok.ID)
	}
	if len(ids) < atLeast {
		return nil, fmt.Errorf("%d tokens opened, want at least %d (a plan and an apply open one each)", len(ids), atLeast)
	}
	return ids, nil
}

// TestAccEphemeralToken: an ephemeral paved_token configures a second
// paved provider (an alias), which deploys an app into the token's space
// as that token (the audit trail names it); the token and its secret are
// never in a plan or a state, and every token a run opened is revoked when
// the run ends. The provider is installed from a filesystem mirror and
// runs as a user's CLI runs it, one process per provider configuration:
// served in-process, as the other tests do, both configurations would
// share one provider instance, configured last by the alias.
func TestAccEphemeralToken(t *testing.T) {
	accPreCheck(t)
	rc, err := tfmirror.Build("..", t.TempDir(), "0.1.0") // the module's root, from provider/
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_CLI_CONFIG_FILE", rc)
	c := testcell.Start(t)
	src := helloSource(t)
	work := t.TempDir()
	t.Setenv("TF_ACC_TEMP_DIR", work)
	external := map[string]resource.ExternalProvider{"paved": {Source: "pavedroad/paved"}}
	var afterApply int
	accTest(t, resource.TestCase{
		ExternalProviders:      external,
		TerraformVersionChecks: []tfversion.TerraformVersionCheck{ephemeralCLI{}},
		CheckDestroy: func(s *terraform.State) error {
			ids, err := runTokens(c, afterApply+1)
			if err != nil {
				return err
			}
			t.Logf("the runs opened %d ephemeral tokens, all revoked: %v", len(ids), ids)
			return cellIsEmpty(c)(s)
		},
		Steps: []resource.TestStep{
			{Config: ephemeralTokenConfig(c, src, false)},
			{
				Config:           ephemeralTokenConfig(c, src, true),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noTokenSecretInPlan{}}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "space", "team"),
					resource.TestCheckResourceAttr("paved_app.web", "status", "running"),
					resource.TestCheckResourceAttr("data.paved_space.team", "id", "team"),
					func(*terraform.State) error {
						ids, err := runTokens(c, 2)
						if err != nil {
							return err
						}
						afterApply = len(ids)
						// The app was made by an opened token, not by the admin.
						evs, err := c.Client.Events.List(context.Background(), paved.ListEventsOptions{})
						if err != nil {
							return err
						}
						var actors []string
						for _, ev := range evs {
							if ev.Action == "app.create" {
								actors = append(actors, ev.Actor)
							}
						}
						if len(actors) != 1 || !slices.ContainsFunc(ids, func(id string) bool { return actors[0] == "team-run ("+id+")" }) {
							return fmt.Errorf("app.create by %v, want one of the opened tokens %v", actors, ids)
						}
						return noEphemeralInState(work)
					},
				),
			},
			{ // nothing changes: a new token each run, never in the plan
				Config: ephemeralTokenConfig(c, src, true),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(), noTokenSecretInPlan{}}},
				Check: func(*terraform.State) error {
					ids, err := runTokens(c, afterApply+1)
					if err != nil {
						return err
					}
					afterApply = len(ids)
					return noEphemeralInState(work)
				},
			},
		},
	})
}

// protoObject is a value of object type typ with the given attributes and
// every other one null.
func protoObject(t *testing.T, typ tftypes.Type, attrs map[string]tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	obj, ok := typ.(tftypes.Object)
	if !ok {
		t.Fatalf("%s is not an object type", typ)
	}
	vals := map[string]tftypes.Value{}
	for name, at := range obj.AttributeTypes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = tftypes.NewValue(at, nil)
		}
	}
	dv, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

func noProtoErrors(t *testing.T, what string, diags []*tfprotov6.Diagnostic, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("%s: %s: %s", what, d.Summary, d.Detail)
		}
	}
}

// TestAccEphemeralTokenRenew drives the ephemeral paved_token through the
// plugin protocol as a CLI would over a run longer than its renewal time
// (which a test cannot wait for: the shortest ttl is a minute): Open asks
// to be renewed a third of the ttl before expiry, Renew moves the expiry
// on from now and asks again, Close revokes the token.
func TestAccEphemeralTokenRenew(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	ctx := context.Background()
	if _, err := c.Client.Spaces.Create(ctx, paved.SpaceSpec{Name: "team"}); err != nil {
		t.Fatal(err)
	}
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	sch, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	noProtoErrors(t, "schema", nil, err)
	conf, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.11.4",
		Config: protoObject(t, sch.Provider.ValueType(), map[string]tftypes.Value{
			"endpoint": tftypes.NewValue(tftypes.String, c.Endpoint), "token": tftypes.NewValue(tftypes.String, c.Token)})})
	noProtoErrors(t, "configure", conf.Diagnostics, err)

	typ := sch.EphemeralResourceSchemas["paved_token"].ValueType()
	config := protoObject(t, typ, map[string]tftypes.Value{
		"name": tftypes.NewValue(tftypes.String, "renewed"), "role": tftypes.NewValue(tftypes.String, "space_auditor"),
		"space": tftypes.NewValue(tftypes.String, "team")}) // ttl: the default, 15m
	valid, err := srv.ValidateEphemeralResourceConfig(ctx, &tfprotov6.ValidateEphemeralResourceConfigRequest{TypeName: "paved_token", Config: config})
	noProtoErrors(t, "validate", valid.Diagnostics, err)
	before := time.Now()
	open, err := srv.OpenEphemeralResource(ctx, &tfprotov6.OpenEphemeralResourceRequest{TypeName: "paved_token", Config: config})
	noProtoErrors(t, "open", open.Diagnostics, err)
	res, err := objectAttrs(open.Result, typ)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tok_[0-9a-f]+$`).MatchString(res["id"]) || res["ttl"] != "15m" || len(res["secret"]) < paved.MinTokenSecret {
		t.Fatalf("opened %v", res)
	}
	expires, err := time.Parse(time.RFC3339, res["expires_at"])
	if err != nil || expires.Before(before.Add(15*time.Minute).Truncate(time.Second)) || expires.After(time.Now().Add(15*time.Minute)) {
		t.Fatalf("expires_at %q (%v), want 15m from now", res["expires_at"], err)
	}
	if want := expires.Add(-5 * time.Minute); open.RenewAt.Sub(want).Abs() > time.Second {
		t.Errorf("RenewAt %v, want 5m before the expiry %v", open.RenewAt, expires)
	}
	tok, err := c.Client.Tokens.Get(ctx, res["id"])
	if err != nil || tok.Revoked() || tok.ExpiresAt == nil || tok.Role != paved.RoleSpaceAuditor {
		t.Fatalf("opened token on the cell: %+v %v", tok, err)
	}
	first := *tok.ExpiresAt
	tc, err := paved.NewClient(paved.Config{Endpoint: c.Endpoint, Token: res["secret"], MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Spaces.Get(ctx, "team"); err != nil {
		t.Fatalf("the opened token cannot read its space: %v", err)
	}

	time.Sleep(20 * time.Millisecond)
	renew, err := srv.RenewEphemeralResource(ctx, &tfprotov6.RenewEphemeralResourceRequest{TypeName: "paved_token", Private: open.Private})
	noProtoErrors(t, "renew", renew.Diagnostics, err)
	tok, err = c.Client.Tokens.Get(ctx, res["id"])
	if err != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.After(first) || tok.Revoked() {
		t.Fatalf("renewed token: %+v %v (first expiry %v)", tok, err, first)
	}
	if want := tok.ExpiresAt.Add(-5 * time.Minute); !renew.RenewAt.Equal(want) {
		t.Errorf("RenewAt after renewal %v, want %v", renew.RenewAt, want)
	}

	cl, err := srv.CloseEphemeralResource(ctx, &tfprotov6.CloseEphemeralResourceRequest{TypeName: "paved_token", Private: renew.Private})
	noProtoErrors(t, "close", cl.Diagnostics, err)
	if tok, err = c.Client.Tokens.Get(ctx, res["id"]); err != nil || !tok.Revoked() {
		t.Fatalf("closed token: %+v %v", tok, err)
	}
	if _, err := tc.Spaces.Get(ctx, "team"); !errors.Is(err, paved.ErrUnauthorized) {
		t.Fatalf("the closed token's secret: %v, want unauthorized", err)
	}
	// A run that renews after the token was revoked outside hears why.
	renew, err = srv.RenewEphemeralResource(ctx, &tfprotov6.RenewEphemeralResourceRequest{TypeName: "paved_token", Private: open.Private})
	if err != nil || len(renew.Diagnostics) == 0 || !strings.Contains(renew.Diagnostics[0].Detail, "revoked") {
		t.Fatalf("renewing a revoked token: %v %+v", err, renew.Diagnostics)
	}
	// Closing twice is harmless.
	cl, err = srv.CloseEphemeralResource(ctx, &tfprotov6.CloseEphemeralResourceRequest{TypeName: "paved_token", Private: open.Private})
	noProtoErrors(t, "close again", cl.Diagnostics, err)
}

// TestAccEphemeralTokenValidation: a bad role, space or ttl fails at plan
// with the attribute, and no token is made.
func TestAccEphemeralTokenValidation(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	token := func(body string) string {
		return providerConfig(c) + `
ephemeral "paved_token" "t" {
  name = "t"
` + body + "\n}\n"
	}
	cases := []struct{ config, err string }{
		{token(`role = "root"`), `(?s)role.*"root" is not a role`},
		{token(`role = "space_developer"`), `(?s)space.*needs the space`},
		{token(`role = "admin"` + "\n" + `ttl = "10s"`), `(?s)ttl.*between 1m0s and 720h0m0s`},
		{token(`role = "admin"` + "\n" + `ttl = "soon"`), `(?s)ttl.*not a duration`},
		{token(`role = "space_auditor"` + "\n" + `space = "ghost"`), `(?s)space.*"ghost" does not exist`},
	}
	var steps []resource.TestStep
	for _, tc := range cases {
		steps = append(steps, resource.TestStep{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.err)})
	}
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: protoV6,
		TerraformVersionChecks: []tfversion.TerraformVersionCheck{ephemeralCLI{}}, Steps: steps})
	if ts, _ := c.Client.Tokens.List(context.Background()); len(ts) != 0 {
		t.Fatalf("a refused config created tokens: %+v", ts)
	}
}
