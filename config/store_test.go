package config

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePublisher records what the Store publishes.
type fakePublisher struct {
	mu  sync.Mutex
	got []Versioned
}

var _ Publisher = (*fakePublisher)(nil)

func (p *fakePublisher) Publish(v Versioned) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, v)
}

func (p *fakePublisher) versions() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint64
	for _, v := range p.got {
		out = append(out, v.Version)
	}
	return out
}

// newTestStore returns a Store at version 1 with a publisher attached.
func newTestStore(t *testing.T) (*Store, *fakePublisher) {
	t.Helper()
	s := NewStore(validConfig(t), "node-a")
	pub := &fakePublisher{}
	s.SetPublisher(pub)
	return s, pub
}

// withMaxConns returns a copy of the store's config with MaxConnections n.
func withMaxConns(s *Store, n int) *Config {
	c := s.Current().Clone()
	c.MaxConnections = n
	return c
}

func TestNewStore(t *testing.T) {
	initial := validConfig(t)
	s := NewStore(initial, "node-a")
	require.Equal(t, &Versioned{Version: 1, Origin: "node-a", Config: validConfig(t)}, s.Versioned())

	initial.Servers[0].Port = 1
	require.Equal(t, 3316, s.Current().Servers[0].Port, "the Store keeps its own copy")
	require.Panics(t, func() { NewStore(nil, "x") })
}

func TestStoreApply(t *testing.T) {
	ctx := context.Background()
	s, pub := newTestStore(t)
	ch, unsub := s.Subscribe()
	t.Cleanup(unsub)
	require.Equal(t, uint64(1), (<-ch).Version, "the channel starts with the current snapshot")

	next := withMaxConns(s, 10)
	require.NoError(t, s.Apply(ctx, next, SourceAdmin))
	next.MaxConnections = 99 // the caller's copy is not the Store's
	require.Equal(t, 10, s.Current().MaxConnections)
	v := <-ch
	require.Equal(t, uint64(2), v.Version)
	require.Equal(t, "node-a", v.Origin)
	require.Same(t, s.Current(), v.Config)
	require.Equal(t, []uint64{2}, pub.versions())

	// Applying the running config again is a no-op.
	require.NoError(t, s.Apply(ctx, s.Current().Clone(), SourceFile))
	require.Equal(t, uint64(2), s.Versioned().Version)
	require.Empty(t, ch)
	require.Equal(t, []uint64{2}, pub.versions())
}

func TestStoreApplyRejects(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		mutate  func(c *Config)
		src     Source
		wantIs  error
		wantMsg string
	}{
		{name: "invalid", ctx: ctx, src: SourceAdmin,
			mutate: func(c *Config) { c.Servers[0].Port = 0; c.Log.Level = "x" },
			wantIs: ErrInvalid, wantMsg: "config from admin rejected:\nlog.level: \"x\" is not one of debug, info, warn, error\nservers[0].port: 0 is not a valid port (1-65535)"},
		{name: "restart fields", ctx: ctx, src: SourceFile,
			mutate: func(c *Config) {
				c.Listen = "127.0.0.1:7000"
				c.Cluster.Secret = "0123456789abcdef"
				c.MaxConnections = 1
			},
			wantIs: ErrRestartRequired,
			wantMsg: `config: change needs a restart (change rejected, running config kept): ` +
				`listen "127.0.0.1:6033" -> "127.0.0.1:7000"; cluster.secret changed`},
		{name: "cluster source", ctx: ctx, src: SourceCluster,
			mutate: func(c *Config) { c.MaxConnections = 1 }, wantIs: ErrClusterApply},
		{name: "canceled", ctx: canceled, src: SourceLocal,
			mutate: func(c *Config) { c.MaxConnections = 1 }, wantIs: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, pub := newTestStore(t)
			ch, unsub := s.Subscribe()
			t.Cleanup(unsub)
			<-ch
			before := s.Versioned()
			c := s.Current().Clone()
			tc.mutate(c)
			err := s.Apply(tc.ctx, c, tc.src)
			require.ErrorIs(t, err, tc.wantIs)
			if tc.wantMsg != "" {
				require.EqualError(t, err, tc.wantMsg)
			}
			require.Same(t, before, s.Versioned(), "running config unchanged")
			require.Empty(t, ch)
			require.Empty(t, pub.versions())
		})
	}
}

