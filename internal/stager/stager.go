// Package stager turns an uploaded source archive into a droplet: it unpacks
// the archive into a scratch dir, runs the app's build command there with a
// timeout, and keeps the result, read-only by convention, under a
// content-derived name. The same source built with the same command is one
// droplet, so an unchanged app is never rebuilt.
package stager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/archive"
	"github.com/pavedroad/terraform-provider-paved/internal/sandbox"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// formatVersion is part of every droplet key: bump it when the droplet
// layout changes so old droplets are not reused.
const formatVersion = "1"

// maxLogBytes caps a build log; a runaway build must not fill the disk.
const maxLogBytes = 4 << 20

// Options configure a Stager.
type Options struct {
	DataDir string        // sources/, builds/ and droplets/ live under it
	Timeout time.Duration // per build; default 10m
	Limits  archive.Limits
	// Jail runs build commands: sandboxed as the app's space's uid when it
	// isolates, as the cell's own processes when nil or not.
	Jail *sandbox.Jail
}

// Stager builds droplets. Safe for concurrent use; two builds of the same
// key may race, and the first to finish wins (the result is identical).
type Stager struct {
	opts  Options
	store store.Store
}

// New returns a stager and makes its directories.
func New(st store.Store, opts Options) (*Stager, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	s := &Stager{opts: opts, store: st}
	for _, d := range []string{s.SourcesDir(), s.buildsDir(), s.dropletsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SourcesDir is where uploaded archives are kept, one file per sha256.
func (s *Stager) SourcesDir() string { return filepath.Join(s.opts.DataDir, "sources") }

// SourcePath is the stored archive of a digest.
func (s *Stager) SourcePath(digest string) string { return filepath.Join(s.SourcesDir(), digest) }

// Limits are the archive limits the stager unpacks with.
func (s *Stager) Limits() archive.Limits { return s.opts.Limits }

func (s *Stager) buildsDir() string   { return filepath.Join(s.opts.DataDir, "builds") }
func (s *Stager) dropletsDir() string { return filepath.Join(s.opts.DataDir, "droplets") }

// DropletDir is where a droplet's files are.
func (s *Stager) DropletDir(digest string) string { return filepath.Join(s.dropletsDir(), digest) }

// LogPath is a build's log file.
func (s *Stager) LogPath(id int64) string {
	return filepath.Join(s.buildsDir(), fmt.Sprintf("%d.log", id))
}

// Key names the droplet that building source with command gives.
func Key(source, command string, env map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "paved-droplet/%s\x00%s\x00%s\x00", formatVersion, source, command)
	// The build sees the app's env, so a different env may build differently.
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, env[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Request is one build to run.
type Request struct {
	Actor, Space, App string
	Source            string // digest; "" = an empty source tree
	Command           string // "" = no build step
	Env               map[string]string
}

// BuildError is a build that ran and failed: the user's problem, with the
// build record to point them at.
type BuildError struct {
	Build paved.Build
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build %d failed: %s", e.Build.ID, e.Build.Error)
}

// Stage returns the droplet for req, building it unless it already exists.
// A failed build returns a *BuildError and leaves no droplet behind.
func (s *Stager) Stage(ctx context.Context, req Request) (digest string, err error) {
	digest = Key(req.Source, req.Command, req.Env)
	if _, err := s.store.GetDroplet(ctx, digest); err == nil {
		if _, statErr := os.Stat(s.DropletDir(digest)); statErr == nil {
			return digest, nil
		}
	}
	b, err := s.store.CreateBuild(ctx, req.Actor, paved.Build{Space: req.Space, App: req.App, Source: req.Source, Command: req.Command})
	if err != nil {
		return "", err
	}
	buildErr := s.run(ctx, b.ID, req, digest)
	status, msg, droplet := paved.BuildSucceeded, "", digest
	if buildErr != nil {
		status, msg, droplet = paved.BuildFailed, buildErr.Error(), ""
	}
	fin, err := s.store.FinishBuild(context.WithoutCancel(ctx), b.ID, status, msg, droplet)
	if err != nil {
		return "", err
	}
	if buildErr != nil {
		return "", &BuildError{Build: fin}
	}
	return digest, s.store.PutDroplet(ctx, store.Droplet{Digest: digest, Source: req.Source, Command: req.Command})
}

// run unpacks and builds into a scratch dir, then renames it into place, so
// a droplet directory is either complete or absent.
func (s *Stager) run(ctx context.Context, id int64, req Request, digest string) error {
	logf, err := os.OpenFile(s.LogPath(id), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := &cappedWriter{w: logf, left: maxLogBytes}

	work := filepath.Join(s.buildsDir(), fmt.Sprintf("%d.work", id))
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if req.Source != "" {
		fmt.Fprintf(log, "-----> unpacking source %s\n", short(req.Source))
		if err := archive.ExtractFile(s.SourcePath(req.Source), work, s.opts.Limits); err != nil {
			fmt.Fprintf(log, "unpack failed: %v\n", err)
			return fmt.Errorf("unpack source: %w", err)
		}
	}
	if strings.TrimSpace(req.Command) != "" {
		fmt.Fprintf(log, "-----> running build command: %s\n", req.Command)
		start := time.Now()
		if err := s.runCommand(ctx, work, req, log); err != nil {
			fmt.Fprintf(log, "-----> build failed after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
			return err
		}
		fmt.Fprintf(log, "-----> build succeeded in %s\n", time.Since(start).Round(time.Millisecond))
	}
	if err := sealDroplet(work); err != nil {
		return fmt.Errorf("keep droplet: %w", err)
	}
	dst := s.DropletDir(digest)
	if _, err := os.Stat(dst); err == nil {
		return nil // a concurrent build of the same key got there first
	}
	if err := os.Rename(work, dst); err != nil {
		return fmt.Errorf("keep droplet: %w", err)
	}
	fmt.Fprintf(log, "-----> droplet %s\n", short(digest))
	return nil
}

// runCommand runs the build in the app's space's sandbox (or, unisolated,
// in its own process group), so a timeout kills everything it started, not
// just the shell.
func (s *Stager) runCommand(ctx context.Context, dir string, req Request, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// PAVED_CELL marks the build's processes for the sweep after a kill -9.
	env := []string{"PAVED_CELL=" + s.store.CellID()}
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	cmd, err := s.opts.Jail.Command(ctx, sandbox.Job{Space: req.Space, Dir: dir, Script: req.Command, Env: env, Writable: []string{dir}})
	if err != nil {
		return fmt.Errorf("build command: %w", err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of a build never outlive it (ESRCH: none left)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("build command timed out after %s", s.opts.Timeout)
	}
	if err != nil {
		return fmt.Errorf("build command failed: %w", err)
	}
	return nil
}

// sealDroplet gives a built tree back to the cell's user and makes it
// readable by everyone: a droplet is shared by every app that builds the
// same source the same way, whatever its space's uid, and an isolated
// instance sees only its own droplet, read-only. The build's uid keeps no
// way to change it after the build.
func sealDroplet(dir string) error {
	uid, gid := os.Geteuid(), os.Getegid()
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm() | 0o444
		if d.IsDir() || mode&0o100 != 0 {
			mode |= 0o111
		}
		return os.Chmod(p, mode&^0o022)
	})
}

type cappedWriter struct {
	w    io.Writer
	left int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return len(p), nil
	}
	n := int64(len(p))
	if n > c.left {
		m, err := c.w.Write(p[:c.left])
		c.left = 0
		if err == nil {
			_, err = io.WriteString(c.w, "\n[build log truncated]\n")
		}
		if err != nil {
			return m, err
		}
		return len(p), nil
	}
	c.left -= n
	return c.w.Write(p)
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
