package postgres

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
)

// These tests run the broker against a real PostgreSQL server, over real
// HTTP, with the platform's client: what the cell will do to it.

type env struct {
	t      *testing.T
	pg     *pgtest.Server
	broker *Broker
	srv    *httptest.Server
	c      *osb.Client
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, pg: pgtest.Start(t)}
	e.open()
	return e
}

// open starts a broker (again) on the server.
func (e *env) open() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{AdminDSN: e.pg.DSN("postgres")})
	if err != nil {
		e.t.Fatal(err)
	}
	e.broker = b
	e.srv = httptest.NewServer(osb.Handler(b, osb.HandlerOptions{Username: "paved", Password: "s3cret", RetryAfter: 1}))
	e.t.Cleanup(func() { e.close() })
	if e.c, err = osb.NewClient(osb.ClientOptions{URL: e.srv.URL, Username: "paved", Password: "s3cret"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) close() {
	if e.srv != nil {
		e.srv.Close()
		e.broker.Close()
		e.srv = nil
	}
}

func (e *env) provision(id, plan string, async bool) osb.Result {
	e.t.Helper()
	res, err := e.c.Provision(context.Background(), id, osb.ProvisionRequest{ServiceID: ServiceID, PlanID: plan}, async)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.Async {
		e.waitOperation(id, res.Operation, false)
	}
	return res
}

// waitOperation polls last_operation until it ends; gone says the end is a
// 410 (a finished deprovision).
func (e *env) waitOperation(id, op string, gone bool) {
	e.t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		lo, _, err := e.c.LastOperation(context.Background(), id, ServiceID, "", op)
		switch {
		case gone && errors.Is(err, osb.ErrGone):
			return
		case err != nil:
			e.t.Fatalf("last_operation of %s: %v", id, err)
		case lo.State == osb.StateSucceeded && !gone:
			return
		case lo.State == osb.StateFailed:
			e.t.Fatalf("operation %s of %s failed: %s", op, id, lo.Description)
		}
	}
	e.t.Fatalf("operation %s of %s did not end in 30s", op, id)
}

func (e *env) bind(id, binding string) map[string]any {
	e.t.Helper()
	b, _, err := e.c.Bind(context.Background(), id, binding, osb.BindRequest{ServiceID: ServiceID, PlanID: PlanSmall,
		BindResource: &osb.BindResource{AppGUID: "shop/web"}}, true)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Credentials
}

func connect(t *testing.T, creds map[string]any) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, creds["uri"].(string))
}

