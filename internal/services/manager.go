// Package services is the cell as an Open Service Broker API platform: it
// registers brokers and reads their catalogs, and drives every service
// instance and binding operation (provision, update, deprovision, bind,
// unbind) to its end. An operation is a persisted state machine, like a
// rollout: the record says what is under way (and the broker's operation
// to poll), a worker goroutine per object moves it on, and Start resumes
// whatever a killed cell left in progress.
package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Kind classifies an Error for the API.
type Kind int

// Kinds of Error.
const (
	Invalid  Kind = iota // 422, at Field
	Conflict             // 409
	NotFound             // 404
)

// Error is a refusal the API answers with Kind's status.
type Error struct {
	Kind    Kind
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Message }

func invalid(field, format string, args ...any) error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func conflict(field, format string, args ...any) error {
	return &Error{Kind: Conflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Kind: NotFound, Message: fmt.Sprintf(format, args...)}
}

// Options configure a Manager.
type Options struct {
	Store  store.Store
	CellID string
	Logger *slog.Logger
	// HTTPClient talks to brokers; default a 60s timeout (the
	// specification's minimum for platforms).
	HTTPClient *http.Client
	// PollInterval is the least time between two polls of a broker's
	// operation (a broker's longer Retry-After wins); default 2s.
	PollInterval time.Duration
	// BindingsChanged is told when an app gained or lost a binding, so
	// that it gets a release with its new environment (ServiceEnv).
	BindingsChanged func(space, app string)
}

// Manager runs the backing services of a cell.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	running map[string]bool // objects with a worker
	work    sync.WaitGroup
}

// New makes a Manager; Start begins its work.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	return &Manager{opts: opts, log: opts.Logger.With("component", "services"), running: map[string]bool{}}
}

// Start resumes every operation in progress.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.mu.Unlock()
	ins, err := m.opts.Store.ListServiceInstances(ctx, "")
	if err != nil {
		return err
	}
	for _, in := range ins {
		if !in.LastOperation.Done() {
			m.log.Info("resuming a service instance operation", "instance", in.Space+"/"+in.Name, "operation", in.LastOperation.Type)
			m.kickInstance(in.Space, in.Name)
		}
	}
	bs, err := m.opts.Store.ListServiceBindings(ctx, "")
	if err != nil {
		return err
	}
	for _, b := range bs {
		if !b.LastOperation.Done() {
			m.log.Info("resuming a service binding operation", "binding", b.Space+"/"+b.Name, "operation", b.LastOperation.Type)
			m.kickBinding(b.Space, b.Name)
		}
	}
	return nil
}

// Stop ends the workers; their operations stay in progress in the store
// and the next Start resumes them.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.cancel != nil {
		m.cancel()
	}
	m.mu.Unlock()
	m.work.Wait()
}

// client is an OSBAPI client for a registered broker.
func (m *Manager) client(b store.ServiceBrokerRecord) (*osb.Client, error) {
	return osb.NewClient(osb.ClientOptions{URL: b.URL, Username: b.Username, Password: b.Password, HTTPClient: m.opts.HTTPClient})
}

// PutBroker registers or updates a broker after reading its catalog.
func (m *Manager) PutBroker(ctx context.Context, actor string, spec paved.ServiceBrokerSpec) (paved.ServiceBroker, error) {
	if errs := spec.Validate(); len(errs) > 0 {
		return paved.ServiceBroker{}, invalid(errs[0].Field, "%s", errs[0].Message)
	}
	rec := store.ServiceBrokerRecord{ServiceBroker: paved.ServiceBroker{Name: spec.Name, URL: spec.URL, Username: spec.Username}, Password: spec.Password}
	if spec.Password == "" {
		old, err := m.opts.Store.GetServiceBroker(ctx, spec.Name)
		if errors.Is(err, store.ErrNotFound) {
			return paved.ServiceBroker{}, invalid("password", "the broker's password is required")
		}
		if err != nil {
			return paved.ServiceBroker{}, err
		}
		rec.Password = old.Password
	}
	c, err := m.client(rec)
	if err != nil {
		return paved.ServiceBroker{}, invalid("url", "%v", err)
	}
	cat, err := c.Catalog(osb.WithOriginatingIdentity(ctx, actor))
	if err != nil {
		return paved.ServiceBroker{}, invalid("url", "cannot read the catalog of the broker at %s: %v", spec.URL, err)
	}
	offerings, err := checkCatalog(cat)
	if err != nil {
		return paved.ServiceBroker{}, invalid("url", "the catalog of the broker at %s: %v", spec.URL, err)
	}
	raw, _ := json.Marshal(cat)
	out, err := m.opts.Store.PutServiceBroker(ctx, actor, spec, raw, offerings)
	if err != nil {
		return paved.ServiceBroker{}, err
	}
	return brokerView(out), nil
}

