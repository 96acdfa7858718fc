package kubenode

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultNetworkRange is where a Network's range is picked from when
// NetworkOptions.CIDR is empty: 198.18.0.0/15, the range RFC 2544 reserves
// for benchmarking, which no real network uses.
const DefaultNetworkRange = "198.18.0.0/15"

// defaultNetworkPrefix is the size of a default Network: 16 /24s, room for
// 16 nodes with default pod ranges, and 32 such networks in
// DefaultNetworkRange for test processes running side by side.
const defaultNetworkPrefix = 20

// NetworkOptions configure a Network.
type NetworkOptions struct {
	// CIDR is the network's IPv4 range (e.g. 198.18.32.0/20): the bridge
	// gets its first address (the gateway), the nodes' pod ranges lie
	// inside it. No address or route of the host may overlap it. Default: a
	// /20 inside DefaultNetworkRange that overlaps none.
	CIDR string
}

// Network is a cluster network on this host: a Linux bridge (with the
// gateway address) to which every pod of its nodes is attached by a veth
// pair from its own network namespace, so all pods share one L2 segment
// and the host reaches every pod IP through the bridge. Each node hands out
// IPs from its own range of it (Options.PodCIDR).
//
// Nodes started without Options.Network share one network per process,
// made by the first of them and removed when the last of them stops; one
// made by NewNetwork is removed once Close has been called and no node uses
// it any more. Either way its bridge, its pods' namespaces and veth pairs
// and its forwards go with it.
//
// The network is not routed anywhere: the agent enables no forwarding and
// adds no NAT, so pods reach each other, the host's own addresses (through
// the gateway) and nothing beyond. A service listening only on the host's
// loopback is reached through Forward.
type Network struct {
	cidr    *net.IPNet
	gateway net.IP
	bridge  string

	mu        sync.Mutex // guards the fields below; netMu is taken first when both are
	refs      int
	closed    bool // Close was called (NewNetwork's reference is gone)
	removed   bool
	shared    bool // the process's default network
	forwards  map[*forward]bool
	sandboxes map[*sandbox]bool
}

var (
	netMu      sync.Mutex // network creation, acquisition and release
	defaultNet *Network   // the shared network, while a node uses it
	swept      bool       // the first sweep of this process is done
	nameSeq    atomic.Uint64
)

// NewNetwork makes a Network: its bridge, with the gateway address. Before
// that it removes what agents of dead processes left behind (namespaces,
// veth pairs, bridges named after a process that no longer runs). It needs
// root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2's ip. Close removes it
// once no node uses it.
func NewNetwork(opts NetworkOptions) (*Network, error) {
	netMu.Lock()
	defer netMu.Unlock()
	nw, err := newNetwork(opts)
	if err != nil {
		return nil, err
	}
	nw.refs = 1
	return nw, nil
}

