package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

const releaseCols = "number, config, status, reason, actor, created_at"

func (s *SQLite) scanRelease(row scanner) (paved.Release, error) {
	var r paved.Release
	var cfg, created string
	if err := row.Scan(&r.Number, &cfg, &r.Status, &r.Reason, &r.Actor, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, err
	}
	r.CreatedAt = parseTS(created)
	return r, s.decodeRelease(cfg, &r.Config) // opens secret_env (secrets.go)
}

// CreateRelease adds the app's next numbered release, status deploying.
func (s *SQLite) CreateRelease(ctx context.Context, actor, space, app string, cfg paved.ReleaseConfig) (paved.Release, error) {
	var number int
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(number), 0) + 1 FROM releases WHERE space = ? AND app = ?",
			space, app).Scan(&number); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO releases(space, app, number, config, status, actor, created_at)
			VALUES(?,?,?,?,?,?,?)`, space, app, number, s.releaseJSON(cfg), paved.ReleaseDeploying, actor, ts(now())); err != nil {
			return err
		}
		return appendEvent(ctx, tx, paved.Event{Actor: actor, Action: "release.create",
			Object: appObject(space, app), Detail: fmt.Sprintf("release %d", number)})
	})
	if err != nil {
		return paved.Release{}, err
	}
	return s.GetRelease(ctx, space, app, number)
}

// GetRelease reads one release.
func (s *SQLite) GetRelease(ctx context.Context, space, app string, number int) (paved.Release, error) {
	return s.scanRelease(s.db.QueryRowContext(ctx, "SELECT "+releaseCols+" FROM releases WHERE space = ? AND app = ? AND number = ?",
		space, app, number))
}

// ListReleases lists an app's releases, newest first.
func (s *SQLite) ListReleases(ctx context.Context, space, app string) ([]paved.Release, error) {
	return queryAll(ctx, s.db, s.scanRelease, "SELECT "+releaseCols+" FROM releases WHERE space = ? AND app = ? ORDER BY number DESC", space, app)
}

// SetReleaseStatus moves a release to a new status with its reason.
func (s *SQLite) SetReleaseStatus(ctx context.Context, actor, space, app string, number int, status, reason string) error {
	detail := fmt.Sprintf("release %d: %s", number, status)
	if reason != "" {
		detail += ": " + reason
	}
	return s.inTx(ctx, event(actor, "release."+status, appObject(space, app), detail), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE releases SET status = ?, reason = ? WHERE space = ? AND app = ? AND number = ?",
			status, reason, space, app, number)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
