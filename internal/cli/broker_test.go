package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
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
	addr := "127.0.0.1:" + freePortString(t)
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

func freePortString(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
