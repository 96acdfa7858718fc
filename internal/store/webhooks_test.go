package store_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func webhookPipeline(secrets map[string]string) paved.PipelineSpec {
	return paved.PipelineSpec{Name: "ci",
		Sources: []paved.SourceSpec{
			{Name: "repo", Type: paved.SourceGit, URI: "/tmp/repo"},
			{Name: "ver", Type: paved.SourceSemver},
		},
		Jobs:           []paved.JobSpec{{Name: "j", Plan: []paved.Step{{Get: "repo"}}}},
		WebhookSecrets: secrets,
	}
}

// TestWebhookSecretsAreHashed: chosen secrets are kept as hashes, the spec
// is stored without them, a generated secret is returned only by the set
// that made it, and a set without secrets keeps the ones there are.
func TestWebhookSecretsAreHashed(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.CreateSpace(ctx, "tester", paved.SpaceSpec{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	const chosen = "chosen-webhook-secret-0123456789abcdef"
	n := 0
	gen := func() string { n++; return strings.Repeat("g", 40) + string(rune('0'+n)) }
	p, generated, err := s.SetPipeline(ctx, "tester", "shop", webhookPipeline(map[string]string{"repo": chosen}), 0, gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) != 1 || generated["ver"] == "" {
		t.Fatalf("generated = %v, want one secret for ver", generated)
	}
	if p.Spec.WebhookSecrets != nil || !store.WebhookMatches(p.WebhookHashes["repo"], chosen) ||
		!store.WebhookMatches(p.WebhookHashes["ver"], generated["ver"]) || store.WebhookMatches(p.WebhookHashes["repo"], chosen+"x") {
		t.Fatalf("pipeline = %+v", p)
	}
	// Again without secrets: nothing is generated, nothing changes.
	p2, again, err := s.SetPipeline(ctx, "tester", "shop", webhookPipeline(nil), 0, gen)
	if err != nil || len(again) != 0 || p2.WebhookHashes["repo"] != p.WebhookHashes["repo"] || p2.WebhookHashes["ver"] != p.WebhookHashes["ver"] {
		t.Fatalf("set without secrets: %v %v %+v", err, again, p2)
	}
	// Rotation: a new chosen secret replaces the hash.
	p3, _, err := s.SetPipeline(ctx, "tester", "shop", webhookPipeline(map[string]string{"ver": chosen}), 0, gen)
	if err != nil || !store.WebhookMatches(p3.WebhookHashes["ver"], chosen) || p3.WebhookHashes["repo"] != p.WebhookHashes["repo"] {
		t.Fatalf("rotate: %v %+v", err, p3)
	}
	// Nothing in the database holds a secret.
	s.Close()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var spec, hooks string
	if err := raw.QueryRow("SELECT spec, webhook_hashes FROM pipelines").Scan(&spec, &hooks); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{chosen, generated["ver"]} {
		if strings.Contains(spec+hooks, secret) {
			t.Errorf("the database holds secret %q: spec %s, hashes %s", secret, spec, hooks)
		}
	}
}

// TestMigrationHashesPlainWebhookTokens: a data dir from before migration
// 0008 (plain tokens) opens with the tokens hashed, and they still work.
func TestMigrationHashesPlainWebhookTokens(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.CreateSpace(ctx, "tester", paved.SpaceSpec{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetPipeline(ctx, "tester", "shop", webhookPipeline(nil), 0, func() string { return "x" }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE pipelines RENAME COLUMN webhook_hashes TO webhooks",
		`UPDATE pipelines SET webhooks = '{"repo":"whk_plain1","ver":"whk_plain2"}'`,
		"PRAGMA user_version = 7",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	s2 := openStore(t, dir)
	p, err := s2.GetPipeline(ctx, "shop", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !store.WebhookMatches(p.WebhookHashes["repo"], "whk_plain1") || !store.WebhookMatches(p.WebhookHashes["ver"], "whk_plain2") {
		t.Fatalf("after the migration: %v", p.WebhookHashes)
	}
	for _, h := range p.WebhookHashes {
		if strings.Contains(h, "plain") {
			t.Fatalf("a plain token survived the migration: %v", p.WebhookHashes)
		}
	}
}
