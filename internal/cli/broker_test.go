package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestFlagsBrokerPostgres(t *testing.T) {
	testFlags(t, []string{"broker", "postgres"}, NewCmdBrokerPostgres, func(o *BrokerPostgresOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[BrokerPostgresOptions]{
			{name: "defaults", args: []string{"--admin-dsn-file", "/dsn", "--password-file", "/pw"},
				want: BrokerPostgresOptions{Listen: "127.0.0.1:7600", AdminDSNFile: "/dsn", Username: "paved", PasswordFile: "/pw", RetryAfter: 1}},
			{name: "every flag", args: []string{"--admin-dsn", "postgres://a@h/db", "--password-file", "/pw", "--listen", "0.0.0.0:1",
				"--username", "cf", "--public-address", "db.internal:5432", "--retry-after", "5"},
				want: BrokerPostgresOptions{Listen: "0.0.0.0:1", AdminDSN: "postgres://a@h/db", Username: "cf", PasswordFile: "/pw",
					PublicAddress: "db.internal:5432", RetryAfter: 5}},
			{name: "no password", args: []string{"--admin-dsn-file", "/dsn"}, err: `required flag(s) "password-file" not set`},
			{name: "no DSN", args: []string{"--password-file", "/pw"}, err: "at least one of the flags in the group [admin-dsn admin-dsn-file] is required"},
			{name: "both DSNs", args: []string{"--admin-dsn", "x", "--admin-dsn-file", "/dsn", "--password-file", "/pw"},
				err: "if any flags in the group [admin-dsn admin-dsn-file] are set none of the others can be"},
		})
}

// The command as an operator runs it: the real binary, a real PostgreSQL,
// the catalog served to the credentials from the files, and a clean stop
// on SIGTERM.
func TestBrokerPostgresServes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL: not a unit test")
	}
	pg := pgtest.Start(t)
	dir := t.TempDir()
	dsnFile, pwFile := filepath.Join(dir, "dsn"), filepath.Join(dir, "pw")
	if err := os.WriteFile(dsnFile, []byte(pg.DSN("postgres")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "paved")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/paved").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "broker", "postgres", "--listen", addr, "--admin-dsn-file", dsnFile, "--password-file", pwFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	c, err := osb.NewClient(osb.ClientOptions{URL: "http://" + addr, Username: "paved", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	var cat osb.Catalog
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if cat, err = c.Catalog(context.Background()); err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("catalog: %v\n%s", err, stderr.String())
	}
	if _, _, ok := cat.Lookup(postgres.ServiceID, postgres.PlanSmall); !ok {
		b, _ := json.Marshal(cat)
		t.Fatalf("catalog %s has no small plan", b)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/catalog", nil)
	req.Header.Set(osb.HeaderAPIVersion, osb.APIVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the catalog without credentials: %d, want 401", resp.StatusCode)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("the broker's exit on SIGINT: %v\n%s", err, stderr.String())
	}
}

// The service commands against a real cell, paved's broker and a real
// PostgreSQL: marketplace, create, show, list, update, bind, unbind,
// delete, and their refusals.
func TestRunServices(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgres.New(ctx, postgres.Options{AdminDSN: pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(osb.Handler(b, osb.HandlerOptions{Username: "paved", Password: "s3cret"}))
	t.Cleanup(func() { srv.Close(); b.Close() })
	c := startCell(t)
	if _, err := c.client.ServiceBrokers.Put(context.Background(), paved.ServiceBrokerSpec{Name: "pg", URL: srv.URL, Username: "paved", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	mustMatch(t, "marketplace", c.ok("marketplace"), `(?m)^postgresql\s+small, medium\s+pg\s+`)
	c.ok("space", "create", "demo")
	c.ok("push", appDir(t), "-s", "demo", "-a", "web", "--instances", "0")

	if r := c.fails("service", "create", "db", "-s", "demo", "--offering", "postgresql", "--plan", "tiny"); !errors.Is(r.runErr, paved.ErrValidation) || !strings.Contains(r.runErr.Error(), "tiny") {
		t.Fatalf("an unknown plan: %v", r.runErr)
	}
	if r := c.fails("service", "create", "db", "-s", "demo", "--offering", "postgresql", "--plan", "small", "--parameters", "[1]"); r.runErr == nil || !strings.Contains(r.runErr.Error(), "JSON object") {
		t.Fatalf("parameters that are not an object: %v", r.runErr)
	}
	if out := c.ok("service", "create", "db", "-s", "demo", "--offering", "postgresql", "--plan", "small"); out != "service instance demo/db: create succeeded (postgresql small)\n" {
		t.Fatalf("service create printed %q", out)
	}
	mustMatch(t, "service list", c.ok("service", "list", "-s", "demo"), `(?m)^db\s+postgresql\s+small\s+create succeeded$`)
	if out := c.ok("service", "update", "db", "-s", "demo", "--plan", "medium"); !strings.Contains(out, "update succeeded (postgresql medium)") {
		t.Fatalf("service update printed %q", out)
	}
	if out := c.ok("service", "bind", "db", "web", "-s", "demo"); !strings.Contains(out, "db bound to app web as db-web") {
		t.Fatalf("service bind printed %q", out)
	}
	mustMatch(t, "service show", c.ok("service", "show", "db", "-s", "demo"), `(?m)^bound to:\s+app web \(binding db-web, create succeeded\)$`)
	if r := c.fails("service", "delete", "db", "-s", "demo"); !errors.Is(r.runErr, paved.ErrConflict) {
		t.Fatalf("deleting a bound instance: %v", r.runErr)
	}
	if out := c.ok("service", "unbind", "db", "web", "-s", "demo"); out != "db unbound from app web (1 bindings)\n" {
		t.Fatalf("service unbind printed %q", out)
	}
	if out := c.ok("service", "delete", "db", "-s", "demo"); out != "service instance demo/db deleted\n" {
		t.Fatalf("service delete printed %q", out)
	}
	if r := c.fails("service", "show", "db", "-s", "demo"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("showing a deleted instance: %v", r.runErr)
	}
}
