package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Pipeline is a pipeline row.
type Pipeline struct {
	ID    int64
	Space string
	Spec  paved.PipelineSpec // never with WebhookSecrets
	// WebhookHashes holds each source's webhook secret as the hex sha256
	// of it (WebhookHash); the secret itself is never stored.
	WebhookHashes map[string]string
	Version       int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Input is the version of one source a build uses.
type Input struct {
	ID      int64  `json:"id"`
	Version string `json:"version"`
}

// JobBuild is a job build row.
type JobBuild struct {
	paved.JobBuild
	PipelineID int64
	InputRefs  map[string]Input
}

// InputsKey is a stable text key of a set of inputs, unique per job.
func InputsKey(in map[string]Input) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d;", k, in[k].ID)
	}
	return b.String()
}

func pipelineObject(space, name string) string { return "pipeline/" + space + "/" + name }

const pipelineCols = "id, space, spec, webhook_hashes, version, created_at, updated_at"

func scanPipeline(row scanner) (Pipeline, error) {
	var p Pipeline
	var spec, hooks, created, updated string
	err := row.Scan(&p.ID, &p.Space, &spec, &hooks, &p.Version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(spec), &p.Spec); err != nil {
		return p, fmt.Errorf("pipeline %d: spec: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(hooks), &p.WebhookHashes); err != nil {
		return p, fmt.Errorf("pipeline %d: webhook hashes: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = parseTS(created), parseTS(updated)
	return p, nil
}

// WebhookHash is how a webhook secret is kept: its hex sha256 (the secrets
// are high-entropy, so a fast hash is enough, as for API tokens).
func WebhookHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// WebhookMatches tells, in constant time, whether secret hashes to hash.
func WebhookMatches(hash, secret string) bool {
	if hash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(WebhookHash(secret)), []byte(hash)) == 1
}

// SetPipeline creates or replaces a pipeline (ifVersion guards a replace).
// A source named in spec.WebhookSecrets gets the hash of that secret; any
// other source keeps the one it has, or gets one from newToken. The secrets
// newToken made are returned (source → secret): the only time they exist
// outside the caller of the webhook. spec is stored without its secrets.
func (s *SQLite) SetPipeline(ctx context.Context, actor, space string, spec paved.PipelineSpec, ifVersion int64, newToken func() string) (Pipeline, map[string]string, error) {
	t := ts(now())
	chosen := spec.WebhookSecrets
	spec.WebhookSecrets = nil
	var generated map[string]string
	err := s.inTx(ctx, event(actor, "pipeline.set", pipelineObject(space, spec.Name), ""), func(tx *sql.Tx) error {
		generated = nil // a retried transaction starts over
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM spaces WHERE name = ?", space).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		cur, err := scanPipeline(tx.QueryRowContext(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE space = ? AND name = ?", space, spec.Name))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		hooks := map[string]string{}
		for _, src := range spec.Sources {
			switch secret, ok := chosen[src.Name]; {
			case ok && secret != "":
				hooks[src.Name] = WebhookHash(secret)
			case cur.WebhookHashes[src.Name] != "":
				hooks[src.Name] = cur.WebhookHashes[src.Name]
			default:
				secret := newToken()
				if generated == nil {
					generated = map[string]string{}
				}
				generated[src.Name] = secret
				hooks[src.Name] = WebhookHash(secret)
			}
		}
		if errors.Is(err, ErrNotFound) {
			_, err = tx.ExecContext(ctx, `INSERT INTO pipelines(space, name, spec, webhook_hashes, version, created_at, updated_at) VALUES(?,?,?,?,1,?,?)`,
				space, spec.Name, mustJSON(spec), mustJSON(hooks), t, t)
			return err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return ErrStale
		}
		_, err = tx.ExecContext(ctx, "UPDATE pipelines SET spec = ?, webhook_hashes = ?, version = version + 1, updated_at = ? WHERE id = ?",
			mustJSON(spec), mustJSON(hooks), t, cur.ID)
		return err
	})
	if err != nil {
		return Pipeline{}, nil, err
	}
	p, err := s.GetPipeline(ctx, space, spec.Name)
	return p, generated, err
}

