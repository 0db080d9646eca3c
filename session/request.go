package session

import (
	"time"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/router"
)

// request is the per-command state of the query path: dispatch makes a
// fresh one for every command, route fills in the statement's
// classification and target, acquire/run set the backend connection that
// serves it, and finish reads it to account for the response and decide
// pinning. Nothing in it outlives the command, so nothing needs resetting
// by hand; what does outlive it (transaction, pins, session variables) is
// the session's own state.
//
// It is a value inside Session (no allocation per command). It is not
// (yet) passed as a parameter along route → acquire → run → finish: the
// relay's OnOK callback and the panic path reach it through the session.
type request struct {
	// flags / nextTxn describe the statement (router.Stmt.Flags; a SET
	// TRANSACTION for the next transaction only).
	flags   router.Flags
	nextTxn bool
	// digest / hg identify the statement for the digest statistics and
	// the observers ("" = not recorded); hg is where it ran.
	digest string
	hg     int
	// cmd is the statement's stats_mysql_commands_counters class (-1:
	// none, the request is not a statement).
	cmd int
	// timeout is the statement timeout (0 = none); Session.timer
	// enforces it.
	timeout time.Duration
	// detached: a read of a transaction_persistent=0 user running outside
	// its transaction on a connection of its own (txnpersist.go); finish
	// releases that connection on its own.
	detached bool
	// conn is the backend connection serving the command while its reply
	// is relayed; the relay's OnOK callback updates its state.
	conn *pool.Conn
}
