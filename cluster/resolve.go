package cluster

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Resolver looks up the IP addresses of a host name, as
// net.Resolver.LookupHost does. cluster.join entries that name a host
// (a Kubernetes headless Service, a DNS round-robin) go through it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// resolver is the process's Resolver; tests replace it with SetResolver.
var resolver atomic.Pointer[Resolver]

// SetResolver makes every node resolve cluster.join host names with r
// (nil: the system resolver) and returns a function that restores the
// previous one. It exists for tests that name loopback nodes by a DNS
// name, as a headless Service names pods.
func SetResolver(r Resolver) (restore func()) {
	var p *Resolver
	if r != nil {
		p = &r
	}
	old := resolver.Swap(p)
	return func() { resolver.Store(old) }
}

func currentResolver() Resolver {
	if p := resolver.Load(); p != nil {
		return *p
	}
	return net.DefaultResolver
}

// resolveTimeout bounds one round of seed lookups.
const resolveTimeout = 5 * time.Second

// resolveSeeds expands cluster.join into the host:port addresses to
// contact: an IP literal stays as it is; a host name becomes one address
// per IP it resolves to, every one of them (a headless Service lists each
// ready pod), so that a node that reaches any one peer joins. It is
// called each time a node is alone, so that names are resolved again
// when the pods behind them change. A name that does not resolve is
// skipped until the next round; this node's own address is dropped.
func (n *Node) resolveSeeds(seeds []string) []string {
	ctx, cancel := context.WithTimeout(n.ctx, resolveTimeout)
	defer cancel()
	r := currentResolver()
	out := make([]string, 0, len(seeds))
	for _, s := range seeds {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || net.ParseIP(host) != nil {
			out = append(out, s) // memberlist reports a malformed one
			continue
		}
		ips, err := r.LookupHost(ctx, host)
		if err != nil {
			n.lg.Debug("cannot resolve a cluster.join name; will retry", zap.String("host", host), zap.Error(err))
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(a string) bool { return a == n.addr })
}
