package handover

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/session"
)

// tcpPair is a connected loopback TCP pair: a client's end and the
// proxy's.
func tcpPair(t *testing.T) (client, proxy net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	proxy, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = client.Close(), proxy.Close() })
	return client, proxy
}

// requireIntact: bytes still flow both ways between client and proxy
// (whatever the other process did with its copy of the socket, it neither
// read from it nor shut it down).
func requireIntact(t *testing.T, client, proxy net.Conn) {
	t.Helper()
	buf := make([]byte, 4)
	_, err := client.Write([]byte("next"))
	require.NoError(t, err)
	require.NoError(t, proxy.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(proxy, buf)
	require.NoError(t, err)
	require.Equal(t, "next", string(buf), "the client's next request reaches this process whole")
	_, err = proxy.Write([]byte("answ"))
	require.NoError(t, err)
	require.NoError(t, client.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(client, buf)
	require.NoError(t, err)
	require.Equal(t, "answ", string(buf))
}

type outcome int

const (
	stayed    outcome = iota // Hand failed: never left
	givenBack                // received by the new process, given back
	tookOver                 // served by the new process
)

// TestTakebackPeerDiesAfterNSessions: a fake new process acknowledges n
// of three sessions and dies (at the next session, or at done after all
// three). No session is lost: the acknowledged ones are given back, the
// others never left, each socket still carries the client's next request
// to this process, and the counters say so. A peer that answers done with
// taken gets all three.
func TestTakebackPeerDiesAfterNSessions(t *testing.T) {
	const sessions = 3
	for _, n := range []int{0, 1, 2, 3, -1} { // -1: the peer takes them
		name := fmt.Sprintf("dies after %d", n)
		if n < 0 {
			name = "takes them"
		}
		t.Run(name, func(t *testing.T) {
			oldEnd, peer := handoverPair(t)
			st := &Stats{}
			h := &hand{c: &conn{uc: oldEnd}, acks: make(chan *message, 1), dead: make(chan struct{}), stats: st,
				timeout: time.Minute, takeback: true}
			go h.readLoop()
			var received atomic.Int32
			go func() { // the new process
				defer peer.uc.Close()
				for {
					m, fds, err := peer.recv()
					closeFiles(fds) // what a dying process does with them: close, nothing else
					if err != nil {
						return
					}
					switch m.Type {
					case msgSession:
						if int(received.Load()) == n {
							return // dies with this session unanswered
						}
						received.Add(1)
						if peer.send(&message{Type: msgAck, ID: m.ID}) != nil {
							return
						}
					case msgDone:
						if n >= 0 {
							return // dies before taken
						}
						_ = peer.send(&message{Type: msgTaken})
						return
					}
				}
			}()

			clients, proxies := make([]net.Conn, sessions), make([]net.Conn, sessions)
			out := make(chan outcome, sessions)
			for i := range sessions {
				clients[i], proxies[i] = tcpPair(t)
				go func() {
					taken, err := h.Hand(&session.Durable{ConnID: uint32(i + 1), User: "u"}, proxies[i], nil)
					switch {
					case err != nil:
						out <- stayed
					case taken():
						out <- tookOver
					default:
						out <- givenBack
					}
				}()
			}
			want := map[outcome]int{}
			if n == sessions || n < 0 {
				require.Eventually(t, func() bool { return h.parkedCount() == sessions }, 10*time.Second, time.Millisecond)
				err := h.commit(&message{Type: msgDone})
				if n < 0 {
					require.NoError(t, err)
					require.Equal(t, sessions, h.release(true))
					want[tookOver] = sessions
				} else {
					require.Error(t, err)
					require.Equal(t, sessions, h.release(false))
					want[givenBack] = sessions
				}
			} else {
				// The sessions after the n-th fail to leave; then the old
				// side rolls back (Old.serve: h.dead ends waitEmpty).
				<-h.dead
				for range sessions - n {
					require.Equal(t, stayed, <-out)
				}
				require.Equal(t, n, h.parkedCount())
				require.Equal(t, n, h.release(false))
				want[givenBack], want[stayed] = n, sessions-n
				for range sessions - n {
					out <- stayed // put back for the count below
				}
			}
			got := map[outcome]int{}
			for range sessions {
				got[<-out]++
			}
			for k, v := range want {
				require.Equal(t, v, got[k], "outcome %d", k)
			}
			if n < 0 {
				require.Equal(t, uint64(sessions), st.HandedOver.Load())
				require.Zero(t, st.TakenBack.Load())
				require.Positive(t, st.LastPause.Load(), "the parked sessions' wait is measured")
				return
			}
			require.Equal(t, uint64(max(n, 0)), st.TakenBack.Load())
			require.Zero(t, st.HandedOver.Load())
			require.Zero(t, st.Failed.Load())
			for i := range sessions {
				requireIntact(t, clients[i], proxies[i])
			}
			// A session that tries to leave after the rollback stays.
			c, p := tcpPair(t)
			_, err := h.Hand(&session.Durable{ConnID: 99, User: "u"}, p, nil)
			require.Error(t, err)
			requireIntact(t, c, p)
		})
	}
}

// TestTakebackCommitRound: sessions committed in a round (while others
// still run a statement) are the new process's; a new process that dies
// after it gives back only the sessions received since.
func TestTakebackCommitRound(t *testing.T) {
	oldEnd, peer := handoverPair(t)
	st := &Stats{}
	h := &hand{c: &conn{uc: oldEnd}, acks: make(chan *message, 1), dead: make(chan struct{}), stats: st,
		timeout: time.Minute, takeback: true}
	go h.readLoop()
	go func() { // acks every session, takes the commit's, dies at done
		defer peer.uc.Close()
		for {
			m, fds, err := peer.recv()
			closeFiles(fds)
			if err != nil {
				return
			}
			switch m.Type {
			case msgSession:
				if peer.send(&message{Type: msgAck, ID: m.ID}) != nil {
					return
				}
			case msgCommit:
				_ = peer.send(&message{Type: msgTaken})
			case msgDone:
				return
			}
		}
	}()
	handOne := func(id uint32) (net.Conn, net.Conn, chan bool) {
		c, p := tcpPair(t)
		taken, err := h.Hand(&session.Durable{ConnID: id, User: "u"}, p, nil)
		require.NoError(t, err)
		ch := make(chan bool, 1)
		go func() { ch <- taken() }()
		return c, p, ch
	}
	require.False(t, h.commitDue(0), "nothing parked")
	_, _, first := handOne(1)
	require.True(t, h.isParked(1))
	require.False(t, h.isParked(2))
	require.False(t, h.commitDue(time.Hour))
	require.True(t, h.commitDue(0))
	require.NoError(t, h.commit(&message{Type: msgCommit}))
	require.Equal(t, 1, h.release(true))
	require.True(t, <-first)
	require.False(t, h.isParked(1), "committed: no longer waiting")
	c2, p2, second := handOne(2)
	require.Error(t, h.commit(&message{Type: msgDone}))
	require.Equal(t, 1, h.release(false))
	require.False(t, <-second)
	requireIntact(t, c2, p2)
	require.Equal(t, uint64(1), st.HandedOver.Load())
	require.Equal(t, uint64(1), st.TakenBack.Load())
}

// TestTakebackSilentPeer: a new process that neither answers done nor
// dies does not keep the sessions: after AckTimeout they are given back
// (the socket is closed, which makes a live peer abandon them).
func TestTakebackSilentPeer(t *testing.T) {
	oldEnd, peer := handoverPair(t)
	st := &Stats{}
	h := &hand{c: &conn{uc: oldEnd}, acks: make(chan *message, 1), dead: make(chan struct{}), stats: st,
		timeout: 2 * time.Second, takeback: true}
	go h.readLoop()
	go func() {
		for {
			m, fds, err := peer.recv()
			closeFiles(fds)
			if err != nil {
				return
			}
			if m.Type == msgSession {
				_ = peer.send(&message{Type: msgAck, ID: m.ID})
			}
		}
	}()
	client, proxy := tcpPair(t)
	taken, err := h.Hand(&session.Durable{ConnID: 1, User: "u"}, proxy, nil)
	require.NoError(t, err)
	require.Error(t, h.commit(&message{Type: msgDone}))
	require.Equal(t, 1, h.release(false))
	require.False(t, taken())
	require.Equal(t, uint64(1), st.TakenBack.Load())
	requireIntact(t, client, proxy)
}

// fakeTarget adopts every session; it counts the ones served and the ones
// abandoned (closing its copy of the socket, as Adopted.Abandon does).
type fakeTarget struct{ served, abandoned atomic.Int32 }

func (f *fakeTarget) Adopt(nc, _ net.Conn, _ *session.Durable) (func(), func(), error) {
	return func() { f.served.Add(1); _ = nc.Close() }, func() { f.abandoned.Add(1); _ = nc.Close() }, nil
}

// TestTakebackNewSideServesOnlyCommitted: the new side serves no session
// before the old process commits it; sessions it received when the old
// process goes away uncommitted are abandoned, never served.
func TestTakebackNewSideServesOnlyCommitted(t *testing.T) {
	for _, commit := range []bool{false, true} {
		t.Run(fmt.Sprint("commit=", commit), func(t *testing.T) {
			oldEnd, newEnd := handoverPair(t)
			old := &conn{uc: oldEnd}
			tgt := &fakeTarget{}
			tk := &Taken{done: make(chan struct{}), takeback: true}
			go tk.receive(newEnd, tgt, NewOptions{Log: zaptest.NewLogger(t)}, zaptest.NewLogger(t))
			for i := range 2 {
				_, proxy := tcpPair(t)
				b, err := (&session.Durable{ConnID: uint32(i + 1), User: "u"}).Marshal()
				require.NoError(t, err)
				require.NoError(t, connFD(proxy, func(fd int) error {
					return old.send(&message{Type: msgSession, ID: uint32(i + 1), Session: b}, fd)
				}))
				m, _, err := old.recv()
				require.NoError(t, err)
				require.Equal(t, msgAck, m.Type)
			}
			require.Zero(t, tgt.served.Load(), "nothing served before the commit")
			if commit {
				require.NoError(t, old.send(&message{Type: msgCommit}))
				m, _, err := old.recv()
				require.NoError(t, err)
				require.Equal(t, msgTaken, m.Type)
				require.NoError(t, old.send(&message{Type: msgDone}))
				m, _, err = old.recv()
				require.NoError(t, err)
				require.Equal(t, msgTaken, m.Type)
			}
			_ = oldEnd.Close()
			<-tk.Done()
			if commit {
				require.NoError(t, tk.Err())
				require.EqualValues(t, 2, tgt.served.Load())
				require.Zero(t, tgt.abandoned.Load())
				return
			}
			require.Error(t, tk.Err())
			require.Zero(t, tgt.served.Load())
			require.EqualValues(t, 2, tgt.abandoned.Load())
		})
	}
}

// TestTakebackNegotiated: the old process uses take-back only with a new
// binary that announces it, and says so in its configuration message; with
// no session to hand, a new process that dies at done still makes the
// upgrade roll back.
func TestTakebackNegotiated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features []string
	}{{"older new binary", []string{featureGossip}}, {"takeback", []string{featureGossip, featureTakeback}}} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, nw, done := serveOld(t, tc.features)
			m, fds, err := nw.recv()
			require.NoError(t, err)
			closeFiles(fds)
			takeback := len(tc.features) == 2
			require.Equal(t, takeback, len(m.Features) == 1 && m.Features[0] == featureTakeback)
			_, fds, err = nw.recv() // listeners
			require.NoError(t, err)
			closeFiles(fds)
			require.NoError(t, nw.send(&message{Type: msgReady}))
			m, _, err = nw.recv()
			require.NoError(t, err)
			require.Equal(t, msgDone, m.Type)
			require.NotNil(t, m.Stats)
			require.Equal(t, uint64(1), m.Stats.Upgrades)
			_ = nw.uc.Close() // dies before taken
			if takeback {
				require.ErrorIs(t, <-done, ErrRolledBack)
				require.Zero(t, o.Stats.Upgrades.Load())
				require.Equal(t, uint64(1), o.Stats.Rollbacks.Load())
				return
			}
			require.NoError(t, <-done, "an older new binary owns everything at done")
			require.Equal(t, uint64(1), o.Stats.Upgrades.Load())
		})
	}
}
