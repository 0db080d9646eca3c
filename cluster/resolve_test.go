package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/freeport"
)

// fakeDNS answers LookupHost from a table the test changes, and counts
// the lookups of each name.
type fakeDNS struct {
	mu      sync.Mutex
	hosts   map[string][]string
	lookups map[string]int
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{hosts: make(map[string][]string), lookups: make(map[string]int)}
}

func (f *fakeDNS) set(host string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = ips
}

func (f *fakeDNS) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[host]
}

func (f *fakeDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[host]++
	if ips := f.hosts[host]; len(ips) > 0 {
		return append([]string(nil), ips...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolveSeedsExpandsNames(t *testing.T) {
	dns := newFakeDNS()
	dns.set("peers.example", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.1")
	dns.set("v6.example", "fd00::1")
	defer SetResolver(dns)()
	n := &Node{ctx: context.Background(), lg: testLogger(t), addr: "10.0.0.2:7946"}
	got := n.resolveSeeds([]string{"peers.example:7946", "10.9.9.9:7000", "v6.example:7946", "gone.example:7946"})
	// every address of the name, sorted and once each, without this node's
	// own; literals kept; the unresolvable name skipped
	require.Equal(t, []string{"10.0.0.1:7946", "10.0.0.3:7946", "10.9.9.9:7000", "[fd00::1]:7946"}, got)
	require.Equal(t, 1, dns.count("gone.example"))
}

// TestJoinByNameReresolvesWhenAlone: nodes on their own loopback IPs
// and one port, as pods behind a headless Service, whose cluster.join is
// that Service's DNS name. While the name resolves to nothing each node
// is alone and keeps resolving it; once it lists the pods they find each
// other, and a node started later joins through the same name.
func TestJoinByNameReresolvesWhenAlone(t *testing.T) {
	c := newCluster(t, time.Second)
	dns := newFakeDNS()
	defer SetResolver(dns)()
	p, err := freeport.OnAll("127.0.0.1", "127.0.0.2", "127.0.0.3")
	require.NoError(t, err)
	port := strconv.Itoa(p)
	const name = "rwproxy-gossip.test"
	start := func(i int) *tnode {
		ip := fmt.Sprintf("127.0.0.%d", i)
		tn := c.start(fmt.Sprintf("n%d", i), net.JoinHostPort(ip, port), c.dir(), 0, testConfig(t), name+":"+port)
		require.Equal(t, net.JoinHostPort(ip, port), tn.node.Addr())
		return tn
	}
	n1, n2 := start(1), start(2)
	// Both alone: each resolved the name at start and again on a later
	// attempt.
	require.Eventually(t, func() bool { return dns.count(name) >= 4 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, alive(n1.node))
	require.Equal(t, 1, alive(n2.node))
	// The name now lists the pods (node 3 is not up yet).
	dns.set(name, "127.0.0.1", "127.0.0.2", "127.0.0.3")
	c.waitMembers([]*tnode{n1, n2}, 2)
	n3 := start(3)
	c.waitMembers([]*tnode{n1, n2, n3}, 3)
}
