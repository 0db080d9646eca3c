package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrClusterApply is returned by Apply for SourceCluster: a peer's
// configuration must keep the peer's version and origin, which only Adopt
// does (a local version bump would make peers re-adopt each other forever).
var ErrClusterApply = errors.New("config: Apply with SourceCluster: use Store.Adopt to keep the peer's version")

// Versioned is one immutable configuration snapshot. Versions grow by one
// per accepted change; (Version, Origin) orders snapshots cluster-wide
// (last writer wins, ties broken by Origin).
type Versioned struct {
	// Version is 1 for the initial configuration and grows by one per change.
	Version uint64
	// Origin names the node that made this version (the Store's origin for
	// local changes, the peer's for adopted ones).
	Origin string
	// Config is the snapshot itself; never mutate it.
	Config *Config
}

// Newer reports whether v orders after w: a higher Version, or the same
// Version and a greater Origin.
func (v *Versioned) Newer(w *Versioned) bool {
	if v.Version != w.Version {
		return v.Version > w.Version
	}
	return v.Origin > w.Origin
}

// Publisher sends locally made configuration changes to the cluster. It is
// implemented by the cluster package and injected with SetPublisher.
// Publish must not block and must not call back into Store.Apply.
type Publisher interface {
	Publish(v Versioned)
}

// Store holds the current configuration snapshot and notifies subscribers of
// changes. Readers call Current (one atomic load); writers go through Apply
// or Adopt, which validate, swap once and notify. All methods are safe for
// concurrent use.
type Store struct {
	cur    atomic.Pointer[Versioned]
	origin string

	mu struct {
		sync.Mutex // serialises writers and subscriber notification
		subs       map[chan *Versioned]struct{}
		publisher  Publisher
	}
	// env makes the RWPROXY_* environment win over every source (see
	// HonorEnv); off for Stores built by tests and library callers.
	env atomic.Bool
}

// HonorEnv makes the environment overrides (RWPROXY_*) win on this node
// whatever the source of a change: a file reload has them already (Load),
// a configuration adopted or merged from a cluster peer gets them applied
// on top, and an admin change (SourceAdmin) that would undo one is
// refused, naming the variable. cmd/rwproxy turns it on.
func (s *Store) HonorEnv() { s.env.Store(true) }

// envRefusal is the error for an admin change to keys the environment sets.
func envRefusal(keys []string) error {
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" is set by "+EnvVar(k))
	}
	return fmt.Errorf("%w: %s on this node; the environment wins over the admin interface "+
		"(unset the variable and restart to manage the key here)", ErrEnvPinned, strings.Join(parts, ", "))
}

// ErrEnvPinned is matched by an Apply error refusing an admin change to a
// key an environment variable sets.
var ErrEnvPinned = errors.New("config: key set by the environment")

// NewStore returns a Store at version 1 holding a copy of initial, which the
// caller has validated (Load does). origin names this node in Versioned.
// It panics if initial is nil.
func NewStore(initial *Config, origin string) *Store {
	if initial == nil {
		panic("config: NewStore with a nil Config")
	}
	s := &Store{origin: origin}
	s.mu.subs = make(map[chan *Versioned]struct{})
	s.cur.Store(&Versioned{Version: 1, Origin: origin, Config: initial.Clone()})
	return s
}

// Current returns the current configuration. It is shared: never mutate it.
func (s *Store) Current() *Config { return s.cur.Load().Config }

// Versioned returns the current snapshot with its version and origin.
func (s *Store) Versioned() *Versioned { return s.cur.Load() }

// SetPublisher installs the publisher called after each local change; nil
// removes it. cmd wires it once the cluster, which needs the Store, exists.
func (s *Store) SetPublisher(p Publisher) {
	s.mu.Lock()
	s.mu.publisher = p
	s.mu.Unlock()
}

// Subscribe returns a channel of snapshots and a function that unsubscribes
// (and closes the channel; it is safe to call more than once). The channel
// is buffered(1) and latest-wins: a slow reader skips intermediate versions
// but always gets the newest one. It starts out holding the current
// snapshot, so a subscriber never misses a change made after Subscribe.
func (s *Store) Subscribe() (<-chan *Versioned, func()) {
	ch := make(chan *Versioned, 1)
	s.mu.Lock()
	ch <- s.cur.Load()
	s.mu.subs[ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.mu.subs, ch)
			close(ch)
			s.mu.Unlock()
		})
	}
}

