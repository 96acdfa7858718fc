package tests

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

// TestPulumiServices: a ServiceInstance of paved's PostgreSQL broker (on a
// real PostgreSQL server) bound to an app with a ServiceBinding, through
// the real Pulumi CLI: the binding's credentials log in; a plan change is
// an update in place, not a replacement; destroy drops the database.
func TestPulumiServices(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := postgres.New(bctx, postgres.Options{AdminDSN: pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(osb.Handler(b, osb.HandlerOptions{Username: "paved", Password: "broker-s3cret"}))
	t.Cleanup(func() { srv.Close(); b.Close() })
	c := testcell.Start(t)
	if _, err := c.Client.ServiceBrokers.Put(ctx, paved.ServiceBrokerSpec{Name: "pg", URL: srv.URL, Username: "paved", Password: "broker-s3cret"}); err != nil {
		t.Fatal(err)
	}
	src := copyDir(t, "../../examples/hello")
	plan := "small"
	program := func(ctx *pulumi.Context) error {
		sp, err := pv.NewSpace(ctx, "shop", &pv.SpaceArgs{Name: pulumi.String("shop")})
		if err != nil {
			return err
		}
		app, err := pv.NewApp(ctx, "web", &pv.AppArgs{Space: sp.Name, Name: pulumi.String("web"), Source: pulumi.String(src),
			Build: pulumi.String("go build -o hello ."), Command: pulumi.String("./hello"), Instances: pulumi.Int(1)})
		if err != nil {
			return err
		}
		db, err := pv.NewServiceInstance(ctx, "db", &pv.ServiceInstanceArgs{Space: sp.Name, Name: pulumi.String("db"),
			Offering: pulumi.String("postgresql"), Plan: pulumi.String(plan)})
		if err != nil {
			return err
		}
		if _, err = pv.NewServiceBinding(ctx, "web-db", &pv.ServiceBindingArgs{Space: sp.Name, Name: pulumi.String("web-db"),
			Instance: db.Name, App: app.Name}); err != nil {
			return err
		}
		legacy, err := pv.NewUserProvidedService(ctx, "legacy", &pv.UserProvidedServiceArgs{Space: sp.Name, Name: pulumi.String("legacy-db"),
			Credentials: pulumi.StringMap{"uri": pulumi.String("mysql://u:ups-s3cret@db.internal/app")}, Tags: pulumi.StringArray{pulumi.String("mysql")}})
		if err != nil {
			return err
		}
		_, err = pv.NewServiceBinding(ctx, "web-legacy", &pv.ServiceBindingArgs{Space: sp.Name, Name: pulumi.String("web-legacy"),
			Instance: legacy.Name, App: app.Name})
		return err
	}
	s := newStack(t, "services", c.Endpoint, c.Token, program)
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			s.Destroy(ctx)
		}
	})
	if _, err := s.Up(ctx, optup.ProgressStreams(s.log())); err != nil {
		t.Fatalf("up: %v", err)
	}
	creds, err := c.Client.ServiceBindings.Credentials(ctx, "shop", "web-db")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, creds["uri"].(string))
	if err != nil {
		t.Fatalf("log in with the binding's credentials: %v", err)
	}
	conn.Close(ctx)
	if ups, err := c.Client.ServiceBindings.Credentials(ctx, "shop", "web-legacy"); err != nil || ups["uri"] != "mysql://u:ups-s3cret@db.internal/app" {
		t.Fatalf("the user-provided service's credentials: %v %v", ups, err)
	}
	noSecretOutput(t, s, "paved:index:UserProvidedService", "credentials", "ups-s3cret")

	plan = "medium"
	if st := previewOf(t, s).steps.of("paved:index:ServiceInstance"); len(st) != 1 || st[0].Op != apitype.OpUpdate {
		t.Fatalf("a plan change previews %+v, want an update", st)
	}
	if _, err := s.Up(ctx, optup.ProgressStreams(s.log())); err != nil {
		t.Fatalf("up (plan change): %v", err)
	}
	in, err := c.Client.ServiceInstances.Get(ctx, "shop", "db")
	if err != nil || in.Plan != "medium" {
		t.Fatalf("the instance after the plan change: %+v %v", in, err)
	}
	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(s.log())); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", creds["database"]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the database after destroy: %d (%v)", n, err)
	}
}

// noSecretOutput checks that resources of typ have no output key and no
// output holding secret, that their input key is a Pulumi secret, and that
// no state file holds secret in plain text.
func noSecretOutput(t *testing.T, s *stack, typ, key, secret string) {
	t.Helper()
	found := false
	for _, r := range deployment(t, s).Resources { // exported with --show-secrets
		if string(r.Type) != typ {
			continue
		}
		found = true
		if _, ok := r.Outputs[key]; ok {
			t.Errorf("the outputs of %s hold %s", r.URN, key)
		}
		if b, _ := json.Marshal(r.Outputs); strings.Contains(string(b), secret) {
			t.Errorf("the outputs of %s hold the secret: %s", r.URN, b)
		}
		if in, _ := r.Inputs[key].(map[string]any); in[secretSig] != secretSigValue {
			t.Errorf("the %s input of %s is not a secret: %v", key, r.URN, r.Inputs[key])
		}
	}
	if !found {
		t.Errorf("no %s in the state", typ)
	}
	backend := strings.TrimPrefix(s.Workspace().GetEnvVars()["PULUMI_BACKEND_URL"], "file://")
	_ = filepath.WalkDir(backend, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), secret) {
				t.Errorf("%s holds the secret in plain text", path)
			}
		}
		return nil
	})
}