func (e *env) adminQuery(sql string, args ...any) (n int) {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), e.pg.DSN("postgres"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestAnInstanceLifeCycle(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	cat, err := e.c.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc, plan, ok := cat.Lookup(ServiceID, PlanSmall)
	if !ok || !svc.Bindable || !svc.BindingsRetrievable || !svc.Updateable(plan) {
		t.Fatalf("catalog %+v", cat)
	}

	res := e.provision("db-1", PlanSmall, true)
	if !res.Async || res.Operation == "" {
		t.Fatalf("async provision answered %+v, want 202 with an operation", res)
	}
	// Provisioning the same again changes nothing (200).
	if again := e.provision("db-1", PlanSmall, true); !again.Existed {
		t.Errorf("the same provision again answered %+v, want 200", again)
	}
	db := namesOf("db-1").db
	if n := e.adminQuery("SELECT datconnlimit FROM pg_database WHERE datname = $1", db); n != 10 {
		t.Errorf("connection limit %d, want the small plan's 10", n)
	}

	creds := e.bind("db-1", "bind-1")
	for _, k := range []string{"uri", "jdbcUrl", "host", "port", "database", "username", "password"} {
		if creds[k] == nil || creds[k] == "" {
			t.Errorf("credential %s missing in %v", k, creds)
		}
	}
	if got, err := e.c.GetBinding(ctx, "db-1", "bind-1"); err != nil || got.Credentials["password"] != creds["password"] {
		t.Errorf("the binding read back: %v %v", got, err)
	}
	conn, err := connect(t, creds)
	if err != nil {
		t.Fatalf("log in with the binding's credentials: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE donations (key text PRIMARY KEY, amount int); INSERT INTO donations VALUES ('k1', 500)"); err != nil {
		t.Fatalf("write with the binding: %v", err)
	}
	conn.Close(ctx)

	// Another instance's binding cannot reach this database.
	e.provision("db-2", PlanSmall, false)
	other := e.bind("db-2", "bind-2")
	uri := other["uri"].(string)
	other["uri"] = uri[:strings.LastIndex(uri, "/")+1] + db
	if c, err := connect(t, other); err == nil {
		c.Close(ctx)
		t.Fatal("a binding of db-2 connected to db-1's database")
	} else if !strings.Contains(err.Error(), "permission denied for database") {
		t.Fatalf("a binding of db-2 connecting to db-1's database: %v, want permission denied", err)
	}

	// A plan change in place.
	if _, err := e.c.Update(ctx, "db-1", osb.UpdateRequest{ServiceID: ServiceID, PlanID: PlanMedium}, true); err != nil {
		t.Fatal(err)
	}
	if n := e.adminQuery("SELECT datconnlimit FROM pg_database WHERE datname = $1", db); n != 50 {
		t.Errorf("connection limit %d after the change to medium, want 50", n)
	}

	// Unbinding ends the old credentials; the data stays with the
	// instance, and a new binding reads it.
	if _, err := e.c.Unbind(ctx, "db-1", "bind-1", ServiceID, PlanMedium, true); err != nil {
		t.Fatal(err)
	}
	if c, err := connect(t, creds); err == nil {
		c.Close(ctx)
		t.Fatal("the credentials of an unbound binding still log in")
	} else if !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("logging in with unbound credentials: %v, want an authentication failure", err)
	}
	if _, err := e.c.Unbind(ctx, "db-1", "bind-1", ServiceID, PlanMedium, true); !errors.Is(err, osb.ErrGone) {
		t.Errorf("unbinding again: %v, want 410 Gone", err)
	}
	conn, err = connect(t, e.bind("db-1", "bind-3"))
	if err != nil {
		t.Fatal(err)
	}
	var amount int
	if err := conn.QueryRow(ctx, "SELECT amount FROM donations WHERE key = 'k1'").Scan(&amount); err != nil || amount != 500 {
		t.Fatalf("a new binding reads %d, %v; want the row written before", amount, err)
	}
	conn.Close(ctx)

	// Deprovisioning drops the database and every role of the instance.
	res, err = e.c.Deprovision(ctx, "db-1", ServiceID, PlanMedium, true)
	if err != nil || !res.Async {
		t.Fatalf("async deprovision: %+v %v", res, err)
	}
	e.waitOperation("db-1", res.Operation, true)
	if n := e.adminQuery("SELECT count(*) FROM pg_database WHERE datname = $1", db); n != 0 {
		t.Error("the database is still there after deprovision")
	}
	if n := e.adminQuery("SELECT count(*) FROM pg_roles WHERE rolname LIKE $1", "paved_"+shortHash("db-1", 16)+"%"); n != 0 {
		t.Errorf("%d roles of the instance left after deprovision", n)
	}
	if _, err := e.c.Deprovision(ctx, "db-1", ServiceID, PlanMedium, true); !errors.Is(err, osb.ErrGone) {
		t.Errorf("deprovisioning again: %v, want 410 Gone", err)
	}
}

func TestTheProtocolsErrors(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.provision("db-1", PlanSmall, false)

	check := func(what string, err error, status int, code string) {
		t.Helper()
		var oe *osb.Error
		if !errors.As(err, &oe) || oe.Status != status || oe.Code != code {
			t.Errorf("%s: %v, want %d %s", what, err, status, code)
		}
	}
	_, err := e.c.Provision(ctx, "db-1", osb.ProvisionRequest{ServiceID: ServiceID, PlanID: PlanMedium}, true)
	check("the same instance with another plan", err, http.StatusConflict, "")
	_, err = e.c.Provision(ctx, "db-x", osb.ProvisionRequest{ServiceID: ServiceID, PlanID: "nope"}, true)
	check("an unknown plan", err, http.StatusBadRequest, "")
	_, err = e.c.Provision(ctx, "db-x", osb.ProvisionRequest{ServiceID: ServiceID, PlanID: PlanSmall, Parameters: []byte(`{"size": 3}`)}, true)
	check("an unknown parameter", err, http.StatusBadRequest, "")
	_, err = e.c.Provision(ctx, "db-x", osb.ProvisionRequest{ServiceID: ServiceID, PlanID: PlanSmall, Parameters: []byte(`{"backup_every": "1s"}`)}, true)
	check("a backup interval under a minute", err, http.StatusBadRequest, "")
	_, _, err = e.c.Bind(ctx, "db-none", "b", osb.BindRequest{ServiceID: ServiceID, PlanID: PlanSmall}, true)
	check("a binding of no instance", err, http.StatusNotFound, "")

	for _, tc := range []struct {
		name, user, pass, version string
		want                      int
	}{
		{"no API version", "paved", "s3cret", "", http.StatusPreconditionFailed},
		{"an old API version", "paved", "s3cret", "2.12", http.StatusPreconditionFailed},
		{"a wrong password", "paved", "guess", "2.17", http.StatusUnauthorized},
		{"a later 2.x", "paved", "s3cret", "2.18", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/catalog", nil)
		req.SetBasicAuth(tc.user, tc.pass)
		if tc.version != "" {
			req.Header.Set(osb.HeaderAPIVersion, tc.version)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// A broker stopped in the middle of a provision (its record says
// "provisioning") finishes it when it starts again.
func TestARestartedBrokerResumesItsOperations(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.close()
	conn, err := pgx.Connect(ctx, e.pg.DSN(StateDatabase))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO instances (id, service_id, plan_id, state, operation, op_kind)
		VALUES ('db-9', $1, $2, 'provisioning', 'provision-cut', 'provision')`, ServiceID, PlanSmall); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	e.open()
	e.waitOperation("db-9", "provision-cut", false)
	if n := e.adminQuery("SELECT count(*) FROM pg_database WHERE datname = $1", namesOf("db-9").db); n != 1 {
		t.Fatal("the resumed provision made no database")
	}
	if _, err := connect(t, e.bind("db-9", "b")); err != nil {
		t.Fatalf("a binding of the resumed instance: %v", err)
	}
}
