// Package osb is the Open Service Broker API (v2.17) as paved speaks it:
// the wire types, a client for the platform side (the cell) and an
// http.Handler for the broker side (paved broker postgres), so that both
// ends agree on one reading of the specification
// (https://github.com/openservicebrokerapi/servicebroker/blob/v2.17/spec.md).
package osb

import (
	"encoding/json"
	"fmt"
)

// APIVersion is the version paved sends in X-Broker-API-Version and the
// oldest a broker built on Handler accepts.
const APIVersion = "2.17"

// Header names of the specification.
const (
	HeaderAPIVersion          = "X-Broker-API-Version"
	HeaderOriginatingIdentity = "X-Broker-API-Originating-Identity"
	HeaderRequestIdentity     = "X-Broker-API-Request-Identity"
)

// Catalog is GET /v2/catalog.
type Catalog struct {
	Services []Service `json:"services"`
}

// Service is one offering of a catalog.
type Service struct {
	Name                 string         `json:"name"`
	ID                   string         `json:"id"`
	Description          string         `json:"description"`
	Tags                 []string       `json:"tags,omitempty"`
	Requires             []string       `json:"requires,omitempty"`
	Bindable             bool           `json:"bindable"`
	InstancesRetrievable bool           `json:"instances_retrievable,omitempty"`
	BindingsRetrievable  bool           `json:"bindings_retrievable,omitempty"`
	AllowContextUpdates  bool           `json:"allow_context_updates,omitempty"`
	PlanUpdateable       bool           `json:"plan_updateable,omitempty"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	Plans                []Plan         `json:"plans"`
}

// Plan is one plan of a service.
type Plan struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Free        *bool          `json:"free,omitempty"`
	Bindable    *bool          `json:"bindable,omitempty"`
	// PlanUpdateable overrides the service's plan_updateable when set.
	PlanUpdateable         *bool `json:"plan_updateable,omitempty"`
	MaximumPollingDuration int   `json:"maximum_polling_duration,omitempty"`
}

// Updateable says whether an instance of plan p of s may change plan.
func (s Service) Updateable(p Plan) bool {
	if p.PlanUpdateable != nil {
		return *p.PlanUpdateable
	}
	return s.PlanUpdateable
}

// Lookup finds a service and plan of the catalog by ID.
func (c Catalog) Lookup(serviceID, planID string) (Service, Plan, bool) {
	for _, s := range c.Services {
		if s.ID != serviceID {
			continue
		}
		for _, p := range s.Plans {
			if p.ID == planID {
				return s, p, true
			}
		}
	}
	return Service{}, Plan{}, false
}

// ProvisionRequest is the body of PUT /v2/service_instances/:instance_id.
type ProvisionRequest struct {
	ServiceID        string          `json:"service_id"`
	PlanID           string          `json:"plan_id"`
	Context          map[string]any  `json:"context,omitempty"`
	OrganizationGUID string          `json:"organization_guid,omitempty"`
	SpaceGUID        string          `json:"space_guid,omitempty"`
	Parameters       json.RawMessage `json:"parameters,omitempty"`
}

// ProvisionResponse is the answer to a provision (201, 200 or 202).
type ProvisionResponse struct {
	DashboardURL string `json:"dashboard_url,omitempty"`
	Operation    string `json:"operation,omitempty"`
}

// UpdateRequest is the body of PATCH /v2/service_instances/:instance_id.
type UpdateRequest struct {
	ServiceID      string          `json:"service_id"`
	PlanID         string          `json:"plan_id,omitempty"`
	Context        map[string]any  `json:"context,omitempty"`
	Parameters     json.RawMessage `json:"parameters,omitempty"`
	PreviousValues *PreviousValues `json:"previous_values,omitempty"`
}

// PreviousValues are what an update changes from.
type PreviousValues struct {
	ServiceID string `json:"service_id,omitempty"`
	PlanID    string `json:"plan_id,omitempty"`
}

// OperationResponse is the answer to an update or a deletion: empty, or
// the operation to poll when the broker works asynchronously.
type OperationResponse struct {
	DashboardURL string `json:"dashboard_url,omitempty"`
	Operation    string `json:"operation,omitempty"`
}

// Instance is GET /v2/service_instances/:instance_id.
type Instance struct {
	ServiceID    string          `json:"service_id"`
	PlanID       string          `json:"plan_id"`
	DashboardURL string          `json:"dashboard_url,omitempty"`
	Parameters   json.RawMessage `json:"parameters,omitempty"`
}

// OperationState is a last_operation state.
type OperationState string

// The three states of the specification.
const (
	StateInProgress OperationState = "in progress"
	StateSucceeded  OperationState = "succeeded"
	StateFailed     OperationState = "failed"
)

// LastOperation is GET …/last_operation.
type LastOperation struct {
	State       OperationState `json:"state"`
	Description string         `json:"description,omitempty"`
	// InstanceUsable and UpdateRepeatable qualify a failed update or
	// deprovision.
	InstanceUsable   *bool `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool `json:"update_repeatable,omitempty"`
}

// BindRequest is the body of PUT …/service_bindings/:binding_id.
type BindRequest struct {
	ServiceID    string          `json:"service_id"`
	PlanID       string          `json:"plan_id"`
	AppGUID      string          `json:"app_guid,omitempty"`
	BindResource *BindResource   `json:"bind_resource,omitempty"`
	Context      map[string]any  `json:"context,omitempty"`
	Parameters   json.RawMessage `json:"parameters,omitempty"`
}

// BindResource says what the binding is for.
type BindResource struct {
	AppGUID string `json:"app_guid,omitempty"`
	Route   string `json:"route,omitempty"`
}

// Binding is the answer to a bind (201, 200), or GET of a binding.
type Binding struct {
	Credentials map[string]any  `json:"credentials,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Operation   string          `json:"operation,omitempty"`
}

// SameParameters tells whether two parameters objects say the same
// (absent, null and {} alike; key order and spacing do not count): what
// makes a repeated provision "identical" and a plan-less update a no-op.
func SameParameters(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) string {
		var v any
		if len(r) == 0 || json.Unmarshal(r, &v) != nil || v == nil {
			return "{}"
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

// Error codes a broker may send in Error.Error.
const (
	ErrAsyncRequired           = "AsyncRequired"
	ErrConcurrencyError        = "ConcurrencyError"
	ErrRequiresApp             = "RequiresApp"
	ErrMaintenanceInfoConflict = "MaintenanceInfoConflict"
)

// Error is a broker's error body. Status is the HTTP status it came with
// (not on the wire).
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error,omitempty"`
	Description string `json:"description,omitempty"`
	// InstanceUsable and UpdateRepeatable qualify a failed update.
	InstanceUsable   *bool `json:"instance_usable,omitempty"`
	UpdateRepeatable *bool `json:"update_repeatable,omitempty"`
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("broker answered %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}
