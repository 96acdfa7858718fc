package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// PutSource records an uploaded archive; created is false when the cell
// already had those bytes.
func (s *SQLite) PutSource(ctx context.Context, actor, digest string, size int64) (paved.Source, bool, error) {
	created := false
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO sources(digest, size, created_at) VALUES(?,?,?)", digest, size, ts(now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			created = true
			return appendEvent(ctx, tx, paved.Event{Actor: actor, Action: "source.upload", Object: "source/" + digest,
				Detail: fmt.Sprintf("%d bytes", size)})
		}
		return nil
	})
	if err != nil {
		return paved.Source{}, false, err
	}
	src, err := s.GetSource(ctx, digest)
	return src, created, err
}

// GetSource reads a source record.
func (s *SQLite) GetSource(ctx context.Context, digest string) (paved.Source, error) {
	var src paved.Source
	var created string
	err := s.db.QueryRowContext(ctx, "SELECT digest, size, created_at FROM sources WHERE digest = ?", digest).
		Scan(&src.Digest, &src.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return src, ErrNotFound
	}
	src.CreatedAt = parseTS(created)
	return src, err
}

const buildCols = "id, space, app, source, command, status, error, droplet, started_at, finished_at"

func scanBuild(row scanner) (paved.Build, error) {
	var b paved.Build
	var started string
	var finished sql.NullString
	err := row.Scan(&b.ID, &b.Space, &b.App, &b.Source, &b.Command, &b.Status, &b.Error, &b.Droplet, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	b.StartedAt = parseTS(started)
	if finished.Valid {
		t := parseTS(finished.String)
		b.FinishedAt = &t
	}
	return b, err
}

// CreateBuild records a build that is starting.
func (s *SQLite) CreateBuild(ctx context.Context, actor string, b paved.Build) (paved.Build, error) {
	var id int64
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO builds(space, app, source, command, status, started_at) VALUES(?,?,?,?,?,?)`,
			b.Space, b.App, b.Source, b.Command, paved.BuildRunning, ts(now()))
		if err != nil {
			return err
		}
		id, _ = res.LastInsertId()
		return appendEvent(ctx, tx, paved.Event{Actor: actor, Action: "build.start", Object: appObject(b.Space, b.App),
			Detail: fmt.Sprintf("build %d of source %s", id, short(b.Source))})
	})
	if err != nil {
		return paved.Build{}, err
	}
	return scanBuild(s.db.QueryRowContext(ctx, "SELECT "+buildCols+" FROM builds WHERE id = ?", id))
}

// FinishBuild records a build's outcome.
func (s *SQLite) FinishBuild(ctx context.Context, id int64, status, errMsg, droplet string) (paved.Build, error) {
	var b paved.Build
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE builds SET status = ?, error = ?, droplet = ?, finished_at = ? WHERE id = ?",
			status, errMsg, droplet, ts(now()), id); err != nil {
			return err
		}
		var err error
		if b, err = scanBuild(tx.QueryRowContext(ctx, "SELECT "+buildCols+" FROM builds WHERE id = ?", id)); err != nil {
			return err
		}
		detail := fmt.Sprintf("build %d %s", id, status)
		if errMsg != "" {
			detail += ": " + errMsg
		}
		return appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "build." + status, Object: appObject(b.Space, b.App), Detail: detail})
	})
	return b, err
}

// GetBuild reads one build of an app.
func (s *SQLite) GetBuild(ctx context.Context, space, app string, id int64) (paved.Build, error) {
	return scanBuild(s.db.QueryRowContext(ctx, "SELECT "+buildCols+" FROM builds WHERE id = ? AND space = ? AND app = ?", id, space, app))
}

// ListBuilds lists an app's builds, newest first.
func (s *SQLite) ListBuilds(ctx context.Context, space, app string) ([]paved.Build, error) {
	return queryAll(ctx, s.db, scanBuild, "SELECT "+buildCols+" FROM builds WHERE space = ? AND app = ? ORDER BY id DESC", space, app)
}

// FailRunningBuilds marks builds interrupted by a cell restart as failed,
// with a build.failed event for each.
func (s *SQLite) FailRunningBuilds(ctx context.Context, reason string) (int, error) {
	n := 0
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id, space, app FROM builds WHERE status = ?", paved.BuildRunning)
		if err != nil {
			return err
		}
		type running struct {
			id         int64
			space, app string
		}
		var found []running
		for rows.Next() {
			var r running
			if err := rows.Scan(&r.id, &r.space, &r.app); err != nil {
				rows.Close()
				return err
			}
			found = append(found, r)
		}
		rows.Close()
		for _, r := range found {
			if _, err := tx.ExecContext(ctx, "UPDATE builds SET status = ?, error = ?, finished_at = ? WHERE id = ?",
				paved.BuildFailed, reason, ts(now()), r.id); err != nil {
				return err
			}
			if err := appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "build.failed", Object: appObject(r.space, r.app),
				Detail: fmt.Sprintf("build %d failed: %s", r.id, reason)}); err != nil {
				return err
			}
		}
		n = len(found)
		return nil
	})
	return n, err
}

// GetDroplet reads a droplet record.
func (s *SQLite) GetDroplet(ctx context.Context, digest string) (Droplet, error) {
	var d Droplet
	var created string
	err := s.db.QueryRowContext(ctx, "SELECT digest, source, command, created_at FROM droplets WHERE digest = ?", digest).
		Scan(&d.Digest, &d.Source, &d.Command, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	d.CreatedAt = parseTS(created)
	return d, err
}

// PutDroplet records a droplet (idempotent: droplets are content-addressed).
func (s *SQLite) PutDroplet(ctx context.Context, d Droplet) error {
	_, err := s.db.ExecContext(ctx, "INSERT OR IGNORE INTO droplets(digest, source, command, created_at) VALUES(?,?,?,?)",
		d.Digest, d.Source, d.Command, ts(now()))
	return err
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
