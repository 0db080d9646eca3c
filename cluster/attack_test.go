package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// The tests in this file play a gossip peer written with nothing but
// memberlist: what any host that reaches the gossip port can run.

const (
	victimSecret   = "the victim cluster's passphrase"
	victimPassword = "app-password-never-on-the-wire"
)

// bare is the attacker's memberlist delegate: it offers records of its
// choice in push/pull and keeps whatever state the victim sends back.
type bare struct {
	offer []byte
	mu    sync.Mutex
	got   [][]byte
}

func (b *bare) NodeMeta(int) []byte             { return nil }
func (b *bare) NotifyMsg([]byte)                {}
func (b *bare) GetBroadcasts(int, int) [][]byte { return nil }
func (b *bare) LocalState(bool) []byte          { return b.offer }
func (b *bare) MergeRemoteState(buf []byte, _ bool) {
	b.mu.Lock()
	b.got = append(b.got, bytes.Clone(buf))
	b.mu.Unlock()
}

func (b *bare) received() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Join(b.got, nil)
}

// startBare starts the attacker's node with the given keys (nil: no
// encryption) and joins it to addr; it returns the join's error.
func startBare(t *testing.T, d *bare, primary []byte, keys [][]byte, addr string) error {
	t.Helper()
	return startBareNamed(t, "evil", d, primary, keys, addr)
}

func startBareNamed(t *testing.T, name string, d *bare, primary []byte, keys [][]byte, addr string) error {
	t.Helper()
	conf := memberlist.DefaultLANConfig()
	conf.Name, conf.BindAddr, conf.BindPort, conf.AdvertisePort = name, "127.0.0.1", 0, 0
	conf.Delegate = d
	conf.Logger = log.New(io.Discard, "", 0)
	fastTune(time.Minute)(conf)
	if primary != nil {
		kr, err := memberlist.NewKeyring(keys, primary)
		require.NoError(t, err)
		conf.Keyring = kr
	}
	ml, err := memberlist.Create(conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ml.Shutdown() })
	_, err = ml.Join([]string{addr})
	return err
}

// evilOffer is a push/pull state that carries a users module with an
// extra user "evil", stamped version v.
func evilOffer(t *testing.T, v uint64) []byte {
	t.Helper()
	c := victimConfig(t)
	c.Users = append(c.Users, config.User{Username: "evil", Password: "evil-password-1", DefaultHostgroup: 10})
	mod := encodeModules(c)[ModuleUsers]
	body, err := json.Marshal(map[string]any{"f": "evil", "r": []map[string]any{{
		"module": ModuleUsers, "version": v, "origin": "evil", "checksum": mod.checksum, "payload": json.RawMessage(mod.payload)}}})
	require.NoError(t, err)
	return append([]byte{msgRecords}, body...)
}

func victimConfig(t *testing.T) *config.Config {
	c := testConfig(t)
	c.Users[0].Password = victimPassword
	return c
}

// startVictim starts a real node with the victim's secret and a users
// module at version 1 (so that its push/pull state carries passwords).
func startVictim(t *testing.T, legacyPrimary bool) *tnode {
	t.Helper()
	c := newCluster(t, time.Minute)
	store := config.NewStore(victimConfig(t), "victim")
	n, err := New(Options{
		Cluster: config.Cluster{Enabled: true, Bind: "127.0.0.1:0", NodeName: "victim", Secret: victimSecret,
			LegacyKeyPrimary: legacyPrimary},
		Datadir: c.dir(), Store: store, Log: c.lg, Tune: fastTune(time.Minute),
	})
	require.NoError(t, err)
	store.SetPublisher(n)
	tn := &tnode{name: "victim", store: store, node: n}
	c.nodes["victim"] = tn
	apply(t, tn, func(c *config.Config) { c.Users[0].MaxConnections = 7 })
	waitRow(t, n, ModuleUsers, func(r ModuleState) bool { return r.Version == 1 })
	return tn
}

func hasUser(c *config.Config, name string) bool {
	for _, u := range c.Users {
		if u.Username == name {
			return true
		}
	}
	return false
}

// TestGossipNeedsSecretOffLoopback: a node reachable from other hosts
// refuses to start its cluster without a secret (before this check, a
// bare memberlist node read every password in push/pull and injected a
// user the victim adopted and saved).
func TestGossipNeedsSecretOffLoopback(t *testing.T) {
	c := victimConfig(t)
	c.Cluster = config.Cluster{Enabled: true, Bind: "0.0.0.0:7946"}
	require.ErrorContains(t, c.Validate(), "cluster.secret: is required")
	c.Cluster.Bind = "127.0.0.1:7946"
	require.NoError(t, c.Validate(), "loopback-only gossip may stay unencrypted")
}

// TestGossipAttackWithoutKey: a bare memberlist node that lacks the key
// can neither join nor read the victim's state, and injects nothing.
func TestGossipAttackWithoutKey(t *testing.T) {
	v := startVictim(t, false)
	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"no encryption", nil},
		{"wrong key", legacyGossipKey("a guessed passphrase, not it")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &bare{offer: evilOffer(t, 5)}
			var keys [][]byte
			if tc.key != nil {
				keys = [][]byte{tc.key}
			}
			require.Error(t, startBare(t, d, tc.key, keys, v.node.Addr()))
			require.NotContains(t, string(d.received()), victimPassword)
			require.Empty(t, d.received())
			require.False(t, hasUser(v.store.Current(), "evil"))
			require.Equal(t, 1, alive(v.node))
		})
	}
}

