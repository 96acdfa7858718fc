package services

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// fakeBroker is a scripted broker behind the real protocol handler: what
// the platform's side does with each kind of answer is the point here
// (paved's PostgreSQL broker is tested against a real server elsewhere).
type fakeBroker struct {
	mu           sync.Mutex
	provision    func() (osb.Result, error)
	lastOp       func() (osb.LastOperation, error)
	deprovisions []string
}

func (f *fakeBroker) Catalog() osb.Catalog {
	return osb.Catalog{Services: []osb.Service{{Name: "kv", ID: "svc-kv", Bindable: true,
		Plans: []osb.Plan{{ID: "plan-a", Name: "a"}, {ID: "plan-b", Name: "b"}}}}}
}
func (f *fakeBroker) Provision(context.Context, string, osb.ProvisionRequest, bool) (osb.Result, error) {
	return f.provision()
}
func (f *fakeBroker) Update(context.Context, string, osb.UpdateRequest, bool) (osb.Result, error) {
	return osb.Result{}, nil
}
func (f *fakeBroker) Deprovision(_ context.Context, id, _, _ string, _ bool) (osb.Result, error) {
	f.mu.Lock()
	f.deprovisions = append(f.deprovisions, id)
	f.mu.Unlock()
	return osb.Result{}, nil
}
func (f *fakeBroker) GetInstance(context.Context, string) (osb.Instance, error) {
	return osb.Instance{}, &osb.Error{Status: http.StatusNotFound}
}
func (f *fakeBroker) LastOperation(context.Context, string, string) (osb.LastOperation, error) {
	return f.lastOp()
}
func (f *fakeBroker) Bind(context.Context, string, string, osb.BindRequest, bool) (osb.BindResult, error) {
	return osb.BindResult{Credentials: map[string]any{"k": "v"}}, nil
}
func (f *fakeBroker) Unbind(context.Context, string, string, string, string, bool) (osb.Result, error) {
	return osb.Result{}, nil
}
func (f *fakeBroker) GetBinding(context.Context, string, string) (osb.Binding, error) {
	return osb.Binding{}, nil
}
func (f *fakeBroker) LastBindingOperation(context.Context, string, string, string) (osb.LastOperation, error) {
	return osb.LastOperation{State: osb.StateSucceeded}, nil
}

func setup(t *testing.T, f *fakeBroker) (*Manager, *store.SQLite) {
	t.Helper()
	srv := httptest.NewServer(osb.Handler(f, osb.HandlerOptions{Username: "u", Password: "p"}))
	t.Cleanup(srv.Close)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if _, err := st.CreateSpace(ctx, "t", paved.SpaceSpec{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	m := New(Options{Store: st, CellID: "c", PollInterval: 10 * time.Millisecond, HTTPClient: &http.Client{Timeout: 2 * time.Second}})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	if _, err := m.PutBroker(ctx, "t", paved.ServiceBrokerSpec{Name: "b", URL: srv.URL, Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	return m, st
}

func waitDone(t *testing.T, m *Manager, name string) paved.ServiceInstance {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		in, err := m.Instance(context.Background(), "shop", name)
		if err != nil {
			t.Fatal(err)
		}
		if in.LastOperation.Done() {
			return in
		}
	}
	t.Fatalf("the operation of %s did not end", name)
	return paved.ServiceInstance{}
}

// A provision the broker answered with a 5xx may have made the instance:
// the cell deletes it at the broker (orphan mitigation) and records the
// provision failed, with the broker's words.
func TestAProvisionWithAnUnknownOutcomeIsMitigated(t *testing.T) {
	f := &fakeBroker{provision: func() (osb.Result, error) {
		return osb.Result{}, &osb.Error{Status: http.StatusInternalServerError, Description: "disk full"}
	}}
	m, _ := setup(t, f)
	in, err := m.CreateInstance(context.Background(), "t", "shop", paved.ServiceInstanceSpec{Name: "x", Offering: "kv", Plan: "a"})
	if err != nil {
		t.Fatal(err)
	}
	in = waitDone(t, m, "x")
	if in.LastOperation.State != paved.OperationFailed || !strings.Contains(in.LastOperation.Description, "disk full") {
		t.Fatalf("last operation %+v, want a failed create naming the broker's error", in.LastOperation)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deprovisions) != 1 || f.deprovisions[0] != in.GUID {
		t.Fatalf("deprovisions %v, want one of %s (orphan mitigation)", f.deprovisions, in.GUID)
	}
}

// A broker's refusal (4xx) made nothing: no mitigation, a failed create.
func TestARefusedProvisionFailsWithoutMitigation(t *testing.T) {
	f := &fakeBroker{provision: func() (osb.Result, error) {
		return osb.Result{}, &osb.Error{Status: http.StatusBadRequest, Description: "no such region"}
	}}
	m, _ := setup(t, f)
	if _, err := m.CreateInstance(context.Background(), "t", "shop", paved.ServiceInstanceSpec{Name: "x", Offering: "kv", Plan: "a"}); err != nil {
		t.Fatal(err)
	}
	in := waitDone(t, m, "x")
	if in.LastOperation.State != paved.OperationFailed || !strings.Contains(in.LastOperation.Description, "no such region") {
		t.Fatalf("last operation %+v", in.LastOperation)
	}
	if len(f.deprovisions) != 0 {
		t.Fatalf("deprovisions %v after a refusal", f.deprovisions)
	}
	// A failed create is not updated; it is deleted.
	if _, err := m.UpdateInstance(context.Background(), "t", "shop", paved.ServiceInstanceSpec{Name: "x", Offering: "kv", Plan: "b"}); err == nil {
		t.Fatal("a failed instance was updated")
	}
}

// An asynchronous provision is polled until the broker says how it ended.
func TestAnAsyncProvisionIsPolledToItsEnd(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	f := &fakeBroker{
		provision: func() (osb.Result, error) { return osb.Result{Async: true, Operation: "op-1"}, nil },
		lastOp: func() (osb.LastOperation, error) {
			mu.Lock()
			defer mu.Unlock()
			polls++
			if polls < 3 {
				return osb.LastOperation{State: osb.StateInProgress}, nil
			}
			return osb.LastOperation{State: osb.StateFailed, Description: "quota exceeded"}, nil
		},
	}
	m, st := setup(t, f)
	if _, err := m.CreateInstance(context.Background(), "t", "shop", paved.ServiceInstanceSpec{Name: "x", Offering: "kv", Plan: "a"}); err != nil {
		t.Fatal(err)
	}
	in := waitDone(t, m, "x")
	if in.LastOperation.State != paved.OperationFailed || !strings.Contains(in.LastOperation.Description, "quota exceeded") {
		t.Fatalf("last operation %+v", in.LastOperation)
	}
	if polls != 3 {
		t.Errorf("%d polls, want 3", polls)
	}
	evs, err := st.ListObjectEvents(context.Background(), "service_instance/shop/x")
	if err != nil || len(evs) < 2 || evs[len(evs)-1].Action != "service_instance.create.failed" {
		t.Errorf("events %+v %v", evs, err)
	}
}
