// Package sandbox runs untrusted commands (app instances, builds, pipeline
// tasks) isolated from the cell and from each other, without container
// images: the command runs as an unprivileged uid of its space, with no
// capabilities and no_new_privs, in its own PID, mount and IPC namespaces,
// where /proc shows only its own processes and the cell's files are
// covered by empty file systems.
//
// # How a command is started
//
// The cell does not fork the command itself. It starts its own executable
// again (os.Executable) with a marker argument, in new PID, mount and IPC
// namespaces (clone flags), and hands it a Config on file descriptor 3. That
// process, the sandbox's init, is PID 1 of the new PID namespace and still
// root in the new mount namespace. It:
//
//  1. makes every mount private, so nothing it mounts leaks to the host;
//  2. opens the paths it must keep (the droplet, the scratch dir);
//  3. covers /tmp, /var/tmp and /dev/shm with fresh tmpfs, every Hide path
//     with an empty read-only tmpfs (a directory) or /dev/null (a file);
//  4. binds the kept paths back at their own place, read-only unless
//     Writable, nosuid and nodev;
//  5. mounts a new /proc for the new PID namespace;
//  6. drops every capability from the bounding set, sets no_new_privs on
//     the thread that forks, and starts the command as the unprivileged
//     uid/gid (no supplementary groups) in a process group of its own;
//  7. forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to that
//     group, reaps every orphan re-parented to it, and exits as the command
//     did. When PID 1 of a namespace exits the kernel kills everything else
//     in it, so nothing the command started survives it, not even a daemon
//     that left its process group.
//
// The cell waits to write the Config until it has placed the init in its
// cgroups (cgroup v1 cannot start a process inside a group), so the command
// never runs outside its limits. The init reports how the command ended on
// file descriptor 4, as text ("exit status 1", "signal: killed"), which is
// what the cell shows as the crash reason.
//
// Init is linked into every binary that imports this package: an init
// function takes over the process when it sees the marker argument, before
// main or TestMain run. That is how tests that import the runtime get
// sandboxes too.
//
// # What it does not do
//
// The kernel is shared, there is no seccomp filter, and the network is the
// host's (instances listen on loopback ports the router reaches). A space's
// instances share its uid, so they could signal each other if they could
// see each other; separate PID namespaces keep them apart.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// initArg is the argument that turns an executable importing this package
// into a sandbox init. It is not a flag anyone would type.
const initArg = "__paved_sandbox_init__"

// Cloneflags are the namespaces every sandbox gets.
const Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC

// Config is everything the init needs, sent as JSON on fd 3.
type Config struct {
	UID, GID int
	Dir      string   // the command's working directory
	Argv     []string // the command; Argv[0] is looked up as a path, not in PATH
	Env      []string
	// Hide lists paths to cover: a directory with an empty read-only tmpfs,
	// a file with /dev/null. Paths that do not exist are ignored.
	Hide []string
	// Keep lists paths that stay visible, bound back at their place after
	// /tmp and Hide are covered.
	Keep []Mount
	// Overlays are mounted last: read-only lower layers (a warm build
	// cache of the cell's user, the space's own) under an upper layer of
	// this sandbox alone, at Target, handed to UID. Writes never reach a
	// lower layer, so a space can poison no one's cache.
	Overlays []Overlay
}

// Overlay is an overlay mount (see Config.Overlays). Lowers are listed top
// first; Upper and Work are empty directories of the cell, on one file
// system, used by no other mount.
type Overlay struct {
	Lowers              []string
	Upper, Work, Target string
}

// Mount is a path kept visible in the sandbox.
type Mount struct {
	Path     string
	Writable bool
}

// Validate checks what the init would otherwise fail on after the fork.
func (c Config) Validate() error {
	switch {
	case c.UID <= 0 || c.GID <= 0:
		return fmt.Errorf("sandbox: uid %d and gid %d must be unprivileged (above 0)", c.UID, c.GID)
	case len(c.Argv) == 0:
		return errors.New("sandbox: no command")
	}
	paths := append(append([]string{c.Dir}, c.Hide...), keepPaths(c.Keep)...)
	for _, o := range c.Overlays {
		paths = append(append(paths, o.Lowers...), o.Upper, o.Work, o.Target)
	}
	for _, p := range paths {
		if p != "" && !strings.HasPrefix(p, "/") {
			return fmt.Errorf("sandbox: path %q is not absolute", p)
		}
	}
	return nil
}

func keepPaths(ms []Mount) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Path
	}
	return out
}

// Launch is one sandbox being started: the program and arguments to start
// (in Cloneflags namespaces), the files to hand it as fds 3 and 4, and the
// parent's ends of those pipes.
type Launch struct {
	Path string
	Args []string
	// ChildFiles are fd 3 (the Config) and fd 4 (the status), in order.
	ChildFiles []*os.File

	config Config
	cfgW   *os.File
	statR  *os.File
	once   sync.Once
	status string
}

// New prepares a launch of cfg. After the process has started, the caller
// calls CloseChildFiles, places the process in its cgroups, then Release.
func New(cfg Config) (*Launch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exe, err := executable()
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, err
	}
	return &Launch{
		Path: exe, Args: []string{"paved-sandbox", initArg},
		ChildFiles: []*os.File{cfgR, statW},
		config:     cfg, cfgW: cfgW, statR: statR,
	}, nil
}

// SysProcAttr is what the init must be started with. pdeathsig ties it to
// the thread that starts it (see the runtime's spawn thread).
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Cloneflags: Cloneflags, Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// CloseChildFiles closes the parent's copies of the child's ends, once the
// child has them (after the start, successful or not).
func (l *Launch) CloseChildFiles() {
	for _, f := range l.ChildFiles {
		f.Close()
	}
}

// Release sends the Config: the init starts the command once it has read
// it. Call it after placing the init in its cgroups.
func (l *Launch) Release() error {
	defer l.cfgW.Close()
	return json.NewEncoder(l.cfgW).Encode(l.config)
}

// Abort closes the parent's ends without releasing the init, which then
// exits without running anything.
func (l *Launch) Abort() {
	l.cfgW.Close()
	l.statR.Close()
}

// Status reads how the command ended, as the init reported it; call it
// after the init has exited. It returns "" if the init said nothing (it
// was killed, or failed before starting the command).
func (l *Launch) Status() string {
	l.once.Do(func() {
		b, _ := io.ReadAll(io.LimitReader(l.statR, 512))
		l.statR.Close()
		l.status = strings.TrimSpace(string(b))
	})
	return l.status
}

var (
	exeOnce sync.Once
	exePath string
	exeErr  error
)

// executable is the cell's own binary, resolved once: later replacements
// of the file on disk (an upgrade) do not change what a sandbox runs until
// the cell restarts.
func executable() (string, error) {
	exeOnce.Do(func() {
		exePath, exeErr = os.Executable()
		if exeErr != nil {
			exeErr = fmt.Errorf("sandbox: cannot find the cell's own executable: %w", exeErr)
		}
	})
	return exePath, exeErr
}

func init() {
	if len(os.Args) > 1 && os.Args[1] == initArg {
		os.Exit(runInit())
	}
}

// mountFlags for what the sandbox mounts itself.
const (
	keepFlags = unix.MS_NOSUID | unix.MS_NODEV
	procFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)
