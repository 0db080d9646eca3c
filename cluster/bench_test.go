package cluster

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
)

// memNet is memberlist's in-memory MockNetwork with every byte counted.
// MockTransport delivers packets on unbuffered channels: a node that
// answers a ping blocks until the pinger reads, and two nodes pinging
// each other at once deadlock, which UDP never does; a node that stopped
// reading blocks its senders for ever. So each transport here pumps its
// mock channels, until the whole network stops, into a buffer that drops
// when full or after its node shut down, as a UDP socket does.
type memNet struct {
	mock  memberlist.MockNetwork
	bytes atomic.Int64 // every packet and stream byte written
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newMemNet() *memNet { return &memNet{stop: make(chan struct{})} }

// transport returns the transport of a new node. Create them all before
// starting any node: MockNetwork's maps are not safe for concurrent use.
func (n *memNet) transport(name string) *memTransport {
	t := &memTransport{MockTransport: n.mock.NewTransport(name), net: n,
		packets: make(chan *memberlist.Packet, 1024), streams: make(chan net.Conn, 64), down: make(chan struct{})}
	n.wg.Go(t.pump)
	return t
}

// close stops the pumps; call it after every node has shut down.
func (n *memNet) close() {
	close(n.stop)
	n.wg.Wait()
}

type memTransport struct {
	*memberlist.MockTransport
	net      *memNet
	packets  chan *memberlist.Packet
	streams  chan net.Conn
	down     chan struct{}
	downOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*memTransport)(nil)

func (t *memTransport) pump() {
	for {
		select {
		case p := <-t.MockTransport.PacketCh():
			select {
			case <-t.down:
			case t.packets <- p:
			default: // full: lost, as UDP loses
			}
		case c := <-t.MockTransport.StreamCh():
			select {
			case t.streams <- &countedConn{Conn: c, n: &t.net.bytes}:
			case <-t.down:
				_ = c.Close()
			case <-t.net.stop:
				_ = c.Close()
				return
			}
		case <-t.net.stop:
			return
		}
	}
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *memTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *memTransport) Shutdown() error {
	t.downOnce.Do(func() { close(t.down) })
	return nil
}

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.net.bytes.Add(int64(len(b)))
	return t.MockTransport.WriteToAddress(b, a)
}

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *memTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.MockTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, n: &t.net.bytes}, nil
}

// countedConn counts what is written (each end of a stream counts its
// own writes, so every byte is counted once).
type countedConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkConvergence30 runs 30 nodes in one process on an in-memory
// network with production timings (gossip every 200ms, push/pull every
// 10s) and measures, per change made on one node, the time until all 30
// run it and the bytes all nodes sent meanwhile. Run with a fixed count:
//
//	go test -run '^$' -bench Convergence30 -benchtime 20x ./cluster/
func BenchmarkConvergence30(b *testing.B) {
	const size = 30
	mn := newMemNet()
	nodes := make([]*tnode, size)
	transports := make([]*memTransport, size)
	for i := range nodes {
		transports[i] = mn.transport(fmt.Sprintf("node-%02d", i))
	}
	for i := range nodes {
		name := fmt.Sprintf("node-%02d", i)
		store := config.NewStore(testConfig(b), name)
		n, err := New(Options{Cluster: config.Cluster{NodeName: name, Join: []string{transports[0].FinalAddr()}},
			Store: store, Log: benchLogger(), Transport: transports[i]})
		if err != nil {
			b.Fatal(err)
		}
		store.SetPublisher(n)
		nodes[i] = &tnode{name: name, store: store, node: n}
	}
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { _ = n.node.Close() })
		}
		wg.Wait()
		mn.close()
	}()
	waitFor(b, 30*time.Second, func() bool {
		for _, n := range nodes {
			if alive(n.node) != size {
				return false
			}
		}
		return true
	}, "membership")

	// Background traffic (probes, push/pull) while nothing changes.
	idleStart, idleBytes := time.Now(), mn.bytes.Load()
	time.Sleep(3 * time.Second) //nolint:forbidigo // measuring idle traffic over a fixed window
	idleRate := float64(mn.bytes.Load()-idleBytes) / time.Since(idleStart).Seconds()

	var total, worst time.Duration
	var bytes int64
	b.ResetTimer()
	for i := range b.N {
		w := 2 + i%50
		before, start := mn.bytes.Load(), time.Now()
		apply(b, nodes[i%size], setWeight(3307, w))
		waitFor(b, 30*time.Second, func() bool {
			for _, n := range nodes {
				if weightOf(n.store.Current(), 3307) != w {
					return false
				}
			}
			return true
		}, "convergence")
		took := time.Since(start)
		total, worst = total+took, max(worst, took)
		bytes += mn.bytes.Load() - before
	}
	b.StopTimer()
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg.Milliseconds()), "ms/converge")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms/converge")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/change")
	b.ReportMetric((float64(bytes)-idleRate*total.Seconds())/float64(b.N), "net-bytes/change")
	b.ReportMetric(idleRate, "idle-bytes/s")
}

// FinalAddr is the transport's address, host:port.
func (t *memTransport) FinalAddr() string {
	ip, port, err := t.FinalAdvertiseAddr("", 0)
	if err != nil {
		panic(err)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(port))
}

func waitFor(b *testing.B, within time.Duration, ok func() bool, what string) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) //nolint:forbidigo // polling
	}
}

func benchLogger() *zap.Logger {
	if os.Getenv("CLUSTER_DEBUG") == "" {
		return zap.NewNop()
	}
	lg, _ := zap.NewDevelopment()
	return lg
}
