package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

const spaceCols = "name, labels, version, created_at, updated_at"

func scanSpace(row scanner) (paved.Space, error) {
	var sp paved.Space
	var labels, created, updated string
	if err := row.Scan(&sp.Name, &labels, &sp.Version, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return sp, ErrNotFound
		}
		return sp, err
	}
	if err := json.Unmarshal([]byte(labels), &sp.Labels); err != nil {
		return sp, fmt.Errorf("space %s: labels: %w", sp.Name, err)
	}
	sp.CreatedAt, sp.UpdatedAt = parseTS(created), parseTS(updated)
	return sp, nil
}

// ListSpaces lists every space by name.
func (s *SQLite) ListSpaces(ctx context.Context) ([]paved.Space, error) {
	return queryAll(ctx, s.db, scanSpace, "SELECT "+spaceCols+" FROM spaces ORDER BY name")
}

// GetSpace reads one space.
func (s *SQLite) GetSpace(ctx context.Context, name string) (paved.Space, error) {
	return scanSpace(s.db.QueryRowContext(ctx, "SELECT "+spaceCols+" FROM spaces WHERE name = ?", name))
}

// CreateSpace adds a space; ErrExists if the name is taken.
func (s *SQLite) CreateSpace(ctx context.Context, actor string, spec paved.SpaceSpec) (paved.Space, error) {
	t := ts(now())
	err := s.inTx(ctx, event(actor, "space.create", "space/"+spec.Name, ""), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO spaces(name, labels, version, created_at, updated_at) VALUES(?,?,1,?,?)",
			spec.Name, mustJSON(nonNilMap(spec.Labels)), t, t)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return paved.Space{}, err
	}
	return s.GetSpace(ctx, spec.Name)
}

// UpdateSpace replaces a space's labels.
func (s *SQLite) UpdateSpace(ctx context.Context, actor string, spec paved.SpaceSpec, ifVersion int64) (paved.Space, error) {
	err := s.inTx(ctx, event(actor, "space.update", "space/"+spec.Name, ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE spaces SET labels = ?, version = version + 1, updated_at = ?
			WHERE name = ? AND (? = 0 OR version = ?)`,
			mustJSON(nonNilMap(spec.Labels)), ts(now()), spec.Name, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		return checkVersion(ctx, tx, res, "SELECT 1 FROM spaces WHERE name = ?", spec.Name)
	})
	if err != nil {
		return paved.Space{}, err
	}
	return s.GetSpace(ctx, spec.Name)
}

// DeleteSpace removes an empty space; ErrNotEmpty while it has apps.
func (s *SQLite) DeleteSpace(ctx context.Context, actor, name string, ifVersion int64) error {
	return s.inTx(ctx, event(actor, "space.delete", "space/"+name, ""), func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM apps WHERE space = ?) + (SELECT count(*) FROM pipelines WHERE space = ?) + (SELECT count(*) FROM service_instances WHERE space = ?)", name, name, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrNotEmpty
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM spaces WHERE name = ? AND (? = 0 OR version = ?)", name, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if err := checkVersion(ctx, tx, res, "SELECT 1 FROM spaces WHERE name = ?", name); err != nil {
			return err
		}
		// The space's tokens go with it: a later space of the same name is
		// someone else's, and must not inherit them.
		_, err = tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE space = ? AND revoked_at IS NULL", ts(now()), name)
		return err
	})
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
