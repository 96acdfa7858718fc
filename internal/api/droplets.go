package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/dropletfetch"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// dropletCall tells whether a request is a droplet download, which
// authenticates with a droplet token instead of an API token.
func dropletCall(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.HasPrefix(r.URL.Path, "/v1/droplets/") && strings.HasSuffix(r.URL.Path, "/archive")
}

// dropletArchive serves a droplet's archive to a pod's init container.
func (s *Server) dropletArchive(w http.ResponseWriter, r *http.Request) error {
	if s.Droplets == nil {
		return notFound("this cell serves no droplets (it runs instances itself)")
	}
	err := s.Droplets.ServeArchive(w, r, r.PathValue("digest"))
	switch {
	case errors.Is(err, dropletfetch.ErrBadToken):
		s.authFails.failed(clientIP(r), s.now())
		return newError(http.StatusUnauthorized, paved.CodeUnauthorized, "", "the droplet token is missing, expired or for another droplet")
	case errors.Is(err, dropletfetch.ErrNoArchive):
		return notFound("droplet %s has no archive on this cell", r.PathValue("digest"))
	}
	return err
}
