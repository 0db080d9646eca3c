package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
)

// Store is the configuration store as the cluster uses it
// (*config.Store implements it).
type Store interface {
	// Versioned returns the running configuration.
	Versioned() *config.Versioned
	// Merge installs, without publishing, the configuration build
	// returns from the current one (see config.Store.Merge).
	Merge(ctx context.Context, origin string, build func(cur *config.Config) (*config.Config, error)) (*config.Versioned, bool, error)
}

var _ Store = (*config.Store)(nil)

// Saver writes modules adopted from a peer to this node's DISK layer
// (<admin.datadir>/rwproxy.db); it is called when cluster.save_to_disk is
// on. modules are module names (ModuleServers, ...); c is the whole
// running configuration, shared and immutable.
type Saver interface {
	SaveModules(ctx context.Context, c *config.Config, modules []string) error
}

// Options configure a Node.
type Options struct {
	// Cluster is this node's cluster section (bind, join, node name,
	// secret, advertise address, intervals).
	Cluster config.Cluster
	// Datadir holds cluster.json (admin.datadir); "" keeps no state
	// across restarts (tests only).
	Datadir string
	// Store is the configuration store the node publishes from and
	// merges into. The caller also installs the node as its Publisher.
	Store Store
	// Saver, if not nil, writes adopted modules to disk (see Saver).
	Saver Saver
	// Log is the parent logger; the node logs as "cluster" and memberlist
	// as "cluster.memberlist".
	Log *zap.Logger

	// Transport replaces the UDP/TCP transport on Cluster.Bind (tests and
	// benchmarks use an in-memory one); WrapTransport, if set, wraps
	// whichever transport is used (to drop or count traffic).
	Transport     memberlist.NodeAwareTransport
	WrapTransport func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport
	// Tune, if set, adjusts the memberlist configuration last (tests use
	// faster probe and suspicion timings).
	Tune func(*memberlist.Config)
	// Sockets, if set, is the gossip port to use instead of opening
	// Cluster.Bind (the sockets a zero-downtime upgrade handed over:
	// detach.go); Rejoin are members to join at once (the old node's
	// peers), so that the node learns its own incarnation from them.
	Sockets *Sockets
	Rejoin  []string
	// ReconnectInterval spaces attempts to rejoin the seeds when alone
	// and failed members after a partition; 0 means 5s.
	ReconnectInterval time.Duration
}

// Node is this proxy's membership in the cluster. It publishes local
// configuration changes (it is the Store's config.Publisher), adopts
// peers' newer module versions, and answers the introspection calls
// behind the admin's cluster tables.
type Node struct {
	name string
	addr string
	lg   *zap.Logger
	// muteML silences memberlist's logger once it is shut down.
	muteML    func()
	store     Store
	saver     Saver
	statePath string
	seeds     []string
	reconnect time.Duration

	ml      *memberlist.Memberlist
	sockets *Sockets // nil with Options.Transport
	queue   *memberlist.TransmitLimitedQueue

	// Hand-offs to the owner goroutine; senders never block.
	inbox     chan []byte   // copied messages from NotifyMsg, MergeRemoteState and fetch replies
	publishCh chan struct{} // a local change may be waiting (buffered 1)

	own ownerState // touched by the owner goroutine only

	localState atomic.Pointer[[]byte] // LocalState's answer, rebuilt by the owner
	ackPayload atomic.Pointer[[]byte] // this node's rows, sent with every probe answer
	meta       atomic.Pointer[[]byte] // NodeMeta's answer: empty until Close
	mu         struct {
		sync.Mutex
		members map[string]*member
		modules []ModuleState // this node's rows, rebuilt by the owner
	}
	warnedSaver atomic.Bool
	// rejectedVersions counts records refused for a version out of bounds.
	rejectedVersions atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var _ config.Publisher = (*Node)(nil)

// New starts a node: it reads cluster.json, restores the module versions
// it holds (see docs/cluster.md), starts memberlist on Cluster.Bind and
// begins joining Cluster.Join in the background (a seed that is not up
// yet is retried). Install the node as the Store's publisher afterwards;
// Close stops it.
func New(o Options) (*Node, error) {
	if o.Store == nil || o.Log == nil {
		return nil, errors.New("cluster: New needs a Store and a Log")
	}
	n := &Node{store: o.Store, saver: o.Saver, seeds: o.Cluster.Join, reconnect: o.ReconnectInterval,
		inbox: make(chan []byte, inboxSize), publishCh: make(chan struct{}, 1)}
	if n.reconnect <= 0 {
		n.reconnect = defaultReconnect
	}
	n.mu.members = make(map[string]*member)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	transport, err := n.transport(o)
	if err != nil {
		n.cancel()
		return nil, err
	}
	n.name = o.Cluster.NodeName
	if n.name == "" {
		n.name = defaultName(transport)
	}
	n.lg = o.Log.Named("cluster").With(zap.String("node", n.name))
	if o.Datadir != "" {
		n.statePath = filepath.Join(o.Datadir, StateFile)
	}
	// Announcements queued before memberlist exists (versions restored
	// from cluster.json) go out with its first gossip rounds.
	n.queue = &memberlist.TransmitLimitedQueue{NumNodes: n.numMembers, RetransmitMult: retransmitMult(o)}
	n.initState()
	if err := n.startMemberlist(o, transport); err != nil {
		n.cancel()
		_ = transport.Shutdown()
		return nil, err
	}
	n.wg.Go(n.run)
	n.wg.Go(n.reconnectLoop)
	if len(o.Rejoin) > 0 {
		n.wg.Go(func() { n.join(o.Rejoin, false) })
	}
	n.lg.Info("cluster node started", zap.String("addr", n.addr), zap.Strings("join", n.seeds),
		zap.Bool("encrypted", o.Cluster.Secret != ""), zap.Bool("legacy_key_primary", o.Cluster.LegacyKeyPrimary))
	if o.Cluster.Secret == "" {
		n.lg.Warn("gossip is neither encrypted nor authenticated (no cluster.secret): any process that reaches " +
			"the gossip port reads and changes the shared configuration; allowed on a loopback cluster.bind only")
	}
	return n, nil
}

// Tuning that is not worth a configuration key.
const (
	inboxSize        = 256
	defaultReconnect = 5 * time.Second
	leaveTimeout     = time.Second
	tcpTimeout       = 5 * time.Second
)

// transport returns the transport to use: Options.Transport, or UDP and
// TCP on Options.Sockets or Cluster.Bind (port 0 picks a free port for
// both).
func (n *Node) transport(o Options) (memberlist.NodeAwareTransport, error) {
	t := o.Transport
	if t == nil {
		s := o.Sockets
		if s == nil {
			var err error
			if s, err = ListenSockets(o.Cluster.Bind); err != nil {
				return nil, fmt.Errorf("cluster: listen on %s: %w", o.Cluster.Bind, err)
			}
		}
		n.sockets = s
		t = newSockTransport(s, o.Log.Named("cluster").Named("transport"))
	}
	if o.WrapTransport != nil {
		t = o.WrapTransport(t)
	}
	return t, nil
}

// defaultName is "<hostname>-<gossip port>": unique per host and port,
// and stable across restarts (it breaks version ties).
func defaultName(t memberlist.NodeAwareTransport) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "rwproxy"
	}
	if _, port, err := t.FinalAdvertiseAddr("", 0); err == nil {
		return host + "-" + strconv.Itoa(port)
	}
	return host
}

