package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

const appCols = "space, spec, state, version, generation, created_at, updated_at"

func (s *SQLite) scanApp(row scanner) (App, error) {
	var a App
	var spec, state, created, updated string
	if err := row.Scan(&a.Space, &spec, &state, &a.Version, &a.Generation, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, ErrNotFound
		}
		return a, err
	}
	if err := s.decodeApp(spec, &a.Spec); err != nil { // opens secret_env (secrets.go)
		return a, err
	}
	if err := json.Unmarshal([]byte(state), &a.State); err != nil {
		return a, err
	}
	a.CreatedAt, a.UpdatedAt = parseTS(created), parseTS(updated)
	return a, nil
}

func appObject(space, name string) string { return "app/" + space + "/" + name }

// ListApps lists the apps of one space, or of all spaces when space is "".
func (s *SQLite) ListApps(ctx context.Context, space string) ([]App, error) {
	return queryAll(ctx, s.db, s.scanApp, "SELECT "+appCols+" FROM apps WHERE (? = '' OR space = ?) ORDER BY space, name", space, space)
}

// GetApp reads one app.
func (s *SQLite) GetApp(ctx context.Context, space, name string) (App, error) {
	return s.scanApp(s.db.QueryRowContext(ctx, "SELECT "+appCols+" FROM apps WHERE space = ? AND name = ?", space, name))
}

// CreateApp adds an app to an existing space (ErrNotFound if the space is
// missing, ErrExists if the name is taken) and claims its routes in the same
// transaction (a *RouteConflict, errors.Is ErrRouteTaken, if one is held).
func (s *SQLite) CreateApp(ctx context.Context, actor, space string, spec paved.AppSpec) (App, error) {
	t := ts(now())
	state := AppState{Status: paved.AppPending}
	err := s.inTx(ctx, event(actor, "app.create", appObject(space, spec.Name), ""), func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM spaces WHERE name = ?", space).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO apps(space, name, spec, state, version, generation, created_at, updated_at)
			VALUES(?,?,?,?,1,1,?,?)`, space, spec.Name, s.appJSON(spec), mustJSON(state), t, t)
		if isUniqueViolation(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		return claimRoutes(ctx, tx, space, spec.Name, spec.Routes)
	})
	if err != nil {
		return App{}, err
	}
	return s.GetApp(ctx, space, spec.Name)
}

// UpdateApp replaces an app's spec and bumps its version and generation;
// its route claims become the spec's routes in the same transaction.
func (s *SQLite) UpdateApp(ctx context.Context, actor, space string, spec paved.AppSpec, ifVersion int64) (App, error) {
	err := s.inTx(ctx, event(actor, "app.update", appObject(space, spec.Name), ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE apps SET spec = ?, version = version + 1, generation = generation + 1, updated_at = ?
			WHERE space = ? AND name = ? AND (? = 0 OR version = ?)`,
			s.appJSON(spec), ts(now()), space, spec.Name, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if err := checkVersion(ctx, tx, res, "SELECT 1 FROM apps WHERE space = ? AND name = ?", space, spec.Name); err != nil {
			return err
		}
		return claimRoutes(ctx, tx, space, spec.Name, spec.Routes)
	})
	if err != nil {
		return App{}, err
	}
	return s.GetApp(ctx, space, spec.Name)
}

// TouchApp bumps an app's generation without changing its spec, so the
// deployer cuts a new release of it: what the cell adds to its
// environment changed (a service binding was made or deleted).
func (s *SQLite) TouchApp(ctx context.Context, actor, space, name, why string) error {
	return s.inTx(ctx, event(actor, "app.touch", appObject(space, name), why), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE apps SET generation = generation + 1, updated_at = ? WHERE space = ? AND name = ?", ts(now()), space, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteApp removes an app, its release history and its route claims.
func (s *SQLite) DeleteApp(ctx context.Context, actor, space, name string, ifVersion int64) error {
	return s.inTx(ctx, event(actor, "app.delete", appObject(space, name), ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM apps WHERE space = ? AND name = ? AND (? = 0 OR version = ?)", space, name, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if err := checkVersion(ctx, tx, res, "SELECT 1 FROM apps WHERE space = ? AND name = ?", space, name); err != nil {
			return err
		}
		return claimRoutes(ctx, tx, space, name, nil) // frees its routes and the hosts no other route uses
	})
}

// SetAppState records the deployer's state; it does not change the version,
// which guards the user's spec only.
func (s *SQLite) SetAppState(ctx context.Context, space, name string, st AppState, ev *paved.Event) error {
	return s.inTx(ctx, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE apps SET state = ? WHERE space = ? AND name = ?", mustJSON(st), space, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