// checkCatalog refuses a catalog the platform could not use, and names
// its services.
func checkCatalog(cat osb.Catalog) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for i, s := range cat.Services {
		switch {
		case s.Name == "" || s.ID == "":
			return nil, fmt.Errorf("services[%d] has no name or id", i)
		case seen[s.Name]:
			return nil, fmt.Errorf("two services are named %q", s.Name)
		case len(s.Plans) == 0:
			return nil, fmt.Errorf("service %q has no plan", s.Name)
		}
		seen[s.Name] = true
		names = append(names, s.Name)
		for j, p := range s.Plans {
			if p.Name == "" || p.ID == "" {
				return nil, fmt.Errorf("service %q: plans[%d] has no name or id", s.Name, j)
			}
		}
	}
	return names, nil
}

func catalogOf(b store.ServiceBrokerRecord) osb.Catalog {
	var cat osb.Catalog
	_ = json.Unmarshal(b.Catalog, &cat)
	return cat
}

func brokerView(b store.ServiceBrokerRecord) paved.ServiceBroker {
	v := b.ServiceBroker
	v.Offerings = []string{}
	for _, s := range catalogOf(b).Services {
		v.Offerings = append(v.Offerings, s.Name)
	}
	return v
}

// Brokers lists the registered brokers.
func (m *Manager) Brokers(ctx context.Context) ([]paved.ServiceBroker, error) {
	bs, err := m.opts.Store.ListServiceBrokers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]paved.ServiceBroker, 0, len(bs))
	for _, b := range bs {
		out = append(out, brokerView(b))
	}
	return out, nil
}

// Broker reads one broker.
func (m *Manager) Broker(ctx context.Context, name string) (paved.ServiceBroker, error) {
	b, err := m.opts.Store.GetServiceBroker(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return paved.ServiceBroker{}, notFound("service broker %q is not registered", name)
	}
	return brokerView(b), err
}

// DeleteBroker unregisters a broker that no instance uses.
func (m *Manager) DeleteBroker(ctx context.Context, actor, name string) error {
	err := m.opts.Store.DeleteServiceBroker(ctx, actor, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("service broker %q is not registered", name)
	case errors.Is(err, store.ErrNotEmpty):
		return conflict("", "service broker %q still has instances (%v); delete them first", name, err)
	}
	return err
}

