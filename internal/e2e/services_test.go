package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Backing services end to end: a real cell, paved's PostgreSQL broker over
// real HTTP and a real PostgreSQL server.

type pgBroker struct {
	pg  *pgtest.Server
	url string
	// provisions counts the provision requests the broker received.
	provisions atomic.Int32
}

// counting counts provisions on the way to the broker.
type counting struct {
	osb.Broker
	n *atomic.Int32
}

func (c counting) Provision(ctx context.Context, id string, req osb.ProvisionRequest, async bool) (osb.Result, error) {
	c.n.Add(1)
	return c.Broker.Provision(ctx, id, req, async)
}

// gated holds every instance "in progress" at last_operation until its
// gate is opened: a provision that takes as long as a test needs.
type gated struct {
	osb.Broker
	open  *atomic.Bool
	polls *atomic.Int32
}

func (g gated) LastOperation(ctx context.Context, id, op string) (osb.LastOperation, error) {
	g.polls.Add(1)
	if !g.open.Load() {
		return osb.LastOperation{State: osb.StateInProgress, Description: "held by the test"}, nil
	}
	return g.Broker.LastOperation(ctx, id, op)
}

func startPgBroker(t *testing.T, wrap func(osb.Broker) osb.Broker) *pgBroker {
	t.Helper()
	pb := &pgBroker{pg: pgtest.Start(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgres.New(ctx, postgres.Options{AdminDSN: pb.pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	var ob osb.Broker = counting{b, &pb.provisions}
	if wrap != nil {
		ob = wrap(ob)
	}
	srv := httptest.NewServer(osb.Handler(ob, osb.HandlerOptions{Username: "paved", Password: "broker-s3cret"}))
	t.Cleanup(func() { srv.Close(); b.Close() })
	pb.url = srv.URL
	return pb
}

func (pb *pgBroker) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pb.pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func register(t *testing.T, c *cell, pb *pgBroker) {
	t.Helper()
	b, err := c.client.ServiceBrokers.Put(context.Background(), paved.ServiceBrokerSpec{Name: "pg", URL: pb.url, Username: "paved", Password: "broker-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Offerings) != 1 || b.Offerings[0] != "postgresql" {
		t.Fatalf("broker offerings %v, want [postgresql]", b.Offerings)
	}
}

func TestServicesPostgresInstanceBindingLifeCycle(t *testing.T) {
	pb := startPgBroker(t, nil)
	c := startCell(t)
	ctx := context.Background()

	// A broker that refuses the cell's credentials is not registered.
	_, err := c.client.ServiceBrokers.Put(ctx, paved.ServiceBrokerSpec{Name: "pg", URL: pb.url, Username: "paved", Password: "wrong"})
	var ae *paved.APIError
	if !asAPIError(err, &ae) || ae.Field != "url" || !strings.Contains(ae.Message, "401") {
		t.Fatalf("registering with a wrong password: %v, want a 422 at url naming the broker's 401", err)
	}
	register(t, c, pb)
	offerings, err := c.client.ServiceOfferings.List(ctx)
	if err != nil || len(offerings) != 1 || len(offerings[0].Plans) != 2 || !offerings[0].Plans[0].Updateable {
		t.Fatalf("offerings %+v %v", offerings, err)
	}

	c.pushHello("shop", "web", "web.example.test", 1)
	if _, err := c.client.ServiceInstances.Create(ctx, "shop", paved.ServiceInstanceSpec{Name: "db", Offering: "postgresql", Plan: "huge"}); !asAPIError(err, &ae) || ae.Field != "plan" {
		t.Fatalf("an unknown plan: %v, want a 422 at plan", err)
	}
	in, err := c.client.ServiceInstances.Create(ctx, "shop", paved.ServiceInstanceSpec{Name: "db", Offering: "postgresql", Plan: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if in.LastOperation.Type != paved.OperationCreate || in.LastOperation.Done() || in.Broker != "pg" {
		t.Fatalf("a new instance %+v, want a create in progress at broker pg", in)
	}
	in = waitInstance(t, c, "shop", "db")
	if in.LastOperation.State != paved.OperationSucceeded {
		t.Fatalf("provision: %+v", in.LastOperation)
	}

	if _, err := c.client.ServiceBindings.Create(ctx, "shop", paved.ServiceBindingSpec{Name: "web-db", Instance: "db", App: "nope"}); !asAPIError(err, &ae) || ae.Field != "app" {
		t.Fatalf("binding to no app: %v, want a 422 at app", err)
	}
	if _, err := c.client.ServiceBindings.Create(ctx, "shop", paved.ServiceBindingSpec{Name: "web-db", Instance: "db", App: "web"}); err != nil {
		t.Fatal(err)
	}
	b, err := c.client.ServiceBindings.Wait(ctx, "shop", "web-db")
	if err != nil || b.LastOperation.State != paved.OperationSucceeded {
		t.Fatalf("bind: %+v %v", b, err)
	}
	creds, err := c.client.ServiceBindings.Credentials(ctx, "shop", "web-db")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, creds["uri"].(string))
	if err != nil {
		t.Fatalf("log in with the binding's credentials: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE donations (key text PRIMARY KEY, amount int); INSERT INTO donations VALUES ('k1', 500)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// The binding reaches the app: a new release whose instance has the
	// credentials in VCAP_SERVICES, in Cloud Foundry's layout.
	eventually(t, time.Minute, "an instance of web with VCAP_SERVICES", func() error {
		envs := instanceEnvs("VCAP_SERVICES")
		if len(envs) == 0 {
			return errors.New("no process has VCAP_SERVICES yet")
		}
		for _, env := range envs {
			var vcap map[string][]struct {
				Name         string         `json:"name"`
				InstanceName string         `json:"instance_name"`
				Label        string         `json:"label"`
				Plan         string         `json:"plan"`
				Tags         []string       `json:"tags"`
				Credentials  map[string]any `json:"credentials"`
			}
			if err := json.Unmarshal([]byte(env), &vcap); err != nil {
				return fmt.Errorf("VCAP_SERVICES %q: %v", env, err)
			}
			pg := vcap["postgresql"]
			if len(pg) != 1 || pg[0].Name != "web-db" || pg[0].InstanceName != "db" || pg[0].Plan != "small" ||
				pg[0].Credentials["uri"] != creds["uri"] || len(pg[0].Tags) == 0 {
				return fmt.Errorf("VCAP_SERVICES %s", env)
			}
		}
		return nil
	})
	eventually(t, time.Minute, "the app settled on a new release with the binding", func() error {
		if a := c.appShow("shop", "web"); a.Release < 2 || a.Status != paved.AppRunning {
			return fmt.Errorf("release %d, %s", a.Release, a.Status)
		}
		return nil
	})

	// Nothing secret is in the cell's data dir in the clear.
	for _, secret := range []string{"broker-s3cret", creds["password"].(string)} {
		if f := fileContaining(t, c.data, secret); f != "" {
			t.Errorf("%s holds a secret in the clear", f)
		}
	}

	// A plan change in place.
	if _, err := c.client.ServiceInstances.Update(ctx, "shop", paved.ServiceInstanceSpec{Name: "db", Offering: "postgresql", Plan: "medium"}); err != nil {
		t.Fatal(err)
	}
	if in = waitInstance(t, c, "shop", "db"); in.LastOperation.Type != paved.OperationUpdate || in.LastOperation.State != paved.OperationSucceeded || in.Plan != "medium" {
		t.Fatalf("update: %+v", in)
	}
	db := creds["database"].(string)
	if n := pb.count(t, "SELECT datconnlimit FROM pg_database WHERE datname = $1", db); n != 50 {
		t.Errorf("connection limit %d after the change to medium, want 50", n)
	}

	// A bound app is not deleted (its credentials would outlive it).
	if err := c.client.Apps.Delete(ctx, "shop", "web"); !asAPIError(err, &ae) || ae.Code != paved.CodeConflict || !strings.Contains(ae.Message, "web-db") {
		t.Fatalf("deleting a bound app: %v, want a conflict naming the binding", err)
	}

	// A bound instance is not deleted; an unbinding ends the credentials.
	if err := c.client.ServiceInstances.Delete(ctx, "shop", "db"); !asAPIError(err, &ae) || ae.Code != paved.CodeConflict {
		t.Fatalf("deleting a bound instance: %v, want a conflict", err)
	}
	if err := c.client.ServiceBindings.Delete(ctx, "shop", "web-db"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.ServiceBindings.Wait(ctx, "shop", "web-db"); !errors.Is(err, paved.ErrNotFound) {
		t.Fatalf("the binding after its deletion: %v, want not found", err)
	}
	if conn, err := pgx.Connect(ctx, creds["uri"].(string)); err == nil {
		conn.Close(ctx)
		t.Fatal("the credentials of a deleted binding still log in")
	}
	eventually(t, time.Minute, "no instance with VCAP_SERVICES after the unbinding", func() error {
		if envs := instanceEnvs("VCAP_SERVICES"); len(envs) > 0 {
			return fmt.Errorf("%d processes still have VCAP_SERVICES", len(envs))
		}
		return nil
	})

	if err := c.client.ServiceInstances.Delete(ctx, "shop", "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.ServiceInstances.Wait(ctx, "shop", "db"); !errors.Is(err, paved.ErrNotFound) {
		t.Fatalf("the instance after its deletion: %v, want not found", err)
	}
	if n := pb.count(t, "SELECT count(*) FROM pg_database WHERE datname = $1", db); n != 0 {
		t.Error("the database is still there after the instance was deleted")
	}
}

// A cell killed while a provision is under way at the broker resumes
// polling it when it starts again, and does not provision twice.
func TestServicesProvisionResumesAfterKill9(t *testing.T) {
	var open atomic.Bool
	var polls atomic.Int32
	pb := startPgBroker(t, func(b osb.Broker) osb.Broker { return gated{b, &open, &polls} })
	c := startCell(t)
	ctx := context.Background()
	register(t, c, pb)
	if _, err := c.client.Spaces.Create(ctx, paved.SpaceSpec{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.ServiceInstances.Create(ctx, "shop", paved.ServiceInstanceSpec{Name: "db", Offering: "postgresql", Plan: "small"}); err != nil {
		t.Fatal(err)
	}
	// A poll means the cell has recorded the broker's operation.
	eventually(t, 30*time.Second, "the broker got the provision and a poll of it", func() error {
		if pb.provisions.Load() == 0 || polls.Load() == 0 {
			return errors.New("no provision or no poll yet")
		}
		return nil
	})
	c.kill9()
	c.start()
	if in, err := c.client.ServiceInstances.Get(ctx, "shop", "db"); err != nil || in.LastOperation.Done() {
		t.Fatalf("after the restart the instance is %+v (%v), want its create still in progress", in, err)
	}
	open.Store(true)
	in := waitInstance(t, c, "shop", "db")
	if in.LastOperation.State != paved.OperationSucceeded {
		t.Fatalf("the resumed provision: %+v", in.LastOperation)
	}
	if n := pb.provisions.Load(); n != 1 {
		t.Errorf("the broker got %d provisions, want 1", n)
	}
}

func waitInstance(t *testing.T, c *cell, space, name string) *paved.ServiceInstance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := c.client.ServiceInstances.Wait(ctx, space, name)
	if err != nil {
		t.Fatalf("waiting for service instance %s/%s: %v", space, name, err)
	}
	return in
}

// instanceEnvs returns the value of the variable key in every live
// process that has it (the test's own cells are the only ones here that
// set VCAP_SERVICES).
func instanceEnvs(key string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// fileContaining returns a file under dir whose bytes hold s, or "".
func fileContaining(t *testing.T, dir, s string) string {
	t.Helper()
	found := ""
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			found = p
		}
		return nil
	})
	return found
}

// A user-provided service: the user's credentials, sealed, bound like a
// broker's, under the label "user-provided"; changing them rolls the bound
// app out with the new ones.
func TestServicesUserProvided(t *testing.T) {
	c := startCell(t)
	ctx := context.Background()
	c.pushHello("shop", "web", "web.example.test", 1)
	ups := paved.ServiceInstanceSpec{Name: "legacy-db", Type: paved.ServiceUserProvided, Tags: []string{"mysql"},
		Credentials: map[string]any{"uri": "mysql://u:first-secret@db.internal/app"}}
	var ae *paved.APIError
	bad := ups
	bad.Plan = "small"
	if _, err := c.client.ServiceInstances.Create(ctx, "shop", bad); !asAPIError(err, &ae) || ae.Field != "plan" {
		t.Fatalf("a user-provided service with a plan: %v, want a 422 at plan", err)
	}
	in, err := c.client.ServiceInstances.Create(ctx, "shop", ups)
	if err != nil {
		t.Fatal(err)
	}
	if in.LastOperation.State != paved.OperationSucceeded || in.Credentials != nil || in.Type != paved.ServiceUserProvided {
		t.Fatalf("the new user-provided service %+v: want it ready, its credentials not shown", in)
	}
	if _, err := c.client.ServiceBindings.Create(ctx, "shop", paved.ServiceBindingSpec{Name: "web-legacy", Instance: "legacy-db", App: "web"}); err != nil {
		t.Fatal(err)
	}
	vcapHas := func(secret string) func() error {
		return func() error {
			for _, env := range instanceEnvs("VCAP_SERVICES") {
				var vcap map[string][]struct {
					Name        string         `json:"name"`
					Tags        []string       `json:"tags"`
					Credentials map[string]any `json:"credentials"`
				}
				if err := json.Unmarshal([]byte(env), &vcap); err != nil {
					return err
				}
				u := vcap[paved.ServiceUserProvided]
				if len(u) == 1 && u[0].Name == "web-legacy" && len(u[0].Tags) == 1 && strings.Contains(fmt.Sprint(u[0].Credentials["uri"]), secret) {
					return nil
				}
			}
			return fmt.Errorf("no instance has the user-provided credentials with %s yet", secret)
		}
	}
	eventually(t, time.Minute, "the user-provided credentials in VCAP_SERVICES", vcapHas("first-secret"))
	creds, err := c.client.ServiceBindings.Credentials(ctx, "shop", "web-legacy")
	if err != nil || !strings.Contains(fmt.Sprint(creds["uri"]), "first-secret") {
		t.Fatalf("the binding's credentials: %v %v", creds, err)
	}
	ups.Credentials = map[string]any{"uri": "mysql://u:second-secret@db.internal/app"}
	if _, err := c.client.ServiceInstances.Update(ctx, "shop", ups); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the new credentials in VCAP_SERVICES", vcapHas("second-secret"))
	if f := fileContaining(t, c.data, "second-secret"); f != "" {
		t.Errorf("%s holds the user-provided credentials in the clear", f)
	}
	if err := c.client.ServiceBindings.Delete(ctx, "shop", "web-legacy"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "no VCAP_SERVICES after the unbinding", func() error {
		if len(instanceEnvs("VCAP_SERVICES")) > 0 {
			return errors.New("an instance still has VCAP_SERVICES")
		}
		return nil
	})
	if err := c.client.ServiceInstances.Delete(ctx, "shop", "legacy-db"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.ServiceInstances.Get(ctx, "shop", "legacy-db"); !errors.Is(err, paved.ErrNotFound) {
		t.Fatalf("the deleted user-provided service: %v", err)
	}
}
