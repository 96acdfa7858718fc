package services

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// vcapService is one entry of VCAP_SERVICES, in Cloud Foundry's layout.
type vcapService struct {
	Name         string         `json:"name"`
	InstanceName string         `json:"instance_name"`
	InstanceGUID string         `json:"instance_guid"`
	BindingName  string         `json:"binding_name"`
	BindingGUID  string         `json:"binding_guid"`
	Label        string         `json:"label"`
	Plan         string         `json:"plan"`
	Tags         []string       `json:"tags"`
	Credentials  map[string]any `json:"credentials"`
}

// ServiceEnv is what the app's bound services add to its environment:
// VCAP_SERVICES (label → its bindings), as Cloud Foundry apps read it.
// Only bindings that succeeded count; an app with none gets nothing.
func (m *Manager) ServiceEnv(ctx context.Context, space, app string) (map[string]string, error) {
	bs, err := m.opts.Store.ListServiceBindings(ctx, space)
	if err != nil {
		return nil, err
	}
	byLabel := map[string][]vcapService{}
	for _, b := range bs {
		if b.App != app || b.LastOperation.Type != paved.OperationCreate || b.LastOperation.State != paved.OperationSucceeded {
			continue
		}
		in, err := m.opts.Store.GetServiceInstance(ctx, space, b.Instance)
		if err != nil {
			return nil, err
		}
		tags, label := in.Tags, in.Offering
		if in.UserProvided() {
			label = paved.ServiceUserProvided
		} else if br, err := m.opts.Store.GetServiceBroker(ctx, in.Broker); err == nil {
			if s, _, ok := catalogOf(br).Lookup(in.ServiceID, in.PlanID); ok {
				tags = s.Tags
			}
		}
		if tags == nil {
			tags = []string{}
		}
		creds, err := m.credentialsOf(ctx, b)
		if err != nil {
			return nil, err
		}
		if creds == nil {
			creds = map[string]any{}
		}
		byLabel[label] = append(byLabel[label], vcapService{Name: b.Name, InstanceName: in.Name, InstanceGUID: in.GUID,
			BindingName: b.Name, BindingGUID: b.GUID, Label: label, Plan: in.Plan, Tags: tags, Credentials: creds})
	}
	if len(byLabel) == 0 {
		return nil, nil
	}
	for _, l := range byLabel {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	raw, err := json.Marshal(byLabel) // map keys are sorted: the same bindings give the same value
	if err != nil {
		return nil, err
	}
	return map[string]string{"VCAP_SERVICES": string(raw)}, nil
}
