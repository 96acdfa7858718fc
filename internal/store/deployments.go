package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Deployment is a deployment row: the API view plus the generation it rolls
// out and the planner's progress (opaque JSON to the store).
type Deployment struct {
	paved.Deployment
	Generation int64
	Progress   string
}

// DeploymentObject is the event object name of a deployment.
func DeploymentObject(id int64) string { return fmt.Sprintf("deployment/%d", id) }

const deploymentCols = `id, space, app, release, from_release, generation, strategy, instances, status, phase, step,
	progress, reason, started_at, updated_at, finished_at`

func scanDeployment(row scanner) (Deployment, error) {
	var d Deployment
	var strategy, started, updated string
	var finished sql.NullString
	err := row.Scan(&d.ID, &d.Space, &d.App, &d.Release, &d.From, &d.Generation, &strategy, &d.Instances,
		&d.Status, &d.Phase, &d.Step, &d.Progress, &d.Reason, &started, &updated, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(strategy), &d.Strategy); err != nil {
		return d, fmt.Errorf("deployment %d: strategy: %w", d.ID, err)
	}
	d.StartedAt, d.UpdatedAt = parseTS(started), parseTS(updated)
	if finished.Valid {
		t := parseTS(finished.String)
		d.FinishedAt = &t
	}
	return d, nil
}

// CreateDeployment records a deployment that is starting.
func (s *SQLite) CreateDeployment(ctx context.Context, actor string, d Deployment) (Deployment, error) {
	var id int64
	t := ts(now())
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO deployments(space, app, release, from_release, generation, strategy, instances,
			status, phase, step, progress, started_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			d.Space, d.App, d.Release, d.From, d.Generation, mustJSON(d.Strategy), d.Instances,
			paved.DeploymentRunning, d.Phase, d.Step, orEmptyJSON(d.Progress), t, t)
		if err != nil {
			return err
		}
		id, _ = res.LastInsertId()
		detail := fmt.Sprintf("release %d of app %s/%s with strategy %s", d.Release, d.Space, d.App, strategyName(d.Strategy))
		if d.From > 0 {
			detail += fmt.Sprintf(", replacing release %d", d.From)
		}
		return appendEvent(ctx, tx, paved.Event{Actor: actor, Action: "deployment.start", Object: DeploymentObject(id), Detail: detail})
	})
	if err != nil {
		return Deployment{}, err
	}
	return s.GetDeployment(ctx, id)
}

func strategyName(s paved.DeploymentSpec) string {
	if s.Strategy == "" {
		return paved.StrategyRolling
	}
	return s.Strategy
}

func orEmptyJSON(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// UpdateDeployment saves a deployment's progress and, when it ended, its
// status and reason. note, when non-empty, is appended to the audit trail.
func (s *SQLite) UpdateDeployment(ctx context.Context, d Deployment, note string) error {
	var ev *paved.Event
	if note != "" {
		ev = &paved.Event{Actor: "cell", Action: "deployment." + d.Phase, Object: DeploymentObject(d.ID), Detail: note}
		if d.Status != paved.DeploymentRunning {
			ev.Action = "deployment." + d.Status
		}
	}
	return s.inTx(ctx, ev, func(tx *sql.Tx) error {
		var finished any
		if d.Status != paved.DeploymentRunning {
			finished = ts(now())
		}
		res, err := tx.ExecContext(ctx, `UPDATE deployments SET status = ?, phase = ?, step = ?, progress = ?, reason = ?,
			updated_at = ?, finished_at = coalesce(finished_at, ?) WHERE id = ?`,
			d.Status, d.Phase, d.Step, orEmptyJSON(d.Progress), d.Reason, ts(now()), finished, d.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// GetDeployment reads one deployment.
func (s *SQLite) GetDeployment(ctx context.Context, id int64) (Deployment, error) {
	return scanDeployment(s.db.QueryRowContext(ctx, "SELECT "+deploymentCols+" FROM deployments WHERE id = ?", id))
}

// ListDeployments lists an app's deployments, newest first.
func (s *SQLite) ListDeployments(ctx context.Context, space, app string) ([]Deployment, error) {
	return queryAll(ctx, s.db, scanDeployment, "SELECT "+deploymentCols+" FROM deployments WHERE space = ? AND app = ? ORDER BY id DESC", space, app)
}

// ListObjectEvents lists the events about one object, oldest first.
func (s *SQLite) ListObjectEvents(ctx context.Context, object string) ([]paved.Event, error) {
	return queryAll(ctx, s.db, scanEvent, "SELECT "+eventCols+" FROM events WHERE object = ? ORDER BY id", object)
}
