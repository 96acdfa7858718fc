package kubenode

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNetwork checks a Network without a control plane: its bridge and
// gateway, two pod namespaces whose servers both bind 0.0.0.0 on one port
// and answer on their own IPs, pod to pod traffic, a host loopback server
// reached only through Forward, processes forked from a namespace's thread
// dying with it, and that nothing is left once the network is closed.
func TestNetwork(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	nw, err := NewNetwork(NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	_, all, _ := net.ParseCIDR(DefaultNetworkRange)
	ip, cidr, err := net.ParseCIDR(nw.CIDR())
	if ones, _ := cidr.Mask.Size(); err != nil || !all.Contains(ip) || ones != 20 || !ip.Equal(cidr.IP) {
		t.Fatalf("network %s: want a /20 inside %s", nw.CIDR(), DefaultNetworkRange)
	}
	if want := u32ToNetIP(ipToU32(cidr.IP) + 1).String(); nw.Gateway() != want {
		t.Errorf("gateway %s, want %s", nw.Gateway(), want)
	}
	if !strings.HasPrefix(nw.Bridge(), fmt.Sprintf("pvd%db", os.Getpid())) || len(nw.Bridge()) > 15 {
		t.Errorf("bridge name %q", nw.Bridge())
	}
	if out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", nw.Bridge()).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), " "+nw.Gateway()+"/20 ") {
		t.Errorf("bridge %s: %s %v", nw.Bridge(), out, err)
	}
	// Another network may not take a range the host has.
	if other, err := NewNetwork(NetworkOptions{CIDR: nw.CIDR()}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		if other != nil {
			other.Close()
		}
		t.Errorf("a second network on %s: %v", nw.CIDR(), err)
	}

	// A server on the host's loopback only, reached through a forward.
	hostL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	go http.Serve(hostL, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from the host's loopback") }))
	fwd, stopFwd, err := nw.Forward(hostL.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stopFwd()
	if h, _, _ := net.SplitHostPort(fwd); h != nw.Gateway() {
		t.Errorf("forward listens on %s, want the gateway", fwd)
	}

	dir := t.TempDir()
	run := randomHex(6)
	type pod struct {
		name, ip string
		sb       *sandbox
		proc     *process
	}
	var pods []*pod
	defer func() {
		for _, p := range pods {
			if p.proc != nil {
				p.proc.terminate(0, nil)
			}
			p.sb.remove()
		}
	}()
	for i, name := range []string{"pod-1", "pod-2"} {
		p := &pod{name: name, ip: u32ToNetIP(ipToU32(cidr.IP) + 10 + uint32(i)).String()}
		if p.sb, err = nw.newSandbox(p.ip); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
		env := []string{roleEnv + "=server", runEnv + "=" + run, "BIND_ALL=1", "PORT=8080", "POD_IP=" + p.ip, "POD_NAME=" + name}
		if p.proc, err = startProcess(p.sb.thread, self, []string{self}, env, dir, filepath.Join(dir, name+".log")); err != nil {
			t.Fatal(err)
		}
	}
	hostNS := hostNetNS
	seen := map[string]bool{}
	for _, p := range pods {
		addr := net.JoinHostPort(p.ip, "8080")
		var info serverInfo
		waitFor(t, 20*time.Second, p.name+" answers on "+addr, func() error {
			var err error
			info, err = getInfo(addr)
			return err
		})
		if info.Env["POD_NAME"] != p.name || info.PID != p.proc.pid {
			t.Errorf("%s: %s answered as %s (pid %d, want %d)", p.name, addr, info.Env["POD_NAME"], info.PID, p.proc.pid)
		}
		if h, _, _ := net.SplitHostPort(info.Addr); net.ParseIP(h) == nil || !net.ParseIP(h).IsUnspecified() {
			t.Errorf("%s: bound %s, want all addresses", p.name, info.Addr)
		}
		ns, err := netnsOf(info.PID)
		if err != nil || ns != p.sb.netns {
			t.Errorf("%s: server in namespace %q (%v), want %s", p.name, ns, err, p.sb.netns)
		}
		if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", info.PID)); link == hostNS || seen[link] {
			t.Errorf("%s: network namespace %s is the host's or another pod's", p.name, link)
		} else {
			seen[link] = true
		}
		// It is a child of the namespace's thread, a thread of this process.
		if ppid := parentPID(t, info.PID); ppid != os.Getpid() {
			t.Errorf("%s: parent %d, want this process %d", p.name, ppid, os.Getpid())
		}
	}
	// The process (its main thread) stays in the host's namespace.
	if ns, _ := os.Readlink("/proc/self/ns/net"); ns != hostNS {
		t.Errorf("the process is in namespace %s, not the host's %s", ns, hostNS)
	}
	p1, p2 := net.JoinHostPort(pods[0].ip, "8080"), net.JoinHostPort(pods[1].ip, "8080")
	if got, err := fetchFrom(p1, "http://"+p2+"/"); err != nil || !strings.Contains(got, `"POD_NAME":"pod-2"`) {
		t.Errorf("pod-1 to pod-2: %q, %v", got, err)
	}
	if got, err := fetchFrom(p1, "http://"+fwd+"/"); err != nil || got != "from the host's loopback" {
		t.Errorf("pod-1 to the host through the forward: %q, %v", got, err)
	}
	if got, err := fetchFrom(p1, "http://"+hostL.Addr().String()+"/"); err == nil {
		t.Errorf("pod-1 reached the host's loopback directly: %q", got)
	}
	stopFwd()
	if got, err := fetchFrom(p1, "http://"+fwd+"/"); err == nil {
		t.Errorf("pod-1 reached the host through a stopped forward: %q", got)
	}

	// An exec as a probe runs: in the namespace.
	out, err := execIn(pods[0].sb.thread, self, nsCheckArg, hostNS)
	if err != nil {
		t.Errorf("exec probe in pod-1's namespace: %v: %s", err, out)
	}
	if out, err := execIn(nil, self, nsCheckArg, hostNS); err == nil {
		t.Errorf("exec probe on the host passed: %s", out)
	}

	// Removing a sandbox kills what still runs in its namespace; the
	// namespace and both veth ends go.
	p := pods[0]
	if err := p.sb.remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.proc.done:
		if p.proc.signal != syscall.SIGKILL {
			t.Errorf("pod-1's server ended with %d, not by SIGKILL", p.proc.exitCode)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pod-1's server outlived its sandbox")
	}
	p.proc = nil
	if _, err := os.Stat(filepath.Join(netnsDir, p.sb.netns)); !os.IsNotExist(err) || linkExists(p.sb.veth) {
		t.Errorf("namespace %s or veth %s left (%v)", p.sb.netns, p.sb.veth, err)
	}
	if _, err := getInfo(p1); err == nil {
		t.Errorf("%s still answers", p1)
	}
	if _, err := getInfo(p2); err != nil {
		t.Errorf("pod-2 after pod-1 went: %v", err)
	}
	if err := startCmd(p.sb.thread, exec.Command(self)); err == nil {
		t.Error("started a process in a removed namespace")
	}

	// Close removes the rest: pod-2's namespace and veth, the bridge, its
	// route.
	pods[1].proc.terminate(time.Second, nil)
	pods[1].proc = nil
	nw.Close()
	if left := leftovers(t); len(left) > 0 {
		t.Errorf("left after Close: %v", left)
	}
	if out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput(); strings.Contains(string(out), nw.CIDR()) {
		t.Errorf("a route to %s is left:\n%s", nw.CIDR(), out)
	}
	if _, _, err := nw.Forward(hostL.Addr().String()); err == nil {
		t.Error("a forward on a removed network")
	}
}

// TestSweep checks that making a network removes the namespaces and links
// named for a process that no longer runs, and no other.
func TestSweep(t *testing.T) {
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	if !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		t.Fatalf("pid %d runs again", pid)
	}
	ns, veth, br := fmt.Sprintf("pvd%d-1", pid), fmt.Sprintf("pvd%dh1", pid), fmt.Sprintf("pvd%db1", pid)
	live := "pvd1-" + randomHex(4) // pid 1 runs
	defer func() {
		for _, c := range [][]string{{"link", "del", veth}, {"link", "del", br}, {"netns", "del", ns}, {"netns", "del", live}} {
			_ = exec.Command("ip", c...).Run()
		}
	}()
	for _, c := range [][]string{
		{"netns", "add", ns},
		{"netns", "add", live},
		{"link", "add", br, "type", "bridge"},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"link", "set", veth, "master", br},
	} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", c, err, out)
		}
	}
	nw, err := NewNetwork(NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nw.Close()
	for _, l := range []string{veth, br} {
		if linkExists(l) {
			t.Errorf("link %s of dead pid %d left", l, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); !os.IsNotExist(err) {
		t.Errorf("namespace %s of dead pid %d left: %v", ns, pid, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("namespace %s of a live process was removed: %v", live, err)
	}
}

// leftovers lists the namespaces (ip netns list) and links (ip link) named
// for this process.
func leftovers(t *testing.T) []string {
	t.Helper()
	prefix := fmt.Sprintf("pvd%d", os.Getpid())
	var out []string
	nsList, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, nsList)
	}
	for _, l := range strings.Split(string(nsList), "\n") {
		if f := strings.Fields(l); len(f) > 0 && leftoverOf(f[0], prefix) {
			out = append(out, "netns "+f[0])
		}
	}
	links, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, links)
	}
	for _, l := range strings.Split(string(links), "\n") {
		// 12: name@peer: <...
		if f := strings.Fields(l); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if leftoverOf(name, prefix) {
				out = append(out, "link "+name)
			}
		}
	}
	return out
}

func leftoverOf(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && strings.ContainsRune("bh-", rune(rest[0]))
}

// netnsOf is the name of the namespace in /run/netns that pid is in.
func netnsOf(pid int) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		var nst syscall.Stat_t
		if syscall.Stat(filepath.Join(netnsDir, e.Name()), &nst) == nil && nst.Ino == st.Ino && nst.Dev == st.Dev {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("process %d is in no namespace of %s", pid, netnsDir)
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// execIn runs argv to its end as an exec probe does, from t's thread.
func execIn(t *nsThread, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := startCmd(t, cmd)
	if err == nil {
		err = cmd.Wait()
	}
	return out.String(), err
}

func waitFor(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