// TestGossipKeyUpgrade: the key is derived with HKDF; a node of the
// previous version (key = SHA-256 of the secret) can join a node that
// sends with the legacy key (cluster.legacy_key_primary, the first phase
// of a rolling upgrade) and not one that sends with the new key, which
// in turn understands both.
func TestGossipKeyUpgrade(t *testing.T) {
	newKey, err := gossipKey(victimSecret)
	require.NoError(t, err)
	old := legacyGossipKey(victimSecret)
	require.NotEqual(t, old, newKey)
	// The derivation is fixed (RFC 5869, checked with Python's hmac): a
	// change would split every cluster on upgrade.
	require.Equal(t, "b594d41aea378daa", hexPrefix(newKey))

	t.Run("old node, victim sends legacy", func(t *testing.T) {
		v := startVictim(t, true)
		d := &bare{}
		require.NoError(t, startBare(t, d, old, [][]byte{old}, v.node.Addr()))
		require.Contains(t, string(d.received()), victimPassword, "a key holder is a member")
	})
	t.Run("old node, victim sends new key", func(t *testing.T) {
		v := startVictim(t, false)
		require.Error(t, startBare(t, &bare{}, old, [][]byte{old}, v.node.Addr()))
	})
	t.Run("upgraded node, both keys", func(t *testing.T) {
		v := startVictim(t, true)
		d := &bare{}
		require.NoError(t, startBare(t, d, newKey, [][]byte{newKey, old}, v.node.Addr()))
		require.Contains(t, string(d.received()), victimPassword)
	})
}

func hexPrefix(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 16)
	for _, c := range b[:8] {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestHugeVersionRefused: a key holder's record stamped 2^64-1 used to win
// every merge forever and wrap the clock to 0 at the next local change.
// It is refused and counted; a sane version from the same peer is adopted
// (a key holder is a member: records are not signed per node).
func TestHugeVersionRefused(t *testing.T) {
	v := startVictim(t, false)
	key, err := gossipKey(victimSecret)
	require.NoError(t, err)

	d := &bare{offer: evilOffer(t, 1<<64-1)}
	require.NoError(t, startBare(t, d, key, [][]byte{key}, v.node.Addr()))
	require.Eventually(t, func() bool { return v.node.RejectedVersions() >= 1 }, 30*time.Second, 5*time.Millisecond)
	require.False(t, hasUser(v.store.Current(), "evil"))

	// The clock did not move: the next local change is version 2.
	apply(t, v, func(c *config.Config) { c.Users[0].MaxConnections = 8 })
	r := waitRow(t, v.node, ModuleUsers, func(r ModuleState) bool { return r.Version != 1 })
	require.Equal(t, uint64(2), r.Version)

	// The same injection with a sane version is adopted: the key is the
	// trust boundary, and this is what the tests without the key would see.
	d2 := &bare{offer: evilOffer(t, 5)}
	require.NoError(t, startBareNamed(t, "evil2", d2, key, [][]byte{key}, v.node.Addr()))
	require.Eventually(t, func() bool { return hasUser(v.store.Current(), "evil") }, 30*time.Second, 5*time.Millisecond)
}

func TestVersionBounds(t *testing.T) {
	require.True(t, versionOK(1, 0))
	require.True(t, versionOK(maxVersionSkew, 0))
	require.False(t, versionOK(maxVersionSkew+1, 0))
	require.True(t, versionOK(maxVersion, maxVersion-1))
	require.False(t, versionOK(maxVersion+1, maxVersion))
	require.False(t, versionOK(1<<64-1, 1<<63))
}

// TestStateFileBeyondCeilingIsSetAside: a cluster.json whose clock was
// pushed to the top (by a version of rwproxy without the bound) is set
// aside instead of freezing the node.
func TestStateFileBeyondCeilingIsSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	require.NoError(t, os.WriteFile(path, []byte(`{"format":1,"node":"n1","clock":18446744073709551615,"modules":[]}`), 0o600))
	_, err := loadState(path)
	require.ErrorContains(t, err, "beyond the ceiling")
}

// cluster.json holds every module's payload, passwords included: a file
// left readable by others (by hand, or a backup restored) is rewritten
// owner-only at start.
func TestStateFileIsPrivate(t *testing.T) {
	c := newCluster(t, time.Minute)
	dir := c.dir()
	n := c.start("n1", "127.0.0.1:0", dir, 0, testConfig(t))
	apply(t, n, setWeight(3307, 7))
	waitRow(t, n.node, ModuleServers, func(r ModuleState) bool { return r.Version == 1 })
	c.stop("n1")
	path := filepath.Join(dir, StateFile)
	require.NoError(t, os.Chmod(path, 0o644))
	c.start("n1", "127.0.0.1:0", dir, 0, testConfig(t))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
