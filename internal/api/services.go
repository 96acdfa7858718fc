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

func (s *Server) listServiceBrokers(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	bs, err := m.Brokers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"service_brokers": bs})
	return nil
}

func (s *Server) getServiceBroker(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	b, err := m.Broker(r.Context(), r.PathValue("name"))
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) putServiceBroker(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	var spec paved.ServiceBrokerSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := sameName("service broker", &spec.Name, r.PathValue("name")); err != nil {
		return err
	}
	b, err := m.PutBroker(r.Context(), actor(r), spec)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) deleteServiceBroker(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if err := m.DeleteBroker(r.Context(), actor(r), r.PathValue("name")); err != nil {
		return serviceError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listServiceOfferings(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	os, err := m.Offerings(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"service_offerings": os})
	return nil
}

func (s *Server) listServiceInstances(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if _, err := s.space(r); err != nil {
		return err
	}
	ins, err := m.Instances(r.Context(), r.PathValue("space"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"service_instances": ins})
	return nil
}

func (s *Server) getServiceInstance(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	in, err := m.Instance(r.Context(), r.PathValue("space"), r.PathValue("name"))
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

func (s *Server) createServiceInstance(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	var spec paved.ServiceInstanceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	in, err := m.CreateInstance(r.Context(), actor(r), r.PathValue("space"), spec)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusAccepted, in)
	return nil
}

func (s *Server) updateServiceInstance(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	var spec paved.ServiceInstanceSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if err := sameName("service instance", &spec.Name, r.PathValue("name")); err != nil {
		return err
	}
	in, err := m.UpdateInstance(r.Context(), actor(r), r.PathValue("space"), spec)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusAccepted, in)
	return nil
}

func (s *Server) deleteServiceInstance(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if err := m.DeleteInstance(r.Context(), actor(r), r.PathValue("space"), r.PathValue("name")); err != nil {
		return serviceError(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) listServiceBindings(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if _, err := s.space(r); err != nil {
		return err
	}
	bs, err := m.Bindings(r.Context(), r.PathValue("space"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"service_bindings": bs})
	return nil
}

func (s *Server) getServiceBinding(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	b, err := m.Binding(r.Context(), r.PathValue("space"), r.PathValue("name"))
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) createServiceBinding(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	var spec paved.ServiceBindingSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	b, err := m.CreateBinding(r.Context(), actor(r), r.PathValue("space"), spec)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusAccepted, b)
	return nil
}

func (s *Server) deleteServiceBinding(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	if err := m.DeleteBinding(r.Context(), actor(r), r.PathValue("space"), r.PathValue("name")); err != nil {
		return serviceError(err)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) serviceBindingCredentials(w http.ResponseWriter, r *http.Request) error {
	m, err := s.servicesOrNotFound()
	if err != nil {
		return err
	}
	c, err := m.Credentials(r.Context(), r.PathValue("space"), r.PathValue("name"))
	if err != nil {
		return serviceError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"credentials": c})
	return nil
}