// Apply installs a local change: it validates c, rejects changes to
// reload:"restart" fields (ErrRestartRequired, naming them), then bumps the
// version, swaps the snapshot once, notifies subscribers and publishes to
// the cluster. The Store keeps a copy of c, so the caller may reuse c.
// Applying a configuration equal to the current one is a no-op (no new
// version). On error the running configuration is unchanged.
func (s *Store) Apply(ctx context.Context, c *Config, src Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !src.Local() {
		return ErrClusterApply
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config from %s rejected:\n%w", src, err)
	}
	next := c.Clone()
	if src == SourceAdmin && s.env.Load() {
		if keys := envUndone(s.Current(), next); len(keys) > 0 {
			return envRefusal(keys)
		}
	}

	s.mu.Lock()
	cur := s.cur.Load()
	if err := restartError(cur.Config, next); err != nil {
		s.mu.Unlock()
		return err
	}
	if reflect.DeepEqual(cur.Config, next) {
		s.mu.Unlock()
		return nil
	}
	v := &Versioned{Version: cur.Version + 1, Origin: s.origin, Config: next}
	s.swapLocked(v)
	pub := s.mu.publisher
	s.mu.Unlock()

	// Outside the lock so a publisher may read the Store; peers order
	// versions themselves, so publishing out of order is harmless.
	if pub != nil {
		pub.Publish(*v)
	}
	return nil
}

// Adopt installs a snapshot received from a cluster peer, keeping its
// Version and Origin, if it is Newer than the current one; it reports
// whether it did. The node-local reload:"restart" fields (listen addresses,
// datadir, cluster identity, ...) keep this node's values. Adopt never
// publishes. An invalid snapshot is rejected with an error.
func (s *Store) Adopt(ctx context.Context, v Versioned) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if v.Config == nil {
		return false, errors.New("config: Adopt: snapshot has no Config")
	}
	next := v.Config.Clone()

	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	if !v.Newer(cur) {
		return false, nil
	}
	keepRestartFields(next, cur.Config)
	s.applyEnv(next)
	if err := next.Validate(); err != nil {
		return false, fmt.Errorf("config version %d from %s rejected:\n%w", v.Version, v.Origin, err)
	}
	s.swapLocked(&Versioned{Version: v.Version, Origin: v.Origin, Config: next})
	return true, nil
}

// ErrUnchanged is returned by the build function of Merge to leave the
// configuration as it is; Merge then returns the current snapshot and
// false, without an error.
var ErrUnchanged = errors.New("config: unchanged")

// Merge installs a configuration that the cluster assembled from modules
// adopted from peers. build gets the current configuration (shared: never
// mutate it) and returns the next one, a new Config the Store takes over
// (usually a modified Clone); it runs under the Store's writer
// lock, so that no local Apply can land between reading the current
// configuration and swapping in the next one (which would silently undo
// that Apply). build must not call back into the Store.
//
// The result keeps this node's reload:"restart" fields, is validated, and
// swapped in as version current+1 with the given origin; subscribers are
// notified and nothing is published (the change came from the cluster).
// Merge reports whether it installed a new snapshot: a result equal to the
// current configuration, or build returning ErrUnchanged, changes nothing.
// Any other error from build, or a failed validation, leaves the running
// configuration untouched and is returned.
func (s *Store) Merge(ctx context.Context, origin string, build func(cur *Config) (*Config, error)) (*Versioned, bool, error) {
	if err := ctx.Err(); err != nil {
		return s.cur.Load(), false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	next, err := build(cur.Config)
	if errors.Is(err, ErrUnchanged) {
		return cur, false, nil
	}
	if err != nil {
		return cur, false, err
	}
	if next == nil || next == cur.Config {
		return cur, false, errors.New("config: Merge: build must return a new Config")
	}
	keepRestartFields(next, cur.Config)
	s.applyEnv(next)
	if err := next.Validate(); err != nil {
		return cur, false, fmt.Errorf("config from cluster node %s rejected:\n%w", origin, err)
	}
	if reflect.DeepEqual(cur.Config, next) {
		return cur, false, nil
	}
	v := &Versioned{Version: cur.Version + 1, Origin: origin, Config: next}
	s.swapLocked(v)
	return v, true, nil
}

// applyEnv puts the environment overrides on a peer's configuration when
// HonorEnv is on (a bad value cannot happen here: Load checked them at
// start).
func (s *Store) applyEnv(c *Config) {
	if s.env.Load() {
		_, _ = ApplyEnv(c)
	}
}

// swapLocked stores v and hands it to every subscriber, replacing an unread
// older snapshot. s.mu must be held: it makes this the only sender, so the
// channel has room once drained and the send cannot block.
func (s *Store) swapLocked(v *Versioned) {
	s.cur.Store(v)
	for ch := range s.mu.subs {
		select {
		case <-ch: // drop the stale, unread snapshot
		default:
		}
		ch <- v
	}
}
