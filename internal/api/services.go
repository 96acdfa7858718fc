package api

import (
	"errors"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/internal/services"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Backing services: brokers (admin), the marketplace, and a space's
// service instances and bindings. The work is the services.Manager's; the
// handlers decode, check the path against the body and translate its
// refusals.

func (s *Server) servicesOrNotFound() (*services.Manager, error) {
	if s.Services == nil {
		return nil, notFound("this cell has no backing services")
	}
	return s.Services, nil
}

// serviceError translates a services.Error.
func serviceError(err error) error {
	var se *services.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Kind {
	case services.Invalid:
		return invalid(se.Field, "%s", se.Message)
	case services.Conflict:
		return conflict(se.Field, "%s", se.Message)
	}
	return notFound("%s", se.Message)
}

// sameName checks that the body names what the path does (or fills it in).
func sameName(kind string, body *string, path string) error {
	if *body == "" {
		*body = path
	}
	if *body != path {
		return invalid("name", "the body names %s %q but the path %q", kind, *body, path)
	}
	return nil
}

// serve answers with what fn makes of the services manager (status on
// success), its refusals translated: the shape of every handler here.
func serve[T any](s *Server, w http.ResponseWriter, status int, fn func(m *services.Manager) (T, error)) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	v, err := fn(m)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, status, v)
	return nil
}

// done answers 202 (or 204) with no body once fn started (or did) it.
func done(s *Server, w http.ResponseWriter, status int, fn func(m *services.Manager) error) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return serviceError(err)
	}
	w.WriteHeader(status)
	return nil
}

func (s *Server) listServiceBrokers(w http.ResponseWriter, r *http.Request) error {
	return serve(s, w, http.StatusOK, func(m *services.Manager) (any, error) {
		bs, err := m.Brokers(r.Context())
		return map[string]any{"service_brokers": bs}, err
	})
}

func (s *Server) getServiceBroker(w http.ResponseWriter, r *http.Request) error {
	return serve(s, w, http.StatusOK, func(m *services.Manager) (paved.ServiceBroker, error) {
		return m.Broker(r.Context(), r.PathValue("name"))
	})
}

func (s *Server) putServiceBroker(w http.ResponseWriter, r *http.Request) error {
	var spec paved.ServiceBrokerSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := sameName("service broker", &spec.Name, r.PathValue("name")); err != nil {
		return err
	}
	return serve(s, w, http.StatusOK, func(m *services.Manager) (paved.ServiceBroker, error) {
		return m.PutBroker(r.Context(), actor(r), spec)
	})
}

func (s *Server) deleteServiceBroker(w http.ResponseWriter, r *http.Request) error {
	return done(s, w, http.StatusNoContent, func(m *services.Manager) error {
		return m.DeleteBroker(r.Context(), actor(r), r.PathValue("name"))
	})
}

func (s *Server) listServiceOfferings(w http.ResponseWriter, r *http.Request) error {
	return serve(s, w, http.StatusOK, func(m *services.Manager) (any, error) {
		os, err := m.Offerings(r.Context())
		return map[string]any{"service_offerings": os}, err
	})
}

func (s *Server) listServiceInstances(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.space(r); err != nil {
		return err
	}
	return serve(s, w, http.StatusOK, func(m *services.Manager) (any, error) {
		ins, err := m.Instances(r.Context(), r.PathValue("space"))
		return map[string]any{"service_instances": ins}, err
	})
}

func (s *Server) getServiceInstance(w http.ResponseWriter, r *http.Request) error {
	return serve(s, w, http.StatusOK, func(m *services.Manager) (paved.ServiceInstance, error) {
		return m.Instance(r.Context(), r.PathValue("space"), r.PathValue("name"))
	})
}

func (s *Server) createServiceInstance(w http.ResponseWriter, r *http.Request) error {
	var spec paved.ServiceInstanceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	return serve(s, w, http.StatusAccepted, func(m *services.Manager) (paved.ServiceInstance, error) {
		return m.CreateInstance(r.Context(), actor(r), r.PathValue("space"), spec)
	})
}

func (s *Server) updateServiceInstance(w http.ResponseWriter, r *http.Request) error {
	var spec paved.ServiceInstanceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := sameName("service instance", &spec.Name, r.PathValue("name")); err != nil {
		return err
	}
	return serve(s, w, http.StatusAccepted, func(m *services.Manager) (paved.ServiceInstance, error) {
		return m.UpdateInstance(r.Context(), actor(r), r.PathValue("space"), spec)
	})
}

func (s *Server) deleteServiceInstance(w http.ResponseWriter, r *http.Request) error {
	return done(s, w, http.StatusAccepted, func(m *services.Manager) error {
		return m.DeleteInstance(r.Context(), actor(r), r.PathValue("space"), r.PathValue("name"))
	})
}

func (s *Server) listServiceBindings(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.space(r); err != nil {
		return err
	}
	return serve(s, w, http.StatusOK, func(m *services.Manager) (any, error) {
		bs, err := m.Bindings(r.Context(), r.PathValue("space"))
		return map[string]any{"service_bindings": bs}, err
	})
}

func (s *Server) getServiceBinding(w http.ResponseWriter, r *http.Request) error {
	return serve(s, w, http.StatusOK, func(m *services.Manager) (paved.ServiceBinding, error) {
		return m.Binding(r.Context(), r.PathValue("space"), r.PathValue("name"))
	})
}

func (s *Server) createServiceBinding(w http.ResponseWriter, r *http.Request) error {
	var spec paved.ServiceBindingSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	return serve(s, w, http.StatusAccepted, func(m *services.Manager) (paved.ServiceBinding, error) {
		return m.CreateBinding(r.Context(), actor(r), r.PathValue("space"), spec)
	})
}

func (s *Server) deleteServiceBinding(w http.ResponseWriter, r *http.Request) error {
	return done(s, w, http.StatusAccepted, func(m *services.Manager) error {
		return m.DeleteBinding(r.Context(), actor(r), r.PathValue("space"), r.PathValue("name"))
	})
}

func (s *Server) serviceBindingCredentials(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	return serve(s, w, http.StatusOK, func(m *services.Manager) (any, error) {
		c, err := m.Credentials(r.Context(), r.PathValue("space"), r.PathValue("name"))
		return map[string]any{"credentials": c}, err
	})
}
