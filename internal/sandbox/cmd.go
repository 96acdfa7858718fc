package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Cmd is an exec.Cmd whose process is a sandbox init running Config's
// command: builds and pipeline tasks use it. Set Stdout, Stderr (and Place,
// to put the sandbox in cgroups) before Start.
type Cmd struct {
	*exec.Cmd
	// Place, if set, runs after the init has started and before the command
	// does, with the init's pid: where the caller moves it into cgroups.
	Place func(pid int) error

	launch *Launch
	done   func() // run once when the command has ended (or failed to start)
}

// Command prepares cfg to run under ctx: when ctx ends, the sandbox's init
// is killed, and with it everything in the sandbox.
func Command(ctx context.Context, cfg Config) (*Cmd, error) {
	l, err := New(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, l.Path)
	cmd.Args = l.Args
	cmd.Env = []string{} // the init's own environment; the command's is in cfg
	cmd.ExtraFiles = l.ChildFiles
	cmd.SysProcAttr = SysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return &Cmd{Cmd: cmd, launch: l}, nil
}

// Start starts the init, places it and lets it start the command.
func (c *Cmd) Start() error {
	if c.launch == nil { // unisolated (Jail without Isolate)
		return c.Cmd.Start()
	}
	if err := c.start(); err != nil {
		c.finish()
		return err
	}
	return nil
}

func (c *Cmd) start() error {
	err := c.Cmd.Start()
	c.launch.CloseChildFiles()
	if err != nil {
		c.launch.Abort()
		return fmt.Errorf("sandbox: start: %w", err)
	}
	if c.Place != nil {
		if err := c.Place(c.Process.Pid); err != nil {
			c.launch.Abort()
			_ = c.Process.Kill()
			_ = c.Cmd.Wait()
			return fmt.Errorf("sandbox: place in cgroups: %w", err)
		}
	}
	if err := c.launch.Release(); err != nil {
		_ = c.Process.Kill()
		_ = c.Cmd.Wait()
		return fmt.Errorf("sandbox: send config: %w", err)
	}
	return nil
}

// Wait waits for the sandbox to end. A command that failed is an
// *ExitError saying how, in the command's terms ("exit status 2",
// "signal: killed"), not the init's.
func (c *Cmd) Wait() error {
	err := c.Cmd.Wait()
	if c.launch == nil {
		return err
	}
	c.finish()
	status := c.launch.Status()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if status == "" {
			status = ee.Error() // the init itself was killed (timeout, cancel)
		}
		return &ExitError{ExitError: ee, Status: status}
	}
	return err
}

// finish runs done once.
func (c *Cmd) finish() {
	if c.done != nil {
		c.done()
		c.done = nil
	}
}

// Run is Start then Wait.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output. (exec.Cmd's own
// Output would start the init without releasing it.)
func (c *Cmd) Output() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and error.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}

// ExitError is a sandboxed command that did not succeed.
type ExitError struct {
	*exec.ExitError
	Status string // how the command ended, as the init saw it
}

func (e *ExitError) Error() string { return e.Status }
func (e *ExitError) Unwrap() error { return e.ExitError }
