package session

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/router"
)

// PinReason is one reason a session holds one backend connection. A
// session may have several at once (a bit set).
type PinReason uint16

// Pin reasons.
const (
	PinTransaction PinReason = 1 << iota
	// PinUnreplayable: the server reported a state change rwproxy cannot
	// describe or replay.
	PinUnreplayable
	PinTempTable
	PinNamedLock
	PinLockTables
	PinSQLPrepare
	PinUserVariable
	PinHandler
	// PinSequence: NEXTVAL/LASTVAL state (MariaDB sequences) lives on
	// the connection and is not reported by the session trackers.
	PinSequence
	// PinNextStatement keeps the connection for the next statement only
	// (SET TRANSACTION for the next transaction, SHOW WARNINGS, FOUND_ROWS()).
	PinNextStatement
	// PinBackupLock: MariaDB BACKUP LOCK, until BACKUP UNLOCK.
	PinBackupLock
	// PinBackupStage: MariaDB BACKUP STAGE, until BACKUP STAGE END.
	PinBackupStage
	// PinInstanceLock: MySQL LOCK INSTANCE FOR BACKUP, until UNLOCK INSTANCE.
	PinInstanceLock
	// PinUnparsed: the server ran a statement the classifier could not
	// parse and whose shape is not known to be stateless; it may have
	// taken a lock or set state, so the connection stays with the session
	// until it ends (or resets the connection).
	PinUnparsed
	// PinFastForward: the user is fast_forward (ProxySQL's
	// mysql_users.fast_forward): its statements are relayed unparsed, so
	// the session keeps one backend connection until it ends.
	PinFastForward
	// PinRule: a query rule with multiplex=0 matched a statement of the
	// session (ProxySQL's "multiplexing disabled" by a rule).
	PinRule
	numPinReasons = iota
)

// discardPins are the reasons whose connection is closed, not reset and
// pooled, when the session lets it go.
const discardPins = PinBackupLock | PinBackupStage | PinInstanceLock | PinUnparsed | PinFastForward

var pinNames = [numPinReasons]string{"transaction", "unreplayable_state", "temporary_table", "named_lock",
	"lock_tables", "sql_prepare", "user_variable", "handler", "sequence", "next_statement",
	"backup_lock", "backup_stage", "instance_lock", "unparsed_statement", "fast_forward", "query_rule"}

// PinReasonNames lists every reason's name, in bit order.
func PinReasonNames() []string { return pinNames[:] }

// String lists the reasons' names, comma-separated ("" for none).
func (r PinReason) String() string {
	var b strings.Builder
	for i := 0; i < numPinReasons; i++ {
		if r&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(pinNames[i])
		}
	}
	return b.String()
}

// Stats are process-wide session counters.
type Stats struct {
	Sessions     atomic.Int64
	AuthFailures atomic.Uint64
	Panics       atomic.Uint64
	Queries      atomic.Uint64
	BackendErrs  atomic.Uint64
	// LoginFailures counts refused logins by reason (AuthFailures counts
	// them all).
	LoginFailures loginFailures
	// Pins counts how often each pin reason was taken, by bit index.
	Pins [numPinReasons]atomic.Uint64
	// TxnDetached counts reads of transaction_persistent=0 users that ran
	// outside their transaction (txnpersist.go).
	TxnDetached atomic.Uint64
	// Routes counts routing decisions by reason.
	Routes [router.NumReasons]atomic.Uint64
	// ToReader / ToWriter count statements by the hostgroup role they ran on.
	ToReader atomic.Uint64
	ToWriter atomic.Uint64
	// ReaderFallbacks counts reads sent to the writer because no reader
	// could take them.
	ReaderFallbacks atomic.Uint64
	// RYWWaits / RYWFallbacks count read-your-writes waits on replicas and
	// the reads that went to the writer after the wait timed out.
	RYWWaits     atomic.Uint64
	RYWFallbacks atomic.Uint64
	// RYWWait is the time of those waits.
	RYWWait WaitHistogram
	// StateLost counts client connections closed because the backend
	// connection holding their transaction or pinned state broke.
	StateLost atomic.Uint64
	// ReplyCut counts client connections closed because their backend
	// connection broke after part of a reply had been relayed.
	ReplyCut atomic.Uint64
	// ReadRetries counts autocommit reads re-run on another server after
	// their server failed before any byte of the reply was relayed;
	// ReadRetryFailures those whose second attempt failed too.
	ReadRetries       atomic.Uint64
	ReadRetryFailures atomic.Uint64
	// FailoverWaits counts statements that waited for a writer to appear.
	FailoverWaits atomic.Uint64
	// ConnLimitErrs counts statements that found no free backend
	// connection within pool.wait_timeout (error 9010).
	ConnLimitErrs atomic.Uint64
	// QueryTimeouts counts statements whose query_timeout expired while
	// they ran (rwproxy sent KILL QUERY for them).
	QueryTimeouts atomic.Uint64
	// Replay counts transaction replays (txreplay.go).
	Replay ReplayStats

	// SessionsCreated counts client sessions that logged in.
	SessionsCreated atomic.Uint64
	// Commands counts statements by class (stats_mysql_commands_counters).
	Commands CommandCounters
	// Rules counts what query rules did besides routing (rules.go).
	Rules RuleStats
}

// countPins records newly taken reasons.
func (st *Stats) countPins(added PinReason) {
	for i := 0; i < numPinReasons; i++ {
		if added&(1<<i) != 0 {
			st.Pins[i].Add(1)
		}
	}
}

// RYWWaitBounds are the upper bounds of WaitHistogram's buckets; a last
// bucket counts the waits beyond them.
var RYWWaitBounds = [...]time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second}

// WaitHistogram is a fixed-bucket histogram of wait times, safe for
// concurrent use.
type WaitHistogram struct {
	buckets [len(RYWWaitBounds) + 1]atomic.Uint64
	sumNs   atomic.Uint64
}

func (h *WaitHistogram) observe(d time.Duration) {
	i := 0
	for i < len(RYWWaitBounds) && d > RYWWaitBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// Snapshot returns the count in each bucket (the last one beyond
// RYWWaitBounds) and the sum of the observed waits.
func (h *WaitHistogram) Snapshot() (counts []uint64, sum time.Duration) {
	counts = make([]uint64, len(h.buckets))
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
	}
	return counts, time.Duration(h.sumNs.Load())
}
