package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DurableVersion is the version of the Durable encoding this binary
// writes. Rules for the next ones (the zero-downtime upgrade hands
// sessions from an older binary to a newer one, and back on a rollback):
//   - a new version only adds fields; an old reader ignores them (JSON);
//   - a field whose absence an old reader would misread raises MinReader,
//     the oldest version able to read the record: a reader older than it
//     refuses the record and the session stays where it is;
//   - testdata/durable_v<N>.json are frozen: every later binary must read
//     them.
//
// Version 2 adds Tx, the open transaction's replay record (an older
// reader ignores it: the transaction goes on there without replay).
const DurableVersion = 2

// ErrDurableVersion is a record this binary is too old to read.
var ErrDurableVersion = errors.New("session: durable state too new for this binary")

// Durable is the whole state of a client session between two statements,
// everything another rwproxy process needs to serve the same client on
// the same socket: login, schema, tracked variables, prepared statements
// with the client's ids, pin reasons, read-your-writes position and
// counters. It holds no secret (the user's password is looked up again in
// the receiving process's configuration).
type Durable struct {
	Version   int `json:"v"`
	MinReader int `json:"min_reader"`
	// ConnID is the connection id the client knows (CONNECTION_ID(), KILL).
	ConnID uint32 `json:"conn_id"`
	User   string `json:"user"`
	// Caps are the capabilities the client and the proxy agreed at login.
	Caps uint32 `json:"caps"`
	// Collation is the collation id the client logged in with.
	Collation int  `json:"collation"`
	TLS       bool `json:"tls,omitempty"`
	// QueryAttrs: the client sends query attributes.
	QueryAttrs bool `json:"query_attrs,omitempty"`
	// DB is the current schema; Vars the session variables the server
	// reported (lower-case name → value).
	DB               string            `json:"db"`
	Vars             map[string]string `json:"vars,omitempty"`
	MultiStatements  bool              `json:"multi_statements,omitempty"`
	Unreplayable     bool              `json:"unreplayable,omitempty"`
	CollationUnknown bool              `json:"collation_unknown,omitempty"`
	LastInsertID     uint64            `json:"last_insert_id,omitempty"`
	// InTxn / ROTxn / TxnAborted describe an open transaction; Pins are
	// the other reasons the session holds its backend connection (names
	// of PinReasonNames, so that a reordering of the bits cannot change
	// their meaning).
	InTxn      bool     `json:"in_txn,omitempty"`
	ROTxn      bool     `json:"ro_txn,omitempty"`
	TxnAborted bool     `json:"txn_aborted,omitempty"`
	Pins       []string `json:"pins,omitempty"`
	// Stmts are the client's prepared statements, by the ids it knows;
	// NextStmt is the last id given.
	Stmts    []DurableStmt `json:"stmts,omitempty"`
	NextStmt uint32        `json:"next_stmt"`
	// SessionGTID is the session's read-your-writes position (scope
	// session); UserGTID its user's, as this session last saw it.
	SessionGTID string `json:"session_gtid,omitempty"`
	UserGTID    string `json:"user_gtid,omitempty"`
	// Started is when the client logged in; Statements how many requests
	// the session served (across processes).
	Started    time.Time `json:"started"`
	Statements uint64    `json:"statements"`
	// Backend is the pinned backend connection handed over with the
	// session (its socket travels beside the record); nil: none.
	Backend *DurableBackend `json:"backend,omitempty"`
	// Tx is the open transaction's replay record (version 2; nil from
	// an older binary, or when there is no record: see txhandover.go).
	Tx *DurableTx `json:"tx,omitempty"`
}

// DurableStmt is one prepared statement: the client's id, its SQL, its
// parameter count and the parameter types last bound.
type DurableStmt struct {
	ID     uint32 `json:"id"`
	Query  string `json:"query"`
	Params int    `json:"params"`
	Types  []byte `json:"types,omitempty"`
}

// DurableBackend is a backend connection a session keeps (a transaction,
// locks, temporary tables, user variables): where it goes, the protocol
// state its client library needs, and the session state applied on it.
type DurableBackend struct {
	Addr          string            `json:"addr"`
	User          string            `json:"user"`
	FoundRows     bool              `json:"found_rows,omitempty"`
	NoSchema      bool              `json:"no_schema,omitempty"`
	ThreadID      uint32            `json:"thread_id"`
	ServerVersion string            `json:"server_version"`
	Status        uint16            `json:"status"`
	DB            string            `json:"db"`
	Vars          map[string]string `json:"vars,omitempty"`
	// MultiStatements / LastInsertID: the connection's COM_SET_OPTION and
	// LAST_INSERT_ID() state.
	MultiStatements bool   `json:"multi_statements,omitempty"`
	LastInsertID    uint64 `json:"last_insert_id,omitempty"`
	// Stmts are the statements prepared on the connection, by SQL.
	Stmts []DurableBackendStmt `json:"stmts,omitempty"`
}

