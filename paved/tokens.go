package paved

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// Role is what a token may do on a cell (as Cloud Foundry's and
// Concourse's roles). The space roles are scoped to one space.
type Role string

// The roles.
const (
	// RoleAdmin may do everything, as the cell's own admin token.
	RoleAdmin Role = "admin"
	// RoleSpaceDeveloper may do everything inside its space (apps,
	// pipelines, rollbacks, restores) and upload sources, but not change or
	// delete the space itself.
	RoleSpaceDeveloper Role = "space_developer"
	// RoleSpaceAuditor may only read its space.
	RoleSpaceAuditor Role = "space_auditor"
	// RolePipelineOperator may read its space and set, delete and check its
	// pipelines, but not change its apps.
	RolePipelineOperator Role = "pipeline_operator"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleSpaceDeveloper, RoleSpaceAuditor, RolePipelineOperator}

// Scoped tells whether the role is limited to one space.
func (r Role) Scoped() bool {
	return r == RoleSpaceDeveloper || r == RoleSpaceAuditor || r == RolePipelineOperator
}

// Bounds of a token's secret.
const (
	MinTokenSecret = 32
	MaxTokenSecret = 512
)

// Bounds of a token's lifetime (TokenSpec.TTL, TokenRenewal.TTL). A token
// without a TTL never expires.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 720 * time.Hour
)

// TokenSpec is what a token is created from.
type TokenSpec struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Space string `json:"space,omitempty"` // required for the space roles, empty for admin
	// Secret is chosen by the client (at least MinTokenSecret printable
	// characters, e.g. from an ephemeral resource); empty lets the cell
	// generate one. Either way the cell keeps only its sha256.
	Secret string `json:"secret,omitempty"`
	// TTL is the token's lifetime (MinTokenTTL to MaxTokenTTL): it expires
	// that long after its creation or its last renewal. 0 (the default)
	// is a token that never expires.
	TTL Duration `json:"ttl,omitempty"`
}

// TokenRenewal is the body of a renewal: the token expires TTL from now.
// A zero TTL is the token's own.
type TokenRenewal struct {
	TTL Duration `json:"ttl,omitempty"`
}

// Token is a token's metadata. Secret is set only in the answer to Create:
// the cell stores a hash and can never show the secret again.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Space     string     `json:"space,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// TTL is the lifetime the token was created with, the default of its
	// renewals; ExpiresAt is when it expires unless renewed. Both are
	// unset on a token that never expires.
	TTL       Duration   `json:"ttl,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Secret    string     `json:"secret,omitempty"`
}

// Revoked tells whether the token was revoked.
func (t Token) Revoked() bool { return t.RevokedAt != nil }

// Expires tells whether the token has a lifetime (and so can be renewed).
func (t Token) Expires() bool { return t.ExpiresAt != nil }

// Expired tells whether the token's lifetime is over at now.
func (t Token) Expired(now time.Time) bool { return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) }

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)

// CheckTokenName checks a token's name: 1 to 63 letters, digits, '.', '_',
// '@' and '-', starting with a letter or digit.
func CheckTokenName(s string) error {
	if !tokenNameRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid token name: use 1 to 63 letters, digits, '.', '_', '@' and '-', starting with a letter or digit", s)
	}
	return nil
}

// CheckRole checks a role and its space: the space roles need a space, the
// admin role takes none. The field is "role" or "space".
func CheckRole(role Role, space string) (field string, err error) {
	switch {
	case role == RoleAdmin:
		if space != "" {
			return "space", fmt.Errorf("an admin token is not scoped to a space: leave space empty")
		}
	case role.Scoped():
		if space == "" {
			return "space", fmt.Errorf("a %s token needs the space it is scoped to", role)
		}
		if err := CheckName(space); err != nil {
			return "space", err
		}
	default:
		return "role", fmt.Errorf("%q is not a role: use admin, space_developer, space_auditor or pipeline_operator", role)
	}
	return "", nil
}

// CheckTokenSecret checks a client-chosen secret: MinTokenSecret to
// MaxTokenSecret printable ASCII characters without spaces (it travels in
// an Authorization header).
func CheckTokenSecret(s string) error {
	if len(s) < MinTokenSecret {
		return fmt.Errorf("the secret must be at least %d characters long, not %d", MinTokenSecret, len(s))
	}
	if len(s) > MaxTokenSecret {
		return fmt.Errorf("the secret must be at most %d characters long, not %d", MaxTokenSecret, len(s))
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("the secret must be printable ASCII without spaces")
		}
	}
	return nil
}

// CheckTokenTTL checks a token's lifetime: MinTokenTTL to MaxTokenTTL.
func CheckTokenTTL(d Duration) error {
	if d.D() < MinTokenTTL || d.D() > MaxTokenTTL {
		return fmt.Errorf("ttl must be between %s and %s, not %s", MinTokenTTL, MaxTokenTTL, d)
	}
	return nil
}

// Validate checks a renewal: a TTL, when set, within the bounds.
func (r TokenRenewal) Validate() (field string, err error) {
	if r.TTL != 0 {
		if err := CheckTokenTTL(r.TTL); err != nil {
			return "ttl", err
		}
	}
	return "", nil
}

// Validate checks a spec before any cell is called; the field names what
// is wrong ("name", "role", "space", "secret" or "ttl").
func (s TokenSpec) Validate() (field string, err error) {
	if err := CheckTokenName(s.Name); err != nil {
		return "name", err
	}
	if field, err := CheckRole(s.Role, s.Space); err != nil {
		return field, err
	}
	if s.Secret != "" {
		if err := CheckTokenSecret(s.Secret); err != nil {
			return "secret", err
		}
	}
	if s.TTL != 0 {
		if err := CheckTokenTTL(s.TTL); err != nil {
			return "ttl", err
		}
	}
	return "", nil
}

// Tokens is the tokens API (admin tokens only).
type Tokens interface {
	// Create makes a token; the answer holds its secret, the only time the
	// cell shows it.
	Create(ctx context.Context, spec TokenSpec) (*Token, error)
	// List lists every token (revoked ones too), never with secrets.
	List(ctx context.Context) ([]Token, error)
	Get(ctx context.Context, id string) (*Token, error)
	// Revoke revokes a token at once; ErrNotFound when there is none.
	Revoke(ctx context.Context, id string) error
	// Renew extends the lifetime of a token created with a TTL: it expires
	// ttl from now (0: the token's own TTL). A revoked or expired token,
	// or one that never expires, is refused (ErrConflict).
	Renew(ctx context.Context, id string, ttl time.Duration) (*Token, error)
}

type tokens struct{ c *Client }

var _ Tokens = tokens{}

func tokenPath(id string) string { return "/v1/tokens/" + url.PathEscape(id) }

func (s tokens) Create(ctx context.Context, spec TokenSpec) (*Token, error) {
	var out Token
	if err := s.c.do(ctx, http.MethodPost, "/v1/tokens", spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s tokens) List(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := s.c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out.Tokens, err
}

func (s tokens) Get(ctx context.Context, id string) (*Token, error) {
	var out Token
	if err := s.c.do(ctx, http.MethodGet, tokenPath(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s tokens) Revoke(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, tokenPath(id), nil, nil)
}

func (s tokens) Renew(ctx context.Context, id string, ttl time.Duration) (*Token, error) {
	var out Token
	if err := s.c.do(ctx, http.MethodPost, tokenPath(id)+"/renew", TokenRenewal{TTL: Duration(ttl)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
