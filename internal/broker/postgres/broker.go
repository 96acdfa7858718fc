package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pavedroad/terraform-provider-paved/internal/osb"
)

// StateDatabase is the database of the server where the broker keeps its
// records.
const StateDatabase = "paved_broker"

// Options configure a Broker.
type Options struct {
	// AdminDSN connects to the server as a role that may create databases
	// and roles (a superuser).
	AdminDSN string
	// PublicHost and PublicPort are what credentials name; by default the
	// host and port of AdminDSN.
	PublicHost string
	PublicPort int
	Logger     *slog.Logger
}

// Broker implements osb.Broker on one PostgreSQL server.
type Broker struct {
	opts   Options
	admin  *pgxpool.Pool // the maintenance database
	state  *pgxpool.Pool // StateDatabase
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	work   sync.WaitGroup

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per instance: one change at a time
}

var _ osb.Broker = (*Broker)(nil)

// New connects, makes the state database if needed and resumes the
// operations a previous run left under way.
func New(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(opts.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("the admin DSN: %w", err)
	}
	if opts.PublicHost == "" {
		opts.PublicHost = cfg.ConnConfig.Host
	}
	if opts.PublicPort == 0 {
		opts.PublicPort = int(cfg.ConnConfig.Port)
	}
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(StateDatabase)); err != nil && !isCode(err, "42P04") {
		admin.Close()
		return nil, fmt.Errorf("create the broker's database %s: %w", StateDatabase, err)
	}
	scfg := cfg.Copy()
	scfg.ConnConfig.Database = StateDatabase
	state, err := pgxpool.NewWithConfig(ctx, scfg)
	if err != nil {
		admin.Close()
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &Broker{opts: opts, admin: admin, state: state, log: opts.Logger.With("component", "broker"),
		ctx: bctx, cancel: cancel, locks: map[string]*sync.Mutex{}}
	if err := b.migrate(ctx); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.resume(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close waits for the operations under way (they are resumed by the next
// run if cut short) and disconnects.
func (b *Broker) Close() {
	b.cancel()
	b.work.Wait()
	b.state.Close()
	b.admin.Close()
}

func (b *Broker) migrate(ctx context.Context) error {
	_, err := b.state.Exec(ctx, `
CREATE TABLE IF NOT EXISTS instances (
	id          text PRIMARY KEY,
	service_id  text NOT NULL,
	plan_id     text NOT NULL,
	parameters  jsonb NOT NULL DEFAULT '{}',
	state       text NOT NULL,            -- provisioning, ready, deprovisioning, failed
	operation   text NOT NULL DEFAULT '',
	op_kind     text NOT NULL DEFAULT '', -- provision, deprovision
	description text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bindings (
	instance_id text NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	id          text NOT NULL,
	role        text NOT NULL,
	password    text NOT NULL,
	app_guid    text NOT NULL DEFAULT '',
	parameters  jsonb NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (instance_id, id)
);`)
	if err != nil {
		return fmt.Errorf("the broker's tables: %w", err)
	}
	return nil
}

// Catalog implements osb.Broker.
func (b *Broker) Catalog() osb.Catalog { return Catalog() }

// names are an instance's objects in the server.
type names struct{ db, owner string }

func namesOf(instanceID string) names {
	h := shortHash(instanceID, 16)
	return names{db: "paved_" + h, owner: "paved_" + h + "_owner"}
}

func loginRole(instanceID, bindingID string) string {
	return "paved_" + shortHash(instanceID, 16) + "_" + shortHash(bindingID, 10)
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func (b *Broker) lock(instanceID string) func() {
	b.mu.Lock()
	l := b.locks[instanceID]
	if l == nil {
		l = &sync.Mutex{}
		b.locks[instanceID] = l
	}
	b.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// parameters are what an instance accepts at provision and update.
type parameters struct {
	// BackupEvery is how often the broker dumps the database (a Go
	// duration, at least 1m); "" takes none.
	BackupEvery string `json:"backup_every,omitempty"`
}

func parseParameters(raw json.RawMessage) (parameters, error) {
	var p parameters
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, badRequest("parameters: %v (this service accepts backup_every)", err)
	}
	if p.BackupEvery != "" {
		d, err := time.ParseDuration(p.BackupEvery)
		if err != nil || d < time.Minute {
			return p, badRequest("parameters.backup_every %q: a duration of at least 1m, e.g. 24h", p.BackupEvery)
		}
	}
	return p, nil
}

func badRequest(format string, args ...any) error {
	return &osb.Error{Status: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &osb.Error{Status: http.StatusConflict, Description: fmt.Sprintf(format, args...)}
}

func concurrency(what string) error {
	return &osb.Error{Status: http.StatusUnprocessableEntity, Code: osb.ErrConcurrencyError, Description: what}
}

func notFound(format string, args ...any) error {
	return &osb.Error{Status: http.StatusNotFound, Description: fmt.Sprintf(format, args...)}
}

var errGone = &osb.Error{Status: http.StatusGone}

type instanceRow struct {
	id, serviceID, planID         string
	params                        json.RawMessage
	state, operation, opKind, why string
}

func (b *Broker) getInstance(ctx context.Context, id string) (*instanceRow, error) {
	var r instanceRow
	err := b.state.QueryRow(ctx, `SELECT id, service_id, plan_id, parameters, state, operation, op_kind, description
		FROM instances WHERE id = $1`, id).Scan(&r.id, &r.serviceID, &r.planID, &r.params, &r.state, &r.operation, &r.opKind, &r.why)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}

func orEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return json.RawMessage("{}")
	}
	return r
}

// readyInstance reads an instance that may be changed or bound: 404 when
// there is none, 422 ConcurrencyError while an operation is under way.
func (b *Broker) readyInstance(ctx context.Context, id string) (*instanceRow, error) {
	r, err := b.getInstance(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case r == nil:
		return nil, notFound("no instance %s", id)
	case r.state != "ready":
		return nil, concurrency(fmt.Sprintf("instance %s is %s", id, r.state))
	}
	return r, nil
}

func newOperation(kind string) string { return kind + "-" + randomHex(8) }

// Provision implements osb.Broker: with async, the database is made in
// the background and the answer is 202; without, at once.
func (b *Broker) Provision(ctx context.Context, id string, req osb.ProvisionRequest, async bool) (osb.Result, error) {
	if _, err := parseParameters(req.Parameters); err != nil {
		return osb.Result{}, err
	}
	unlock := b.lock(id)
	defer unlock()
	cur, err := b.getInstance(ctx, id)
	if err != nil {
		return osb.Result{}, err
	}
	if cur != nil {
		if cur.serviceID != req.ServiceID || cur.planID != req.PlanID || !osb.SameParameters(cur.params, req.Parameters) {
			return osb.Result{}, conflict("instance %s exists with another plan or other parameters", id)
		}
		switch cur.state {
		case "ready":
			return osb.Result{Existed: true}, nil
		case "provisioning":
			return osb.Result{Async: true, Operation: cur.operation}, nil
		default:
			return osb.Result{}, conflict("instance %s exists and is %s", id, cur.state)
		}
	}
	op := newOperation("provision")
	if _, err := b.state.Exec(ctx, `INSERT INTO instances (id, service_id, plan_id, parameters, state, operation, op_kind)
		VALUES ($1, $2, $3, $4, 'provisioning', $5, 'provision')`, id, req.ServiceID, req.PlanID, orEmpty(req.Parameters), op); err != nil {
		return osb.Result{}, err
	}
	if async {
		b.background(id, op, b.provision)
		return osb.Result{Async: true, Operation: op}, nil
	}
	if err := b.finish(ctx, id, op, b.provision(ctx, id)); err != nil {
		return osb.Result{}, err
	}
	return osb.Result{}, nil
}

// provision makes the instance's owner role and database; it may run
// again after a restart, so every step tolerates a previous run's work.
func (b *Broker) provision(ctx context.Context, id string) error {
	r, err := b.getInstance(ctx, id)
	if err != nil {
		return fmt.Errorf("instance %s: %w", id, err)
	}
	if r == nil {
		return fmt.Errorf("instance %s: no record", id)
	}
	n := namesOf(id)
	if _, err := b.admin.Exec(ctx, "CREATE ROLE "+ident(n.owner)+" NOLOGIN"); err != nil && !isCode(err, "42710") {
		return fmt.Errorf("create role %s: %w", n.owner, err)
	}
	limit := connectionLimits[r.planID]
	if _, err := b.admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s CONNECTION LIMIT %d", ident(n.db), ident(n.owner), limit)); err != nil && !isCode(err, "42P04") {
		return fmt.Errorf("create database %s: %w", n.db, err)
	}
	// Only the instance's own roles may connect to it.
	if _, err := b.admin.Exec(ctx, "REVOKE ALL ON DATABASE "+ident(n.db)+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("revoke connect on %s: %w", n.db, err)
	}
	return nil
}

// finish records the end of an operation: ready, failed, or (for a
// deprovision) the record removed.
func (b *Broker) finish(ctx context.Context, id, op string, err error) error {
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		b.log.Warn("operation failed", "instance", id, "operation", op, "err", err)
		if _, uerr := b.state.Exec(ctx, `UPDATE instances SET state = 'failed', description = $2 WHERE id = $1 AND operation = $3`, id, err.Error(), op); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	var kind string
	if qerr := b.state.QueryRow(ctx, `SELECT op_kind FROM instances WHERE id = $1`, id).Scan(&kind); qerr != nil {
		return qerr
	}
	if kind == "deprovision" {
		_, err = b.state.Exec(ctx, `DELETE FROM instances WHERE id = $1 AND operation = $2`, id, op)
	} else {
		_, err = b.state.Exec(ctx, `UPDATE instances SET state = 'ready', description = '' WHERE id = $1 AND operation = $2`, id, op)
	}
	return err
}

// background runs an operation outside the request; the broker's context
// ends it when the broker closes (the next run resumes it).
func (b *Broker) background(id, op string, fn func(context.Context, string) error) {
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		unlock := b.lock(id)
		defer unlock()
		err := fn(b.ctx, id)
		if b.ctx.Err() != nil {
			return // cut short: resumed at the next start
		}
		_ = b.finish(b.ctx, id, op, err)
	}()
}

// resume restarts the operations a previous run left under way.
func (b *Broker) resume(ctx context.Context) error {
	rows, err := b.state.Query(ctx, `SELECT id, operation, op_kind FROM instances WHERE state IN ('provisioning', 'deprovisioning')`)
	if err != nil {
		return err
	}
	type pending struct{ id, op, kind string }
	var ps []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.op, &p.kind); err != nil {
			rows.Close()
			return err
		}
		ps = append(ps, p)
	}
	rows.Close()
	for _, p := range ps {
		b.log.Info("resuming an operation", "instance", p.id, "operation", p.op)
		fn := b.provision
		if p.kind == "deprovision" {
			fn = b.deprovision
		}
		b.background(p.id, p.op, fn)
	}
	return rows.Err()
}

