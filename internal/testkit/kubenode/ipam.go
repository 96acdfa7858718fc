package kubenode

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
)

// The pod ranges of this process's running nodes: explicit ranges must not
// overlap them, and a default range is picked away from them. (Networks of
// one process never overlap, so one map serves them all.)
var (
	rangesMu sync.Mutex
	ranges   = map[string]*net.IPNet{} // by node name
)

// claimRange reserves cidr for node, or when cidr is empty the first /24 of
// nw that no node uses (all of nw when it is a /24 or smaller).
func claimRange(node, cidr string, nw *Network) (string, error) {
	rangesMu.Lock()
	defer rangesMu.Unlock()
	if _, ok := ranges[node]; ok {
		return "", fmt.Errorf("kubenode: a node named %s already runs in this process", node)
	}
	overlaps := func(n *net.IPNet) string {
		for other, o := range ranges {
			if o.Contains(n.IP) || n.Contains(o.IP) {
				return other
			}
		}
		return ""
	}
	if cidr != "" {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil || ip.To4() == nil {
			return "", fmt.Errorf("kubenode: pod CIDR %q: want an IPv4 range", cidr)
		}
		ones, _ := n.Mask.Size()
		nwOnes, _ := nw.cidr.Mask.Size()
		if !nw.cidr.Contains(n.IP) || ones < nwOnes {
			return "", fmt.Errorf("kubenode: pod CIDR %s is not inside the network's %s", cidr, nw.cidr)
		}
		if other := overlaps(n); other != "" {
			return "", fmt.Errorf("kubenode: pod CIDR %s overlaps node %s's %s", cidr, other, ranges[other])
		}
		ranges[node] = n
		return n.String(), nil
	}
	nwOnes, _ := nw.cidr.Mask.Size()
	size := max(nwOnes, 24)
	base := ipToU32(nw.cidr.IP)
	for k := range uint32(1) << (size - nwOnes) {
		n := &net.IPNet{IP: u32ToNetIP(base + k<<(32-size)), Mask: net.CIDRMask(size, 32)}
		if overlaps(n) == "" {
			ranges[node] = n
			return n.String(), nil
		}
	}
	return "", fmt.Errorf("kubenode: no free pod range in the network's %s", nw.cidr)
}

func releaseRange(node string) {
	rangesMu.Lock()
	delete(ranges, node)
	rangesMu.Unlock()
}

// ipPool hands out the addresses of one node's pod range. It goes round
// the range rather than reusing the address just freed, so a client that
// still holds a dead pod's address meets nothing rather than a new pod.
type ipPool struct {
	mu     sync.Mutex
	first  uint32 // first usable address
	size   uint32
	next   uint32 // offset to try first
	inUse  map[uint32]bool
	banned map[uint32]bool // the gateway and the node's own address, if in range
}

func newIPPool(cidr string, banned ...string) (*ipPool, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("kubenode: pod CIDR %q: %w", cidr, err)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("kubenode: pod CIDR %q is not IPv4", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if ones < 8 || bits-ones < 2 || bits-ones > 24 {
		return nil, fmt.Errorf("kubenode: pod CIDR %q: want a prefix between /8 and /30", cidr)
	}
	base := binary.BigEndian.Uint32(ipnet.IP.To4())
	p := &ipPool{first: base + 1, size: (1 << (bits - ones)) - 2, inUse: map[uint32]bool{}, banned: map[uint32]bool{}}
	for _, b := range banned {
		if n := net.ParseIP(b).To4(); n != nil {
			p.banned[binary.BigEndian.Uint32(n)] = true
		}
	}
	return p, nil
}

func (p *ipPool) get() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.size {
		off := p.next
		p.next = (p.next + 1) % p.size
		a := p.first + off
		if p.inUse[a] || p.banned[a] {
			continue
		}
		p.inUse[a] = true
		return u32ToIP(a), nil
	}
	return "", fmt.Errorf("kubenode: pod range exhausted (%d addresses)", p.size)
}

func (p *ipPool) put(ip string) {
	a := net.ParseIP(ip).To4()
	if a == nil {
		return
	}
	p.mu.Lock()
	delete(p.inUse, binary.BigEndian.Uint32(a))
	p.mu.Unlock()
}

func u32ToIP(a uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return net.IP(b[:]).String()
}
