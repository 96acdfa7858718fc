package kubenode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// sandbox is a pod's network: a network namespace with lo and eth0 (the
// pod's IP, a default route via the gateway), eth0 being one end of a veth
// pair whose other end is on the network's bridge; and a thread in that
// namespace from which the pod's processes are forked.
type sandbox struct {
	nw     *Network
	netns  string // its name in /run/netns
	veth   string // the host end
	ip     string
	thread *nsThread

	removeOnce sync.Once
	removeErr  error
}

// newSandbox makes the namespace and veth pair of a pod with address ip.
func (nw *Network) newSandbox(ip string) (sb *sandbox, err error) {
	nw.mu.Lock()
	if nw.removed {
		nw.mu.Unlock()
		return nil, fmt.Errorf("kubenode: network %s is removed", nw.cidr)
	}
	sb = &sandbox{nw: nw, netns: objectName('-'), veth: objectName('h'), ip: ip}
	nw.sandboxes[sb] = true
	nw.mu.Unlock()
	defer func() {
		if err != nil {
			_ = sb.remove()
			sb = nil
		}
	}()
	if len(sb.veth) > 15 {
		return sb, fmt.Errorf("kubenode: interface name %s is too long", sb.veth)
	}
	ones, _ := nw.cidr.Mask.Size()
	if err := ipBatch("",
		"netns add "+sb.netns,
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", sb.veth, sb.netns),
		fmt.Sprintf("link set %s master %s up", sb.veth, nw.bridge)); err != nil {
		return sb, fmt.Errorf("kubenode: making the pod's network namespace: %w", err)
	}
	if err := ipBatch(sb.netns,
		fmt.Sprintf("addr add %s/%d dev eth0", ip, ones),
		"link set lo up",
		"link set eth0 up",
		"route add default via "+nw.gateway.String()); err != nil {
		return sb, fmt.Errorf("kubenode: setting up the pod's network namespace: %w", err)
	}
	if sb.thread, err = startNSThread(filepath.Join(netnsDir, sb.netns)); err != nil {
		return sb, fmt.Errorf("kubenode: entering the pod's network namespace: %w", err)
	}
	return sb, nil
}

// remove kills what still runs in the sandbox's namespace, ends its
// thread and deletes its veth pair and namespace (with the neighbour entry
// the host had for its address).
func (sb *sandbox) remove() error {
	sb.removeOnce.Do(func() {
		killIn(filepath.Join(netnsDir, sb.netns))
		if sb.thread != nil {
			sb.thread.stop()
		}
		errs := []error{ipDelete("link", sb.veth), ipDelete("netns", sb.netns)}
		_, _ = runIP("", "neigh", "flush", "to", sb.ip, "dev", sb.nw.bridge)
		sb.removeErr = errors.Join(errs...)
		sb.nw.mu.Lock()
		delete(sb.nw.sandboxes, sb)
		sb.nw.mu.Unlock()
	})
	return sb.removeErr
}

// nsThread is an OS thread in a network namespace that runs functions sent
// to it: the pod's processes are started there, and a child inherits the
// namespace of the thread that forks it. While it is the pod's, the thread
// runs no other goroutine (it is locked); it is never the main thread
// (which /proc/<pid>/ns/net describes). When it is stopped (once the pod's
// processes are gone) it goes back to the host's namespace and is
// unlocked, and so lives on: a thread must not end, because it may have
// forked, before it was the pod's, children of other parts of the process
// whose Pdeathsig is tied to it (a test's terraform or cell, with
// SIGKILL) — ending it killed them. Only if it cannot go back does it end,
// locked, with the namespace.
type nsThread struct {
	reqs     chan func()
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func startNSThread(nsPath string) (*nsThread, error) {
	t := &nsThread{reqs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go t.run(nsPath, ready)
	if err := <-ready; err != nil {
		<-t.done
		return nil, err
	}
	return t, nil
}

func (t *nsThread) run(nsPath string, ready chan<- error) {
	runtime.LockOSThread() // unlocked once back in the host's namespace: see nsThread
	if unix.Gettid() == unix.Getpid() {
		// The main thread, which the runtime keeps (wedged) when its locked
		// goroutine ends, and which /proc/self names: hold it while another
		// goroutine, on another thread, becomes the namespace's thread.
		inner := make(chan error, 1)
		go t.run(nsPath, inner)
		err := <-inner
		runtime.UnlockOSThread()
		ready <- err
		return
	}
	defer close(t.done)
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ready <- err
		return
	}
	defer unix.Close(orig)
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ready <- err
		return
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		ready <- fmt.Errorf("setns %s: %w", nsPath, err)
		return
	}
	// Back to the host's namespace when the pod is done; only then may the
	// thread run other goroutines again. If it cannot go back, it ends
	// with its goroutine (locked), taking the namespace with it.
	defer func() {
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	ready <- nil
	for {
		select {
		case f := <-t.reqs:
			f()
		case <-t.quit:
			return
		}
	}
}

// do runs f on the thread.
func (t *nsThread) do(f func() error) error {
	errc := make(chan error, 1)
	select {
	case t.reqs <- func() { errc <- f() }:
		return <-errc
	case <-t.quit:
		return errors.New("the pod's network namespace is gone")
	}
}

// stop ends the pod's use of the thread (called once the pod's processes
// are gone).
func (t *nsThread) stop() {
	t.stopOnce.Do(func() { close(t.quit) })
	<-t.done
}

// killIn SIGKILLs every process whose network namespace is the one at
// nsPath (only the pod's processes can be there: the namespace is this
// agent's) and waits up to 5s for them to go.
func killIn(nsPath string) {
	var want unix.Stat_t
	if unix.Stat(nsPath, &want) != nil {
		return
	}
	in := func() []int {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			var st unix.Stat_t
			if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		pids := in()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}