// LastOperation implements osb.Broker.
func (b *Broker) LastOperation(ctx context.Context, id, operation string) (osb.LastOperation, error) {
	r, err := b.getInstance(ctx, id)
	if err != nil {
		return osb.LastOperation{}, err
	}
	if r == nil {
		return osb.LastOperation{}, errGone
	}
	if operation != "" && operation != r.operation {
		return osb.LastOperation{}, badRequest("operation %q is not the last operation of instance %s", operation, id)
	}
	switch r.state {
	case "provisioning", "deprovisioning":
		return osb.LastOperation{State: osb.StateInProgress, Description: r.opKind + " under way"}, nil
	case "failed":
		return osb.LastOperation{State: osb.StateFailed, Description: r.why}, nil
	}
	return osb.LastOperation{State: osb.StateSucceeded}, nil
}

// Update implements osb.Broker: a plan change sets the database's
// connection limit; parameters are replaced.
func (b *Broker) Update(ctx context.Context, id string, req osb.UpdateRequest, _ bool) (osb.Result, error) {
	if _, err := parseParameters(req.Parameters); err != nil {
		return osb.Result{}, err
	}
	unlock := b.lock(id)
	defer unlock()
	r, err := b.readyInstance(ctx, id)
	if err != nil {
		return osb.Result{}, err
	}
	plan := r.planID
	if req.PlanID != "" {
		plan = req.PlanID
	}
	if plan != r.planID {
		n := namesOf(id)
		if _, err := b.admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT %d", ident(n.db), connectionLimits[plan])); err != nil {
			return osb.Result{}, fmt.Errorf("change the plan of %s: %w", id, err)
		}
	}
	params := r.params
	if req.Parameters != nil {
		params = orEmpty(req.Parameters)
	}
	_, err = b.state.Exec(ctx, `UPDATE instances SET plan_id = $2, parameters = $3 WHERE id = $1`, id, plan, params)
	return osb.Result{}, err
}

