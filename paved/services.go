package paved

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Backing services: a cell is an Open Service Broker API platform. An admin
// registers brokers (cell-wide); their catalogs are the offerings; a space
// holds service instances of an offering's plan and bindings of them to its
// apps. Creating, updating and deleting an instance or a binding is an
// operation the cell drives to its end (polling the broker when it works
// asynchronously) and records, so a cell killed in the middle resumes it.

// ServiceBrokerSpec registers a broker. Password is write-only: the cell
// keeps it sealed and never returns it.
type ServiceBrokerSpec struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
}

// ServiceBroker is a registered broker.
type ServiceBroker struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Username  string    `json:"username"`
	Offerings []string  `json:"offerings"` // the names of its catalog's services
	Version   int64     `json:"version,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ServiceOffering is one service of a broker's catalog.
type ServiceOffering struct {
	Broker      string        `json:"broker"`
	Name        string        `json:"name"`
	ID          string        `json:"id"`
	Description string        `json:"description"`
	Tags        []string      `json:"tags,omitempty"`
	Bindable    bool          `json:"bindable"`
	Plans       []ServicePlan `json:"plans"`
}

// ServicePlan is one plan of an offering.
type ServicePlan struct {
	Name        string `json:"name"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Free        bool   `json:"free"`
	// Updateable says an instance may change to another plan in place.
	Updateable bool `json:"updateable"`
	Bindable   bool `json:"bindable"`
}

// Service instance types.
const (
	// ServiceManaged is an instance a broker provisions (the default).
	ServiceManaged = "managed"
	// ServiceUserProvided is a user-provided service: credentials the
	// user gives (a database outside paved, an API key), bound to apps
	// like any other; no broker is involved.
	ServiceUserProvided = "user-provided"
)

// ServiceInstanceSpec asks for an instance of an offering's plan, or (Type
// user-provided) records the user's credentials as a service. Broker may
// be left out when one broker offers the offering. Credentials are
// write-only: the cell keeps them sealed and never returns them.
type ServiceInstanceSpec struct {
	Name        string          `json:"name"`
	Type        string          `json:"type,omitempty"`
	Offering    string          `json:"offering,omitempty"`
	Plan        string          `json:"plan,omitempty"`
	Broker      string          `json:"broker,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Credentials map[string]any  `json:"credentials,omitempty"`
	Tags        []string        `json:"tags,omitempty"`
}

// UserProvided says the spec is a user-provided service.
func (s ServiceInstanceSpec) UserProvided() bool { return s.Type == ServiceUserProvided }

// Operation types and states of a service instance or binding.
const (
	OperationCreate = "create"
	OperationUpdate = "update"
	OperationDelete = "delete"

	OperationInProgress = "in progress"
	OperationSucceeded  = "succeeded"
	OperationFailed     = "failed"
)

// ServiceOperation is the last operation of an instance or a binding.
type ServiceOperation struct {
	Type        string    `json:"type"`
	State       string    `json:"state"`
	Description string    `json:"description,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// Done says the operation ended (succeeded or failed).
func (o ServiceOperation) Done() bool { return o.State != OperationInProgress }

// ServiceInstance is an instance of a space.
type ServiceInstance struct {
	ServiceInstanceSpec
	Space string `json:"space"`
	// GUID is the instance's ID at the broker.
	GUID          string           `json:"guid"`
	LastOperation ServiceOperation `json:"last_operation"`
	Version       int64            `json:"version,omitempty"`
	CreatedAt     time.Time        `json:"created_at,omitzero"`
	UpdatedAt     time.Time        `json:"updated_at,omitzero"`
}

// ServiceBindingSpec binds an instance of the space to an app of it.
type ServiceBindingSpec struct {
	Name     string `json:"name"`
	Instance string `json:"instance"`
	App      string `json:"app"`
}

// ServiceBinding is a binding of a space. Its credentials are read
// separately (ServiceBindings.Credentials), never with the binding.
type ServiceBinding struct {
	ServiceBindingSpec
	Space         string           `json:"space"`
	GUID          string           `json:"guid"`
	LastOperation ServiceOperation `json:"last_operation"`
	CreatedAt     time.Time        `json:"created_at,omitzero"`
}

// Validate checks a broker registration.
func (s ServiceBrokerSpec) Validate() []FieldError {
	var errs []FieldError
	if err := CheckName(s.Name); err != nil {
		errs = append(errs, FieldError{"name", err.Error()})
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		errs = append(errs, FieldError{"url", fmt.Sprintf("%q is not a broker URL: use http(s)://host[:port][/path], with the credentials in username and password", s.URL)})
	}
	if s.Username == "" {
		errs = append(errs, FieldError{"username", "the broker's user name is required"})
	}
	return errs
}

// Validate checks an instance's spec (the offering and plan are checked
// against the catalogs by the cell).
func (s ServiceInstanceSpec) Validate() []FieldError {
	var errs []FieldError
	if err := CheckName(s.Name); err != nil {
		errs = append(errs, FieldError{"name", err.Error()})
	}
	switch s.Type {
	case ServiceUserProvided:
		for _, f := range []struct{ field, v string }{{"offering", s.Offering}, {"plan", s.Plan}, {"broker", s.Broker}} {
			if f.v != "" {
				errs = append(errs, FieldError{f.field, "a user-provided service has no " + f.field + ": it is the credentials you give"})
			}
		}
		if len(s.Parameters) > 0 {
			errs = append(errs, FieldError{"parameters", "a user-provided service has no parameters: give its credentials"})
		}
		if s.Credentials == nil {
			errs = append(errs, FieldError{"credentials", "a user-provided service needs its credentials (a JSON object)"})
		}
		for i, t := range s.Tags {
			if t == "" || len(t) > 64 {
				errs = append(errs, FieldError{fmt.Sprintf("tags[%d]", i), "a tag is 1 to 64 characters"})
			}
		}
		return errs
	case "", ServiceManaged:
	default:
		return append(errs, FieldError{"type", fmt.Sprintf("%q is no service type: use managed (the default) or user-provided", s.Type)})
	}
	if s.Offering == "" {
		errs = append(errs, FieldError{"offering", "the offering (a service of a broker's catalog) is required"})
	}
	if s.Plan == "" {
		errs = append(errs, FieldError{"plan", "the plan is required"})
	}
	if s.Broker != "" {
		if err := CheckName(s.Broker); err != nil {
			errs = append(errs, FieldError{"broker", err.Error()})
		}
	}
	if len(s.Parameters) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(s.Parameters, &obj); err != nil || obj == nil {
			errs = append(errs, FieldError{"parameters", "parameters must be a JSON object"})
		}
	}
	if s.Credentials != nil {
		errs = append(errs, FieldError{"credentials", "a managed instance's credentials come from its broker; only a user-provided service takes credentials"})
	}
	if len(s.Tags) > 0 {
		errs = append(errs, FieldError{"tags", "a managed instance's tags come from its offering; only a user-provided service takes tags"})
	}
	return errs
}

