package services

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// A worker moves one object's operation on, step by step, re-reading its
// record before each: a step is one call to the broker whose outcome is
// written down before the next, so a cell killed between two steps
// resumes at the right one (asking the broker again is what the
// specification makes safe: a repeated PUT answers 200 or 202, a repeated
// DELETE 410).

func (m *Manager) kickInstance(space, name string) {
	m.start("instance/"+space+"/"+name, func(ctx context.Context) { m.runInstance(ctx, space, name) })
}

func (m *Manager) kickBinding(space, name string) {
	m.start("binding/"+space+"/"+name, func(ctx context.Context) { m.runBinding(ctx, space, name) })
}

// start runs fn unless a worker for key runs already (it re-reads the
// record, so it sees the new operation too).
func (m *Manager) start(key string, fn func(context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil || m.running[key] {
		return
	}
	m.running[key] = true
	m.work.Add(1)
	go func() {
		defer m.work.Done()
		for {
			fn(m.ctx)
			// An operation started while fn finished is picked up here.
			m.mu.Lock()
			if m.ctx.Err() != nil || !m.pending(key) {
				delete(m.running, key)
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
		}
	}()
}

// pending says whether key's record has an operation in progress.
func (m *Manager) pending(key string) bool {
	ctx := context.Background()
	kind, rest, _ := cut(key)
	space, name, _ := cut(rest)
	switch kind {
	case "instance":
		r, err := m.opts.Store.GetServiceInstance(ctx, space, name)
		return err == nil && !r.LastOperation.Done()
	case "binding":
		r, err := m.opts.Store.GetServiceBinding(ctx, space, name)
		return err == nil && !r.LastOperation.Done()
	}
	return false
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// wait sleeps for the broker's Retry-After, at least PollInterval.
func (m *Manager) wait(ctx context.Context, retryAfter time.Duration) bool {
	d := max(retryAfter, m.opts.PollInterval)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (m *Manager) brokerOf(ctx context.Context, name string) (*osb.Client, error) {
	b, err := m.opts.Store.GetServiceBroker(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("broker %s: %w", name, err)
	}
	return m.client(b)
}

// retryable says a step failed on the way to the broker (it is down, or
// answered 5xx) rather than by the broker's word (a refusal, a failed
// operation) or with an outcome left unknown (a provision or bind, which
// orphan mitigation undid): the worker tries it again.
func retryable(err error) bool {
	var bf *brokerFailure
	if errors.Is(err, osb.ErrOrphanRisk) || errors.As(err, &bf) {
		return false
	}
	var oe *osb.Error
	if errors.As(err, &oe) {
		return oe.Status >= 500 || oe.Status == http.StatusRequestTimeout
	}
	return true
}

func (m *Manager) osbContext(space, name string) map[string]any {
	return map[string]any{"platform": "paved", "cell": m.opts.CellID, "space": space, "instance_name": name}
}

func (m *Manager) runInstance(ctx context.Context, space, name string) {
	drive(m, ctx, "service instance "+space+"/"+name,
		func(ctx context.Context) (store.ServiceInstanceRecord, paved.ServiceOperation, error) {
			r, err := m.opts.Store.GetServiceInstance(ctx, space, name)
			return r, r.LastOperation, err
		}, m.stepInstance, m.failInstance)
}

// drive moves an operation on until it ends: load reads the record (its
// last operation), step makes one call to the broker. A step that failed on
// the way to the broker is tried again after a growing pause; one the
// broker refused, or that failed, ends the operation with fail.
func drive[R any](m *Manager, ctx context.Context, what string,
	load func(context.Context) (R, paved.ServiceOperation, error),
	step func(context.Context, R) (bool, time.Duration, error),
	fail func(context.Context, R, error)) {
	failures := 0
	for ctx.Err() == nil {
		r, op, err := load(ctx)
		if err != nil || op.Done() {
			return
		}
		done, retryAfter, err := step(ctx, r)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && retryable(err):
			failures++
			m.log.Warn(what+": step failed; retrying", "operation", op.Type, "err", err)
			if !m.wait(ctx, min(time.Duration(failures)*m.opts.PollInterval, time.Minute)) {
				return
			}
			continue
		case err != nil:
			fail(ctx, r, err)
			return
		}
		failures = 0
		if done || !m.wait(ctx, retryAfter) {
			return
		}
	}
}

// stepInstance makes one call to the broker for r's operation and records
// what it learnt; done says the operation ended.
func (m *Manager) stepInstance(ctx context.Context, r store.ServiceInstanceRecord) (done bool, retryAfter time.Duration, err error) {
	c, err := m.brokerOf(ctx, r.Broker)
	if err != nil {
		return false, 0, err
	}
	ctx = osb.WithOriginatingIdentity(ctx, "cell")
	if r.Operation != "" {
		return m.pollInstance(ctx, c, r)
	}
	var res osb.Result
	switch r.LastOperation.Type {
	case paved.OperationCreate:
		res, err = c.Provision(ctx, r.GUID, osb.ProvisionRequest{ServiceID: r.ServiceID, PlanID: r.PlanID,
			Context: m.osbContext(r.Space, r.Name), OrganizationGUID: m.opts.CellID, SpaceGUID: r.Space, Parameters: r.Parameters}, true)
		if errors.Is(err, osb.ErrOrphanRisk) {
			// The broker may have made it: ask it to delete it
			// (orphan mitigation), and report the provision failed.
			if _, derr := c.Deprovision(ctx, r.GUID, r.ServiceID, r.PlanID, true); derr != nil && !errors.Is(derr, osb.ErrGone) {
				m.log.Warn("orphan mitigation of a failed provision", "instance", r.Space+"/"+r.Name, "err", derr)
			}
			return false, 0, fmt.Errorf("%w (the cell asked the broker to delete whatever it made)", err)
		}
	case paved.OperationUpdate:
		res, err = c.Update(ctx, r.GUID, osb.UpdateRequest{ServiceID: r.ServiceID, PlanID: r.PlanID,
			Context: m.osbContext(r.Space, r.Name), Parameters: r.Parameters}, true)
	case paved.OperationDelete:
		res, err = c.Deprovision(ctx, r.GUID, r.ServiceID, r.PlanID, true)
		if errors.Is(err, osb.ErrGone) {
			return true, 0, m.opts.Store.DeleteServiceInstance(ctx, "cell", r.Space, r.Name)
		}
	}
	if err != nil {
		return false, 0, err
	}
	if res.Async {
		r.Operation = orPoll(res.Operation)
		return false, 0, m.opts.Store.UpdateServiceInstance(ctx, r, nil)
	}
	return true, 0, m.succeedInstance(ctx, r)
}

func (m *Manager) pollInstance(ctx context.Context, c *osb.Client, r store.ServiceInstanceRecord) (bool, time.Duration, error) {
	op, retryAfter, err := c.LastOperation(ctx, r.GUID, r.ServiceID, r.PlanID, unPoll(r.Operation))
	if errors.Is(err, osb.ErrGone) {
		if r.LastOperation.Type == paved.OperationDelete {
			return true, 0, m.opts.Store.DeleteServiceInstance(ctx, "cell", r.Space, r.Name)
		}
		return false, 0, &brokerFailure{"the broker does not know the instance any more (410 Gone)"}
	}
	if err != nil {
		return false, 0, err
	}
	switch op.State {
	case osb.StateSucceeded:
		if r.LastOperation.Type == paved.OperationDelete {
			return true, 0, m.opts.Store.DeleteServiceInstance(ctx, "cell", r.Space, r.Name)
		}
		return true, 0, m.succeedInstance(ctx, r)
	case osb.StateFailed:
		return false, 0, &brokerFailure{op.Description}
	}
	return false, retryAfter, nil
}

// brokerFailure is an operation the broker reported failed.
type brokerFailure struct{ description string }

func (e *brokerFailure) Error() string {
	if e.description == "" {
		return "the broker reported the operation failed"
	}
	return "the broker reported the operation failed: " + e.description
}

func (m *Manager) succeedInstance(ctx context.Context, r store.ServiceInstanceRecord) error {
	r.LastOperation = paved.ServiceOperation{Type: r.LastOperation.Type, State: paved.OperationSucceeded}
	r.Operation = ""
	ev := &paved.Event{Actor: "cell", Action: "service_instance." + r.LastOperation.Type + "d", Object: "service_instance/" + r.Space + "/" + r.Name}
	return m.opts.Store.UpdateServiceInstance(ctx, r, ev)
}

func (m *Manager) failInstance(ctx context.Context, r store.ServiceInstanceRecord, cause error) {
	m.log.Warn("service instance operation failed", "instance", r.Space+"/"+r.Name, "operation", r.LastOperation.Type, "err", cause)
	r.LastOperation = paved.ServiceOperation{Type: r.LastOperation.Type, State: paved.OperationFailed, Description: cause.Error()}
	r.Operation = ""
	ev := &paved.Event{Actor: "cell", Action: "service_instance." + r.LastOperation.Type + ".failed",
		Object: "service_instance/" + r.Space + "/" + r.Name, Detail: cause.Error()}
	if err := m.opts.Store.UpdateServiceInstance(context.WithoutCancel(ctx), r, ev); err != nil {
		m.log.Error("record a failed service operation", "instance", r.Space+"/"+r.Name, "err", err)
	}
}

func (m *Manager) runBinding(ctx context.Context, space, name string) {
	drive(m, ctx, "service binding "+space+"/"+name,
		func(ctx context.Context) (store.ServiceBindingRecord, paved.ServiceOperation, error) {
			r, err := m.opts.Store.GetServiceBinding(ctx, space, name)
			return r, r.LastOperation, err
		}, m.stepBinding, m.failBinding)
}

func (m *Manager) stepBinding(ctx context.Context, r store.ServiceBindingRecord) (bool, time.Duration, error) {
	in, err := m.opts.Store.GetServiceInstance(ctx, r.Space, r.Instance)
	if err != nil {
		return false, 0, fmt.Errorf("its instance %s: %w", r.Instance, err)
	}
	c, err := m.brokerOf(ctx, in.Broker)
	if err != nil {
		return false, 0, err
	}
	ctx = osb.WithOriginatingIdentity(ctx, "cell")
	if r.Operation != "" {
		op, retryAfter, err := c.LastBindingOperation(ctx, in.GUID, r.GUID, in.ServiceID, in.PlanID, unPoll(r.Operation))
		switch {
		case errors.Is(err, osb.ErrGone) && r.LastOperation.Type == paved.OperationDelete:
			return true, 0, m.unbound(ctx, r)
		case err != nil:
			return false, 0, err
		case op.State == osb.StateFailed:
			return false, 0, &brokerFailure{op.Description}
		case op.State == osb.StateInProgress:
			return false, retryAfter, nil
		case r.LastOperation.Type == paved.OperationDelete:
			return true, 0, m.unbound(ctx, r)
		}
		b, err := c.GetBinding(ctx, in.GUID, r.GUID)
		if err != nil {
			return false, 0, err
		}
		return true, 0, m.succeedBinding(ctx, r, b.Credentials)
	}
	if r.LastOperation.Type == paved.OperationDelete {
		res, err := c.Unbind(ctx, in.GUID, r.GUID, in.ServiceID, in.PlanID, true)
		switch {
		case errors.Is(err, osb.ErrGone) || err == nil && !res.Async:
			return true, 0, m.unbound(ctx, r)
		case err != nil:
			return false, 0, err
		}
		r.Operation = orPoll(res.Operation)
		return false, 0, m.opts.Store.UpdateServiceBinding(ctx, r, nil)
	}
	b, res, err := c.Bind(ctx, in.GUID, r.GUID, osb.BindRequest{ServiceID: in.ServiceID, PlanID: in.PlanID, AppGUID: r.Space + "/" + r.App,
		BindResource: &osb.BindResource{AppGUID: r.Space + "/" + r.App}, Context: m.osbContext(r.Space, r.Instance)}, true)
	if errors.Is(err, osb.ErrOrphanRisk) {
		if _, uerr := c.Unbind(ctx, in.GUID, r.GUID, in.ServiceID, in.PlanID, true); uerr != nil && !errors.Is(uerr, osb.ErrGone) {
			m.log.Warn("orphan mitigation of a failed bind", "binding", r.Space+"/"+r.Name, "err", uerr)
		}
		return false, 0, fmt.Errorf("%w (the cell asked the broker to delete whatever it made)", err)
	}
	if err != nil {
		return false, 0, err
	}
	if res.Async {
		r.Operation = orPoll(res.Operation)
		return false, 0, m.opts.Store.UpdateServiceBinding(ctx, r, nil)
	}
	return true, 0, m.succeedBinding(ctx, r, b.Credentials)
}

// orPoll is the operation to poll after a 202: the broker's, or a marker
// when it named none (last_operation is polled without one).
func orPoll(op string) string {
	if op == "" {
		return "-"
	}
	return op
}

func unPoll(op string) string {
	if op == "-" {
		return ""
	}
	return op
}

func (m *Manager) succeedBinding(ctx context.Context, r store.ServiceBindingRecord, creds map[string]any) error {
	r.Credentials = creds
	r.LastOperation = paved.ServiceOperation{Type: r.LastOperation.Type, State: paved.OperationSucceeded}
	r.Operation = ""
	ev := &paved.Event{Actor: "cell", Action: "service_binding.bound", Object: "service_binding/" + r.Space + "/" + r.Name}
	if err := m.opts.Store.UpdateServiceBinding(ctx, r, ev); err != nil {
		return err
	}
	m.bindingsChanged(r.Space, r.App)
	return nil
}

// unbound removes a binding's record once the broker deleted it.
func (m *Manager) unbound(ctx context.Context, r store.ServiceBindingRecord) error {
	if err := m.opts.Store.DeleteServiceBinding(ctx, "cell", r.Space, r.Name); err != nil {
		return err
	}
	m.bindingsChanged(r.Space, r.App)
	return nil
}

func (m *Manager) bindingsChanged(space, app string) {
	if m.opts.BindingsChanged != nil {
		m.opts.BindingsChanged(space, app)
	}
}

func (m *Manager) failBinding(ctx context.Context, r store.ServiceBindingRecord, cause error) {
	m.log.Warn("service binding operation failed", "binding", r.Space+"/"+r.Name, "operation", r.LastOperation.Type, "err", cause)
	r.LastOperation = paved.ServiceOperation{Type: r.LastOperation.Type, State: paved.OperationFailed, Description: cause.Error()}
	r.Operation = ""
	ev := &paved.Event{Actor: "cell", Action: "service_binding." + r.LastOperation.Type + ".failed",
		Object: "service_binding/" + r.Space + "/" + r.Name, Detail: cause.Error()}
	if err := m.opts.Store.UpdateServiceBinding(context.WithoutCancel(ctx), r, ev); err != nil {
		m.log.Error("record a failed service operation", "binding", r.Space+"/"+r.Name, "err", err)
	}
}