func TestStoreLatestWins(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	ch, unsub := s.Subscribe()
	t.Cleanup(unsub)
	// Nobody reads while three changes land: only the newest is kept.
	for n := 10; n < 13; n++ {
		require.NoError(t, s.Apply(ctx, withMaxConns(s, n), SourceLocal))
	}
	v := <-ch
	require.Equal(t, uint64(4), v.Version)
	require.Equal(t, 12, v.Config.MaxConnections)
	require.Empty(t, ch)
}

func TestStoreUnsubscribe(t *testing.T) {
	s, _ := newTestStore(t)
	ch, unsub := s.Subscribe()
	<-ch
	unsub()
	unsub() // idempotent
	_, open := <-ch
	require.False(t, open, "unsubscribe closes the channel")
	require.NoError(t, s.Apply(context.Background(), withMaxConns(s, 5), SourceLocal))
}

func TestStoreAdopt(t *testing.T) {
	ctx := context.Background()
	peer := validConfig(t)
	peer.Listen = "10.0.0.2:6033" // node-local on the peer
	peer.Cluster.NodeName = "node-b"
	peer.MaxConnections = 7

	tests := []struct {
		name    string
		v       Versioned
		adopted bool
		wantErr error
	}{
		{name: "older version", v: Versioned{Version: 1, Origin: "node-0", Config: peer}},
		{name: "same version and origin", v: Versioned{Version: 2, Origin: "node-a", Config: peer}},
		{name: "same version, greater origin", v: Versioned{Version: 2, Origin: "node-b", Config: peer}, adopted: true},
		{name: "newer version", v: Versioned{Version: 9, Origin: "node-0", Config: peer}, adopted: true},
		{name: "invalid", v: Versioned{Version: 9, Origin: "node-b", Config: &Config{}}, wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, pub := newTestStore(t)
			require.NoError(t, s.Apply(ctx, withMaxConns(s, 100), SourceAdmin)) // (2, node-a)
			before := s.Versioned()
			ch, unsub := s.Subscribe()
			t.Cleanup(unsub)
			<-ch

			ok, err := s.Adopt(ctx, tc.v)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.adopted, ok)
			require.Equal(t, []uint64{2}, pub.versions(), "Adopt never publishes")
			if !tc.adopted {
				require.Same(t, before, s.Versioned())
				require.Empty(t, ch)
				return
			}
			got := <-ch
			require.Equal(t, tc.v.Version, got.Version)
			require.Equal(t, tc.v.Origin, got.Origin)
			require.Equal(t, 7, got.Config.MaxConnections)
			require.Equal(t, "127.0.0.1:6033", got.Config.Listen, "node-local fields are kept")
			require.Empty(t, got.Config.Cluster.NodeName)
			require.Equal(t, "10.0.0.2:6033", peer.Listen, "the peer's snapshot is not modified")
		})
	}
}

func TestVersionedNewer(t *testing.T) {
	a1 := &Versioned{Version: 1, Origin: "a"}
	b1 := &Versioned{Version: 1, Origin: "b"}
	a2 := &Versioned{Version: 2, Origin: "a"}
	require.True(t, b1.Newer(a1))
	require.False(t, a1.Newer(b1))
	require.True(t, a2.Newer(b1))
	require.False(t, a1.Newer(a1))
}