// Validate checks a binding's spec.
func (s ServiceBindingSpec) Validate() []FieldError {
	var errs []FieldError
	for _, f := range []struct{ field, v string }{{"name", s.Name}, {"instance", s.Instance}, {"app", s.App}} {
		if err := CheckName(f.v); err != nil {
			errs = append(errs, FieldError{f.field, err.Error()})
		}
	}
	return errs
}

// ServiceBrokers is the cell's broker registry (/v1/service-brokers,
// admin only).
type ServiceBrokers interface {
	List(ctx context.Context) ([]ServiceBroker, error)
	Get(ctx context.Context, name string) (*ServiceBroker, error)
	// Put registers or updates a broker; the cell reads its catalog first
	// and refuses a broker it cannot reach or whose catalog is not valid.
	Put(ctx context.Context, spec ServiceBrokerSpec) (*ServiceBroker, error)
	// Delete unregisters a broker; refused (ErrConflict) while instances
	// of its offerings exist.
	Delete(ctx context.Context, name string) error
}

// ServiceOfferings is the marketplace: every registered broker's catalog.
type ServiceOfferings interface {
	List(ctx context.Context) ([]ServiceOffering, error)
}

// ServiceInstances are a space's instances.
type ServiceInstances interface {
	List(ctx context.Context, space string) ([]ServiceInstance, error)
	Get(ctx context.Context, space, name string) (*ServiceInstance, error)
	// Create asks for an instance; it returns at once with the operation
	// in progress (Wait follows it).
	Create(ctx context.Context, space string, spec ServiceInstanceSpec) (*ServiceInstance, error)
	// Update changes the plan or the parameters.
	Update(ctx context.Context, space string, spec ServiceInstanceSpec) (*ServiceInstance, error)
	// Delete starts the deletion; the instance goes once the broker
	// deprovisioned it. Refused (ErrConflict) while bindings exist.
	Delete(ctx context.Context, space, name string) error
	// Wait polls until the instance's operation ends; a deleted instance
	// returns (nil, ErrNotFound).
	Wait(ctx context.Context, space, name string) (*ServiceInstance, error)
}

// ServiceBindings are a space's bindings.
type ServiceBindings interface {
	List(ctx context.Context, space string) ([]ServiceBinding, error)
	Get(ctx context.Context, space, name string) (*ServiceBinding, error)
	Create(ctx context.Context, space string, spec ServiceBindingSpec) (*ServiceBinding, error)
	Delete(ctx context.Context, space, name string) error
	Wait(ctx context.Context, space, name string) (*ServiceBinding, error)
	// Credentials reads what the broker gave the binding.
	Credentials(ctx context.Context, space, name string) (map[string]any, error)
}

type serviceBrokers struct{ c *Client }
type serviceOfferings struct{ c *Client }
type serviceInstances struct{ c *Client }
type serviceBindings struct{ c *Client }

var (
	_ ServiceBrokers   = serviceBrokers{}
	_ ServiceOfferings = serviceOfferings{}
	_ ServiceInstances = serviceInstances{}
	_ ServiceBindings  = serviceBindings{}
)

