package session

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// pipeClient is the client end of a session's connection in tests: it
// answers every auth switch with an empty password and records the first
// byte of every other packet it receives (0x00 OK, 0xff ERR).
type pipeClient struct {
	nc    net.Conn
	mu    sync.Mutex
	codes []uint16 // error codes of the ERR packets received
}

func newPipeSession(t *testing.T, id uint32, user config.User, d *Deps) (*Session, *pipeClient) {
	t.Helper()
	srv, cli := net.Pipe()
	t.Cleanup(func() { _ = srv.Close(); _ = cli.Close() })
	s := &Session{id: id, d: d, user: user, nc: srv, cl: protocol.NewClientConn(srv),
		caps: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION, charset: 45, stmts: map[uint32]*prepared{}}
	s.st.initCharset(s.charset)
	s.timer.init(s)
	pc := &pipeClient{nc: cli}
	go pc.serve()
	return s, pc
}

func (pc *pipeClient) serve() {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(pc.nc, hdr[:]); err != nil {
			return
		}
		body := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		if _, err := io.ReadFull(pc.nc, body); err != nil {
			return
		}
		switch {
		case len(body) > 1 && body[0] == mysql.EOF_HEADER: // auth switch: empty password
			if _, err := pc.nc.Write([]byte{0, 0, 0, hdr[3] + 1}); err != nil {
				return
			}
		case len(body) >= 3 && body[0] == mysql.ERR_HEADER:
			pc.mu.Lock()
			pc.codes = append(pc.codes, uint16(body[1])|uint16(body[2])<<8)
			pc.mu.Unlock()
		}
	}
}

func changeUserPkt(user string) []byte {
	p := append([]byte{0, 0, 0, 0, mysql.COM_CHANGE_USER}, user...)
	return append(p, 0, 0) // NUL, empty auth response
}

func changeUserConfig(maxB int) func() *config.Config {
	c := config.Defaults()
	c.Users = []config.User{{Username: "a", DefaultHostgroup: 10}, {Username: "b", DefaultHostgroup: 10, MaxConnections: maxB}}
	return func() *config.Config { return c }
}

// TestChangeUserRespectsMaxConnections: COM_CHANGE_USER to a user at its
// max_connections is refused (1203) and the session ends; a change that
// is allowed moves the session's slot to the new user.
func TestChangeUserRespectsMaxConnections(t *testing.T) {
	r := NewRegistry()
	d := &Deps{Config: changeUserConfig(1), Registry: r, Stats: &Stats{}, Log: zaptest.NewLogger(t)}
	a, ac := newPipeSession(t, 1, config.User{Username: "a"}, d)
	b, _ := newPipeSession(t, 2, config.User{Username: "b"}, d)
	require.True(t, r.admit("a", 0))
	r.add(a)
	require.True(t, r.admit("b", 1))
	r.add(b)

	require.ErrorIs(t, a.handleChangeUser(changeUserPkt("b")), errQuit, "b is at its limit")
	require.Eventually(t, func() bool {
		ac.mu.Lock()
		defer ac.mu.Unlock()
		return len(ac.codes) == 1 && ac.codes[0] == mysql.ER_TOO_MANY_USER_CONNECTIONS
	}, 5e9, 1e6)
	require.Equal(t, "a", a.user.Username)
	r.remove(a)
	r.mu.Lock()
	require.Equal(t, map[string]int{"b": 1}, r.mu.byUser)
	r.mu.Unlock()

	// b leaves: a second session of a may become b, and its slot moves.
	r.remove(b)
	a2, _ := newPipeSession(t, 3, config.User{Username: "a"}, d)
	require.True(t, r.admit("a", 0))
	r.add(a2)
	require.NoError(t, a2.handleChangeUser(changeUserPkt("b")))
	require.Equal(t, "b", a2.user.Username)
	r.mu.Lock()
	require.Equal(t, map[string]int{"b": 1}, r.mu.byUser)
	r.mu.Unlock()
	require.False(t, r.admit("b", 1), "the changed session counts against b's limit")
	r.remove(a2)
	r.mu.Lock()
	require.Empty(t, r.mu.byUser)
	r.mu.Unlock()
}

// TestKillDuringChangeUser: a KILL from another session reads the
// target's user while the target runs COM_CHANGE_USER (go test -race
// reported the data race here).
func TestKillDuringChangeUser(t *testing.T) {
	r := NewRegistry()
	d := &Deps{Config: changeUserConfig(0), Registry: r, Stats: &Stats{}, Log: zaptest.NewLogger(t)}
	target, _ := newPipeSession(t, 1, config.User{Username: "a"}, d)
	killer, _ := newPipeSession(t, 2, config.User{Username: "a"}, d)
	for _, s := range []*Session{target, killer} {
		require.True(t, r.admit("a", 0))
		r.add(s)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			user := "b"
			if i%2 == 1 {
				user = "a"
			}
			if err := target.handleChangeUser(changeUserPkt(user)); err != nil {
				t.Errorf("change user: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 50 {
			if err := killer.handleKill("KILL QUERY 1"); err != nil {
				t.Errorf("kill: %v", err)
				return
			}
		}
	})
	wg.Wait()
	require.Equal(t, "a", target.user.Username)
}