// TestStoreConcurrent runs writers, readers and subscribers at once (run
// with -race): every Apply gets its own version and each subscriber sees
// strictly increasing versions ending at the last one. Goroutines use
// assert, not require: FailNow must run on the test goroutine.
func TestStoreConcurrent(t *testing.T) {
	const writers, perWriter, readers, subscribers = 4, 50, 4, 4
	ctx := context.Background()
	s, pub := newTestStore(t)
	final := uint64(1 + writers*perWriter)

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// Distinct values so no Apply is a no-op.
				assert.NoError(t, s.Apply(ctx, withUniqueMaxConns(s, w, i), SourceLocal))
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for s.Versioned().Version < final {
				c := s.Current()
				assert.Positive(t, c.MaxConnections)
			}
		})
	}
	for range subscribers {
		wg.Go(func() {
			ch, unsub := s.Subscribe()
			defer unsub()
			var last uint64
			for v := range ch {
				assert.Greater(t, v.Version, last)
				last = v.Version
				if last == final {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, final, s.Versioned().Version)
	require.Len(t, pub.versions(), writers*perWriter)
}

// withUniqueMaxConns builds a change no other Apply makes, so none of the
// concurrent Applies is a no-op.
func withUniqueMaxConns(s *Store, writer, i int) *Config {
	return withMaxConns(s, 1+writer*1000+i)
}

// TestStoreMerge: a cluster merge installs what build returns without
// publishing, keeps node-local restart fields, validates, and may be a
// no-op.
func TestStoreMerge(t *testing.T) {
	ctx := context.Background()
	s, pub := newTestStore(t)
	ch, unsub := s.Subscribe()
	t.Cleanup(unsub)
	<-ch

	v, changed, err := s.Merge(ctx, "node-b", func(cur *Config) (*Config, error) {
		next := cur.Clone()
		next.MaxConnections = 9
		next.Listen = "10.0.0.9:6033" // a peer's node-local value must not stick
		return next, nil
	})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, uint64(2), v.Version)
	require.Equal(t, "node-b", v.Origin)
	require.Equal(t, 9, s.Current().MaxConnections)
	require.Equal(t, "127.0.0.1:6033", s.Current().Listen)
	require.Same(t, v, <-ch)
	require.Empty(t, pub.versions(), "a cluster merge is never re-published")

	for name, build := range map[string]func(cur *Config) (*Config, error){
		"equal":     func(cur *Config) (*Config, error) { return cur.Clone(), nil },
		"unchanged": func(*Config) (*Config, error) { return nil, ErrUnchanged },
	} {
		v, changed, err := s.Merge(ctx, "node-c", build)
		require.NoError(t, err, name)
		require.False(t, changed, name)
		require.Same(t, s.Versioned(), v, name)
	}
	require.Empty(t, ch)

	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		build  func(cur *Config) (*Config, error)
		wantIs error
	}{
		"invalid": {build: func(cur *Config) (*Config, error) {
			next := cur.Clone()
			next.Users[0].DefaultHostgroup = 99
			return next, nil
		}, wantIs: ErrInvalid},
		"build error": {build: func(*Config) (*Config, error) { return nil, boom }, wantIs: boom},
	} {
		before := s.Versioned()
		_, changed, err := s.Merge(ctx, "node-c", tc.build)
		require.ErrorIs(t, err, tc.wantIs, name)
		require.False(t, changed)
		require.Same(t, before, s.Versioned(), name)
	}
	_, _, err = s.Merge(ctx, "node-c", func(cur *Config) (*Config, error) { return cur, nil })
	require.Error(t, err, "build must not hand back the shared snapshot")

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = s.Merge(canceled, "node-c", func(*Config) (*Config, error) { panic("not called") })
	require.ErrorIs(t, err, context.Canceled)
}

// TestStoreMergeIsAtomicWithApply: build runs under the writer lock, so a
// concurrent local Apply is never undone by a merge built from the
// configuration before it (run with -race).
func TestStoreMergeIsAtomicWithApply(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	const rounds = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range rounds {
			c := s.Current().Clone()
			c.Pool.MaxIdle = i + 1
			assert.NoError(t, s.Apply(ctx, c, SourceLocal))
		}
	})
	wg.Go(func() {
		for i := range rounds {
			_, _, err := s.Merge(ctx, "peer", func(cur *Config) (*Config, error) {
				next := cur.Clone()
				next.MaxConnections = 1000 + i
				return next, nil
			})
			assert.NoError(t, err)
		}
	})
	wg.Wait()
	// (An Apply built from a snapshot older than a merge does undo the
	// merge: Apply takes a whole configuration. docs/cluster.md, "Known
	// limits".)
	require.Equal(t, rounds, s.Current().Pool.MaxIdle, "no Apply was undone")
}
