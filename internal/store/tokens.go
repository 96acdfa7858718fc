package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

const tokenCols = "id, name, role, space, created_at, created_by, revoked_at"

func scanToken(row scanner) (paved.Token, error) {
	var t paved.Token
	var created string
	var revoked sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Space, &created, &t.CreatedBy, &revoked); err != nil {
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
	return t, nil
}

func newTokenID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "tok_" + hex.EncodeToString(b)
}

// CreateToken adds a token whose secret hashes to hash (the secret itself
// is never stored); ErrExists when another token has that hash.
func (s *SQLite) CreateToken(ctx context.Context, actor string, t paved.Token, hash string) (paved.Token, error) {
	t.ID = newTokenID()
	detail := fmt.Sprintf("name %s, role %s", t.Name, t.Role)
	if t.Space != "" {
		detail += ", space " + t.Space
	}
	err := s.inTx(ctx, event(actor, "token.create", "token/"+t.ID, detail), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tokens(id, name, role, space, hash, created_at, created_by) VALUES(?,?,?,?,?,?,?)",
			t.ID, t.Name, string(t.Role), t.Space, hash, ts(now()), actor)
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