// Deprovision implements osb.Broker: the database is dropped (its
// connections ended) with the owner role and every binding's role.
func (b *Broker) Deprovision(ctx context.Context, id, _, _ string, async bool) (osb.Result, error) {
	unlock := b.lock(id)
	defer unlock()
	r, err := b.getInstance(ctx, id)
	if err != nil {
		return osb.Result{}, err
	}
	if r == nil {
		return osb.Result{}, errGone
	}
	if r.state == "deprovisioning" {
		return osb.Result{Async: true, Operation: r.operation}, nil
	}
	op := newOperation("deprovision")
	if _, err := b.state.Exec(ctx, `UPDATE instances SET state = 'deprovisioning', operation = $2, op_kind = 'deprovision', description = '' WHERE id = $1`, id, op); err != nil {
		return osb.Result{}, err
	}
	if async {
		b.background(id, op, b.deprovision)
		return osb.Result{Async: true, Operation: op}, nil
	}
	return osb.Result{}, b.finish(ctx, id, op, b.deprovision(ctx, id))
}

func (b *Broker) deprovision(ctx context.Context, id string) error {
	n := namesOf(id)
	if _, err := b.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(n.db)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", n.db, err)
	}
	rows, err := b.state.Query(ctx, `SELECT role FROM bindings WHERE instance_id = $1`, id)
	if err != nil {
		return err
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, role := range append(roles, n.owner) {
		if _, err := b.admin.Exec(ctx, "DROP ROLE IF EXISTS "+ident(role)); err != nil {
			return fmt.Errorf("drop role %s: %w", role, err)
		}
	}
	return nil
}

