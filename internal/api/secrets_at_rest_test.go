package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/api"
	"github.com/pavedroad/terraform-provider-paved/internal/logbuf"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestSecretEnvThroughTheAPIIsNotInTheDataDir: secret_env values sent to
// the API (a create with an Idempotency-Key, whose answer is kept, and an
// update) are in no file of the data dir but the key, while the store is
// open and after; reads still only name the keys, and the store gives the
// values back to the deployer.
func TestSecretEnvThroughTheAPIIsNotInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stg, err := stager.New(st, stager.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Store: st, Deployer: &fakeDeployer{}, Stager: stg, Logs: logbuf.New(0), Token: token}))
	defer srv.Close()
	e := &env{t: t, srv: srv, store: st, stager: stg}

	value := func(label string) string {
		b := make([]byte, 12)
		rand.Read(b)
		return label + "-" + hex.EncodeToString(b)
	}
	first, second, kept := value("first"), value("second"), value("kept")
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	body := app("web")
	body["secret_env"] = map[string]string{"DB_PASSWORD": first, "KEPT": kept}
	r := e.request(http.MethodPost, "/v1/spaces/prod/apps", body, "Idempotency-Key", "create-web-1")
	expect(t, "create", r, http.StatusCreated, "")
	body["secret_env"] = map[string]string{"DB_PASSWORD": second, "KEPT": kept}
	expect(t, "update", e.request(http.MethodPut, "/v1/spaces/prod/apps/web", body), 200, "")

	var a paved.App
	e.request(http.MethodGet, "/v1/spaces/prod/apps/web", nil).decode(t, &a)
	if a.SecretEnv != nil || strings.Join(a.SecretEnvKeys, ",") != "DB_PASSWORD,KEPT" {
		t.Fatalf("a read shows %v / keys %v", a.SecretEnv, a.SecretEnvKeys)
	}
	got, err := st.GetApp(context.Background(), "prod", "web")
	if err != nil || got.Spec.SecretEnv["DB_PASSWORD"] != second || got.Spec.SecretEnv["KEPT"] != kept {
		t.Fatalf("the store gives the deployer %v, %v", got.Spec.SecretEnv, err)
	}

	values := []string{first, second, kept}
	grep := func(when string) {
		t.Helper()
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), store.KeyFile) {
				return err
			}
			data, _ := os.ReadFile(path)
			for _, v := range values {
				for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawStdEncoding.EncodeToString([]byte(v)),
					base64.URLEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v))} {
					if bytes.Contains(data, []byte(form)) {
						t.Errorf("%s: %s holds %s", when, path, v)
					}
				}
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "paved.db-wal")); err != nil {
		t.Fatalf("no -wal file to search: %v", err)
	}
	grep("store open")
	st.Close()
	grep("store closed")
}
