package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ServiceBrokerRecord is a registered broker with what the API never
// shows: its password (opened) and its catalog as last read (OSBAPI JSON).
type ServiceBrokerRecord struct {
	paved.ServiceBroker
	Password string
	Catalog  json.RawMessage
}

// ServiceInstanceRecord is an instance with the broker's IDs of its
// offering and plan and the broker's operation to poll; a user-provided
// service's credentials are in ServiceInstance.Credentials (opened).
type ServiceInstanceRecord struct {
	paved.ServiceInstance
	ServiceID, PlanID string
	Operation         string
}

// ServiceBindingRecord is a binding with its credentials (opened) and the
// broker's operation to poll.
type ServiceBindingRecord struct {
	paved.ServiceBinding
	Credentials map[string]any
	Operation   string
}

const brokerCols = "name, url, username, password, catalog, version, created_at, updated_at"

func (s *SQLite) scanBroker(row scanner) (ServiceBrokerRecord, error) {
	var r ServiceBrokerRecord
	var sealed, catalog, created, updated string
	err := row.Scan(&r.Name, &r.URL, &r.Username, &sealed, &catalog, &r.Version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if sealed != "" {
		p, err := s.keys.Open(sealed)
		if err != nil {
			return r, fmt.Errorf("service broker %s: password: %w", r.Name, err)
		}
		r.Password = string(p)
	}
	r.Catalog = json.RawMessage(catalog)
	r.CreatedAt, r.UpdatedAt = parseTS(created), parseTS(updated)
	return r, nil
}

// PutServiceBroker registers or updates a broker; an empty password keeps
// the one stored. offerings are the names of its catalog's services.
func (s *SQLite) PutServiceBroker(ctx context.Context, actor string, spec paved.ServiceBrokerSpec, catalog json.RawMessage, offerings []string) (ServiceBrokerRecord, error) {
	t := ts(now())
	sealed := ""
	if spec.Password != "" {
		sealed = s.keys.Seal([]byte(spec.Password))
	}
	detail := fmt.Sprintf("%s, %d offerings", spec.URL, len(offerings))
	err := s.inTx(ctx, event(actor, "service_broker.put", "service_broker/"+spec.Name, detail), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO service_brokers(`+brokerCols+`) VALUES(?,?,?,?,?,1,?,?)
			ON CONFLICT(name) DO UPDATE SET url = excluded.url, username = excluded.username,
			password = CASE WHEN excluded.password = '' THEN password ELSE excluded.password END,
			catalog = excluded.catalog, version = version + 1, updated_at = excluded.updated_at`,
			spec.Name, spec.URL, spec.Username, sealed, string(catalog), t, t)
		return err
	})
	if err != nil {
		return ServiceBrokerRecord{}, err
	}
	return s.GetServiceBroker(ctx, spec.Name)
}

// GetServiceBroker reads one broker.
func (s *SQLite) GetServiceBroker(ctx context.Context, name string) (ServiceBrokerRecord, error) {
	return s.scanBroker(s.db.QueryRowContext(ctx, "SELECT "+brokerCols+" FROM service_brokers WHERE name = ?", name))
}

// ListServiceBrokers lists the brokers by name.
func (s *SQLite) ListServiceBrokers(ctx context.Context) ([]ServiceBrokerRecord, error) {
	return queryAll(ctx, s.db, s.scanBroker, "SELECT "+brokerCols+" FROM service_brokers ORDER BY name")
}

// DeleteServiceBroker unregisters a broker: ErrNotEmpty while instances
// of it exist.
func (s *SQLite) DeleteServiceBroker(ctx context.Context, actor, name string) error {
	return s.inTx(ctx, event(actor, "service_broker.delete", "service_broker/"+name, ""), func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM service_instances WHERE broker = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d service instances of broker %s", ErrNotEmpty, n, name)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM service_brokers WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

const instanceCols = `space, name, guid, kind, broker, offering, plan, service_id, plan_id, parameters, credentials, tags,
	op_type, op_state, op_detail, operation, op_updated, version, created_at, updated_at`

func (s *SQLite) scanInstance(row scanner) (ServiceInstanceRecord, error) {
	var r ServiceInstanceRecord
	var params, sealed, tags, opUpdated, created, updated string
	err := row.Scan(&r.Space, &r.Name, &r.GUID, &r.Type, &r.Broker, &r.Offering, &r.Plan, &r.ServiceID, &r.PlanID, &params, &sealed, &tags,
		&r.LastOperation.Type, &r.LastOperation.State, &r.LastOperation.Description, &r.Operation, &opUpdated,
		&r.Version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if sealed != "" {
		p, err := s.keys.Open(sealed)
		if err == nil {
			err = json.Unmarshal(p, &r.Credentials)
		}
		if err != nil {
			return r, fmt.Errorf("service instance %s/%s: credentials: %w", r.Space, r.Name, err)
		}
	}
	if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
		return r, fmt.Errorf("service instance %s/%s: tags: %w", r.Space, r.Name, err)
	}
	if params != "" {
		r.Parameters = json.RawMessage(params)
	}
	r.LastOperation.UpdatedAt = parseTS(opUpdated)
	r.CreatedAt, r.UpdatedAt = parseTS(created), parseTS(updated)
	return r, nil
}

// CreateServiceInstance records a new instance (ErrExists when the name
// is taken in the space).
func (s *SQLite) CreateServiceInstance(ctx context.Context, actor string, r ServiceInstanceRecord) (ServiceInstanceRecord, error) {
	t := ts(now())
	detail := fmt.Sprintf("%s %s of broker %s", r.Offering, r.Plan, r.Broker)
	err := s.inTx(ctx, event(actor, "service_instance.create", "service_instance/"+r.Space+"/"+r.Name, detail), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO service_instances(`+instanceCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?)`,
			r.Space, r.Name, r.GUID, kindOf(r.Type), r.Broker, r.Offering, r.Plan, r.ServiceID, r.PlanID, string(r.Parameters),
			s.sealCredentials(r.Credentials), tagsJSON(r.Tags),
			r.LastOperation.Type, r.LastOperation.State, r.LastOperation.Description, r.Operation, t, t, t)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return ServiceInstanceRecord{}, err
	}
	return s.GetServiceInstance(ctx, r.Space, r.Name)
}

// UpdateServiceInstance writes an instance's plan, parameters and
// operation; ev, when non-nil, goes to the audit trail with it.
func (s *SQLite) UpdateServiceInstance(ctx context.Context, r ServiceInstanceRecord, ev *paved.Event) error {
	t := ts(now())
	return s.inTx(ctx, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE service_instances SET plan = ?, plan_id = ?, parameters = ?, credentials = ?, tags = ?,
			op_type = ?, op_state = ?, op_detail = ?, operation = ?, op_updated = ?, version = version + 1, updated_at = ?
			WHERE space = ? AND name = ?`,
			r.Plan, r.PlanID, string(r.Parameters), s.sealCredentials(r.Credentials), tagsJSON(r.Tags),
			r.LastOperation.Type, r.LastOperation.State, r.LastOperation.Description, r.Operation, t, t, r.Space, r.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// GetServiceInstance reads one instance.
func (s *SQLite) GetServiceInstance(ctx context.Context, space, name string) (ServiceInstanceRecord, error) {
	return s.scanInstance(s.db.QueryRowContext(ctx, "SELECT "+instanceCols+" FROM service_instances WHERE space = ? AND name = ?", space, name))
}

// ListServiceInstances lists a space's instances ("" = every space).
func (s *SQLite) ListServiceInstances(ctx context.Context, space string) ([]ServiceInstanceRecord, error) {
	if space == "" {
		return queryAll(ctx, s.db, s.scanInstance, "SELECT "+instanceCols+" FROM service_instances ORDER BY space, name")
	}
	return queryAll(ctx, s.db, s.scanInstance, "SELECT "+instanceCols+" FROM service_instances WHERE space = ? ORDER BY name", space)
}

// DeleteServiceInstance removes an instance's record (its deprovision is
// done): ErrNotEmpty while bindings of it exist.
func (s *SQLite) DeleteServiceInstance(ctx context.Context, actor, space, name string) error {
	return s.inTx(ctx, event(actor, "service_instance.delete", "service_instance/"+space+"/"+name, ""), func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM service_bindings WHERE space = ? AND instance = ?", space, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d bindings of %s", ErrNotEmpty, n, name)
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM service_instances WHERE space = ? AND name = ?", space, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

const bindingCols = "space, name, guid, instance, app, credentials, op_type, op_state, op_detail, operation, op_updated, created_at"

func (s *SQLite) scanBinding(row scanner) (ServiceBindingRecord, error) {
	var r ServiceBindingRecord
	var sealed, opUpdated, created string
	err := row.Scan(&r.Space, &r.Name, &r.GUID, &r.Instance, &r.App, &sealed,
		&r.LastOperation.Type, &r.LastOperation.State, &r.LastOperation.Description, &r.Operation, &opUpdated, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if sealed != "" {
		p, err := s.keys.Open(sealed)
		if err != nil {
			return r, fmt.Errorf("service binding %s/%s: credentials: %w", r.Space, r.Name, err)
		}
		if err := json.Unmarshal(p, &r.Credentials); err != nil {
			return r, fmt.Errorf("service binding %s/%s: credentials: %w", r.Space, r.Name, err)
		}
	}
	r.LastOperation.UpdatedAt = parseTS(opUpdated)
	r.CreatedAt = parseTS(created)
	return r, nil
}

func (s *SQLite) sealCredentials(c map[string]any) string {
	if c == nil {
		return ""
	}
	return s.keys.Seal([]byte(mustJSON(c)))
}

// CreateServiceBinding records a new binding (ErrExists when the name is
// taken in the space).
func (s *SQLite) CreateServiceBinding(ctx context.Context, actor string, r ServiceBindingRecord) (ServiceBindingRecord, error) {
	t := ts(now())
	err := s.inTx(ctx, event(actor, "service_binding.create", "service_binding/"+r.Space+"/"+r.Name, r.Instance+" → app "+r.App), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO service_bindings(`+bindingCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.Space, r.Name, r.GUID, r.Instance, r.App, s.sealCredentials(r.Credentials),
			r.LastOperation.Type, r.LastOperation.State, r.LastOperation.Description, r.Operation, t, t)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return ServiceBindingRecord{}, err
	}
	return s.GetServiceBinding(ctx, r.Space, r.Name)
}

// UpdateServiceBinding writes a binding's credentials and operation.
func (s *SQLite) UpdateServiceBinding(ctx context.Context, r ServiceBindingRecord, ev *paved.Event) error {
	return s.inTx(ctx, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE service_bindings SET credentials = ?, op_type = ?, op_state = ?, op_detail = ?,
			operation = ?, op_updated = ? WHERE space = ? AND name = ?`,
			s.sealCredentials(r.Credentials), r.LastOperation.Type, r.LastOperation.State, r.LastOperation.Description,
			r.Operation, ts(now()), r.Space, r.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// GetServiceBinding reads one binding.
func (s *SQLite) GetServiceBinding(ctx context.Context, space, name string) (ServiceBindingRecord, error) {
	return s.scanBinding(s.db.QueryRowContext(ctx, "SELECT "+bindingCols+" FROM service_bindings WHERE space = ? AND name = ?", space, name))
}

// ListServiceBindings lists a space's bindings ("" = every space).
func (s *SQLite) ListServiceBindings(ctx context.Context, space string) ([]ServiceBindingRecord, error) {
	if space == "" {
		return queryAll(ctx, s.db, s.scanBinding, "SELECT "+bindingCols+" FROM service_bindings ORDER BY space, name")
	}
	return queryAll(ctx, s.db, s.scanBinding, "SELECT "+bindingCols+" FROM service_bindings WHERE space = ? ORDER BY name", space)
}

// DeleteServiceBinding removes a binding's record (its unbind is done).
func (s *SQLite) DeleteServiceBinding(ctx context.Context, actor, space, name string) error {
	return s.inTx(ctx, event(actor, "service_binding.delete", "service_binding/"+space+"/"+name, ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM service_bindings WHERE space = ? AND name = ?", space, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func kindOf(t string) string {
	if t == "" {
		return paved.ServiceManaged
	}
	return t
}

func tagsJSON(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	return mustJSON(tags)
}