// GetInstance implements osb.Broker.
func (b *Broker) GetInstance(ctx context.Context, id string) (osb.Instance, error) {
	r, err := b.getInstance(ctx, id)
	if err != nil {
		return osb.Instance{}, err
	}
	switch {
	case r == nil || r.state == "provisioning":
		return osb.Instance{}, notFound("no instance %s", id)
	case r.state == "deprovisioning":
		return osb.Instance{}, concurrency("instance " + id + " is being deprovisioned")
	}
	return osb.Instance{ServiceID: r.serviceID, PlanID: r.planID, Parameters: r.params}, nil
}

// Bind implements osb.Broker: a login role that acts as the instance's
// owner (its objects belong to the owner, so unbinding loses none).
func (b *Broker) Bind(ctx context.Context, id, bindingID string, req osb.BindRequest, _ bool) (osb.BindResult, error) {
	if !osb.SameParameters(req.Parameters, nil) {
		return osb.BindResult{}, badRequest("parameters: bindings of this service take none")
	}
	unlock := b.lock(id)
	defer unlock()
	if _, err := b.readyInstance(ctx, id); err != nil {
		return osb.BindResult{}, err
	}
	appGUID := req.AppGUID
	if req.BindResource != nil && req.BindResource.AppGUID != "" {
		appGUID = req.BindResource.AppGUID
	}
	var role, password, boundApp string
	err := b.state.QueryRow(ctx, `SELECT role, password, app_guid FROM bindings WHERE instance_id = $1 AND id = $2`, id, bindingID).Scan(&role, &password, &boundApp)
	switch {
	case err == nil:
		if boundApp != appGUID {
			return osb.BindResult{}, conflict("binding %s exists for another app", bindingID)
		}
		return osb.BindResult{Result: osb.Result{Existed: true}, Credentials: b.credentials(id, role, password)}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return osb.BindResult{}, err
	}
	n := namesOf(id)
	role, password = loginRole(id, bindingID), randomHex(24)
	// The password is hex: safe in a literal (utility statements take no
	// parameters).
	if _, err := b.admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE %s", ident(role), password, ident(n.owner))); err != nil {
		return osb.BindResult{}, fmt.Errorf("create login role: %w", err)
	}
	if _, err := b.admin.Exec(ctx, fmt.Sprintf("ALTER ROLE %s SET role = %s", ident(role), ident(n.owner))); err != nil {
		return osb.BindResult{}, errors.Join(fmt.Errorf("make the login act as the owner: %w", err), b.dropLogin(ctx, id, role))
	}
	if _, err := b.state.Exec(ctx, `INSERT INTO bindings (instance_id, id, role, password, app_guid) VALUES ($1, $2, $3, $4, $5)`,
		id, bindingID, role, password, appGUID); err != nil {
		return osb.BindResult{}, errors.Join(err, b.dropLogin(ctx, id, role))
	}
	return osb.BindResult{Credentials: b.credentials(id, role, password)}, nil
}

