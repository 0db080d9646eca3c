package capture

// FormatVersion is the version of the capture file format; every file
// starts with a header record carrying it. A reader refuses a version it
// does not know.
const FormatVersion = 1

// Record types.
const (
	TypeHeader  = "header"  // first line of every file
	TypeSession = "session" // a session's state when the capture first saw it
	TypeStmt    = "stmt"    // one statement (COM_QUERY or COM_STMT_EXECUTE)
	TypeFooter  = "footer"  // last line of the last file: the totals
)

// Record is one line of a capture file (JSON). Fields that do not apply to
// a type are left out.
type Record struct {
	Type string `json:"type"`
	// Header: the format version, the capture's start (RFC 3339, UTC) and
	// whether literals were redacted.
	Version int    `json:"version,omitempty"`
	Started string `json:"started,omitempty"`
	Redact  bool   `json:"redact,omitempty"`
	// T is nanoseconds from the capture's start to the statement's arrival
	// (session: to the first statement seen).
	T int64 `json:"t,omitempty"`
	// Session is the client connection id.
	Session uint32 `json:"sid,omitempty"`
	// Session state (type session): user, schema, autocommit, and whether
	// a transaction was open (a session that was in a transaction when the
	// capture started replays from its next transaction boundary).
	User       string `json:"user,omitempty"`
	DB         string `json:"db,omitempty"`
	Autocommit *bool  `json:"autocommit,omitempty"`
	InTxn      bool   `json:"in_txn,omitempty"`
	// Statement: the command ("query" or "execute"), its text (a prepared
	// statement's for execute) unless redacted, its digest (normalized,
	// literals replaced by ?), and with redact the SHA-256 of the text.
	Cmd    string `json:"cmd,omitempty"`
	SQL    string `json:"sql,omitempty"`
	Digest string `json:"digest,omitempty"`
	Hash   string `json:"hash,omitempty"`
	// Params is an execute's binary parameter block (null bitmap, types,
	// values) in hex, as the client sent it after the statement id, flags
	// and iteration count; left out with redact.
	Params string `json:"params,omitempty"`
	// Result summary: duration in microseconds, rows returned, response
	// bytes, MySQL error code (0 = none), and where it ran.
	DurUS int64 `json:"dur_us,omitempty"`
	Rows  int   `json:"rows,omitempty"`
	// Checksum is the sum of the xxhash64 of every row packet's payload,
	// 16 hex digits (order-independent; the same for the same rows sent in
	// the same protocol, text or binary); left out with no rows.
	Checksum  string `json:"checksum,omitempty"`
	Bytes     int    `json:"bytes,omitempty"`
	Err       uint16 `json:"err,omitempty"`
	Hostgroup int    `json:"hg,omitempty"`
	Backend   string `json:"backend,omitempty"`
	// Footer: statements written and dropped (queue full).
	Written uint64 `json:"written,omitempty"`
	Dropped uint64 `json:"dropped,omitempty"`
}