// DurableBackendStmt is a statement prepared on a backend connection.
type DurableBackendStmt struct {
	Query  string `json:"query"`
	ID     uint32 `json:"id"`
	Params int    `json:"params"`
	Types  []byte `json:"types,omitempty"`
}

// Marshal encodes d in the current version.
func (d *Durable) Marshal() ([]byte, error) {
	c := *d
	c.Version = DurableVersion
	if c.MinReader == 0 {
		c.MinReader = 1
	}
	return json.Marshal(&c)
}

// UnmarshalDurable decodes a record of any version this binary can read.
func UnmarshalDurable(b []byte) (*Durable, error) { return unmarshalDurableAs(b, DurableVersion) }

// unmarshalDurableAs decodes b as a reader of version reader would (the
// tests play older readers with it).
func unmarshalDurableAs(b []byte, reader int) (*Durable, error) {
	var d Durable
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("session: durable state: %w", err)
	}
	if d.Version < 1 || d.MinReader > reader {
		return nil, fmt.Errorf("%w: version %d, needs a reader of version %d (this one: %d)",
			ErrDurableVersion, d.Version, d.MinReader, reader)
	}
	return &d, nil
}

// pinsFromNames is the inverse of PinReason's names; unknown names (a
// newer binary's reasons) are reported.
func pinsFromNames(names []string) (PinReason, []string) {
	var r PinReason
	var unknown []string
	for _, n := range names {
		i := slices.Index(pinNames[:], n)
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		r |= 1 << i
	}
	return r, unknown
}

func pinNamesOf(r PinReason) []string {
	var out []string
	for i := 0; i < numPinReasons; i++ {
		if r&(1<<i) != 0 {
			out = append(out, pinNames[i])
		}
	}
	return out
}

// Export returns the session's durable state. It is called on the
// session's goroutine between two statements.
func (s *Session) Export() *Durable {
	d := &Durable{ConnID: s.id, User: s.user.Username, Caps: s.caps, Collation: s.charset, TLS: s.tls,
		QueryAttrs: s.qattrs, DB: s.st.db, Vars: copyVars(s.st.vars), MultiStatements: s.st.multiStatements,
		Unreplayable: s.st.unreplayable, CollationUnknown: s.st.collationUnknown, LastInsertID: s.st.lastInsertID,
		InTxn: s.inTxn, ROTxn: s.roTxn, TxnAborted: s.txnAborted, Pins: pinNamesOf(s.pins &^ PinNextStatement),
		NextStmt: s.nextStmt, Started: s.started, Statements: s.statements}
	ids := make([]uint32, 0, len(s.stmts))
	for id := range s.stmts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ps := s.stmts[id]
		d.Stmts = append(d.Stmts, DurableStmt{ID: id, Query: ps.query, Params: ps.params,
			Types: slices.Clone(ps.types)})
	}
	d.SessionGTID = s.sessPos.String()
	if s.userPos != nil {
		d.UserGTID = s.userPos.load().String()
	}
	d.Tx = s.exportTx()
	return d
}

// restore loads d into a session built by newResumed (its user, deps and
// sockets set).
func (s *Session) restore(d *Durable) error {
	pins, unknown := pinsFromNames(d.Pins)
	if len(unknown) > 0 {
		return fmt.Errorf("session: durable state: unknown pin reasons %v", unknown)
	}
	s.id, s.caps, s.charset, s.tls, s.qattrs = d.ConnID, d.Caps, d.Collation, d.TLS, d.QueryAttrs
	s.st.vars = copyVars(d.Vars)
	s.st.db, s.st.multiStatements = d.DB, d.MultiStatements
	s.st.unreplayable, s.st.collationUnknown, s.st.lastInsertID = d.Unreplayable, d.CollationUnknown, d.LastInsertID
	s.inTxn, s.roTxn, s.txnAborted, s.pins = d.InTxn, d.ROTxn, d.TxnAborted, pins
	s.inTxnFlag.Store(s.inTxn)
	s.nextStmt, s.started, s.statements = d.NextStmt, d.Started, d.Statements
	// Prepared statements are classified again here: the receiving
	// binary's classifier may know better than the one that sent them.
	s.cls.SetSQLMode(s.st.vars["sql_mode"])
	for _, ds := range d.Stmts {
		ps := &prepared{query: ds.Query, params: ds.Params, types: slices.Clone(ds.Types),
			st: s.cls.Classify(ds.Query)}
		s.stmts[ds.ID] = ps
	}
	s.sessPos = parseGTIDs(d.SessionGTID)
	if s.userPos != nil {
		s.userPos.advance(parseGTIDs(d.UserGTID))
	}
	s.restoreTx(d.Tx)
	return nil
}
