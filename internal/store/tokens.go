package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

const tokenCols = "id, name, role, space, created_at, created_by, revoked_at, ttl, expires_at"

func scanToken(row scanner) (paved.Token, error) {
	var t paved.Token
	var created string
	var revoked, expires sql.NullString
	var ttl sql.NullInt64
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Space, &created, &t.CreatedBy, &revoked, &ttl, &expires); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, ErrNotFound
		}
		return t, err
	}
	t.CreatedAt = parseTS(created)
	if revoked.Valid {
		r := parseTS(revoked.String)
		t.RevokedAt = &r
	}
	if ttl.Valid {
		t.TTL = paved.Duration(ttl.Int64)
	}
	if expires.Valid {
		e := parseTS(expires.String)
		t.ExpiresAt = &e
	}
	return t, nil
}

// addTokenExpiry is the Go half of migration 0012: it adds the ttl and
// expires_at columns of tokens unless they are there already.
func addTokenExpiry(tx *sql.Tx) error {
	for _, col := range []string{"ttl INTEGER", "expires_at TEXT"} {
		name, _, _ := strings.Cut(col, " ")
		var n int
		if err := tx.QueryRow("SELECT COUNT(*) FROM pragma_table_info('tokens') WHERE name = ?", name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := tx.Exec("ALTER TABLE tokens ADD COLUMN " + col); err != nil {
				return err
			}
		}
	}
	return nil
}

func newTokenID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "tok_" + hex.EncodeToString(b)
}

// CreateToken adds a token whose secret hashes to hash (the secret itself
// is never stored); ErrExists when another token has that hash. A token
// with a TTL keeps it and its ExpiresAt (the caller's now + TTL).
func (s *SQLite) CreateToken(ctx context.Context, actor string, t paved.Token, hash string) (paved.Token, error) {
	t.ID = newTokenID()
	detail := fmt.Sprintf("name %s, role %s", t.Name, t.Role)
	if t.Space != "" {
		detail += ", space " + t.Space
	}
	ttl := sql.NullInt64{Int64: int64(t.TTL), Valid: t.TTL != 0}
	if t.ExpiresAt != nil {
		detail += ", ttl " + t.TTL.String() + ", expires " + ts(*t.ExpiresAt)
	}
	err := s.inTx(ctx, event(actor, "token.create", "token/"+t.ID, detail), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens(id, name, role, space, hash, created_at, created_by, ttl, expires_at) VALUES(?,?,?,?,?,?,?,?,?)",
			t.ID, t.Name, string(t.Role), t.Space, hash, ts(now()), actor, ttl, nullTime(t.ExpiresAt))
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return paved.Token{}, err
	}
	return s.GetToken(ctx, t.ID)
}

// GetToken reads a token's metadata.
func (s *SQLite) GetToken(ctx context.Context, id string) (paved.Token, error) {
	return scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
}

// TokenByHash finds the token whose secret hashes to hash, revoked or not.
func (s *SQLite) TokenByHash(ctx context.Context, hash string) (paved.Token, error) {
	return scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
}

// ListTokens lists every token, oldest first.
func (s *SQLite) ListTokens(ctx context.Context) ([]paved.Token, error) {
	return queryAll(ctx, s.db, scanToken, "SELECT "+tokenCols+" FROM tokens ORDER BY created_at, id")
}

// RevokeToken revokes a token; revoking a revoked token changes nothing
// (and records nothing). ErrNotFound when there is no such token.
func (s *SQLite) RevokeToken(ctx context.Context, actor, id string) (paved.Token, error) {
	t, err := s.GetToken(ctx, id)
	if err != nil || t.Revoked() {
		return t, err
	}
	err = s.inTx(ctx, event(actor, "token.revoke", "token/"+id, "name "+t.Name), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", ts(now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errAlreadyRevoked
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAlreadyRevoked) {
		return paved.Token{}, err
	}
	return s.GetToken(ctx, id)
}

// errAlreadyRevoked rolls back a revoke that lost a race with another one,
// so the audit trail holds one token.revoke per token.
var errAlreadyRevoked = errors.New("already revoked")

// Why a token cannot be renewed (RenewToken).
var (
	ErrTokenRevoked   = errors.New("the token was revoked")
	ErrTokenExpired   = errors.New("the token expired")
	ErrTokenNoExpiry  = errors.New("the token never expires")
	errTokenUnchanged = errors.New("token changed meanwhile")
)

// RenewToken moves a token's expiry to at + ttl (ttl 0: the token's own
// TTL), at being the caller's now, and records a token.renew. A revoked
// token, one expired at at, or one without a lifetime is refused with
// ErrTokenRevoked, ErrTokenExpired or ErrTokenNoExpiry; ErrNotFound when
// there is no such token. The update holds only if the token is still as
// it was read, so a renewal racing a revoke never revives it.
func (s *SQLite) RenewToken(ctx context.Context, actor, id string, ttl time.Duration, at time.Time) (paved.Token, error) {
	t, err := s.GetToken(ctx, id)
	switch {
	case err != nil:
		return t, err
	case t.Revoked():
		return t, ErrTokenRevoked
	case !t.Expires():
		return t, ErrTokenNoExpiry
	case t.Expired(at):
		return t, ErrTokenExpired
	}
	if ttl == 0 {
		ttl = t.TTL.D()
	}
	until := at.Add(ttl)
	detail := fmt.Sprintf("name %s, ttl %s, expires %s", t.Name, ttl, ts(until))
	err = s.inTx(ctx, event(actor, "token.renew", "token/"+id, detail), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET expires_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at = ?",
			ts(until), id, ts(*t.ExpiresAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errTokenUnchanged
		}
		return nil
	})
	if errors.Is(err, errTokenUnchanged) { // revoked or renewed meanwhile: judge it again
		return s.RenewToken(ctx, actor, id, ttl, at)
	}
	if err != nil {
		return paved.Token{}, err
	}
	return s.GetToken(ctx, id)
}
