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

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// tokenConfig is two spaces and a space_developer token of the first, its
// secret from an ephemeral variable that the test sets with
// TF_VAR_token_secret (useSecret), as a CI job would.
func tokenConfig(c *testcell.Cell, version int) string {
	return providerConfig(c) + fmt.Sprintf(`
variable "token_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "paved_space" "shop" {
  name = "shop"
}

resource "paved_space" "other" {
  name = "other"
}

resource "paved_token" "dev" {
  name              = "ci-dev"
  role              = "space_developer"
  space             = paved_space.shop.name
  secret_wo         = var.token_secret
  secret_wo_version = %d
}
`, version)
}

// useSecret gives the ephemeral variable its value for the next steps.
func useSecret(t *testing.T, secret string) func() {
	return func() { t.Setenv("TF_VAR_token_secret", secret) }
}

// tokenWorks checks that secret authenticates as a space_developer of
// shop: it reads and writes shop, and is refused in other and cell-wide.
func tokenWorks(c *testcell.Cell, secret string) error {
	ctx := context.Background()
	tc, err := paved.NewClient(paved.Config{Endpoint: c.Endpoint, Token: secret, MaxRetries: -1})
	if err != nil {
		return err
	}
	if _, err := tc.Apps.List(ctx, paved.ListAppsOptions{Space: "shop"}); err != nil {
		return fmt.Errorf("the token cannot list the apps of its space: %w", err)
	}
	if _, err := tc.Spaces.Get(ctx, "shop"); err != nil {
		return fmt.Errorf("the token cannot read its space: %w", err)
	}
	if _, err := tc.Apps.List(ctx, paved.ListAppsOptions{Space: "other"}); !errors.Is(err, paved.ErrForbidden) {
		return fmt.Errorf("the token lists the apps of another space: %v, want forbidden", err)
	}
	if _, err := tc.Spaces.Create(ctx, paved.SpaceSpec{Name: "sneaky"}); !errors.Is(err, paved.ErrForbidden) {
		return fmt.Errorf("the token creates a space: %v, want forbidden", err)
	}
	if _, err := tc.Tokens.List(ctx); !errors.Is(err, paved.ErrForbidden) {
		return fmt.Errorf("the token lists tokens: %v, want forbidden", err)
	}
	return nil
}

// tokenRefused checks that secret no longer authenticates.
func tokenRefused(c *testcell.Cell, secret string) error {
	tc, err := paved.NewClient(paved.Config{Endpoint: c.Endpoint, Token: secret, MaxRetries: -1})
	if err != nil {
		return err
	}
	if _, err := tc.Spaces.Get(context.Background(), "shop"); !errors.Is(err, paved.ErrUnauthorized) {
		return fmt.Errorf("a revoked secret: %v, want unauthorized", err)
	}
	return nil
}

// stateFilesHold checks every terraform.tfstate under dir: none may hold
// any of the secrets, and no paved_token may have a secret_wo value.
func stateFilesHold(dir string, secrets ...string) error {
	found := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "terraform.tfstate" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found++
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				return fmt.Errorf("%s holds a token secret", p)
			}
		}
		var st struct {
			Resources []struct {
				Type      string
				Instances []struct {
					Attributes map[string]any
				}
			}
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range st.Resources {
			for _, in := range r.Instances {
				if v, ok := in.Attributes["secret_wo"]; r.Type == "paved_token" && ok && v != nil {
					return fmt.Errorf("%s: paved_token has secret_wo = %v", p, v)
				}
			}
		}
		return nil
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no terraform.tfstate under %s", dir)
	}
	return err
}

// noSecretInPlan fails when the plan JSON holds a secret.
type noSecretInPlan struct{ secrets []string }

func (n noSecretInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	data, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	for _, s := range n.secrets {
		if i := strings.Index(string(data), s); i >= 0 {
			resp.Error = fmt.Errorf("the plan holds a token secret: …%s…", data[max(0, i-300):i])
		}
	}
}

func allTokensRevoked(c *testcell.Cell) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ts, err := c.Client.Tokens.List(context.Background())
		if err != nil {
			return err
		}
		for _, t := range ts {
			if !t.Revoked() {
				return fmt.Errorf("token %s (%s) is still active", t.ID, t.Name)
			}
		}
		return cellIsEmpty(c)(nil)
	}
}