// hashWebhookTokens is the data half of migration 0008: the webhook
// tokens stored in plain text before it become their hashes.
func hashWebhookTokens(tx *sql.Tx) error {
	rows, err := tx.Query("SELECT id, webhook_hashes FROM pipelines")
	if err != nil {
		return err
	}
	plain := map[int64]map[string]string{}
	for rows.Next() {
		var id int64
		var hooks string
		if err := rows.Scan(&id, &hooks); err != nil {
			rows.Close()
			return err
		}
		m := map[string]string{}
		if err := json.Unmarshal([]byte(hooks), &m); err != nil {
			rows.Close()
			return fmt.Errorf("pipeline %d: webhooks: %w", id, err)
		}
		plain[id] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, m := range plain {
		for src, tok := range m {
			m[src] = WebhookHash(tok)
		}
		if _, err := tx.Exec("UPDATE pipelines SET webhook_hashes = ? WHERE id = ?", mustJSON(m), id); err != nil {
			return err
		}
	}
	return nil
}

// GetPipeline reads a pipeline by space and name.
func (s *SQLite) GetPipeline(ctx context.Context, space, name string) (Pipeline, error) {
	return scanPipeline(s.db.QueryRowContext(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE space = ? AND name = ?", space, name))
}

// GetPipelineByID reads a pipeline by id.
func (s *SQLite) GetPipelineByID(ctx context.Context, id int64) (Pipeline, error) {
	return scanPipeline(s.db.QueryRowContext(ctx, "SELECT "+pipelineCols+" FROM pipelines WHERE id = ?", id))
}

// ListPipelines lists the pipelines of a space ("" = all).
func (s *SQLite) ListPipelines(ctx context.Context, space string) ([]Pipeline, error) {
	return queryAll(ctx, s.db, scanPipeline, "SELECT "+pipelineCols+" FROM pipelines WHERE (? = '' OR space = ?) ORDER BY space, name", space, space)
}

// DeletePipeline removes a pipeline with its versions and builds.
func (s *SQLite) DeletePipeline(ctx context.Context, actor, space, name string) error {
	return s.inTx(ctx, event(actor, "pipeline.delete", pipelineObject(space, name), ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM pipelines WHERE space = ? AND name = ?", space, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func scanVersion(row scanner) (paved.SourceVersion, error) {
	var v paved.SourceVersion
	var created string
	err := row.Scan(&v.ID, &v.Source, &v.Version, &v.Message, &created)
	v.CreatedAt = parseTS(created)
	return v, err
}

// AddVersion records a version a source produced; created is false when
// it was known already.
func (s *SQLite) AddVersion(ctx context.Context, pipelineID int64, source, version, message string) (paved.SourceVersion, bool, error) {
	res, err := s.db.ExecContext(ctx, "INSERT OR IGNORE INTO source_versions(pipeline_id, source, version, message, created_at) VALUES(?,?,?,?,?)",
		pipelineID, source, version, message, ts(now()))
	if err != nil {
		return paved.SourceVersion{}, false, err
	}
	n, _ := res.RowsAffected()
	v, err := scanVersion(s.db.QueryRowContext(ctx, "SELECT id, source, version, message, created_at FROM source_versions WHERE pipeline_id = ? AND source = ? AND version = ?",
		pipelineID, source, version))
	return v, n > 0, err
}

// ListVersions lists a source's versions, oldest first ("" = every source).
func (s *SQLite) ListVersions(ctx context.Context, pipelineID int64, source string) ([]paved.SourceVersion, error) {
	return queryAll(ctx, s.db, scanVersion, "SELECT id, source, version, message, created_at FROM source_versions WHERE pipeline_id = ? AND (? = '' OR source = ?) ORDER BY id",
		pipelineID, source, source)
}

const jobBuildCols = "b.id, b.pipeline_id, p.name, p.space, b.job, b.number, b.status, b.reason, b.inputs, b.steps, b.attempt, b.created_at, b.started_at, b.finished_at"

func scanJobBuild(row scanner) (JobBuild, error) {
	var b JobBuild
	var inputs, steps, created string
	var started, finished sql.NullString
	err := row.Scan(&b.ID, &b.PipelineID, &b.Pipeline, &b.Space, &b.Job, &b.Number, &b.Status, &b.Reason, &inputs, &steps, &b.Attempt, &created, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal([]byte(inputs), &b.InputRefs); err != nil {
		return b, fmt.Errorf("build %d: inputs: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(steps), &b.Steps); err != nil {
		return b, fmt.Errorf("build %d: steps: %w", b.ID, err)
	}
	b.Inputs = map[string]string{}
	for k, v := range b.InputRefs {
		b.Inputs[k] = v.Version
	}
	b.CreatedAt = parseTS(created)
	if started.Valid {
		t := parseTS(started.String)
		b.StartedAt = &t
	}
	if finished.Valid {
		t := parseTS(finished.String)
		b.FinishedAt = &t
	}
	return b, nil
}

// CreateJobBuild adds a pending build of a job for a set of inputs; created
// is false when that job already has a build of exactly these inputs.
func (s *SQLite) CreateJobBuild(ctx context.Context, pipelineID int64, job string, inputs map[string]Input) (JobBuild, bool, error) {
	var id int64
	created := false
	key := InputsKey(inputs)
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT id FROM job_builds WHERE pipeline_id = ? AND job = ? AND inputs_key = ?", pipelineID, job, key).Scan(&id); err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var number int
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(number), 0) + 1 FROM job_builds WHERE pipeline_id = ? AND job = ?", pipelineID, job).Scan(&number); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO job_builds(pipeline_id, job, number, status, inputs, inputs_key, created_at) VALUES(?,?,?,?,?,?,?)`,
			pipelineID, job, number, paved.BuildPending, mustJSON(inputs), key, ts(now()))
		if err != nil {
			return err
		}
		id, _ = res.LastInsertId()
		created = true
		return nil
	})
	if err != nil {
		return JobBuild{}, false, err
	}
	b, err := s.GetJobBuild(ctx, id)
	return b, created, err
}

// UpdateJobBuild saves a build's status, steps and times; a finished build
// gets an audit event.
func (s *SQLite) UpdateJobBuild(ctx context.Context, b JobBuild) error {
	var ev *paved.Event
	if b.FinishedAt != nil {
		ev = &paved.Event{Actor: "cell", Action: "job_build." + b.Status, Object: pipelineObject(b.Space, b.Pipeline),
			Detail: fmt.Sprintf("%s #%d %s", b.Job, b.Number, b.Status)}
		if b.Reason != "" {
			ev.Detail += ": " + b.Reason
		}
	}
	return s.inTx(ctx, ev, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE job_builds SET status = ?, reason = ?, steps = ?, attempt = ?, started_at = ?, finished_at = ? WHERE id = ?",
			b.Status, b.Reason, mustJSON(b.Steps), b.Attempt, nullTime(b.StartedAt), nullTime(b.FinishedAt), b.ID)
		return err
	})
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// GetJobBuild reads one build.
func (s *SQLite) GetJobBuild(ctx context.Context, id int64) (JobBuild, error) {
	return scanJobBuild(s.db.QueryRowContext(ctx, "SELECT "+jobBuildCols+" FROM job_builds b JOIN pipelines p ON p.id = b.pipeline_id WHERE b.id = ?", id))
}

// ListJobBuilds lists a pipeline's builds (of one job, or all), newest first.
func (s *SQLite) ListJobBuilds(ctx context.Context, pipelineID int64, job string) ([]JobBuild, error) {
	return queryAll(ctx, s.db, scanJobBuild, "SELECT "+jobBuildCols+" FROM job_builds b JOIN pipelines p ON p.id = b.pipeline_id WHERE b.pipeline_id = ? AND (? = '' OR b.job = ?) ORDER BY b.id DESC",
		pipelineID, job, job)
}

// ListJobBuildsByStatus lists builds in a status across every pipeline, oldest first.
func (s *SQLite) ListJobBuildsByStatus(ctx context.Context, status string) ([]JobBuild, error) {
	return queryAll(ctx, s.db, scanJobBuild, "SELECT "+jobBuildCols+" FROM job_builds b JOIN pipelines p ON p.id = b.pipeline_id WHERE b.status = ? ORDER BY b.id", status)
}

// PruneJobBuilds keeps the newest keep finished builds of a job.
func (s *SQLite) PruneJobBuilds(ctx context.Context, pipelineID int64, job string, keep int) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM job_builds WHERE pipeline_id = ? AND job = ? AND finished_at IS NOT NULL AND id NOT IN
		(SELECT id FROM job_builds WHERE pipeline_id = ? AND job = ? ORDER BY id DESC LIMIT ?)`, pipelineID, job, pipelineID, job, keep)
	return err
}
