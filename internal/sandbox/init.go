package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exit codes of the init itself (the command's own code otherwise).
const (
	exitSetup    = 125 // the sandbox could not be set up; nothing ran
	exitNotStart = 127 // the command could not be started
)

// runInit is the sandbox's PID 1 (see the package comment). It returns the
// exit code: the command's, 128+N when a signal N ended it.
func runInit() int {
	// Neither pipe may reach the command (it could forge its own status).
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	cfgFile, statFile := os.NewFile(3, "config"), os.NewFile(4, "status")
	var cfg Config
	if err := json.NewDecoder(cfgFile).Decode(&cfg); err != nil {
		// The cell closed the pipe without a Config: it gave up on this
		// start (Abort). Nothing to report.
		return exitSetup
	}
	cfgFile.Close()
	report := func(format string, args ...any) {
		fmt.Fprintf(statFile, format, args...)
		statFile.Close()
	}
	if err := cfg.Validate(); err != nil {
		report("sandbox: %v", err)
		return exitSetup
	}
	// Everything from here to the fork runs on one thread: no_new_privs and
	// the bounding set are per thread, and the child inherits the forking
	// thread's.
	goruntime.LockOSThread()
	if err := setupMounts(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "paved sandbox: %v\n", err)
		report("sandbox setup failed: %v", err)
		return exitSetup
	}
	if err := dropPrivileges(); err != nil {
		fmt.Fprintf(os.Stderr, "paved sandbox: %v\n", err)
		report("sandbox setup failed: %v", err)
		return exitSetup
	}

	if fi, err := os.Stat(cfg.Dir); cfg.Dir != "" && (err != nil || !fi.IsDir()) {
		fmt.Fprintf(os.Stderr, "paved sandbox: the working directory %s is not visible in the sandbox\n", cfg.Dir)
		report("start failed: the working directory %s is not visible in the sandbox", cfg.Dir)
		return exitNotStart
	}
	signals := make(chan os.Signal, 8)
	forwarded := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	signal.Notify(signals, forwarded...)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)

	// The init must outlive an OOM kill in its cgroup to report it, and its
	// Go runtime can be larger than a small command; so it is never the
	// victim, and the command (which inherits the setting) is set back to
	// the default right after the fork.
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	devnull, _ := os.Open(os.DevNull)
	p, err := os.StartProcess(cfg.Argv[0], cfg.Argv, &os.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: []*os.File{devnull, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}},
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "paved sandbox: start %s: %v\n", cfg.Argv[0], err)
		report("start failed: %v", err)
		return exitNotStart
	}
	pid := p.Pid
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte("0"), 0)
	p.Release() // reaped below with wait4, together with the orphans
	for {
		// Reap whatever has exited: the command, or orphans re-parented to
		// PID 1. Only the command's end ends the sandbox.
		for {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || got <= 0 {
				break
			}
			if got == pid {
				report("%s", DescribeExit(ws))
				return exitCode(ws)
			}
		}
		select {
		case sig := <-signals:
			_ = syscall.Kill(-pid, sig.(syscall.Signal))
		case <-children:
		}
	}
}