func brokerPath(name string) string { return "/v1/service-brokers/" + url.PathEscape(name) }

func (s serviceBrokers) List(ctx context.Context) ([]ServiceBroker, error) {
	var out struct {
		Brokers []ServiceBroker `json:"service_brokers"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/service-brokers", nil, &out)
	return out.Brokers, err
}

func (s serviceBrokers) Get(ctx context.Context, name string) (*ServiceBroker, error) {
	var out ServiceBroker
	if err := s.c.do(ctx, http.MethodGet, brokerPath(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceBrokers) Put(ctx context.Context, spec ServiceBrokerSpec) (*ServiceBroker, error) {
	var out ServiceBroker
	if err := s.c.do(ctx, http.MethodPut, brokerPath(spec.Name), spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceBrokers) Delete(ctx context.Context, name string) error {
	return s.c.do(ctx, http.MethodDelete, brokerPath(name), nil, nil)
}

func (s serviceOfferings) List(ctx context.Context) ([]ServiceOffering, error) {
	var out struct {
		Offerings []ServiceOffering `json:"service_offerings"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/service-offerings", nil, &out)
	return out.Offerings, err
}

func instancesPath(space string) string {
	return "/v1/spaces/" + url.PathEscape(space) + "/service-instances"
}

func (s serviceInstances) List(ctx context.Context, space string) ([]ServiceInstance, error) {
	var out struct {
		Instances []ServiceInstance `json:"service_instances"`
	}
	err := s.c.do(ctx, http.MethodGet, instancesPath(space), nil, &out)
	return out.Instances, err
}

func (s serviceInstances) Get(ctx context.Context, space, name string) (*ServiceInstance, error) {
	var out ServiceInstance
	if err := s.c.do(ctx, http.MethodGet, instancesPath(space)+"/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceInstances) Create(ctx context.Context, space string, spec ServiceInstanceSpec) (*ServiceInstance, error) {
	var out ServiceInstance
	if err := s.c.do(ctx, http.MethodPost, instancesPath(space), spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceInstances) Update(ctx context.Context, space string, spec ServiceInstanceSpec) (*ServiceInstance, error) {
	var out ServiceInstance
	if err := s.c.do(ctx, http.MethodPut, instancesPath(space)+"/"+url.PathEscape(spec.Name), spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceInstances) Delete(ctx context.Context, space, name string) error {
	return s.c.do(ctx, http.MethodDelete, instancesPath(space)+"/"+url.PathEscape(name), nil, nil)
}

func (s serviceInstances) Wait(ctx context.Context, space, name string) (*ServiceInstance, error) {
	return waitOperation(ctx, s.c, func() (*ServiceInstance, ServiceOperation, error) {
		in, err := s.Get(ctx, space, name)
		if err != nil {
			return nil, ServiceOperation{}, err
		}
		return in, in.LastOperation, nil
	})
}

func bindingsPath(space string) string {
	return "/v1/spaces/" + url.PathEscape(space) + "/service-bindings"
}

func (s serviceBindings) List(ctx context.Context, space string) ([]ServiceBinding, error) {
	var out struct {
		Bindings []ServiceBinding `json:"service_bindings"`
	}
	err := s.c.do(ctx, http.MethodGet, bindingsPath(space), nil, &out)
	return out.Bindings, err
}

func (s serviceBindings) Get(ctx context.Context, space, name string) (*ServiceBinding, error) {
	var out ServiceBinding
	if err := s.c.do(ctx, http.MethodGet, bindingsPath(space)+"/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceBindings) Create(ctx context.Context, space string, spec ServiceBindingSpec) (*ServiceBinding, error) {
	var out ServiceBinding
	if err := s.c.do(ctx, http.MethodPost, bindingsPath(space), spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s serviceBindings) Delete(ctx context.Context, space, name string) error {
	return s.c.do(ctx, http.MethodDelete, bindingsPath(space)+"/"+url.PathEscape(name), nil, nil)
}

func (s serviceBindings) Wait(ctx context.Context, space, name string) (*ServiceBinding, error) {
	return waitOperation(ctx, s.c, func() (*ServiceBinding, ServiceOperation, error) {
		b, err := s.Get(ctx, space, name)
		if err != nil {
			return nil, ServiceOperation{}, err
		}
		return b, b.LastOperation, nil
	})
}

func (s serviceBindings) Credentials(ctx context.Context, space, name string) (map[string]any, error) {
	var out struct {
		Credentials map[string]any `json:"credentials"`
	}
	err := s.c.do(ctx, http.MethodGet, bindingsPath(space)+"/"+url.PathEscape(name)+"/credentials", nil, &out)
	return out.Credentials, err
}

// waitOperation polls get until the operation it reports is done.
func waitOperation[T any](ctx context.Context, c *Client, get func() (*T, ServiceOperation, error)) (*T, error) {
	for {
		v, op, err := get()
		if err != nil || op.Done() {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(c.pollInterval):
		}
	}
}
