package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Environment is a preview environment row; its space holds its apps.
type Environment struct {
	Space            string
	FromSpace        string
	TTL              time.Duration
	ExpiresAt        time.Time
	DestroyOnSuccess bool
	CreatedAt        time.Time
}

const envCols = "space, from_space, ttl_seconds, expires_at, destroy_on_success, created_at"

func scanEnvironment(row scanner) (Environment, error) {
	var e Environment
	var ttl int64
	var expires, created string
	err := row.Scan(&e.Space, &e.FromSpace, &ttl, &expires, &e.DestroyOnSuccess, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	e.TTL = time.Duration(ttl) * time.Second
	e.ExpiresAt, e.CreatedAt = parseTS(expires), parseTS(created)
	return e, err
}

// CreateEnvironment creates the environment's space and its row in one
// transaction (ErrExists when the name is taken).
func (s *SQLite) CreateEnvironment(ctx context.Context, actor string, e Environment, labels map[string]string) (Environment, error) {
	t := now()
	detail := fmt.Sprintf("from space %s, ttl %s", e.FromSpace, e.TTL)
	err := s.inTx(ctx, event(actor, "environment.create", "environment/"+e.Space, detail), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO spaces(name, labels, version, created_at, updated_at) VALUES(?,?,1,?,?)",
			e.Space, mustJSON(nonNilMap(labels)), ts(t), ts(t)); isUniqueViolation(err) {
			return ErrExists
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO environments("+envCols+") VALUES(?,?,?,?,?,?)",
			e.Space, e.FromSpace, int64(e.TTL/time.Second), ts(t.Add(e.TTL)), e.DestroyOnSuccess, ts(t))
		return err
	})
	if err != nil {
		return Environment{}, err
	}
	return s.GetEnvironment(ctx, e.Space)
}

// GetEnvironment reads an environment.
func (s *SQLite) GetEnvironment(ctx context.Context, name string) (Environment, error) {
	return scanEnvironment(s.db.QueryRowContext(ctx, "SELECT "+envCols+" FROM environments WHERE space = ?", name))
}

// ListEnvironments lists environments, oldest first.
func (s *SQLite) ListEnvironments(ctx context.Context) ([]Environment, error) {
	return queryAll(ctx, s.db, scanEnvironment, "SELECT "+envCols+" FROM environments ORDER BY created_at")
}

// CreateSnapshot records the last good release of every app of a space.
func (s *SQLite) CreateSnapshot(ctx context.Context, space string, releases map[string]int, reason string) (paved.Snapshot, error) {
	var number int
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(number), 0) + 1 FROM snapshots WHERE space = ?", space).Scan(&number); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO snapshots(space, number, releases, reason, created_at) VALUES(?,?,?,?,?)",
			space, number, mustJSON(releases), reason, ts(now())); err != nil {
			return err
		}
		return appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "snapshot.create", Object: "space/" + space,
			Detail: fmt.Sprintf("snapshot %d: %s", number, reason)})
	})
	if err != nil {
		return paved.Snapshot{}, err
	}
	return s.GetSnapshot(ctx, space, number)
}

func scanSnapshot(row scanner) (paved.Snapshot, error) {
	var sn paved.Snapshot
	var rels, created string
	err := row.Scan(&sn.Space, &sn.Number, &rels, &sn.Reason, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return sn, ErrNotFound
	}
	if err != nil {
		return sn, err
	}
	if err := json.Unmarshal([]byte(rels), &sn.Releases); err != nil {
		return sn, fmt.Errorf("snapshot %d of space %s: releases: %w", sn.Number, sn.Space, err)
	}
	sn.CreatedAt = parseTS(created)
	return sn, nil
}

// GetSnapshot reads one snapshot of a space.
func (s *SQLite) GetSnapshot(ctx context.Context, space string, number int) (paved.Snapshot, error) {
	return scanSnapshot(s.db.QueryRowContext(ctx, "SELECT space, number, releases, reason, created_at FROM snapshots WHERE space = ? AND number = ?", space, number))
}

// ListSnapshots lists a space's snapshots, newest first.
func (s *SQLite) ListSnapshots(ctx context.Context, space string) ([]paved.Snapshot, error) {
	return queryAll(ctx, s.db, scanSnapshot, "SELECT space, number, releases, reason, created_at FROM snapshots WHERE space = ? ORDER BY number DESC", space)
}