// acquireNetwork takes a reference on nw, or when nw is nil on the shared
// network, made if no node uses one.
func acquireNetwork(nw *Network) (*Network, error) {
	netMu.Lock()
	defer netMu.Unlock()
	if nw == nil {
		if defaultNet == nil {
			var err error
			if defaultNet, err = newNetwork(NetworkOptions{}); err != nil {
				return nil, err
			}
			defaultNet.shared = true
		}
		nw = defaultNet
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.removed {
		return nil, fmt.Errorf("kubenode: network %s is closed", nw.cidr)
	}
	nw.refs++
	return nw, nil
}

// release drops a reference; the last one removes the network.
func (nw *Network) release() {
	netMu.Lock()
	defer netMu.Unlock()
	nw.mu.Lock()
	nw.refs--
	last := nw.refs <= 0 && !nw.removed
	if last {
		nw.removed = true
	}
	nw.mu.Unlock()
	if !last {
		return
	}
	if defaultNet == nw {
		defaultNet = nil
	}
	nw.remove()
}

// Close drops the reference NewNetwork returned: the network is removed
// now, or when the last node using it stops. Safe to call more than once.
func (nw *Network) Close() {
	nw.mu.Lock()
	if nw.closed || nw.shared {
		nw.mu.Unlock()
		return
	}
	nw.closed = true
	nw.mu.Unlock()
	nw.release()
}

// CIDR is the network's range, e.g. 198.18.32.0/20.
func (nw *Network) CIDR() string { return nw.cidr.String() }

// Gateway is the host's address on the network: pods' default route, and
// where the host's services are reached from pods (see Forward).
func (nw *Network) Gateway() string { return nw.gateway.String() }

// Bridge is the name of the network's bridge.
func (nw *Network) Bridge() string { return nw.bridge }

// Forward relays TCP connections made to addr, a new port on the gateway,
// to target (host:port as the host dials it, e.g. a server listening only
// on 127.0.0.1), so that pods can reach it. stop closes the listener and
// the connections it relays; so does the removal of the network.
func (nw *Network) Forward(target string) (addr string, stop func(), err error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return "", nil, fmt.Errorf("kubenode: forward target %q: %w", target, err)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.removed {
		return "", nil, fmt.Errorf("kubenode: network %s is removed", nw.cidr)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(nw.gateway.String(), "0"))
	if err != nil {
		return "", nil, fmt.Errorf("kubenode: forward to %s: %w", target, err)
	}
	f := &forward{nw: nw, l: l, target: target, conns: map[net.Conn]bool{}}
	nw.forwards[f] = true
	go f.serve()
	return l.Addr().String(), f.stop, nil
}

// newNetwork makes the bridge of a network; netMu is held. Creation is
// serialized across processes by a lock file, so that two processes never
// pick the same free range.
func newNetwork(opts NetworkOptions) (nw *Network, err error) {
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	sweepLeftovers(!swept)
	swept = true
	used, err := hostPrefixes()
	if err != nil {
		return nil, err
	}
	var cidr *net.IPNet
	if opts.CIDR != "" {
		ip, n, err := net.ParseCIDR(opts.CIDR)
		if err != nil || ip.To4() == nil {
			return nil, fmt.Errorf("kubenode: network CIDR %q: want an IPv4 range", opts.CIDR)
		}
		if ones, _ := n.Mask.Size(); ones < 8 || ones > 28 {
			return nil, fmt.Errorf("kubenode: network CIDR %q: want a prefix between /8 and /28", opts.CIDR)
		}
		if u := overlapping(n, used); u != nil {
			return nil, fmt.Errorf("kubenode: network CIDR %s overlaps %s on this host", n, u)
		}
		cidr = n
	} else if cidr = freeNetwork(used); cidr == nil {
		return nil, fmt.Errorf("kubenode: no /%d inside %s is free of the host's addresses and routes", defaultNetworkPrefix, DefaultNetworkRange)
	}
	nw = &Network{
		cidr:      cidr,
		gateway:   u32ToNetIP(ipToU32(cidr.IP) + 1),
		bridge:    objectName('b'),
		forwards:  map[*forward]bool{},
		sandboxes: map[*sandbox]bool{},
	}
	var mac [6]byte
	_, _ = rand.Read(mac[:])
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	ones, _ := cidr.Mask.Size()
	// An explicit MAC: a bridge's own would follow its ports' and change
	// as pods come and go, and pods would hold a stale gateway address.
	err = ipBatch("",
		fmt.Sprintf("link add name %s address %s type bridge forward_delay 0", nw.bridge, net.HardwareAddr(mac[:])),
		fmt.Sprintf("addr add %s/%d dev %s", nw.gateway, ones, nw.bridge),
		"link set "+nw.bridge+" up")
	if err != nil {
		_ = ipDelete("link", nw.bridge)
		return nil, fmt.Errorf("kubenode: making the network's bridge: %w", err)
	}
	return nw, nil
}

// remove closes the forwards, removes the sandboxes still attached (a pod
// whose processes would not end) and the bridge.
func (nw *Network) remove() {
	nw.mu.Lock()
	var fs []*forward
	for f := range nw.forwards {
		fs = append(fs, f)
	}
	var sbs []*sandbox
	for sb := range nw.sandboxes {
		sbs = append(sbs, sb)
	}
	nw.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	for _, sb := range sbs {
		_ = sb.remove()
	}
	_ = ipDelete("link", nw.bridge)
}

// objectName names a bridge ('b'), veth host end ('h') or network namespace
// ('-') of this process: pvd<pid><kind><n>, n counting in base 36, so that
// every name is unique and names the process that owns it (see
// sweepLeftovers). Interface names have at most 15 bytes.
func objectName(kind byte) string {
	return "pvd" + strconv.Itoa(os.Getpid()) + string(kind) + strconv.FormatUint(nameSeq.Add(1), 36)
}

var leftoverName = regexp.MustCompile(`^pvd([0-9]+)([bh-])[0-9a-z]+$`)

// sweepLeftovers removes the links (bridges, veth host ends) and network
// namespaces named for a process that no longer runs, as a test process
// that crashed leaves them; with self, also those named for this process
// (a dead process's pid reused: this process made none yet).
func sweepLeftovers(self bool) {
	owner := func(name string) (pid int, kind string) {
		m := leftoverName.FindStringSubmatch(name)
		if m == nil || len(m[1]) > 10 {
			return 0, ""
		}
		pid, _ = strconv.Atoi(m[1])
		return pid, m[2]
	}
	dead := func(pid int) bool {
		if pid == os.Getpid() {
			return self
		}
		return pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	links, _ := hostLinks()
	// veth host ends first: deleting one deletes its peer in the namespace.
	for _, want := range []string{"h", "b"} {
		for _, l := range links {
			if pid, kind := owner(l); kind == want && dead(pid) {
				_ = ipDelete("link", l)
			}
		}
	}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if pid, kind := owner(e.Name()); kind == "-" && dead(pid) {
			_ = ipDelete("netns", e.Name())
		}
	}
}

const netnsDir = "/run/netns"

// lockHost takes a host-wide lock (a file lock in /run) for network
// creation and sweeping.
func lockHost() (func(), error) {
	f, err := os.OpenFile("/run/paved-kubenode.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kubenode: the network lock: %w (the agent's networks need root)", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("kubenode: the network lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// hostPrefixes is every IPv4 address range the host has: its addresses'
// networks and the destinations of its routes in all tables.
func hostPrefixes() ([]*net.IPNet, error) {
	var out []*net.IPNet
	var addrs []struct {
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := ipJSON(&addrs, "-4", "addr", "show"); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		for _, ai := range a.AddrInfo {
			if _, n, err := net.ParseCIDR(fmt.Sprintf("%s/%d", ai.Local, ai.Prefixlen)); err == nil {
				out = append(out, n)
			}
		}
	}
	var routes []struct {
		Dst string `json:"dst"`
	}
	if err := ipJSON(&routes, "-4", "route", "show", "table", "all"); err != nil {
		return nil, err
	}
	for _, r := range routes {
		dst := r.Dst
		if dst == "" || dst == "default" {
			continue
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if _, n, err := net.ParseCIDR(dst); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

func overlapping(n *net.IPNet, used []*net.IPNet) *net.IPNet {
	for _, u := range used {
		if u.Contains(n.IP) || n.Contains(u.IP) {
			return u
		}
	}
	return nil
}

// freeNetwork picks a /20 of DefaultNetworkRange that overlaps nothing in
// used, starting at a random one.
func freeNetwork(used []*net.IPNet) *net.IPNet {
	_, all, _ := net.ParseCIDR(DefaultNetworkRange)
	ones, _ := all.Mask.Size()
	count := uint32(1) << (defaultNetworkPrefix - ones)
	var b [4]byte
	_, _ = rand.Read(b[:])
	start := binary.BigEndian.Uint32(b[:]) % count
	base := ipToU32(all.IP)
	for i := range count {
		k := (start + i) % count
		n := &net.IPNet{IP: u32ToNetIP(base + k<<(32-defaultNetworkPrefix)), Mask: net.CIDRMask(defaultNetworkPrefix, 32)}
		if overlapping(n, used) == nil {
			return n
		}
	}
	return nil
}

// hostLinks is the names of the host's network interfaces.
func hostLinks() ([]string, error) {
	var links []struct {
		IfName string `json:"ifname"`
	}
	if err := ipJSON(&links, "link", "show"); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(links))
	for _, l := range links {
		out = append(out, l.IfName)
	}
	return out, nil
}

var ipPath = sync.OnceValues(func() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", errors.New("kubenode: iproute2's ip is not installed (the agent's networks need it)")
})

// runIP runs ip with args, stdin as its input.
func runIP(stdin string, args ...string) ([]byte, error) {
	path, err := ipPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.Bytes(), fmt.Errorf("ip %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// ipBatch runs commands in one ip process (in netns ns unless empty); it
// stops at the first that fails.
func ipBatch(ns string, cmds ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-netns", ns}, args...)
	}
	_, err := runIP(strings.Join(cmds, "\n")+"\n", args...)
	if err != nil {
		return fmt.Errorf("%w (commands: %s)", err, strings.Join(cmds, "; "))
	}
	return nil
}

func ipJSON(v any, args ...string) error {
	out, err := runIP("", append([]string{"-json"}, args...)...)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	return json.Unmarshal(out, v)
}

// ipDelete deletes a link or network namespace; one already gone is no
// error.
func ipDelete(kind, name string) error {
	var err error
	switch kind {
	case "link":
		_, err = runIP("", "link", "del", "dev", name)
		if err != nil && !linkExists(name) {
			err = nil
		}
	case "netns":
		_, err = runIP("", "netns", "del", name)
		if _, statErr := os.Stat(filepath.Join(netnsDir, name)); err != nil && os.IsNotExist(statErr) {
			err = nil
		}
	}
	return err
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// forward is one Network.Forward.
type forward struct {
	nw     *Network
	l      net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]bool
	stopped bool
}

func (f *forward) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go f.relay(c)
	}
}

func (f *forward) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		c.Close()
		return false
	}
	f.conns[c] = true
	return true
}

func (f *forward) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forward) relay(c net.Conn) {
	if !f.track(c) {
		return
	}
	defer f.untrack(c)
	d := net.Dialer{Timeout: 10 * time.Second}
	t, err := d.Dial("tcp", f.target)
	if err != nil {
		return
	}
	if !f.track(t) {
		return
	}
	defer f.untrack(t)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
	<-done
}

func (f *forward) stop() {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.stopped = true
	f.l.Close()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.nw.mu.Lock()
	delete(f.nw.forwards, f)
	f.nw.mu.Unlock()
}

func ipToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func u32ToNetIP(a uint32) net.IP {
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, a)
	return b
}
