package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the cgroup file systems are mounted: the unified
// (v2) hierarchy itself, or a tmpfs holding one v1 hierarchy per
// controller (memory/, pids/), as on hosts still on cgroup v1.
const cgroupRoot = "/sys/fs/cgroup"

// cgroup2Magic is CGROUP2_SUPER_MAGIC from linux/magic.h: statfs reports it
// for a cgroup v2 mount, and something else (tmpfs) for the v1 layout.
const cgroup2Magic = 0x63677270

// cgroup1Magic is CGROUP_SUPER_MAGIC, a v1 controller hierarchy.
const cgroup1Magic = 0x27e0eb

// DefaultPidsLimit is the number of tasks (processes and threads) an
// instance may have: enough for any server, small enough that a fork bomb
// stays inside its instance.
const DefaultPidsLimit = 1024

// cgroupManager owns the cell's cgroups, paved-<cellID>, under which every
// instance gets a child group: one directory on cgroup v2, one per
// controller hierarchy (memory, pids) on v1.
type cgroupManager struct {
	v1   bool
	dirs []string // the cell's groups: memory's first
	pids bool     // the pids controller is there (always on v1 when dirs[1] is set)
}

// version is how the host's cgroups are named in the health report.
func (m *cgroupManager) version() string {
	if m.v1 {
		return "cgroup v1"
	}
	return "cgroup v2"
}

// probeCgroups checks, for real, whether memory limits can be enforced, and
// prepares the cell's cgroups if so. On failure it returns nil and a
// one-sentence reason for MemoryLimits.
func probeCgroups(root, cellID string) (*cgroupManager, string) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(root, &fs); err != nil {
		return nil, fmt.Sprintf("no cgroup file system is mounted at %s (%v)", root, err)
	}
	if int64(fs.Type) != cgroup2Magic {
		var mem syscall.Statfs_t
		if err := syscall.Statfs(filepath.Join(root, "memory"), &mem); err != nil || int64(mem.Type) != cgroup1Magic {
			return nil, fmt.Sprintf("no cgroup v2 hierarchy is mounted at %s and no cgroup v1 memory hierarchy at %s/memory", root, root)
		}
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return nil, fmt.Sprintf("cannot read the cell's own cgroups (%v)", err)
		}
		return setupCgroupsV1(root, string(own), cellID)
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
	m := &cgroupManager{dirs: []string{filepath.Join(root, "paved-"+cellID)}, pids: hasWord(ctrls, "pids")}
	// Children of root can only get memory.max if root delegates memory.
	if err := m.delegate(root); err != nil {
		return nil, fmt.Sprintf("the cell cannot enable the memory controller below %s (%v)", root, err)
	}
	if err := m.ensure(); err != nil {
		return nil, fmt.Sprintf("the cell cannot create its cgroup %s (%v)", m.dirs[0], err)
	}
	m.removeStale()
	return m, ""
}

// setupCgroupsV1 prepares the cell's groups in the v1 memory and pids
// hierarchies below root, nested in the groups the cell itself is in (own
// is /proc/self/cgroup), so the host's limits on the cell still hold for
// its instances.
func setupCgroupsV1(root, own, cellID string) (*cgroupManager, string) {
	paths := map[string]string{} // controller → the cell's own group in it
	for _, line := range strings.Split(own, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	memPath, ok := paths["memory"]
	if !ok {
		return nil, "the memory controller is not available (neither a cgroup v2 hierarchy nor a v1 memory hierarchy)"
	}
	m := &cgroupManager{v1: true, dirs: []string{filepath.Join(root, "memory", memPath, "paved-"+cellID)}}
	if p, ok := paths["pids"]; ok {
		if _, err := os.Stat(filepath.Join(root, "pids", p, "cgroup.procs")); err == nil {
			m.dirs, m.pids = append(m.dirs, filepath.Join(root, "pids", p, "paved-"+cellID)), true
		}
	}
	if err := m.ensure(); err != nil {
		return nil, fmt.Sprintf("the cell cannot create its cgroup %s (%v)", m.dirs[0], err)
	}
	m.removeStale()
	return m, ""
}

// delegate enables the controllers the cell uses in dir's subtree (v2).
func (m *cgroupManager) delegate(dir string) error {
	if err := enableController(dir, "memory"); err != nil {
		return err
	}
	if m.pids {
		if err := enableController(dir, "pids"); err != nil {
			m.pids = false // limits memory still; Isolation reports it
		}
	}
	return nil
}

// ensure creates the cell's groups (and on v2 delegates the controllers to
// their children). It is idempotent and re-run before each instance, so
// StopAll may remove the groups and a later Start still works.
func (m *cgroupManager) ensure() error {
	for _, dir := range m.dirs {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if m.v1 {
		return nil
	}
	return m.delegate(m.dirs[0])
}

// removeStale kills and removes instance groups a previous run of this
// cell left behind.
func (m *cgroupManager) removeStale() {
	seen := map[string]bool{}
	for _, dir := range m.dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				m.instance(e.Name()).remove()
			}
		}
	}
}

