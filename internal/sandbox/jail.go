package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
)

// Jail runs a cell's one-off untrusted commands, builds and pipeline tasks,
// for spaces: sandboxed as the space's uid when Isolate is set, otherwise
// as plain processes of the cell (--isolation none). Either way the command
// runs in a process group of its own that a cancel kills whole.
type Jail struct {
	Isolate bool
	// Hide lists the cell's paths sandboxes must not see (Config.Hide).
	Hide []string
	// SpaceUID gives the unprivileged uid (and gid) of a space.
	SpaceUID func(ctx context.Context, space string) (int, error)
	// HomesDir holds one persistent HOME per space uid (HomesDir/UID), so
	// toolchain caches (Go's build cache, say) survive from one build of a
	// space to the next without being shared with other spaces.
	HomesDir string
	// GoCache, when set, is a Go build cache of the cell's user that
	// builds and tasks read through an overlay (Config.Overlays): a space's
	// first build is warm, and what it writes stays its own.
	GoCache string
	// Limits, when set, gives each job cgroups of its own (the runtime's
	// pids limit): place moves the job's sandbox into them before the job
	// runs, release removes them afterwards. A nil place means none.
	Limits func(name string, memoryMB int) (place func(pid int) error, release func(), err error)
}

// Job is one command to run.
type Job struct {
	Space  string
	Dir    string // the working directory
	Script string // run with /bin/sh -c
	// Env is the job's own environment (KEY=VALUE), added to the base one.
	Env []string
	// Writable lists the directories the job writes (its work dir, its
	// outputs): handed to the space's uid and kept writable.
	Writable []string
	// ReadOnly lists more directories the job reads (inputs).
	ReadOnly []string
}

// Command prepares job under ctx. A nil Jail runs it unisolated.
func (j *Jail) Command(ctx context.Context, job Job) (*Cmd, error) {
	if j == nil || !j.Isolate {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", job.Script)
		cmd.Dir = job.Dir
		cmd.Env = append(secrets.CellEnv(), job.Env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		return &Cmd{Cmd: cmd}, nil
	}
	uid, err := j.SpaceUID(ctx, job.Space)
	if err != nil {
		return nil, fmt.Errorf("the uid of space %s: %w", job.Space, err)
	}
	home := filepath.Join(j.HomesDir, strconv.Itoa(uid))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	// The home's contents are the uid's own (it made them); only the
	// directory itself needs handing over.
	if err := os.Chown(home, uid, uid); err != nil {
		return nil, err
	}
	keep := []Mount{{Path: home, Writable: true}}
	for _, dir := range job.Writable {
		if err := ChownTree(dir, uid, uid); err != nil {
			return nil, fmt.Errorf("hand %s to uid %d: %w", dir, uid, err)
		}
	}
	for _, dir := range job.Writable {
		keep = append(keep, Mount{Path: dir, Writable: true})
	}
	for _, dir := range job.ReadOnly {
		keep = append(keep, Mount{Path: dir})
	}
	if !within(job.Dir, job.Writable) && !within(job.Dir, job.ReadOnly) {
		keep = append(keep, Mount{Path: job.Dir}) // the working directory is always there
	}
	env := append(passedEnv(), "HOME="+home, "TMPDIR=/tmp")
	var overlays []Overlay
	var keepCache func()
	if j.GoCache != "" {
		o, done, err := j.goCacheOverlay(home, uid)
		if err != nil {
			return nil, err
		}
		overlays, keepCache = append(overlays, o), done
		env = append(env, "GOCACHE="+o.Target)
	}
	c, err := Command(ctx, Config{
		UID: uid, GID: uid, Dir: job.Dir, Argv: []string{"/bin/sh", "-c", job.Script},
		Env: append(env, job.Env...), Hide: j.Hide, Keep: keep, Overlays: overlays,
	})
	if err != nil {
		if keepCache != nil {
			keepCache()
		}
		return nil, err
	}
	c.done = keepCache
	if j.Limits != nil {
		place, release, err := j.Limits(job.Space+"-"+randomName(), 0)
		if err != nil {
			c.finish()
			return nil, err
		}
		c.Place = place
		c.done = func() {
			if keepCache != nil {
				keepCache()
			}
			release()
		}
	}
	c.Env = Markers(job.Env, "PAVED_CELL")
	return c, nil
}

// goCacheOverlay is the job's view of the Go build cache: the space's own
// cache over the cell's, read-only, under an upper layer of this job alone
// (two overlays may not share one), mounted at HOME/.cache/go-build. The
// returned func, run once the job has ended, moves what the job added into
// the space's cache and removes the job's layers; concurrent jobs of one
// space each see the cache as it was when they started.
func (j *Jail) goCacheOverlay(home string, uid int) (Overlay, func(), error) {
	base := filepath.Join(j.HomesDir, strconv.Itoa(uid)+".gocache")
	space := filepath.Join(base, "space")
	jobDir, err := mkdirTemp(filepath.Join(base, "jobs"))
	if err != nil {
		return Overlay{}, nil, err
	}
	o := Overlay{Lowers: []string{space, j.GoCache}, Upper: filepath.Join(jobDir, "upper"), Work: filepath.Join(jobDir, "work"),
		Target: filepath.Join(home, ".cache", "go-build")}
	for _, dir := range []string{space, o.Upper, o.Work, o.Target} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			os.RemoveAll(jobDir)
			return Overlay{}, nil, err
		}
	}
	if err := ChownTree(filepath.Join(home, ".cache"), uid, uid); err != nil {
		os.RemoveAll(jobDir)
		return Overlay{}, nil, err
	}
	done := func() {
		mergeLayer(o.Upper, space)
		os.RemoveAll(jobDir)
	}
	return o, done, nil
}

// mergeLayer moves the regular files of an overlay's upper layer into dir
// where dir has none of that name (Go's cache names its files by content),
// leaving whiteouts and metadata-only copies behind.
func mergeLayer(upper, dir string) {
	_ = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return nil
		}
		dst := filepath.Join(dir, rel)
		if _, err := os.Lstat(dst); err == nil {
			return nil
		}
		if os.MkdirAll(filepath.Dir(dst), 0o755) == nil {
			_ = os.Rename(p, dst)
		}
		return nil
	})
}

// randomName is a short random name for a job's cgroups.
func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// within tells whether path is one of dirs or below one.
func within(path string, dirs []string) bool {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

func mkdirTemp(parent string) (string, error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(parent, "job-")
}

// passed names the parts of the cell's environment a sandboxed build or
// task gets: where the tools are, how to reach the module proxy, the
// locale. Nothing else: not the cell's token, not the operator's shell.
var passed = []string{
	"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
	"GOPROXY", "GONOPROXY", "GOPRIVATE", "GONOSUMDB", "GOSUMDB", "GOFLAGS", "GOTOOLCHAIN",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}

func passedEnv() []string {
	var env []string
	for _, k := range passed {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Markers keeps the entries of env named in names (PAVED_CELL, and for an
// instance PAVED_INSTANCE): what the sandbox's init is started with, so
// that the cell's orphan sweep finds it, while the command's whole
// environment travels in its Config.
func Markers(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

// ChownTree gives dir and everything below it to uid:gid, without
// following symbolic links.
func ChownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