// startMemberlist creates the memberlist with this node's delegates.
func (n *Node) startMemberlist(o Options, t memberlist.NodeAwareTransport) error {
	conf := memberlist.DefaultLANConfig()
	conf.Name = n.name
	conf.Transport = t
	conf.Logger, n.muteML = newStdLogger(n.lg.Named("memberlist"))
	d := &delegate{n: n}
	conf.Delegate, conf.Events, conf.Ping = d, d, d
	conf.GossipInterval = orDefault(o.Cluster.GossipInterval, config.DefaultGossipInterval)
	conf.PushPullInterval = orDefault(o.Cluster.PushPullInterval, config.DefaultPushPullInterval)
	conf.TCPTimeout = tcpTimeout
	// A node that crashed may come back under its name on a new address
	// (a rescheduled container) once it has been dead this long.
	conf.DeadNodeReclaimTime = 30 * time.Second
	if o.Cluster.Secret != "" {
		kr, err := keyring(o.Cluster.Secret, o.Cluster.LegacyKeyPrimary)
		if err != nil {
			return err
		}
		conf.Keyring = kr
	}
	if o.Cluster.Advertise != "" {
		host, port, err := net.SplitHostPort(o.Cluster.Advertise)
		if err != nil {
			return fmt.Errorf("cluster.advertise: %w", err)
		}
		conf.AdvertiseAddr = host
		conf.AdvertisePort, _ = strconv.Atoi(port)
	}
	if o.Tune != nil {
		o.Tune(conf)
	}
	ml, err := memberlist.Create(conf)
	if err != nil {
		return fmt.Errorf("cluster: start memberlist: %w", err)
	}
	n.ml = ml
	ln := ml.LocalNode()
	n.addr = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
	return nil
}

// retransmitMult is memberlist's retransmission multiplier for o (each
// announcement is sent RetransmitMult * log10(N+1) times by each node).
func retransmitMult(o Options) int {
	conf := memberlist.DefaultLANConfig()
	if o.Tune != nil {
		o.Tune(conf)
	}
	return conf.RetransmitMult
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// numMembers sizes the broadcast retransmissions; memberlist may ask
// before Create has returned.
func (n *Node) numMembers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	alive := 0
	for _, m := range n.mu.members {
		if m.state == StateAlive {
			alive++
		}
	}
	return max(alive, 1)
}

// Name is this node's name in the cluster.
func (n *Node) Name() string { return n.name }

// Addr is the gossip address peers reach this node at (host:port).
func (n *Node) Addr() string { return n.addr }

// Publish implements config.Publisher: the Store calls it after each
// local change. It only signals the owner goroutine, which compares the
// running configuration with the versions it holds, so Publish never
// blocks and a burst of changes is announced once, as its final state.
func (n *Node) Publish(config.Versioned) {
	select {
	case n.publishCh <- struct{}{}:
	default: // a signal is already pending; it will see this change too
	}
}

// Close leaves the cluster (peers mark this node "left", not failed, and
// do not try to reconnect to it), stops memberlist and waits for the
// node's goroutines. It is safe to call more than once.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		// Stop our goroutines first: nothing of ours runs during Leave.
		n.cancel()
		n.wg.Wait()
		// Say "leaving" in the metadata, then leave: peers get the update
		// before the leave and record this node as left, not failed.
		meta, _ := json.Marshal(nodeMeta{Leaving: true})
		n.meta.Store(&meta)
		_ = n.ml.UpdateNode(leaveTimeout)
		lerr := n.ml.Leave(leaveTimeout)
		if lerr != nil && strings.Contains(lerr.Error(), "timeout") {
			lerr = nil // the others will see it as failed instead
		}
		err = errors.Join(lerr, n.ml.Shutdown())
		n.muteML()
		n.lg.Info("cluster node stopped")
	})
	return err
}
