package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func runPaved(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	root := NewRootCmd(&Factory{Out: &out, Err: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestServerRotateKey: `paved server rotate-key` re-seals a stopped cell's
// secrets under a new key, and refuses while the data dir is in use.
func TestServerRotateKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := t.TempDir()
	keyFile := filepath.Join(keys, "cell.key")
	os.WriteFile(keyFile, []byte(strings.Repeat("3c", 32)+"\n"), 0o600)
	s, err := store.OpenWith(dir, store.Options{SecretsKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSpace(ctx, "t", paved.SpaceSpec{Name: "prod"}); err != nil {
		t.Fatal(err)
	}
	spec := paved.AppSpec{Name: "web", Command: "./server", Instances: 1, SecretEnv: map[string]string{"DB_PASSWORD": "correct-horse"}}
	if _, err := s.CreateApp(ctx, "t", "prod", spec); err != nil {
		t.Fatal(err)
	}

	_, err = runPaved("server", "rotate-key", "--data", dir, "--secrets-key-file", keyFile)
	if err == nil || !strings.Contains(err.Error(), "in use by another paved process") {
		t.Fatalf("rotate-key on an open data dir: %v", err)
	}
	s.Close()
	if _, err := runPaved("server", "rotate-key"); err == nil || !strings.Contains(err.Error(), `"data"`) {
		t.Fatalf("rotate-key without --data: %v", err)
	}

	before, _ := os.ReadFile(keyFile)
	out, err := runPaved("server", "rotate-key", "--data", dir, "--secrets-key-file", keyFile)
	if err != nil {
		t.Fatalf("rotate-key: %v", err)
	}
	after, _ := os.ReadFile(keyFile)
	if bytes.Equal(before, after) || !strings.Contains(out, "rotated the secrets key of "+dir) {
		t.Fatalf("rotate-key said %q; key changed: %v", out, !bytes.Equal(before, after))
	}
	if _, err := os.Stat(filepath.Join(dir, store.KeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key appeared in the data dir although --secrets-key-file was given: %v", err)
	}
	s, err = store.OpenWith(dir, store.Options{SecretsKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.GetApp(ctx, "prod", "web")
	if err != nil || a.Spec.SecretEnv["DB_PASSWORD"] != "correct-horse" {
		t.Fatalf("after rotate-key: %v %v", a.Spec.SecretEnv, err)
	}
}

// TestServerSecretsKeyFileFlag: `paved server --secrets-key-file` reaches
// the cell's config.
func TestServerSecretsKeyFileFlag(t *testing.T) {
	var got *ServerOptions
	cmd := NewCmdServer(&Factory{}, func(o *ServerOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--data", "/d", "--secrets-key-file", "/k"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Config.SecretsKeyFile != "/k" || got.Config.DataDir != "/d" {
		t.Fatalf("config %+v", got.Config)
	}
}
