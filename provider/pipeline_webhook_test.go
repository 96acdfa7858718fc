package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func webhookConfig(c *testcell.Cell, repo string, version int, secrets string) string {
	return providerConfig(c) + fmt.Sprintf(`
variable "webhook_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "paved_space" "ci" {
  name = "ci"
}

resource "paved_pipeline" "hooked" {
  space = paved_space.ci.name
  name  = "hooked"

  source {
    name        = "repo"
    type        = "git"
    uri         = %q
    check_every = "1h"
  }

  job {
    name = "test"
    step {
      get     = "repo"
      trigger = true
    }
  }

  webhook_secrets_wo         = %s
  webhook_secrets_wo_version = %d
}
`, repo, secrets, version)
}

// webhookAnswers posts to the repo source's webhook with secret and
// checks the status.
func webhookAnswers(c *testcell.Cell, secret string, want int) error {
	p, err := c.Client.Pipelines.Get(context.Background(), "ci", "hooked")
	if err != nil {
		return err
	}
	if p.Webhooks["repo"].Token != "" {
		return fmt.Errorf("a read of the pipeline shows a webhook secret")
	}
	err = c.Client.Pipelines.Webhook(context.Background(), "ci", "hooked", "repo", secret)
	switch {
	case want == http.StatusNoContent && err != nil:
		return fmt.Errorf("webhook with the right secret: %w", err)
	case want == http.StatusUnauthorized && !errors.Is(err, paved.ErrUnauthorized):
		return fmt.Errorf("webhook with a wrong secret: %v, want unauthorized", err)
	}
	return nil
}

// TestAccPipelineWebhookSecrets: webhook secrets are write-only (never in
// plan or state), take effect, and rotate with webhook_secrets_wo_version.
func TestAccPipelineWebhookSecrets(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	repo := gitRepoForTest(t)
	work := t.TempDir()
	t.Setenv("TF_ACC_TEMP_DIR", work)
	secrets := []string{"first-webhook-secret-0123456789abcdefgh", "second-webhook-secret-0123456789abcdefg"}
	noSecrets := noSecretInPlan{secrets}
	use := func(s string) func() { return func() { t.Setenv("TF_VAR_webhook_secret", s) } }
	fromVar := `{ repo = var.webhook_secret }`
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: slices.Concat([]resource.TestStep{
			{
				PreConfig:        use(secrets[0]),
				Config:           webhookConfig(c, repo, 1, fromVar),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noSecrets}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("paved_pipeline.hooked", "webhook_secrets_wo.%"),
					resource.TestCheckResourceAttr("paved_pipeline.hooked", "webhook_secrets_wo_version", "1"),
					resource.TestCheckResourceAttrSet("paved_pipeline.hooked", "webhook_paths.repo"),
					func(*terraform.State) error {
						if err := webhookAnswers(c, secrets[0], http.StatusNoContent); err != nil {
							return err
						}
						if err := webhookAnswers(c, secrets[1], http.StatusUnauthorized); err != nil {
							return err
						}
						return stateFilesHold(work, secrets...)
					},
				),
			},
			{ // a new secret alone changes nothing: it is write-only
				PreConfig:        use(secrets[1]),
				Config:           webhookConfig(c, repo, 1, fromVar),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan(), noSecrets}},
				Check:            func(*terraform.State) error { return webhookAnswers(c, secrets[0], http.StatusNoContent) },
			},
			{ // rotation
				Config: webhookConfig(c, repo, 2, fromVar),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_pipeline.hooked", plancheck.ResourceActionUpdate), noSecrets}},
				Check: func(*terraform.State) error {
					if err := webhookAnswers(c, secrets[1], http.StatusNoContent); err != nil {
						return err
					}
					if err := webhookAnswers(c, secrets[0], http.StatusUnauthorized); err != nil {
						return err
					}
					return stateFilesHold(work, secrets...)
				},
			},
		}, reimport{ // every import adopts the webhook secrets the cell has: the version is recorded, nothing is sent
			addr: "paved_pipeline.hooked", id: "ci/hooked", config: webhookConfig(c, repo, 2, fromVar),
			action: plancheck.ResourceActionUpdate, local: []string{"webhook_secrets_wo_version"}, cells: []*testcell.Cell{c},
			before: func() { use(secrets[0])() }, // another secret in the config: not sent
		}.steps(t), []resource.TestStep{
			{ // the secret the cell had still works
				Config:           webhookConfig(c, repo, 2, fromVar),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: func(*terraform.State) error {
					if err := webhookAnswers(c, secrets[1], http.StatusNoContent); err != nil {
						return err
					}
					return webhookAnswers(c, secrets[0], http.StatusUnauthorized)
				},
			},
			{ // after the import, a new version sends the configured secret
				Config: webhookConfig(c, repo, 3, fromVar),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_pipeline.hooked", plancheck.ResourceActionUpdate), noSecrets}},
				Check: func(*terraform.State) error {
					if err := webhookAnswers(c, secrets[0], http.StatusNoContent); err != nil {
						return err
					}
					return webhookAnswers(c, secrets[1], http.StatusUnauthorized)
				},
			},
			{
				Config:      webhookConfig(c, repo, 4, `{ repo = "short" }`),
				ExpectError: regexp.MustCompile(`(?s)Invalid webhook secret.*at least 32 characters`),
			},
			{
				Config:      webhookConfig(c, repo, 4, `{ nope = var.webhook_secret }`),
				ExpectError: regexp.MustCompile(`(?s)webhook_secrets.nope.*no source "nope"`),
			},
			{
				Config: webhookConfig(c, repo, 2, fromVar),
			},
		}),
	})
}

// TestPipelineStateWithWebhookTokensLoads: a state written by a provider
// that still had webhook_tokens loads (the removed attribute is dropped),
// so upgrading needs no state surgery.
func TestPipelineStateWithWebhookTokensLoads(t *testing.T) {
	srv := providerserver.NewProtocol6(New("test")())()
	ctx := context.Background()
	if _, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	old := `{"id":"ci/main","space":"ci","name":"main","paused":null,"retain":null,
		"source":[{"name":"repo","type":"git","uri":"/tmp/r","branch":null,"paths":null,"check_every":"1m","initial":null,"interval":null,"app":null,"gate":null}],
		"job":[{"name":"t","serial":null,"max_in_flight":null,"step":[],"on_success":null,"on_failure":null,"ensure":null}],
		"webhook_paths":{"repo":"/v1/spaces/ci/pipelines/main/sources/repo/check"},
		"webhook_tokens":{"repo":"whk_0123456789abcdef0123456789abcdef"}}`
	resp, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
		TypeName: "paved_pipeline", Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(old)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("diagnostic: %s: %s", d.Summary, d.Detail)
	}
	if resp.UpgradedState == nil {
		t.Fatal("no upgraded state")
	}
	if strings.Contains(string(resp.UpgradedState.MsgPack), "whk_0123456789abcdef") {
		t.Error("the upgraded state still holds the webhook token")
	}
}
