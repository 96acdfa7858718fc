package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/api"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestWebhookSecretsNeverRead: a chosen webhook secret works and a
// generated one is shown once, in the answer to the set that made it; no
// read (get, list, a later set) nor the audit trail shows either.
func TestWebhookSecretsNeverRead(t *testing.T) {
	e := newRolesEnv(t, nil)
	e.mustCreate("/v1/spaces", paved.SpaceSpec{Name: "shop"})
	const chosen = "chosen-webhook-secret-0123456789abcdef"
	spec := pipelineSpec("ci")
	spec.Sources = append(spec.Sources, paved.SourceSpec{Name: "ver", Type: paved.SourceSemver})
	spec.WebhookSecrets = map[string]string{"repo": chosen}

	r := e.request(http.MethodPut, "/v1/spaces/shop/pipelines/ci", spec)
	expect(t, "set pipeline", r, 200, "")
	if strings.Contains(string(r.body), chosen) {
		t.Fatalf("the set's answer shows the chosen secret: %s", r.body)
	}
	var p paved.Pipeline
	r.decode(t, &p)
	generated := p.Webhooks["ver"].Token
	if p.Webhooks["repo"].Token != "" || generated == "" {
		t.Fatalf("webhooks = %+v, want a generated secret for ver only", p.Webhooks)
	}
	leaks := func(what string, body []byte) {
		t.Helper()
		for _, s := range []string{chosen, generated} {
			if strings.Contains(string(body), s) {
				t.Errorf("%s shows webhook secret %q: %s", what, s, body)
			}
		}
	}
	leaks("GET pipeline", e.request(http.MethodGet, "/v1/spaces/shop/pipelines/ci", nil).body)
	leaks("list pipelines", e.request(http.MethodGet, "/v1/spaces/shop/pipelines", nil).body)
	spec.WebhookSecrets = nil
	again := e.request(http.MethodPut, "/v1/spaces/shop/pipelines/ci", spec)
	expect(t, "set again", again, 200, "")
	leaks("a second set", again.body)
	leaks("events", e.request(http.MethodGet, "/v1/events", nil).body)

	call := func(source, secret string) response {
		return e.request(http.MethodPost, p.Webhooks[source].Path, nil, "Authorization", "", api.WebhookHeader, secret)
	}
	expect(t, "chosen secret", call("repo", chosen), 204, "")
	expect(t, "generated secret", call("ver", generated), 204, "")
	expect(t, "another source's secret", call("ver", chosen), 401, "")
	expect(t, "a secret's prefix", call("repo", chosen[:len(chosen)-1]), 401, "")

	// Refused: too short, and a secret for a source the pipeline lacks.
	spec.WebhookSecrets = map[string]string{"repo": "short"}
	expect(t, "short secret", e.request(http.MethodPut, "/v1/spaces/shop/pipelines/ci", spec), 422, "webhook_secrets.repo")
	spec.WebhookSecrets = map[string]string{"nope": chosen}
	expect(t, "unknown source", e.request(http.MethodPut, "/v1/spaces/shop/pipelines/ci", spec), 422, "webhook_secrets.nope")
}
