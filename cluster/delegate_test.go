package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rwproxy/rwproxy/config"
)

// TestAnnounceFitsAPacket: an announcement naming two nodes with the
// longest names allowed stays under maxAnnounceSize, itself well under
// memberlist's 1400-byte UDP packets.
func TestAnnounceFitsAPacket(t *testing.T) {
	long := strings.Repeat("n", config.MaxNodeNameLen)
	msg := encodeMsg(msgAnnounce, announce{Module: ModuleQueryRules, Version: 1<<64 - 1, Origin: long,
		Checksum: strings.Repeat("f", 64), From: long})
	require.Less(t, len(msg), maxAnnounceSize)
	require.Less(t, maxAnnounceSize, memberlist.DefaultLANConfig().UDPBufferSize)

	typ, body, err := decodeMsg(msg)
	require.NoError(t, err)
	require.Equal(t, msgAnnounce, typ)
	require.Equal(t, long, body.(*announce).From)
	for _, bad := range [][]byte{nil, {msgAnnounce}, {99, '{', '}'}, {msgFetch, '['}} {
		_, _, err := decodeMsg(bad)
		require.Error(t, err, "%q", bad)
	}
}

// TestNamedBroadcastReplacesOlder: a newer announcement of a module
// replaces the queued older one; other modules' stay.
func TestNamedBroadcastReplacesOlder(t *testing.T) {
	q := &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 10 }, RetransmitMult: 4}
	q.QueueBroadcast(&broadcast{module: ModuleServers, msg: []byte("servers v1")})
	q.QueueBroadcast(&broadcast{module: ModuleUsers, msg: []byte("users v1")})
	q.QueueBroadcast(&broadcast{module: ModuleServers, msg: []byte("servers v2")})
	require.Equal(t, 2, q.NumQueued())
	var got []string
	for _, b := range q.GetBroadcasts(0, 1400) {
		got = append(got, string(b))
	}
	require.ElementsMatch(t, []string{"servers v2", "users v1"}, got)
}

// TestNotifyMsgCopiesAndNeverBlocks calls the delegate directly, as
// memberlist does: the buffer is reused after NotifyMsg returns, and a
// full inbox drops rather than blocks memberlist's goroutine.
func TestNotifyMsgCopiesAndNeverBlocks(t *testing.T) {
	n := &Node{inbox: make(chan []byte, 1), lg: zap.NewNop()}
	d := &delegate{n: n}
	buf := []byte("original")
	d.NotifyMsg(buf)
	copy(buf, "REUSED!!")
	done := make(chan struct{})
	go func() {
		d.NotifyMsg([]byte("dropped"))
		d.MergeRemoteState([]byte("dropped too"), true)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("NotifyMsg blocked on a full inbox")
	}
	require.Equal(t, "original", string(<-n.inbox))
	require.Empty(t, n.inbox)
}

// TestAckRowsFitAndDecode: the checksum rows riding on probe answers fit
// their budget even with the longest node names (dropping origins and
// times), and decode back.
func TestAckRowsFitAndDecode(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	rows := func(origin string) []ModuleState {
		var out []ModuleState
		for _, m := range moduleNames {
			out = append(out, ModuleState{Node: "x", Module: m, Version: 12345, Origin: origin,
				Checksum: "0123456789abcdef", AppliedAt: at, Status: StatusApplied})
		}
		return out
	}
	raw := encodeRows(rows("n1"), ackLimit)
	require.NotNil(t, raw)
	require.Equal(t, rows("n1"), decodeRows("x", raw))

	long := strings.Repeat("o", config.MaxNodeNameLen)
	raw = encodeRows(rows(long), ackLimit)
	require.NotNil(t, raw, "the longest names fit")
	require.Equal(t, rows(long), decodeRows("x", raw))
	raw = encodeRows(rows(long), 400)
	require.LessOrEqual(t, len(raw), 400)
	got := decodeRows("x", raw)
	require.Len(t, got, len(moduleNames))
	require.Empty(t, got[0].Origin, "over the limit, origins are left out")
	require.Nil(t, encodeRows(rows(long), 10))
	require.Nil(t, decodeRows("x", []byte("{")))

	require.True(t, metaLeaving([]byte(`{"l":true}`)))
	require.False(t, metaLeaving(nil))
}

func TestStateFileRoundTripAndAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	st, err := loadState(path)
	require.NoError(t, err)
	require.Nil(t, st, "no file: a new node")

	payload := encodeModules(testConfig(t))[ModuleUsers]
	want := &savedState{Node: "n1", Clock: 7, Modules: []savedModule{{
		Record:    Record{Module: ModuleUsers, Version: 7, Origin: "n2", Checksum: payload.checksum, Payload: payload.payload},
		AppliedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}}
	require.NoError(t, saveState(path, want))
	got, err := loadState(path)
	require.NoError(t, err)
	require.Equal(t, want, got)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it holds passwords")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	tampered := strings.Replace(mustRead(t, path), `"app"`, `"evil"`, 1)
	require.NoError(t, os.WriteFile(path, []byte(tampered), 0o600))
	_, err = loadState(path)
	require.ErrorContains(t, err, "checksum mismatch")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path) //nolint:gosec // test file
	require.NoError(t, err)
	return string(raw)
}

// TestLogBridgeLevels: memberlist's level tags become zap levels; its
// errors (unreachable peers, handled by the cluster) are warnings.
func TestLogBridgeLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	std, mute := newStdLogger(zap.New(core))
	std.Printf("[DEBUG] memberlist: Stream connection from=1.2.3.4:5")
	std.Printf("[INFO] memberlist: Marking n2 as failed")
	std.Printf("[WARN] memberlist: Refuting a suspect message")
	std.Printf("[ERR] memberlist: Failed to send gossip")
	std.Printf("untagged")
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+" "+e.Message)
	}
	require.Equal(t, []string{"debug Stream connection from=1.2.3.4:5", "info Marking n2 as failed",
		"warn Refuting a suspect message", "warn Failed to send gossip", "info untagged"}, got)

	// Muted (memberlist shut down): a late probe's line is dropped.
	mute()
	std.Printf("[DEBUG] memberlist: Failed ping: n2")
	require.Equal(t, 5, logs.Len())
}
