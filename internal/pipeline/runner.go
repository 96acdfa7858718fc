package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// LogPath is the log file of a build.
func (e *Engine) LogPath(b store.JobBuild) string {
	return e.dir(fmt.Sprint(b.PipelineID), "builds", fmt.Sprintf("%d.log", b.ID))
}

// build is one running build: its record, work dir and log.
type build struct {
	e    *Engine
	p    store.Pipeline
	rec  store.JobBuild
	dir  string
	mu   sync.Mutex // guards rec.Steps, the log and the environments
	logf *os.File
	// envs are the preview environments this build made; envHosts maps an
	// app of the newest one to its route host, for "env:APP/path" asserts.
	envs     []string
	envHosts map[string]string
}

// runBuild runs a job's plan with its hooks and records the outcome.
func (e *Engine) runBuild(ctx context.Context, p store.Pipeline, rec store.JobBuild) {
	job, ok := findJob(p.Spec, rec.Job)
	now := time.Now().UTC()
	rec.Status, rec.StartedAt = paved.BuildRunning, &now
	b := &build{e: e, p: p, rec: rec, dir: e.dir(fmt.Sprint(p.ID), "builds", fmt.Sprint(rec.ID))}
	var err error
	why := "cannot make the build directory: "
	if err = os.MkdirAll(b.dir, 0o755); err == nil {
		why = "cannot write the build log: "
		b.logf, err = os.OpenFile(e.LogPath(rec), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	if err != nil {
		// Without its directory and log the build cannot run; record why
		// instead of leaving it pending, which would start it again and again.
		end := time.Now().UTC()
		b.rec.Status, b.rec.Reason, b.rec.FinishedAt = paved.BuildErrored, why+err.Error(), &end
		b.save(context.WithoutCancel(ctx))
		return
	}
	defer b.logf.Close()
	defer os.RemoveAll(b.dir)
	b.save(ctx)
	b.logLine("build %s #%d of %s/%s started; inputs %v", rec.Job, rec.Number, p.Space, p.Spec.Name, rec.Inputs)

	if !ok {
		err = fmt.Errorf("job %q is no longer in the pipeline", rec.Job)
	} else {
		err = b.steps(ctx, job.Plan)
		hook := job.OnSuccess
		if err != nil {
			hook = job.OnFailure
		}
		if hook != nil {
			_ = b.step(ctx, *hook) // a hook's own failure (in the log) does not change the build's outcome
		}
		if job.Ensure != nil {
			if eerr := b.step(ctx, *job.Ensure); err == nil && eerr != nil {
				err = eerr
			}
		}
		// A build cut short by its pipeline's deletion (the cell still
		// runs) leaves no environment behind: nobody owns it any more.
		b.e.mu.Lock()
		cellCtx := b.e.ctx
		b.e.mu.Unlock()
		deleted := ctx.Err() != nil && cellCtx.Err() == nil
		b.closeEnvironments(ctx, err == nil || deleted)
	}
	end := time.Now().UTC()
	b.rec.FinishedAt = &end
	switch {
	case err == nil:
		b.rec.Status = paved.BuildSucceeded
	case ctx.Err() != nil:
		b.rec.Status, b.rec.Reason = paved.BuildErrored, "the cell stopped during the build"
	default:
		b.rec.Status, b.rec.Reason = paved.BuildFailed, err.Error()
	}
	b.logLine("build %s #%d %s in %s", rec.Job, rec.Number, b.rec.Status, end.Sub(now).Round(time.Millisecond))
	b.save(context.WithoutCancel(ctx))
	keep := p.Spec.Retain
	if keep == 0 {
		keep = DefaultRetain
	}
	if err := e.opts.Store.PruneJobBuilds(context.WithoutCancel(ctx), p.ID, rec.Job, keep); err != nil {
		e.log.Error("prune builds", "pipeline", p.Spec.Name, "job", rec.Job, "err", err)
	}
}

func findJob(spec paved.PipelineSpec, name string) (paved.JobSpec, bool) {
	for _, j := range spec.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return paved.JobSpec{}, false
}

func (b *build) save(ctx context.Context) {
	b.mu.Lock()
	rec := b.rec
	rec.Steps = append([]paved.StepRun(nil), b.rec.Steps...)
	b.mu.Unlock()
	if err := b.e.opts.Store.UpdateJobBuild(ctx, rec); err != nil {
		b.e.log.Error("save build", "build", rec.ID, "err", err)
	}
}

func (b *build) logLine(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.logf, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// prefixWriter writes command output into the build log, a prefix per line.
type prefixWriter struct {
	b      *build
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.b.logLine("%s | %s", w.prefix, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *prefixWriter) flush() {
	if len(w.buf) > 0 {
		w.b.logLine("%s | %s", w.prefix, w.buf)
		w.buf = nil
	}
}

// steps runs steps in order, stopping at the first failure.
func (b *build) steps(ctx context.Context, steps []paved.Step) error {
	for _, s := range steps {
		if err := b.step(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step with its timing record and hooks.
func (b *build) step(ctx context.Context, s paved.Step) error {
	var err error
	switch s.Kind() {
	case "in_parallel":
		err = b.parallel(ctx, s.InParallel)
	case "try":
		if terr := b.step(ctx, *s.Try); terr != nil {
			b.logLine("try: ignoring the failure of %s: %v", s.Try.Label(), terr)
		}
	default:
		err = b.timed(ctx, s)
	}
	hook := s.OnSuccess
	if err != nil {
		hook = s.OnFailure
	}
	if hook != nil {
		_ = b.step(ctx, *hook) // as for a job's hook: its failure is in the log only
	}
	if s.Ensure != nil {
		if eerr := b.step(ctx, *s.Ensure); err == nil {
			err = eerr
		}
	}
	return err
}

func (b *build) parallel(ctx context.Context, steps []paved.Step) error {
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.step(ctx, s)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// timed runs a leaf step and records its start, end and duration.
func (b *build) timed(ctx context.Context, s paved.Step) error {
	start := time.Now().UTC()
	b.mu.Lock()
	idx := len(b.rec.Steps)
	b.rec.Steps = append(b.rec.Steps, paved.StepRun{Name: s.Label(), Status: paved.StepRunning, StartedAt: &start})
	b.mu.Unlock()
	b.save(ctx)
	b.logLine("==> %s", s.Label())
	err := b.leaf(ctx, s)
	end := time.Now().UTC()
	b.mu.Lock()
	st := &b.rec.Steps[idx]
	st.FinishedAt, st.Seconds, st.Status = &end, end.Sub(start).Seconds(), paved.StepSucceeded
	if err != nil {
		st.Status, st.Error = paved.StepFailed, err.Error()
	}
	b.mu.Unlock()
	b.save(ctx)
	if err != nil {
		b.logLine("<== %s failed after %s: %v", s.Label(), end.Sub(start).Round(time.Millisecond), err)
	} else {
		b.logLine("<== %s succeeded in %s", s.Label(), end.Sub(start).Round(time.Millisecond))
	}
	return err
}

func (b *build) leaf(ctx context.Context, s paved.Step) error {
	switch s.Kind() {
	case "get":
		return b.get(ctx, s)
	case "task":
		return b.task(ctx, s)
	case "deploy":
		return b.deploy(ctx, s)
	case "assert":
		return b.assert(ctx, s)
	case "put":
		return b.put(ctx, s)
	case "environment":
		return b.environment(ctx, s)
	}
	return fmt.Errorf("step %q does nothing", s.Label())
}

// get places the build's version of a source in a directory named after it.
func (b *build) get(ctx context.Context, s paved.Step) error {
	in, ok := b.rec.InputRefs[s.Get]
	if !ok {
		return fmt.Errorf("the build has no version of %q", s.Get)
	}
	dst := filepath.Join(b.dir, s.Get)
	src, _ := findSource(b.p.Spec, s.Get)
	if src.Type == paved.SourceGit {
		if _, err := git(ctx, "", "clone", "--quiet", "--no-checkout", b.e.mirror(b.p, src), dst); err != nil {
			return err
		}
		if _, err := git(ctx, dst, "checkout", "--quiet", "--detach", in.Version); err != nil {
			return err
		}
		b.logLine("get %s: %s", s.Get, in.Version)
		return nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	b.logLine("get %s: %s", s.Get, in.Version)
	return os.WriteFile(filepath.Join(dst, "version"), []byte(in.Version+"\n"), 0o644)
}

func findSource(spec paved.PipelineSpec, name string) (paved.SourceSpec, bool) {
	for _, s := range spec.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return paved.SourceSpec{}, false
}

// DefaultTaskTimeout bounds a task step that sets no timeout.
const DefaultTaskTimeout = time.Hour

// task runs a command, in its own process group, with attempts and a timeout.
func (b *build) task(ctx context.Context, s paved.Step) error {
	attempts := max(s.Attempts, 1)
	var err error
	for i := 1; i <= attempts; i++ {
		if err = b.runTask(ctx, s); err == nil || ctx.Err() != nil {
			return err
		}
		if i < attempts {
			b.logLine("task %s: attempt %d of %d failed: %v; trying again", s.Task, i, attempts, err)
		}
	}
	return err
}

func (b *build) runTask(ctx context.Context, s paved.Step) error {
	for _, o := range s.Outputs {
		if err := os.MkdirAll(filepath.Join(b.dir, o), 0o755); err != nil {
			return err
		}
	}
	// Every task is bounded: one that hangs (a test waiting on a network
	// that never answers) would otherwise hold its job, and the jobs
	// after it, for ever.
	timeout := s.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTaskTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// PAVED_CELL marks every process of the task, so the cell's sweep at
	// start finds what a killed cell left behind (grandchildren included).
	// The task runs the repository's code: in the pipeline's space's
	// sandbox where the cell isolates, with the cell's environment minus
	// its credentials where it does not.
	env := []string{"PAVED_PIPELINE=" + b.p.Spec.Name, "PAVED_JOB=" + b.rec.Job, fmt.Sprintf("PAVED_BUILD=%d", b.rec.Number),
		"PAVED_CELL=" + b.e.opts.Store.CellID()}
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	cmd, err := b.e.opts.Jail.Command(ctx, sandbox.Job{Space: b.p.Space, Dir: filepath.Join(b.dir, s.Dir), Script: s.Run, Env: env, Writable: []string{b.dir}})
	if err != nil {
		return fmt.Errorf("task %s: %w", s.Task, err)
	}
	out := &prefixWriter{b: b, prefix: s.Task}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.flush()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("task %s timed out after %s", s.Task, paved.Duration(timeout))
	}
	if err != nil {
		return fmt.Errorf("task %s: %w", s.Task, err)
	}
	return nil
}

// deploy pushes a directory to an app through the cell's API and waits for
// its rollout; a rollout that rolls back fails the step.
func (b *build) deploy(ctx context.Context, s paved.Step) error {
	c := b.e.opts.Client
	digest, err := b.push(ctx, s.From)
	if err != nil {
		return err
	}
	a, err := c.Apps.Get(ctx, b.p.Space, s.Deploy)
	if err != nil {
		return err
	}
	spec := a.AppSpec
	spec.Source = digest
	spec.SecretEnv = nil // keep the app's secrets
	if _, err := c.Apps.Update(ctx, b.p.Space, spec, paved.IfMatch(a.Version)); err != nil {
		return err
	}
	b.logLine("deploy %s: source %s accepted, waiting for the rollout", s.Deploy, digest[:12])
	ro, err := paved.WaitRollout(ctx, c, b.p.Space, s.Deploy, paved.RolloutOptions{})
	if err != nil {
		return err
	}
	switch {
	case ro.Succeeded():
		b.logLine("deploy %s: release %d is live", s.Deploy, ro.App.Release)
	case ro.RolledOut():
		// The app's status is of this moment: an instance of a release
		// that rolled out fine may crash just after (and be restarted).
		// The step is about the rollout, which its deployment records.
		b.logLine("deploy %s: release %d rolled out; the app is %s right now: %s", s.Deploy, ro.App.Release, ro.App.Status, ro.Reason)
	default:
		return ro.Err()
	}
	return nil
}

// assert runs an HTTP check or a command.
func (b *build) assert(ctx context.Context, s paved.Step) error {
	if s.Backup != nil {
		return b.assertBackup(ctx, s)
	}
	if s.HTTP == nil {
		return b.runTask(ctx, paved.Step{Task: s.Assert, Run: s.Command})
	}
	h := s.HTTP
	url, host := h.URL, h.Host
	router := paved.RouterURL(b.e.opts.RouterAddr, b.e.opts.RouterTLS)
	viaRouter := false
	if rest, ok := strings.CutPrefix(url, "router:"); ok {
		url, viaRouter = router+rest, true
	}
	if rest, ok := strings.CutPrefix(url, "env:"); ok {
		// env:APP/path: the app in this build's preview environment.
		app, path, _ := strings.Cut(rest, "/")
		b.mu.Lock()
		envHost, found := b.envHosts[app]
		b.mu.Unlock()
		if !found {
			return fmt.Errorf("assert %s: no preview environment of this build has an app %q", s.Assert, app)
		}
		url, host, viaRouter = router+"/"+path, envHost, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if host != "" {
		req.Host = host
	}
	start := time.Now()
	// The router client trusts the cell's own certificate only; any other
	// URL is checked with the system roots as before.
	client := b.e.opts.RouterClient
	if client == nil || !viaRouter {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("assert %s: %w", s.Assert, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	took := time.Since(start)
	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}
	switch {
	case resp.StatusCode != want:
		return fmt.Errorf("assert %s: %s answered %d, want %d", s.Assert, h.URL, resp.StatusCode, want)
	case h.Contains != "" && !strings.Contains(string(body), h.Contains):
		return fmt.Errorf("assert %s: the answer of %s does not contain %q", s.Assert, h.URL, h.Contains)
	case h.MaxLatency > 0 && took > h.MaxLatency.D():
		return fmt.Errorf("assert %s: %s took %s, more than %s", s.Assert, h.URL, took.Round(time.Millisecond), h.MaxLatency)
	}
	b.logLine("assert %s: %s answered %d in %s", s.Assert, h.URL, resp.StatusCode, took.Round(time.Millisecond))
	return nil
}

// put bumps a semver source; the new version is a new version of the source.
func (b *build) put(ctx context.Context, s paved.Step) error {
	vs, err := b.e.opts.Store.ListVersions(ctx, b.p.ID, s.Put)
	if err != nil {
		return err
	}
	cur := "0.0.0"
	if len(vs) > 0 {
		cur = vs[len(vs)-1].Version
	}
	next, err := bump(cur, s.Bump)
	if err != nil {
		return err
	}
	if _, _, err := b.e.opts.Store.AddVersion(ctx, b.p.ID, s.Put, next, fmt.Sprintf("bumped by %s #%d", b.rec.Job, b.rec.Number)); err != nil {
		return err
	}
	b.logLine("put %s: %s → %s", s.Put, cur, next)
	return nil
}

// environment makes a preview environment for this build: a clone of
// FromSpace whose App runs the build's Source directory.
func (b *build) environment(ctx context.Context, s paved.Step) error {
	c := b.e.opts.Client
	name := fmt.Sprintf("%s-%d", s.Environment, b.rec.ID)
	spec := paved.EnvironmentSpec{Name: name, FromSpace: s.FromSpace, TTL: s.TTL, DestroyOnSuccess: true}
	if s.App != "" {
		digest, err := b.push(ctx, s.Source)
		if err != nil {
			return err
		}
		spec.Overrides = map[string]paved.AppOverride{s.App: {Source: digest}}
	}
	// The environment is the build's from before it is asked for, and the
	// request is not cut short when the build is (its pipeline deleted):
	// a create that the cell completes is then always destroyed with the
	// build's others, never left running until its TTL.
	b.mu.Lock()
	b.envs = append(b.envs, name)
	b.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	env, err := c.Environments.Create(cctx, spec)
	cancel()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.envHosts = map[string]string{}
	for app, u := range env.URLs {
		_, hostPath, _ := strings.Cut(u, "://") // http:// or https://
		b.envHosts[app] = strings.SplitN(hostPath, "/", 2)[0]
	}
	b.mu.Unlock()
	b.logLine("environment %s from %s (expires %s)", name, s.FromSpace, env.ExpiresAt.Format(time.RFC3339))
	for app, u := range env.URLs {
		ro, err := paved.WaitRollout(ctx, c, name, app, paved.RolloutOptions{})
		if err != nil {
			return err
		}
		if !ro.Succeeded() {
			return fmt.Errorf("environment %s: %w", name, ro.Err())
		}
		b.logLine("environment %s: %s at %s (through the router at %s)", name, app, u, b.e.opts.RouterAddr)
	}
	return nil
}

// closeEnvironments destroys the build's preview environments when the job
// succeeded (or its pipeline is gone), and keeps them (until their TTL) for
// debugging when it failed.
func (b *build) closeEnvironments(ctx context.Context, succeeded bool) {
	b.mu.Lock()
	envs := append([]string(nil), b.envs...)
	b.mu.Unlock()
	for _, name := range envs {
		if !succeeded {
			b.logLine("environment %s is kept until its TTL for debugging", name)
			continue
		}
		if err := b.e.opts.Client.Environments.Delete(context.WithoutCancel(ctx), name); err != nil && !paved.IsNotFound(err) {
			b.logLine("environment %s: could not destroy it: %v", name, err)
			continue
		}
		b.logLine("environment %s destroyed", name)
	}
}

// assertBackup passes when a file in the backup path is newer than the
// release the app runs.
func (b *build) assertBackup(ctx context.Context, s paved.Step) error {
	bk := s.Backup
	a, err := b.e.opts.Store.GetApp(ctx, b.p.Space, bk.App)
	if err != nil {
		return fmt.Errorf("assert %s: app %s: %w", s.Assert, bk.App, err)
	}
	rel, err := b.e.opts.Store.GetRelease(ctx, b.p.Space, bk.App, a.State.Release)
	if err != nil {
		return fmt.Errorf("assert %s: app %s has no running release", s.Assert, bk.App)
	}
	var newest time.Time
	var newestName string
	_ = filepath.WalkDir(bk.Path, func(p string, d os.DirEntry, err error) error { // its func returns no error
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(newest) {
			newest, newestName = fi.ModTime(), p
		}
		return nil
	})
	if !newest.After(rel.CreatedAt) {
		if newestName == "" {
			return fmt.Errorf("assert %s: no backup at all in %s; release %d of %s needs one newer than it", s.Assert, bk.Path, rel.Number, bk.App)
		}
		return fmt.Errorf("assert %s: the newest backup %s (%s) is older than release %d of %s (%s)",
			s.Assert, newestName, newest.UTC().Format(time.RFC3339), rel.Number, bk.App, rel.CreatedAt.Format(time.RFC3339))
	}
	b.logLine("assert %s: backup %s is newer than release %d of %s", s.Assert, newestName, rel.Number, bk.App)
	return nil
}

// push packs a directory of the build and makes sure the cell has it.
func (b *build) push(ctx context.Context, dir string) (string, error) {
	data, _, err := paved.Archive(filepath.Join(b.dir, dir))
	if err != nil {
		return "", err
	}
	digest, _, err := b.e.opts.Client.Sources.Ensure(ctx, data, nil)
	return digest, err
}
