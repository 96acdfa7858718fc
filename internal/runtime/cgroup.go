package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the unified (v2) hierarchy must be mounted for memory
// limits to be enforced.
const cgroupRoot = "/sys/fs/cgroup"

// cgroup2Magic is CGROUP2_SUPER_MAGIC from linux/magic.h: statfs reports it
// for a cgroup v2 mount, and something else (tmpfs) for the v1 layout.
const cgroup2Magic = 0x63677270

// cgroupManager owns the cell's cgroup, <root>/paved-<cellID>, under which
// every instance gets a child group.
type cgroupManager struct {
	dir string
}

// probeCgroups checks, for real, whether memory limits can be enforced, and
// prepares the cell's cgroup if so. On failure it returns nil and a
// one-sentence reason for MemoryLimits.
func probeCgroups(root, cellID string) (*cgroupManager, string) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(root, &fs); err != nil {
		return nil, fmt.Sprintf("cgroup v2 is not mounted at %s (%v)", root, err)
	}
	if int64(fs.Type) != cgroup2Magic {
		return nil, fmt.Sprintf("cgroup v2 is not mounted at %s (this host uses cgroup v1 or a hybrid layout)", root)
	}
	return setupCgroups(root, cellID)
}

// setupCgroups is probeCgroups after the file-system check; it only reads
// and writes cgroup interface files, so tests can run it on a fake tree.
func setupCgroups(root, cellID string) (*cgroupManager, string) {
	ctrls, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Sprintf("cannot read the cgroup v2 controllers at %s (%v)", root, err)
	}
	if !hasWord(ctrls, "memory") {
		return nil, fmt.Sprintf("the memory controller is not available in the cgroup v2 hierarchy at %s", root)
	}
	// Children of root can only get memory.max if root delegates memory.
	if err := enableMemory(root); err != nil {
		return nil, fmt.Sprintf("the cell cannot enable the memory controller below %s (%v)", root, err)
	}
	m := &cgroupManager{dir: filepath.Join(root, "paved-"+cellID)}
	if err := m.ensure(); err != nil {
		return nil, fmt.Sprintf("the cell cannot create its cgroup %s (%v)", m.dir, err)
	}
	m.removeStale()
	return m, ""
}

// ensure creates the cell's group and delegates memory to its children.
// It is idempotent and re-run before each instance, so StopAll may remove
// the group and a later Start still works.
func (m *cgroupManager) ensure() error {
	if err := os.Mkdir(m.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return enableMemory(m.dir)
}

// removeStale kills and removes instance groups a previous run of this
// cell left behind.
func (m *cgroupManager) removeStale() {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			(&instanceCgroup{dir: filepath.Join(m.dir, e.Name())}).remove()
		}
	}
}

// removeCell removes the cell's own group; it fails harmlessly (EBUSY) while
// instance groups still exist.
func (m *cgroupManager) removeCell() {
	_ = os.Remove(m.dir)
}

// create makes the instance's group with its memory limit.
func (m *cgroupManager) create(id string, memoryMB int) (*instanceCgroup, error) {
	if err := m.ensure(); err != nil {
		return nil, err
	}
	c := &instanceCgroup{dir: filepath.Join(m.dir, id)}
	if err := os.Mkdir(c.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	limit := "max"
	if memoryMB > 0 {
		limit = strconv.FormatInt(int64(memoryMB)<<20, 10)
	}
	if err := writeCgroupFile(filepath.Join(c.dir, "memory.max"), limit); err != nil {
		c.remove()
		return nil, fmt.Errorf("set memory.max: %w", err)
	}
	if memoryMB > 0 {
		// Without this the kernel would swap instead of enforcing the limit.
		// The file is missing when swap accounting is off; nothing to do then.
		_ = writeCgroupFile(filepath.Join(c.dir, "memory.swap.max"), "0")
	}
	return c, nil
}

// instanceCgroup is one instance's group.
type instanceCgroup struct {
	dir string
}

// open returns a directory fd for SysProcAttr.CgroupFD.
func (c *instanceCgroup) open() (int, error) {
	return syscall.Open(c.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}

// kill SIGKILLs everything in the group, including processes that left the
// instance's process group: cgroup membership cannot be escaped.
func (c *instanceCgroup) kill() {
	if err := writeCgroupFile(filepath.Join(c.dir, "cgroup.kill"), "1"); err == nil {
		return
	}
	// cgroup.kill needs Linux 5.14; before that, signal the members one by one.
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (c *instanceCgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// oomKills reads the group's OOM-kill counter, so an exit caused by the
// memory limit can be reported as such.
func (c *instanceCgroup) oomKills() int {
	f, err := os.Open(filepath.Join(c.dir, "memory.events"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == "oom_kill" {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// remove kills what is left in the group and deletes it. rmdir fails with
// EBUSY until the kernel has finished tearing the killed processes down, so
// it is retried for a while.
func (c *instanceCgroup) remove() {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return
		}
		c.kill()
		time.Sleep(20 * time.Millisecond)
	}
}

// moveToCgroupFD moves pid into the group open as dirfd (the fallback for
// kernels without clone3).
func moveToCgroupFD(dirfd, pid int) error {
	fd, err := syscall.Openat(dirfd, "cgroup.procs", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "cgroup.procs")
	defer f.Close()
	_, err = f.WriteString(strconv.Itoa(pid))
	return err
}

// enableMemory adds memory to dir's cgroup.subtree_control unless present.
func enableMemory(dir string) error {
	path := filepath.Join(dir, "cgroup.subtree_control")
	cur, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if hasWord(cur, "memory") {
		return nil
	}
	return writeCgroupFile(path, "+memory")
}

// writeCgroupFile writes an existing interface file; it never creates one,
// so a typo or a missing controller shows up as an error.
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func hasWord(b []byte, word string) bool {
	for _, f := range bytes.Fields(b) {
		if string(f) == word {
			return true
		}
	}
	return false
}
