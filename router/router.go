package router

// Target says which backend a statement goes to.
type Target uint8

// Targets.
const (
	// TargetWriter is the user's writer hostgroup.
	TargetWriter Target = iota
	// TargetReader is the reader hostgroup paired with the writer.
	TargetReader
	// TargetHostgroup is an explicit hostgroup (hint or query rule).
	TargetHostgroup
	// TargetPinned is the connection the session already holds.
	TargetPinned
)

// Reason says why a statement went where it went (metrics, admin).
type Reason uint8

// Reasons.
const (
	ReasonWrite Reason = iota
	ReasonRead
	ReasonPinned
	ReasonTransaction
	ReasonAutocommitOff
	ReasonReadOnlyTxn
	ReasonLockingRead
	ReasonSessionState
	ReasonParseError
	ReasonHint
	ReasonRule
	ReasonShow
	// ReasonFastForward: the user is fast_forward (everything to its
	// default hostgroup).
	ReasonFastForward
	NumReasons
)

var reasonNames = [NumReasons]string{"write", "read", "pinned", "transaction", "autocommit_off",
	"read_only_transaction", "locking_read", "session_state", "parse_error", "hint", "rule", "show", "fast_forward"}

// String names the reason.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason(" + itoa(int(r)) + ")"
}

// View is what the router needs to know of a session.
type View struct {
	// Pinned: the session holds a backend connection (transaction or
	// unreplayable state); everything goes there.
	Pinned bool
	// Autocommit is the session's autocommit setting.
	Autocommit bool
}

// Decision is where one statement goes.
type Decision struct {
	Target    Target
	Hostgroup int // for TargetHostgroup
	Reason    Reason
}

// writerFlags are facts that keep a read on the writer: it locks, writes a
// file or variable, depends on or creates per-connection state, or reads
// what the previous statement left on its connection.
const writerFlags = FlagLockingRead | FlagSelectInto | FlagUserVarWrite | FlagUserVarRead | FlagGetLock |
	FlagLastInsertID | FlagSequence | FlagFoundRows | FlagPrevStmtInfo | FlagHandler | FlagExecuteSQL

// Route decides where st goes. It is pure: no I/O, no state.
func Route(st *Stmt, v View) Decision {
	if v.Pinned {
		return Decision{Target: TargetPinned, Reason: ReasonPinned}
	}
	switch st.Hint.Target {
	case HintWriter:
		return Decision{Target: TargetWriter, Reason: ReasonHint}
	case HintHostgroup:
		return Decision{Target: TargetHostgroup, Hostgroup: st.Hint.Hostgroup, Reason: ReasonHint}
	case HintReader:
		// A hint may send a plain read to a replica; it never sends a
		// write or a read that needs the writer's session there.
		if st.Kind == KindRead && v.Autocommit && st.Flags&(FlagLockingRead|FlagSelectInto|FlagUserVarWrite|FlagGetLock|FlagSequence) == 0 {
			return Decision{Target: TargetReader, Reason: ReasonHint}
		}
	}
	if st.Flags&FlagParseError != 0 {
		return Decision{Target: TargetWriter, Reason: ReasonParseError}
	}
	switch st.Kind {
	case KindRead:
		switch {
		case !v.Autocommit:
			return Decision{Target: TargetWriter, Reason: ReasonAutocommitOff}
		case st.Flags&FlagLockingRead != 0:
			return Decision{Target: TargetWriter, Reason: ReasonLockingRead}
		case st.Flags&writerFlags != 0:
			return Decision{Target: TargetWriter, Reason: ReasonSessionState}
		}
		return Decision{Target: TargetReader, Reason: ReasonRead}
	case KindBegin:
		if st.Flags&FlagReadOnlyTxn != 0 && v.Autocommit {
			return Decision{Target: TargetReader, Reason: ReasonReadOnlyTxn}
		}
		return Decision{Target: TargetWriter, Reason: ReasonTransaction}
	case KindShow:
		return Decision{Target: TargetWriter, Reason: ReasonShow}
	}
	return Decision{Target: TargetWriter, Reason: ReasonWrite}
}
