package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// newSecret makes a token secret: 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "pvt_" + hex.EncodeToString(b)
}

// createToken makes a token. Its secret (the client's, or one generated
// here) is in this answer only: the store keeps its sha256. There is no
// Idempotency-Key replay, which would have to keep the answer and so the
// secret; a retry with a client-chosen secret answers 409 instead of
// making a second token.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Idempotency-Key") != "" {
		return badRequest("Idempotency-Key", "token creation is not replayable, since its answer holds the secret: send your own secret instead, and a retry answers 409")
	}
	var spec paved.TokenSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	if field, err := spec.Validate(); err != nil {
		return invalid(field, "%s", err.Error())
	}
	if spec.Role.Scoped() {
		if _, err := s.Store.GetSpace(r.Context(), spec.Space); errors.Is(err, store.ErrNotFound) {
			return invalid("space", "space %q does not exist", spec.Space)
		} else if err != nil {
			return err
		}
	}
	secret := spec.Secret
	if secret == "" {
		secret = newSecret()
	}
	taken := conflict("secret", "this secret belongs to another token (a revoked one included, since a revoked secret must never work again): choose a new secret")
	if s.Token != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.Token)) == 1 {
		return taken
	}
	tok := paved.Token{Name: spec.Name, Role: spec.Role, Space: spec.Space, TTL: spec.TTL}
	if spec.TTL != 0 {
		expires := s.now().UTC().Add(spec.TTL.D())
		tok.ExpiresAt = &expires
	}
	t, err := s.Store.CreateToken(r.Context(), actor(r), tok, hashSecret(secret))
	if errors.Is(err, store.ErrExists) {
		return taken
	}
	if err != nil {
		return err
	}
	t.Secret = secret
	w.Header().Set("Location", "/v1/tokens/"+t.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// listTokens lists every token's metadata (never a secret or a hash).
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Store.ListTokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (s *Server) token(r *http.Request) (paved.Token, error) {
	id := r.PathValue("id")
	t, err := s.Store.GetToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return t, notFound("token %q does not exist", id)
	}
	return t, err
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.token(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// revokeToken revokes a token at once: the next request with it is refused.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.Store.RevokeToken(r.Context(), actor(r), id); errors.Is(err, store.ErrNotFound) {
		return notFound("token %q does not exist", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// renewToken extends the lifetime of a token made with a TTL: it expires
// the body's ttl (by default the token's own) from now. The body is
// optional. A revoked or expired token, or one that never expires, cannot
// be renewed (409): an expired token stays expired, as a revoked one does.
func (s *Server) renewToken(w http.ResponseWriter, r *http.Request) error {
	var body paved.TokenRenewal
	if err := decodeOptional(r, &body); err != nil {
		return err
	}
	if field, err := body.Validate(); err != nil {
		return invalid(field, "%s", err.Error())
	}
	id := r.PathValue("id")
	t, err := s.Store.RenewToken(r.Context(), actor(r), id, body.TTL.D(), s.now().UTC())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("token %q does not exist", id)
	case errors.Is(err, store.ErrTokenRevoked):
		return conflict("", "the token %s was revoked: it cannot be renewed", id)
	case errors.Is(err, store.ErrTokenExpired):
		return conflict("", "the token %s expired at %s: it cannot be renewed, create a new one", id, t.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, store.ErrTokenNoExpiry):
		return conflict("", "the token %s never expires (it was created without a ttl): there is nothing to renew", id)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