// DescribeExit says how a process ended the way os.ProcessState does
// ("exit status 1", "signal: killed").
func DescribeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// setupMounts builds the sandbox's view of the file system (steps 1-5 of
// the package comment).
func setupMounts(cfg Config) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Open what must stay visible before anything covers it; the binds are
	// made from these descriptors once the covers are in place.
	hidden := append(privateAncestors(cfg.Keep), cfg.Hide...)
	keep := make([]*os.File, len(cfg.Keep))
	for i, m := range cfg.Keep {
		f, err := os.OpenFile(m.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("keep %s: %w", m.Path, err)
		}
		defer f.Close()
		keep[i] = f
	}
	// The overlays' layers too: covers may hide where they are.
	layers := make([][]*os.File, len(cfg.Overlays)) // upper, work, lowers…
	for i, o := range cfg.Overlays {
		for _, p := range append([]string{o.Upper, o.Work}, o.Lowers...) {
			f, err := os.OpenFile(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("overlay %s: %w", p, err)
			}
			defer f.Close()
			layers[i] = append(layers[i], f)
		}
	}
	for _, dir := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", keepFlags, "mode=1777"); err != nil {
			return fmt.Errorf("private %s: %w", dir, err)
		}
	}
	for _, p := range hidden {
		if err := hide(p); err != nil {
			return err
		}
	}
	for i, m := range cfg.Keep {
		if err := bindBack(keep[i], m); err != nil {
			return err
		}
	}
	for i, o := range cfg.Overlays {
		if err := mountOverlay(layers[i], o.Target, cfg.UID, cfg.GID); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", procFlags, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// mountOverlay mounts the lowers (read-only) under upper at target and gives
// the merged directory and its subdirectories to uid, so the command can
// add entries (a Go build cache is one level of 256 directories); the
// files of the lower layer stay the cell's, readable, never written.
func mountOverlay(layers []*os.File, target string, uid, gid int) error {
	fd := func(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }
	var lowers []string
	for _, f := range layers[2:] {
		lowers = append(lowers, fd(f))
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + fd(layers[0]) + ",workdir=" + fd(layers[1])
	if err := unix.Mount("overlay", target, "overlay", keepFlags, opts); err != nil {
		return fmt.Errorf("overlay at %s: %w", target, err)
	}
	if err := os.Lchown(target, uid, gid); err != nil {
		return fmt.Errorf("overlay at %s: %w", target, err)
	}
	ents, err := os.ReadDir(target)
	if err != nil {
		return fmt.Errorf("overlay at %s: %w", target, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := os.Lchown(filepath.Join(target, e.Name()), uid, gid); err != nil {
				return fmt.Errorf("overlay at %s: %w", target, err)
			}
		}
	}
	return nil
}

// hide covers p: an empty read-only tmpfs over a directory, /dev/null over
// a file. A path that does not exist (or is already covered) is skipped.
func hide(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hide %s: %w", p, err)
	}
	if fi.IsDir() {
		// Owned by root, 0755: the command can read the mount points made
		// in it for kept paths, and write nothing.
		if err := unix.Mount("tmpfs", p, "tmpfs", keepFlags|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
			return fmt.Errorf("hide %s: %w", p, err)
		}
		return nil
	}
	if err := unix.Mount("/dev/null", p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("hide %s: %w", p, err)
	}
	return nil
}

// privateAncestors are the directories above kept paths that only their
// owner may enter (a data dir under /root, a test's 0700 temp dir). The
// command's uid could not reach a kept path through them, and could read
// nothing in them anyway, so they are covered too and the kept paths are
// bound back into the cover.
func privateAncestors(keep []Mount) []string {
	var out []string
	for _, m := range keep {
		for dir := filepath.Dir(m.Path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if err == nil && fi.Mode().Perm()&0o001 == 0 {
				out = append(out, dir) // the outermost is appended last and
			} // covered last; the inner covers below it are then hidden anyway
		}
	}
	return out
}

// bindBack mounts the kept path (open as f) at its own place again, making
// the directories leading to it if a cover hid them.
func bindBack(f *os.File, m Mount) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("keep %s: %w", m.Path, err)
	}
	if _, err := os.Lstat(m.Path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(m.Path), 0o755); err != nil {
			return fmt.Errorf("keep %s: %w", m.Path, err)
		}
		if fi.IsDir() {
			err = os.Mkdir(m.Path, 0o755)
		} else {
			err = os.WriteFile(m.Path, nil, 0o644)
		}
		if err != nil {
			return fmt.Errorf("keep %s: %w", m.Path, err)
		}
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, m.Path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("keep %s: %w", m.Path, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | keepFlags)
	if !m.Writable {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", m.Path, "", flags, ""); err != nil {
		return fmt.Errorf("keep %s read-only: %w", m.Path, err)
	}
	return nil
}

// dropPrivileges empties the bounding set and sets no_new_privs on this
// (locked) thread, so the command can gain no capability, by setuid
// binaries or file capabilities, whatever it executes.
func dropPrivileges() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}