func (b *Broker) credentials(id, role, password string) map[string]any {
	db := namesOf(id).db
	hostport := net.JoinHostPort(b.opts.PublicHost, strconv.Itoa(b.opts.PublicPort))
	uri := (&url.URL{Scheme: "postgres", User: url.UserPassword(role, password), Host: hostport, Path: "/" + db}).String()
	return map[string]any{
		"uri":      uri,
		"jdbcUrl":  fmt.Sprintf("jdbc:postgresql://%s/%s?user=%s&password=%s", hostport, db, url.QueryEscape(role), url.QueryEscape(password)),
		"host":     b.opts.PublicHost,
		"port":     b.opts.PublicPort,
		"database": db,
		"username": role,
		"password": password,
	}
}

// dropLogin ends a login role: its membership revoked, its sessions
// ended, whatever it owns handed to the owner, the role dropped.
func (b *Broker) dropLogin(ctx context.Context, id, role string) error {
	ctx = context.WithoutCancel(ctx)
	n := namesOf(id)
	steps := []string{
		"ALTER ROLE " + ident(role) + " NOLOGIN",
		"REVOKE " + ident(n.owner) + " FROM " + ident(role),
	}
	for _, s := range steps {
		if _, err := b.admin.Exec(ctx, s); err != nil && !isCode(err, "42704") {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	if _, err := b.admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role); err != nil {
		return err
	}
	if err := b.inDatabase(ctx, n.db, "REASSIGN OWNED BY "+ident(role)+" TO "+ident(n.owner)+"; DROP OWNED BY "+ident(role)); err != nil && !isCode(err, "42704") {
		return err
	}
	if _, err := b.admin.Exec(ctx, "DROP ROLE IF EXISTS "+ident(role)); err != nil {
		return fmt.Errorf("drop role %s: %w", role, err)
	}
	return nil
}

// inDatabase runs sql in database db as the admin.
func (b *Broker) inDatabase(ctx context.Context, db, sql string) error {
	cfg := b.admin.Config().ConnConfig.Copy()
	cfg.Database = db
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", db, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Unbind implements osb.Broker.
func (b *Broker) Unbind(ctx context.Context, id, bindingID, _, _ string, _ bool) (osb.Result, error) {
	unlock := b.lock(id)
	defer unlock()
	var role string
	err := b.state.QueryRow(ctx, `SELECT role FROM bindings WHERE instance_id = $1 AND id = $2`, id, bindingID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return osb.Result{}, errGone
	}
	if err != nil {
		return osb.Result{}, err
	}
	if err := b.dropLogin(ctx, id, role); err != nil {
		return osb.Result{}, err
	}
	_, err = b.state.Exec(ctx, `DELETE FROM bindings WHERE instance_id = $1 AND id = $2`, id, bindingID)
	return osb.Result{}, err
}

// GetBinding implements osb.Broker.
func (b *Broker) GetBinding(ctx context.Context, id, bindingID string) (osb.Binding, error) {
	var role, password string
	err := b.state.QueryRow(ctx, `SELECT role, password FROM bindings WHERE instance_id = $1 AND id = $2`, id, bindingID).Scan(&role, &password)
	if errors.Is(err, pgx.ErrNoRows) {
		return osb.Binding{}, notFound("no binding %s of instance %s", bindingID, id)
	}
	if err != nil {
		return osb.Binding{}, err
	}
	return osb.Binding{Credentials: b.credentials(id, role, password)}, nil
}

// LastBindingOperation implements osb.Broker: bindings are made at once,
// so there is never one under way.
func (b *Broker) LastBindingOperation(ctx context.Context, id, bindingID, _ string) (osb.LastOperation, error) {
	if _, err := b.GetBinding(ctx, id, bindingID); err != nil {
		var oe *osb.Error
		if errors.As(err, &oe) && oe.Status == http.StatusNotFound {
			return osb.LastOperation{}, errGone
		}
		return osb.LastOperation{}, err
	}
	return osb.LastOperation{State: osb.StateSucceeded}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