// Offerings is the marketplace: every broker's services, by broker and name.
func (m *Manager) Offerings(ctx context.Context) ([]paved.ServiceOffering, error) {
	bs, err := m.opts.Store.ListServiceBrokers(ctx)
	if err != nil {
		return nil, err
	}
	out := []paved.ServiceOffering{}
	for _, b := range bs {
		for _, s := range catalogOf(b).Services {
			o := paved.ServiceOffering{Broker: b.Name, Name: s.Name, ID: s.ID, Description: s.Description, Tags: s.Tags, Bindable: s.Bindable}
			for _, p := range s.Plans {
				bindable := s.Bindable
				if p.Bindable != nil {
					bindable = *p.Bindable
				}
				o.Plans = append(o.Plans, paved.ServicePlan{Name: p.Name, ID: p.ID, Description: p.Description,
					Free: p.Free == nil || *p.Free, Updateable: s.Updateable(p), Bindable: bindable})
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Broker != out[j].Broker {
			return out[i].Broker < out[j].Broker
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// resolved is an offering's plan at its broker.
type resolved struct {
	broker  store.ServiceBrokerRecord
	service osb.Service
	plan    osb.Plan
}

// resolve finds spec's offering and plan in the catalogs.
func (m *Manager) resolve(ctx context.Context, spec paved.ServiceInstanceSpec) (resolved, error) {
	bs, err := m.opts.Store.ListServiceBrokers(ctx)
	if err != nil {
		return resolved{}, err
	}
	var found []resolved
	for _, b := range bs {
		if spec.Broker != "" && b.Name != spec.Broker {
			continue
		}
		for _, s := range catalogOf(b).Services {
			if s.Name == spec.Offering {
				found = append(found, resolved{broker: b, service: s})
			}
		}
	}
	switch {
	case len(found) == 0 && spec.Broker != "":
		return resolved{}, invalid("offering", "broker %q offers no service %q (see GET /v1/service-offerings)", spec.Broker, spec.Offering)
	case len(found) == 0:
		return resolved{}, invalid("offering", "no registered broker offers a service %q (see GET /v1/service-offerings)", spec.Offering)
	case len(found) > 1:
		return resolved{}, invalid("broker", "brokers %q and %q both offer %q: name the broker", found[0].broker.Name, found[1].broker.Name, spec.Offering)
	}
	r := found[0]
	var plans []string
	for _, p := range r.service.Plans {
		if p.Name == spec.Plan {
			r.plan = p
			return r, nil
		}
		plans = append(plans, p.Name)
	}
	return resolved{}, invalid("plan", "service %q has no plan %q; its plans: %v", spec.Offering, spec.Plan, plans)
}

// instanceView is what the API shows of an instance: never a
// user-provided service's credentials.
func instanceView(r store.ServiceInstanceRecord) paved.ServiceInstance {
	v := r.ServiceInstance
	v.Credentials = nil
	return v
}

// CreateInstance records a new instance and starts provisioning it.
func (m *Manager) CreateInstance(ctx context.Context, actor, space string, spec paved.ServiceInstanceSpec) (paved.ServiceInstance, error) {
	if errs := spec.Validate(); len(errs) > 0 {
		return paved.ServiceInstance{}, invalid(errs[0].Field, "%s", errs[0].Message)
	}
	if _, err := m.opts.Store.GetSpace(ctx, space); errors.Is(err, store.ErrNotFound) {
		return paved.ServiceInstance{}, notFound("space %q does not exist", space)
	}
	if spec.UserProvided() {
		return m.createUserProvided(ctx, actor, space, spec)
	}
	r, err := m.resolve(ctx, spec)
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	spec.Broker = r.broker.Name
	spec.Type = paved.ServiceManaged
	rec := store.ServiceInstanceRecord{
		ServiceInstance: paved.ServiceInstance{ServiceInstanceSpec: spec, Space: space, GUID: uuid.NewString(),
			LastOperation: paved.ServiceOperation{Type: paved.OperationCreate, State: paved.OperationInProgress}},
		ServiceID: r.service.ID, PlanID: r.plan.ID,
	}
	out, err := m.opts.Store.CreateServiceInstance(ctx, actor, rec)
	if errors.Is(err, store.ErrExists) {
		return paved.ServiceInstance{}, conflict("name", "space %q already has a service instance %q", space, spec.Name)
	}
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	m.kickInstance(space, spec.Name)
	return instanceView(out), nil
}

// UpdateInstance changes an instance's plan or parameters.
func (m *Manager) UpdateInstance(ctx context.Context, actor, space string, spec paved.ServiceInstanceSpec) (paved.ServiceInstance, error) {
	if errs := spec.Validate(); len(errs) > 0 {
		return paved.ServiceInstance{}, invalid(errs[0].Field, "%s", errs[0].Message)
	}
	cur, err := m.instance(ctx, space, spec.Name)
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	if cur.UserProvided() != spec.UserProvided() {
		return paved.ServiceInstance{}, invalid("type", "service instance %s/%s is %s; its type cannot change", space, spec.Name, cur.Type)
	}
	if cur.UserProvided() {
		return m.updateUserProvided(ctx, actor, cur, spec)
	}
	switch {
	case !cur.LastOperation.Done():
		return paved.ServiceInstance{}, conflict("", "service instance %s/%s has an operation in progress (%s); wait for it", space, spec.Name, cur.LastOperation.Type)
	case cur.LastOperation.Type == paved.OperationCreate && cur.LastOperation.State == paved.OperationFailed:
		return paved.ServiceInstance{}, conflict("", "service instance %s/%s failed to be created (%s); delete it and create it again", space, spec.Name, cur.LastOperation.Description)
	case spec.Offering != cur.Offering || (spec.Broker != "" && spec.Broker != cur.Broker):
		return paved.ServiceInstance{}, invalid("offering", "the offering of an instance cannot change (it is %q of broker %q); make a new instance", cur.Offering, cur.Broker)
	}
	spec.Broker = cur.Broker
	r, err := m.resolve(ctx, spec)
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	if spec.Plan != cur.Plan && !r.service.Updateable(r.plan) {
		return paved.ServiceInstance{}, invalid("plan", "the plans of %q cannot be changed in place (not plan_updateable); make a new instance", cur.Offering)
	}
	retry := cur.LastOperation.Type == paved.OperationUpdate && cur.LastOperation.State == paved.OperationFailed
	if spec.Plan == cur.Plan && osb.SameParameters(spec.Parameters, cur.Parameters) && !retry {
		return instanceView(cur), nil
	}
	cur.Plan, cur.PlanID, cur.Parameters = spec.Plan, r.plan.ID, spec.Parameters
	cur.LastOperation = paved.ServiceOperation{Type: paved.OperationUpdate, State: paved.OperationInProgress}
	cur.Operation = ""
	ev := &paved.Event{Actor: actor, Action: "service_instance.update", Object: "service_instance/" + space + "/" + spec.Name, Detail: "plan " + spec.Plan}
	if err := m.opts.Store.UpdateServiceInstance(ctx, cur, ev); err != nil {
		return paved.ServiceInstance{}, err
	}
	m.kickInstance(space, spec.Name)
	out, err := m.opts.Store.GetServiceInstance(ctx, space, spec.Name)
	return instanceView(out), err
}

func (m *Manager) instance(ctx context.Context, space, name string) (store.ServiceInstanceRecord, error) {
	r, err := m.opts.Store.GetServiceInstance(ctx, space, name)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound("service instance %s/%s does not exist", space, name)
	}
	return r, err
}

// Instance reads one instance.
func (m *Manager) Instance(ctx context.Context, space, name string) (paved.ServiceInstance, error) {
	r, err := m.instance(ctx, space, name)
	return instanceView(r), err
}

// Instances lists a space's instances.
func (m *Manager) Instances(ctx context.Context, space string) ([]paved.ServiceInstance, error) {
	rs, err := m.opts.Store.ListServiceInstances(ctx, space)
	if err != nil {
		return nil, err
	}
	out := make([]paved.ServiceInstance, 0, len(rs))
	for _, r := range rs {
		out = append(out, instanceView(r))
	}
	return out, nil
}

// DeleteInstance starts deprovisioning an instance no binding uses.
func (m *Manager) DeleteInstance(ctx context.Context, actor, space, name string) error {
	cur, err := m.instance(ctx, space, name)
	if err != nil {
		return err
	}
	if cur.LastOperation.Type == paved.OperationDelete && !cur.LastOperation.Done() {
		return nil // under way already
	}
	if !cur.LastOperation.Done() {
		return conflict("", "service instance %s/%s has an operation in progress (%s); wait for it", space, name, cur.LastOperation.Type)
	}
	bs, err := m.opts.Store.ListServiceBindings(ctx, space)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Instance == name {
			return conflict("", "service instance %s/%s is bound to app %s (binding %s); delete its bindings first", space, name, b.App, b.Name)
		}
	}
	if cur.UserProvided() {
		return m.opts.Store.DeleteServiceInstance(ctx, actor, space, name)
	}
	cur.LastOperation = paved.ServiceOperation{Type: paved.OperationDelete, State: paved.OperationInProgress}
	cur.Operation = ""
	ev := &paved.Event{Actor: actor, Action: "service_instance.deprovision", Object: "service_instance/" + space + "/" + name}
	if err := m.opts.Store.UpdateServiceInstance(ctx, cur, ev); err != nil {
		return err
	}
	m.kickInstance(space, name)
	return nil
}

// CreateBinding records a binding of an instance to an app and starts
// binding it.
func (m *Manager) CreateBinding(ctx context.Context, actor, space string, spec paved.ServiceBindingSpec) (paved.ServiceBinding, error) {
	if errs := spec.Validate(); len(errs) > 0 {
		return paved.ServiceBinding{}, invalid(errs[0].Field, "%s", errs[0].Message)
	}
	in, err := m.opts.Store.GetServiceInstance(ctx, space, spec.Instance)
	if errors.Is(err, store.ErrNotFound) {
		return paved.ServiceBinding{}, invalid("instance", "space %q has no service instance %q", space, spec.Instance)
	}
	if err != nil {
		return paved.ServiceBinding{}, err
	}
	if in.LastOperation.Type == paved.OperationDelete || !in.LastOperation.Done() ||
		in.LastOperation.Type == paved.OperationCreate && in.LastOperation.State == paved.OperationFailed {
		return paved.ServiceBinding{}, conflict("instance", "service instance %s/%s is not ready to bind (%s %s)", space, spec.Instance, in.LastOperation.Type, in.LastOperation.State)
	}
	if _, err := m.opts.Store.GetApp(ctx, space, spec.App); errors.Is(err, store.ErrNotFound) {
		return paved.ServiceBinding{}, invalid("app", "space %q has no app %q", space, spec.App)
	} else if err != nil {
		return paved.ServiceBinding{}, err
	}
	state := paved.OperationInProgress
	if in.UserProvided() {
		state = paved.OperationSucceeded // nothing to ask: the credentials are the instance's
	} else {
		b, err := m.opts.Store.GetServiceBroker(ctx, in.Broker)
		if err != nil {
			return paved.ServiceBinding{}, err
		}
		if _, plan, ok := catalogOf(b).Lookup(in.ServiceID, in.PlanID); !ok || !bindable(catalogOf(b), in.ServiceID, plan) {
			return paved.ServiceBinding{}, invalid("instance", "the plan %q of %q is not bindable", in.Plan, in.Offering)
		}
	}
	rec := store.ServiceBindingRecord{ServiceBinding: paved.ServiceBinding{ServiceBindingSpec: spec, Space: space, GUID: uuid.NewString(),
		LastOperation: paved.ServiceOperation{Type: paved.OperationCreate, State: state}}}
	out, err := m.opts.Store.CreateServiceBinding(ctx, actor, rec)
	if errors.Is(err, store.ErrExists) {
		return paved.ServiceBinding{}, conflict("name", "space %q already has a service binding %q", space, spec.Name)
	}
	if err != nil {
		return paved.ServiceBinding{}, err
	}
	if in.UserProvided() {
		m.bindingsChanged(space, spec.App)
	} else {
		m.kickBinding(space, spec.Name)
	}
	return out.ServiceBinding, nil
}

func bindable(cat osb.Catalog, serviceID string, p osb.Plan) bool {
	if p.Bindable != nil {
		return *p.Bindable
	}
	for _, s := range cat.Services {
		if s.ID == serviceID {
			return s.Bindable
		}
	}
	return false
}

func (m *Manager) binding(ctx context.Context, space, name string) (store.ServiceBindingRecord, error) {
	r, err := m.opts.Store.GetServiceBinding(ctx, space, name)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound("service binding %s/%s does not exist", space, name)
	}
	return r, err
}

// Binding reads one binding (without its credentials).
func (m *Manager) Binding(ctx context.Context, space, name string) (paved.ServiceBinding, error) {
	r, err := m.binding(ctx, space, name)
	return r.ServiceBinding, err
}

// Bindings lists a space's bindings.
func (m *Manager) Bindings(ctx context.Context, space string) ([]paved.ServiceBinding, error) {
	rs, err := m.opts.Store.ListServiceBindings(ctx, space)
	if err != nil {
		return nil, err
	}
	out := make([]paved.ServiceBinding, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ServiceBinding)
	}
	return out, nil
}

// Credentials reads a binding's credentials once it is bound.
func (m *Manager) Credentials(ctx context.Context, space, name string) (map[string]any, error) {
	r, err := m.binding(ctx, space, name)
	if err != nil {
		return nil, err
	}
	if r.LastOperation.Type != paved.OperationCreate || r.LastOperation.State != paved.OperationSucceeded {
		return nil, conflict("", "service binding %s/%s has no credentials (%s %s)", space, name, r.LastOperation.Type, r.LastOperation.State)
	}
	return m.credentialsOf(ctx, r)
}

// credentialsOf are a bound binding's credentials: the broker's, or a
// user-provided service's own.
func (m *Manager) credentialsOf(ctx context.Context, r store.ServiceBindingRecord) (map[string]any, error) {
	if r.Credentials != nil {
		return r.Credentials, nil
	}
	in, err := m.opts.Store.GetServiceInstance(ctx, r.Space, r.Instance)
	if err != nil {
		return nil, err
	}
	if in.UserProvided() {
		return in.Credentials, nil
	}
	return map[string]any{}, nil
}

// DeleteBinding starts unbinding.
func (m *Manager) DeleteBinding(ctx context.Context, actor, space, name string) error {
	cur, err := m.binding(ctx, space, name)
	if err != nil {
		return err
	}
	if cur.LastOperation.Type == paved.OperationDelete && !cur.LastOperation.Done() {
		return nil
	}
	if !cur.LastOperation.Done() {
		return conflict("", "service binding %s/%s has an operation in progress (%s); wait for it", space, name, cur.LastOperation.Type)
	}
	if in, err := m.opts.Store.GetServiceInstance(ctx, space, cur.Instance); err == nil && in.UserProvided() {
		if err := m.opts.Store.DeleteServiceBinding(ctx, actor, space, name); err != nil {
			return err
		}
		m.bindingsChanged(space, cur.App)
		return nil
	}
	cur.LastOperation = paved.ServiceOperation{Type: paved.OperationDelete, State: paved.OperationInProgress}
	cur.Operation = ""
	ev := &paved.Event{Actor: actor, Action: "service_binding.unbind", Object: "service_binding/" + space + "/" + name}
	if err := m.opts.Store.UpdateServiceBinding(ctx, cur, ev); err != nil {
		return err
	}
	m.kickBinding(space, name)
	return nil
}

// createUserProvided records a user-provided service: nothing to ask of a
// broker, so it is ready at once.
func (m *Manager) createUserProvided(ctx context.Context, actor, space string, spec paved.ServiceInstanceSpec) (paved.ServiceInstance, error) {
	rec := store.ServiceInstanceRecord{ServiceInstance: paved.ServiceInstance{ServiceInstanceSpec: spec, Space: space, GUID: uuid.NewString(),
		LastOperation: paved.ServiceOperation{Type: paved.OperationCreate, State: paved.OperationSucceeded}}}
	out, err := m.opts.Store.CreateServiceInstance(ctx, actor, rec)
	if errors.Is(err, store.ErrExists) {
		return paved.ServiceInstance{}, conflict("name", "space %q already has a service instance %q", space, spec.Name)
	}
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	return instanceView(out), nil
}

// updateUserProvided replaces a user-provided service's credentials and
// tags; the apps bound to it roll out with them.
func (m *Manager) updateUserProvided(ctx context.Context, actor string, cur store.ServiceInstanceRecord, spec paved.ServiceInstanceSpec) (paved.ServiceInstance, error) {
	cur.Credentials, cur.Tags = spec.Credentials, spec.Tags
	cur.LastOperation = paved.ServiceOperation{Type: paved.OperationUpdate, State: paved.OperationSucceeded}
	ev := &paved.Event{Actor: actor, Action: "service_instance.update", Object: "service_instance/" + cur.Space + "/" + cur.Name, Detail: "user-provided credentials"}
	if err := m.opts.Store.UpdateServiceInstance(ctx, cur, ev); err != nil {
		return paved.ServiceInstance{}, err
	}
	bs, err := m.opts.Store.ListServiceBindings(ctx, cur.Space)
	if err != nil {
		return paved.ServiceInstance{}, err
	}
	for _, b := range bs {
		if b.Instance == cur.Name {
			m.bindingsChanged(cur.Space, b.App)
		}
	}
	out, err := m.opts.Store.GetServiceInstance(ctx, cur.Space, cur.Name)
	return instanceView(out), err
}