func TestAccToken(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	work := t.TempDir()
	t.Setenv("TF_ACC_TEMP_DIR", work) // where the working dirs and so the state files are
	secrets := []string{
		"first-secret-0123456789abcdefghijklmnop",
		"second-secret-0123456789abcdefghijklmno",
		"third-secret-0123456789abcdefghijklmnop",
	}
	noSecrets := noSecretInPlan{secrets}
	var firstID, secondID string
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             allTokensRevoked(c),
		Steps: slices.Concat([]resource.TestStep{
			{
				PreConfig:        useSecret(t, secrets[0]),
				Config:           tokenConfig(c, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noSecrets}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("paved_token.dev", "id", regexp.MustCompile(`^tok_[0-9a-f]+$`)),
					resource.TestCheckResourceAttr("paved_token.dev", "role", "space_developer"),
					resource.TestCheckResourceAttr("paved_token.dev", "space", "shop"),
					resource.TestCheckResourceAttr("paved_token.dev", "secret_wo_version", "1"),
					resource.TestCheckNoResourceAttr("paved_token.dev", "secret_wo"),
					resource.TestCheckResourceAttrSet("paved_token.dev", "created_at"),
					func(s *terraform.State) error {
						firstID = s.RootModule().Resources["paved_token.dev"].Primary.ID
						if err := tokenWorks(c, secrets[0]); err != nil {
							return err
						}
						return stateFilesHold(work, secrets...)
					},
				),
			},
			{ // nothing to do: the write-only secret is not compared
				Config: tokenConfig(c, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(), noSecrets}},
			},
			{ // a new secret alone changes nothing: it is write-only
				PreConfig:        useSecret(t, secrets[1]),
				Config:           tokenConfig(c, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // rotation: bumping secret_wo_version revokes the token and creates one with the new secret
				Config: tokenConfig(c, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_token.dev", plancheck.ResourceActionDestroyBeforeCreate), noSecrets}},
				Check: func(s *terraform.State) error {
					secondID = s.RootModule().Resources["paved_token.dev"].Primary.ID
					if secondID == firstID {
						return fmt.Errorf("rotation kept id %s", secondID)
					}
					if err := tokenRefused(c, secrets[0]); err != nil {
						return err
					}
					if err := tokenWorks(c, secrets[1]); err != nil {
						return err
					}
					return stateFilesHold(work, secrets...)
				},
			},
			{
				ResourceName: "paved_token.dev", ImportState: true, ImportStateVerify: true,
				ImportStateIdFunc: func(s *terraform.State) (string, error) {
					return s.RootModule().Resources["paved_token.dev"].Primary.ID, nil
				},
				ImportStateVerifyIgnore: []string{"secret_wo", "secret_wo_version"},
			},
			{ // an import block: the imported token only takes up the configured secret_wo_version, in place
				Config: tokenConfig(c, 2), ResourceName: "paved_token.dev", ImportState: true,
				ImportStateKind: resource.ImportBlockWithResourceIdentity, ExpectNonEmptyPlan: true,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_token.dev", plancheck.ResourceActionUpdate), noSecrets,
					onlyLocalChanges{addr: "paved_token.dev", local: []string{"secret_wo_version"}}}},
			},
		}, reimport{ // every import records secret_wo_version: the token is neither revoked nor created again
			addr: "paved_token.dev", idFunc: func() string { return secondID }, identity: `{ id = var.import_id }`,
			config: tokenConfig(c, 2), action: plancheck.ResourceActionUpdate, local: []string{"secret_wo_version"},
			cells: []*testcell.Cell{c},
			unchanged: func(s *terraform.State) error {
				if id := s.RootModule().Resources["paved_token.dev"].Primary.ID; id != secondID {
					return fmt.Errorf("the import made token %s, not %s", id, secondID)
				}
				return tokenWorks(c, secrets[1])
			},
		}.steps(t), []resource.TestStep{
			{ // revoked outside: the next apply creates a token again (with a new secret: a revoked one never works again)
				PreConfig: func() {
					if err := c.Client.Tokens.Revoke(context.Background(), secondID); err != nil {
						t.Fatal(err)
					}
					useSecret(t, secrets[2])()
				},
				Config: tokenConfig(c, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_token.dev", plancheck.ResourceActionCreate)}},
				Check: func(*terraform.State) error {
					if err := tokenRefused(c, secrets[1]); err != nil {
						return err
					}
					if err := tokenWorks(c, secrets[2]); err != nil {
						return err
					}
					return stateFilesHold(work, secrets...)
				},
			},
		}),
	})
}

// TestAccTokenValidation: a bad role, space or secret fails at plan with
// the attribute path.
func TestAccTokenValidation(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	token := func(body string) string {
		return providerConfig(c) + `
resource "paved_token" "t" {
  name = "t"
` + body + "\n}\n"
	}
	const secret = `secret_wo = "0123456789abcdefghijklmnopqrstuvwxyz"`
	cases := []struct{ config, err string }{
		{token(`role = "root"` + "\n" + secret), `(?s)role.*"root" is not a role`},
		{token(`role = "space_developer"` + "\n" + secret), `(?s)space.*needs the space`},
		{token(`role = "space_auditor"` + "\n" + `space = "Bad_Space"` + "\n" + secret), `(?s)space.*not a valid name`},
		{token(`role = "admin"` + "\n" + `space = "shop"` + "\n" + secret), `(?s)space = "shop".*not scoped to a space`},
		{token(`role = "admin"` + "\n" + `secret_wo = "short"`), `(?s)secret_wo.*at least 32 characters`},
		{token(`role = "admin"`), `(?s)secret_wo.*required`},
		{providerConfig(c) + `resource "paved_token" "t" {
  name      = "bad name"
  role      = "admin"
  ` + secret + `
}`, `(?s)name.*not a valid token name`},
	}
	var steps []resource.TestStep
	for _, tc := range cases {
		steps = append(steps, resource.TestStep{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.err)})
	}
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: protoV6, Steps: steps})
	if ts, _ := c.Client.Tokens.List(context.Background()); len(ts) != 0 {
		t.Fatalf("a refused config created tokens: %+v", ts)
	}
}
