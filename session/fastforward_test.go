package session

import (
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// recBackend answers every query and prepare with OK and records the
// client statements (those naming table ff) it ran.
type recBackend struct {
	mysqlserver.EmptyHandler
	mu  *sync.Mutex
	log *[]string
}

func (h recBackend) HandleQuery(q string) (*mysql.Result, error) {
	if strings.Contains(q, " ff") {
		h.mu.Lock()
		*h.log = append(*h.log, q)
		h.mu.Unlock()
	}
	return nil, nil
}

func (h recBackend) HandleStmtPrepare(q string) (int, int, any, error) {
	_, _ = h.HandleQuery(q)
	return 0, 0, nil, nil
}

func (recBackend) HandleOtherCommand(byte, []byte) error { return nil }

// startRec starts a recording backend; conns counts its connections.
func startRec(t *testing.T) (addr string, ran func() []string, conns *atomic.Int32) {
	var mu sync.Mutex
	var log []string
	conns = new(atomic.Int32)
	addr = fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler {
		conns.Add(1)
		return recBackend{mu: &mu, log: &log}
	}})
	return addr, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(log) }, conns
}

// requireReplyOK reads one reply and requires an OK packet.
func requireReplyOK(t *testing.T, nc net.Conn) {
	t.Helper()
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	require.Equal(t, byte(0), ps[0].payload[0], "%q", ps[0].payload)
}

// TestFastForwardRelaysUnparsed: a fast_forward user's statements are never
// classified (its session has no classifier: classifying would panic), all
// go to the writer, even reads, on one backend connection the session keeps
// (pin reason fast_forward), and a statement no parser accepts reaches the
// server as it was sent. The same read from an ordinary user goes to the
// reader.
func TestFastForwardRelaysUnparsed(t *testing.T) {
	writer, onWriter, writerConns := startRec(t)
	reader, onReader, _ := startRec(t)
	rt := &Routing{ReaderOf: map[int]int{10: 20}}
	pick := hgPicker{10: writer, 20: reader}
	ok := func(nc net.Conn) { requireReplyOK(t, nc) }

	nc, st := servedSessionAs(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10, FastForward: true},
		pick, rt, writer, reader)
	stmts := []string{"SELECT a FROM ff", "SELEC garbage FROM ff !!", "SET @x = (SELECT 1 FROM ff)", "SELECT @x FROM ff"}
	for _, q := range stmts {
		send(t, nc, mysql.COM_QUERY, []byte(q)...)
		ok(nc)
	}
	prepare(t, nc, "SELECT ? FROM ff")
	require.Equal(t, append(stmts, "SELECT ? FROM ff"), onWriter(), "every statement on the writer, as sent")
	require.Empty(t, onReader(), "a fast_forward user's read went to the reader")
	require.EqualValues(t, 1, writerConns.Load(), "one backend connection for the whole session")
	require.EqualValues(t, 1, st.Pins[slices.Index(PinReasonNames(), "fast_forward")].Load())

	// KILL still names the proxy's connection ids: the proxy answers it
	// (this test's registry knows no session), the server never sees it.
	send(t, nc, mysql.COM_QUERY, []byte("KILL QUERY 12345")...)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	require.EqualValues(t, mysql.ER_NO_SUCH_THREAD, errCode(ps[0]))
	require.Len(t, onWriter(), 5)

	// The same read from a user that is not fast_forward is split.
	nc2, _ := servedSession(t, pick, rt, writer, reader)
	send(t, nc2, mysql.COM_QUERY, []byte("SELECT a FROM ff")...)
	ok(nc2)
	require.Equal(t, []string{"SELECT a FROM ff"}, onReader())
}
