package session

import (
	"time"

	"github.com/rwproxy/rwproxy/router"
)

// request is the per-command state of the query path. dispatch makes one
// on its stack for every command and passes it down explicitly: route
// fills in the statement's classification and target, acquire/run update
// where it runs, and finish reads it to account for the response and
// decide pinning. Nothing in it outlives the command, so nothing needs
// resetting by hand; what does outlive it (transaction, pins, session
// variables, prepared statements) is the session's own state, and what a
// client would lose on reconnect is gathered in Durable (durable.go).
//
// It is passed as *request and never stored, so it stays on dispatch's
// stack (no allocation per command; BenchmarkQPPointSelect's allocs/op
// track it). Two per-command values stay Session fields: relayConn, the
// connection whose reply is being relayed, because the relay's OnOK
// callback and the panic path (neither runs down this call chain) need
// it; and span, the traced statement's span, which writeErr fills in
// from every path.
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
	// exec is the COM_STMT_EXECUTE being run (zero for other commands;
	// set before it is routed: its text was rewritten once, at prepare).
	exec execState
	// rule is what the matched query rules ask of the statement besides a
	// destination (OK_msg, retries, mirroring); cache is its cache_ttl
	// setting. route sets both.
	rule  ruleStmt
	cache router.CacheSpec
}
