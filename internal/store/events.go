package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// AppendEvent adds one row to the audit trail.
func (s *SQLite) AppendEvent(ctx context.Context, e paved.Event) error {
	return s.inTx(ctx, &e, func(*sql.Tx) error { return nil })
}

// ListEvents lists events with an ID above after, oldest first.
func (s *SQLite) ListEvents(ctx context.Context, after int64, limit int) ([]paved.Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return queryAll(ctx, s.db, scanEvent, "SELECT "+eventCols+" FROM events WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

const eventCols = "id, time, actor, action, object, detail"

func scanEvent(row scanner) (paved.Event, error) {
	var e paved.Event
	var t string
	err := row.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Object, &e.Detail)
	e.Time = parseTS(t)
	return e, err
}

// GetIdempotent finds the remembered answer for an idempotency key.
func (s *SQLite) GetIdempotent(ctx context.Context, key string) (Idempotent, error) {
	var r Idempotent
	var headers string
	err := s.db.QueryRowContext(ctx, "SELECT key, request, status, body, headers FROM idempotency WHERE key = ?", key).
		Scan(&r.Key, &r.Request, &r.Status, &r.Body, &headers)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(headers), &r.Headers); err != nil {
		return r, fmt.Errorf("idempotency key %s: headers: %w", key, err)
	}
	return r, nil
}

// PutIdempotent remembers the answer to a create made with a key.
func (s *SQLite) PutIdempotent(ctx context.Context, r Idempotent) error {
	_, err := s.db.ExecContext(ctx, "INSERT OR IGNORE INTO idempotency(key, request, status, body, headers, created_at) VALUES(?,?,?,?,?,?)",
		r.Key, r.Request, r.Status, r.Body, mustJSON(r.Headers), ts(now()))
	return err
}

// Counts totals spaces and apps.
func (s *SQLite) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM spaces), (SELECT count(*) FROM apps)").Scan(&c.Spaces, &c.Apps)
	return c, err
}
