package kubenode

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
)

// The pod ranges of this process's running nodes: explicit ranges must not
// overlap them, and a default range is picked away from them.
var (
	rangesMu sync.Mutex
	ranges   = map[string]*net.IPNet{} // by node name
)

// claimRange reserves cidr for node, or when cidr is empty a random /24
// inside 127.100.0.0-127.199.255.255 that no node of this process uses, so
// that test processes running side by side (each with its own nodes) rarely
// meet on an address.
func claimRange(node, cidr string) (string, error) {
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
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return "", fmt.Errorf("kubenode: pod CIDR %q: %w", cidr, err)
		}
		if other := overlaps(n); other != "" {
			return "", fmt.Errorf("kubenode: pod CIDR %s overlaps node %s's %s", cidr, other, ranges[other])
		}
		ranges[node] = n
		return cidr, nil
	}
	for range 1000 {
		var b [2]byte
		rand.Read(b[:])
		cand := fmt.Sprintf("127.%d.%d.0/24", 100+int(b[0])%100, b[1])
		_, n, _ := net.ParseCIDR(cand)
		if overlaps(n) == "" {
			ranges[node] = n
			return cand, nil
		}
	}
	return "", fmt.Errorf("kubenode: no free pod range")
}

func releaseRange(node string) {
	rangesMu.Lock()
	delete(ranges, node)
	rangesMu.Unlock()
}

// ipPool hands out the loopback addresses of one node's pod range. It goes
// round the range rather than reusing the address just freed, so a client
// that still holds a dead pod's address meets nothing rather than a new pod.
type ipPool struct {
	mu     sync.Mutex
	first  uint32 // first usable address
	size   uint32
	next   uint32 // offset to try first
	inUse  map[uint32]bool
	banned uint32 // the node's own address, if in range
}

func newIPPool(cidr, nodeIP string) (*ipPool, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("kubenode: pod CIDR %q: %w", cidr, err)
	}
	ip4 := ip.To4()
	if ip4 == nil || ip4[0] != 127 {
		return nil, fmt.Errorf("kubenode: pod CIDR %q is not inside 127.0.0.0/8", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if ones < 8 || bits-ones < 2 || bits-ones > 24 {
		return nil, fmt.Errorf("kubenode: pod CIDR %q: want a prefix between /8 and /30", cidr)
	}
	base := binary.BigEndian.Uint32(ipnet.IP.To4())
	p := &ipPool{first: base + 1, size: (1 << (bits - ones)) - 2, inUse: map[uint32]bool{}}
	if n := net.ParseIP(nodeIP).To4(); n != nil {
		p.banned = binary.BigEndian.Uint32(n)
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
		if p.inUse[a] || a == p.banned {
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