// removeCell removes the cell's own groups; it fails harmlessly (EBUSY)
// while instance groups still exist.
func (m *cgroupManager) removeCell() {
	for _, dir := range m.dirs {
		_ = os.Remove(dir)
	}
}

func (m *cgroupManager) instance(id string) *instanceCgroup {
	c := &instanceCgroup{v1: m.v1}
	for _, dir := range m.dirs {
		c.dirs = append(c.dirs, filepath.Join(dir, id))
	}
	return c
}

// create makes the instance's groups with its memory limit (0 = none) and
// pids limit (0 = none).
func (m *cgroupManager) create(id string, memoryMB, pidsMax int) (*instanceCgroup, error) {
	if err := m.ensure(); err != nil {
		return nil, err
	}
	c := m.instance(id)
	for _, dir := range c.dirs {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	if err := c.limit(memoryMB, m.pidsLimit(pidsMax)); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// pidsLimit is the limit to write: none where there is no pids controller.
func (m *cgroupManager) pidsLimit(n int) int {
	if !m.pids {
		return 0
	}
	return n
}

// instanceCgroup is one instance's group(s).
type instanceCgroup struct {
	v1   bool
	dirs []string // memory's first, then pids' on v1
}

// limit writes the memory and pids limits.
func (c *instanceCgroup) limit(memoryMB int, pidsMax int) error {
	mem := "max"
	if memoryMB > 0 {
		mem = strconv.FormatInt(int64(memoryMB)<<20, 10)
	} else if c.v1 {
		mem = "-1"
	}
	if c.v1 {
		if err := writeCgroupFile(filepath.Join(c.dirs[0], "memory.limit_in_bytes"), mem); err != nil {
			return fmt.Errorf("set memory.limit_in_bytes: %w", err)
		}
		if memoryMB > 0 {
			// memory+swap at the same limit: the kernel kills instead of
			// swapping. The file is missing without swap accounting.
			_ = writeCgroupFile(filepath.Join(c.dirs[0], "memory.memsw.limit_in_bytes"), mem)
		}
	} else {
		if err := writeCgroupFile(filepath.Join(c.dirs[0], "memory.max"), mem); err != nil {
			return fmt.Errorf("set memory.max: %w", err)
		}
		if memoryMB > 0 {
			// Without this the kernel would swap instead of enforcing the
			// limit. The file is missing when swap accounting is off.
			_ = writeCgroupFile(filepath.Join(c.dirs[0], "memory.swap.max"), "0")
		}
	}
	if pidsMax > 0 {
		if err := writeCgroupFile(filepath.Join(c.dirs[len(c.dirs)-1], "pids.max"), strconv.Itoa(pidsMax)); err != nil {
			return fmt.Errorf("set pids.max: %w", err)
		}
	}
	return nil
}

// open returns a directory fd for SysProcAttr.CgroupFD, or -1 on v1, where
// a process cannot be started inside a group and is placed right after.
func (c *instanceCgroup) open() (int, error) {
	if c.v1 {
		return -1, nil
	}
	return syscall.Open(c.dirs[0], syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}

// place moves pid into every group of the instance.
func (c *instanceCgroup) place(pid int) error {
	for _, dir := range c.dirs {
		if err := writeCgroupFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move %d into %s: %w", pid, dir, err)
		}
	}
	return nil
}

// kill SIGKILLs everything in the group, including processes that left the
// instance's process group: cgroup membership cannot be escaped.
func (c *instanceCgroup) kill() {
	if !c.v1 {
		if err := writeCgroupFile(filepath.Join(c.dirs[0], "cgroup.kill"), "1"); err == nil {
			return
		}
	}
	// v1, or v2 before Linux 5.14: signal the members one by one.
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (c *instanceCgroup) pids() []int {
	var pids []int
	for _, dir := range c.dirs {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// oomKills reads the group's OOM-kill counter, so an exit caused by the
// memory limit can be reported as such: memory.events on v2,
// memory.oom_control on v1 (both have an "oom_kill N" line).
func (c *instanceCgroup) oomKills() int {
	name := "memory.events"
	if c.v1 {
		name = "memory.oom_control"
	}
	f, err := os.Open(filepath.Join(c.dirs[0], name))
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

// remove kills what is left in the groups and deletes them. rmdir fails
// with EBUSY until the kernel has finished tearing the killed processes
// down, so it is retried for a while.
func (c *instanceCgroup) remove() {
	deadline := time.Now().Add(2 * time.Second)
	for _, dir := range c.dirs {
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
				break
			}
			c.kill()
			time.Sleep(20 * time.Millisecond)
		}
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

// enableController adds ctrl to dir's cgroup.subtree_control unless present.
func enableController(dir, ctrl string) error {
	path := filepath.Join(dir, "cgroup.subtree_control")
	cur, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if hasWord(cur, ctrl) {
		return nil
	}
	return writeCgroupFile(path, "+"+ctrl)
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
