package session

import (
	"fmt"
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

// txnBackend answers every query with OK, reports an open transaction
// from BEGIN to COMMIT as a server does, and logs the client statements
// (those naming table tp) as "<connection> <statement>".
type txnBackend struct {
	mysqlserver.EmptyHandler
	id    int32
	inTxn bool
	mu    *sync.Mutex
	log   *[]string
}

func (h *txnBackend) HandleQuery(q string) (*mysql.Result, error) {
	switch {
	case strings.HasPrefix(q, "BEGIN"):
		h.inTxn = true
	case strings.HasPrefix(q, "COMMIT"):
		h.inTxn = false
	}
	if strings.Contains(q, "tp") || strings.HasPrefix(q, "BEGIN") || strings.HasPrefix(q, "COMMIT") {
		h.mu.Lock()
		*h.log = append(*h.log, fmt.Sprintf("%d %s", h.id, q))
		h.mu.Unlock()
	}
	if h.inTxn {
		return &mysql.Result{Status: mysql.SERVER_STATUS_IN_TRANS}, nil
	}
	return nil, nil
}

func (*txnBackend) HandleOtherCommand(byte, []byte) error { return nil }

func startTxnBackend(t *testing.T) (string, func() []string) {
	var mu sync.Mutex
	var log []string
	var n atomic.Int32
	addr := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler {
		return &txnBackend{id: n.Add(1), mu: &mu, log: &log}
	}})
	return addr, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(log) }
}

// TestTransactionPersistentOff: for a transaction_persistent=0 user, a
// plain read inside a transaction is routed as outside it (to the reader)
// on a connection of its own, while the transaction keeps its connection
// (the statements after the read run on it) and writes and locking reads
// never leave it. A transaction_persistent=1 user's read stays in.
func TestTransactionPersistentOff(t *testing.T) {
	writer, onWriter := startTxnBackend(t)
	reader, onReader := startTxnBackend(t)
	rt := &Routing{ReaderOf: map[int]int{10: 20}}
	pick := hgPicker{10: writer, 20: reader}
	run := func(nc net.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			send(t, nc, mysql.COM_QUERY, []byte(q)...)
			requireReplyOK(t, nc)
		}
	}
	off := false
	nc, st := servedSessionAs(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10,
		TransactionPersistent: &off}, pick, rt, writer, reader)
	run(nc, "BEGIN", "INSERT INTO tp VALUES (1)", "SELECT a FROM tp", "SELECT a FROM tp FOR UPDATE",
		"UPDATE tp SET a = 2", "COMMIT")
	require.Equal(t, []string{"1 SELECT a FROM tp"}, onReader(), "the plain read left the transaction")
	require.Equal(t, []string{"1 BEGIN", "1 INSERT INTO tp VALUES (1)", "1 SELECT a FROM tp FOR UPDATE",
		"1 UPDATE tp SET a = 2", "1 COMMIT"}, onWriter(), "the transaction kept its one connection")
	require.EqualValues(t, 1, st.TxnDetached.Load())

	// transaction_persistent=1 (the default): the read stays in.
	nc2, st2 := servedSession(t, pick, rt, writer, reader)
	run(nc2, "BEGIN", "SELECT b FROM tp", "COMMIT")
	require.Len(t, onReader(), 1)
	require.Contains(t, onWriter(), "2 SELECT b FROM tp")
	require.Zero(t, st2.TxnDetached.Load())
}

// A read that leaves the transaction but finds no reader falls back to
// the writer hostgroup, the transaction's own: it runs on the
// transaction's connection and sees its writes.
func TestTransactionPersistentOffFallsBackIntoTheTransaction(t *testing.T) {
	writer, onWriter := startTxnBackend(t)
	off := false
	nc, st := servedSessionAs(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10,
		TransactionPersistent: &off}, &fakePicker{hgs: map[int][]string{10: {writer}}} /* no reader */, &Routing{ReaderOf: map[int]int{10: 20}}, writer)
	for _, q := range []string{"BEGIN", "INSERT INTO tp VALUES (1)", "SELECT a FROM tp", "COMMIT"} {
		send(t, nc, mysql.COM_QUERY, []byte(q)...)
		requireReplyOK(t, nc)
	}
	require.Equal(t, []string{"1 BEGIN", "1 INSERT INTO tp VALUES (1)", "1 SELECT a FROM tp", "1 COMMIT"}, onWriter())
	require.Zero(t, st.TxnDetached.Load())
	require.EqualValues(t, 1, st.ReaderFallbacks.Load())
}
