package session

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// baselineVars are the values every backend connection starts with (it
// logs in with pool.BaselineCollation); a variable set back to them is
// replayed with these values rather than DEFAULT, whose meaning depends on
// the server's global settings.
var baselineVars = map[string]string{
	"character_set_client":     "utf8mb4",
	"character_set_connection": "utf8mb4",
	"character_set_results":    "utf8mb4",
	"collation_connection":     pool.BaselineCollation,
}

// notReplayed are tracked variables that are read-only or describe the last
// statement rather than the session.
var notReplayed = map[string]bool{
	"last_gtid": true, "last_insert_id": true, "statement_id": true, "session_track_system_variables": true, "session_track_schema": true,
	"session_track_state_change": true, "session_track_gtids": true,
	"session_track_transaction_info": true,
}

// state is what a client session has set: it is replayed on whichever
// backend connection serves the session.
type state struct {
	db   string
	vars map[string]string // lower-case name → value, as the server reported it
	// multiStatements mirrors COM_SET_OPTION / CLIENT_MULTI_STATEMENTS.
	multiStatements bool
	// unreplayable is set when the server reported a state change the
	// proxy cannot replay (user variables, temporary tables, ...).
	unreplayable bool
	// collationUnknown: character_set_connection changed but the server
	// did not report collation_connection (MariaDB omits it after
	// SET NAMES ... COLLATE); it is read back before the connection is let go.
	collationUnknown bool
	// lastGTID is the GTID set the last OK packet reported for a write
	// (MariaDB last_gtid, MySQL session_track_gtids); onOK consumes it.
	lastGTID string
	// lastInsertID is what LAST_INSERT_ID() returns for the session.
	lastInsertID uint64
}

// initCharset seeds vars from the client's handshake (or COM_CHANGE_USER)
// collation.
func (st *state) initCharset(collationID int) {
	st.vars = make(map[string]string)
	coll, err := charset.GetCollationByID(collationID)
	if err != nil || coll.Name == pool.BaselineCollation {
		return
	}
	cs := coll.CharsetName
	if cs == "utf8" {
		cs = "utf8mb3"
	}
	st.vars["character_set_client"] = cs
	st.vars["character_set_connection"] = cs
	st.vars["character_set_results"] = cs
	// MySQL 8's utf8mb4_0900_* collations do not exist on MariaDB: keep the
	// charset's default collation there.
	if !strings.Contains(coll.Name, "_0900_") {
		st.vars["collation_connection"] = coll.Name
	}
}

// autocommit reports the session's autocommit setting.
func (st *state) autocommit() bool {
	v, ok := st.vars["autocommit"]
	return !ok || v == "ON" || v == "1"
}

// observe applies one OK packet's session-state block to the session and to
// the backend connection that produced it. It returns true when the server
// reported a change it did not describe (a user variable, a temporary table,
// a prepared statement): such state cannot be replayed elsewhere.
func observe(ok *protocol.OK, st *state, c *pool.Conn) (unexplained bool) {
	if ok.InsertID != 0 {
		st.lastInsertID, c.LastInsertID = ok.InsertID, ok.InsertID
	}
	if len(ok.State) == 0 {
		return false
	}
	described, changed, charset, collation := false, false, false, false
	_ = protocol.WalkState(ok.State, func(e protocol.StateEntry) {
		switch e.Type {
		case mysql.SESSION_TRACK_SYSTEM_VARIABLES:
			name := strings.ToLower(string(e.Name))
			switch name {
			case "last_gtid":
				// Reported after every commit: it describes the
				// statement, not a session change.
				st.lastGTID = string(e.Value)
				return
			case "last_insert_id":
				v, _ := strconv.ParseUint(string(e.Value), 10, 64)
				st.lastInsertID, c.LastInsertID = v, v
			}
			described = true
			if notReplayed[name] {
				return
			}
			switch name {
			case "character_set_connection":
				charset = true
			case "collation_connection":
				collation = true
			}
			val := string(e.Value)
			st.vars[name] = val
			c.Vars[name] = val
		case mysql.SESSION_TRACK_SCHEMA:
			described = true
			st.db = string(e.Name)
			c.DB = st.db
		case mysql.SESSION_TRACK_GTIDS:
			if len(e.Value) > 0 {
				st.lastGTID = string(e.Value)
			}
		case mysql.SESSION_TRACK_STATE_CHANGE:
			changed = true
		}
	})
	if charset && !collation {
		st.collationUnknown = true
	}
	return changed && !described
}

// setList returns the SET statement that brings a connection whose
// variables are have to the session's want, or "" when nothing differs.
// It runs before every statement that takes a pooled connection: the
// common case, nothing differs, is answered by maps.Equal (one pass over
// want, no iteration of have, nothing built).
func setList(want, have map[string]string) string {
	if maps.Equal(want, have) {
		return ""
	}
	var names []string
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			names = append(names, k)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	// character_set_* sorts before collation_*: a charset resets its
	// collation, so the collation must come after it.
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("SET SESSION ")
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		v, ok := want[k]
		if !ok {
			if bv, isBase := baselineVars[k]; isBase {
				b.WriteString(quoteValue(k, bv))
			} else {
				b.WriteString("DEFAULT")
			}
			continue
		}
		b.WriteString(quoteValue(k, v))
	}
	return b.String()
}

// quoteValue renders a tracked value as SQL: numbers bare, everything else
// as a string literal. A backslash is an escape character unless the
// connection's sql_mode has NO_BACKSLASH_ESCAPES, which the SET may itself
// be changing, so a value holding one is written as CONCAT of literals and
// CHAR(92 USING utf8mb4): the same value under either mode.
func quoteValue(name, v string) string {
	if v == "" && name == "character_set_results" {
		return "NULL"
	}
	if isNumber(v) {
		return v
	}
	if !strings.Contains(v, `\`) {
		return quoteString(v)
	}
	var b strings.Builder
	b.WriteString("CONCAT(")
	for i, part := range strings.Split(v, `\`) {
		if i > 0 {
			b.WriteString(", CHAR(92 USING utf8mb4), ")
		}
		b.WriteString(quoteString(part))
	}
	b.WriteByte(')')
	return b.String()
}

// quoteString quotes v, which holds no backslash, as a string literal.
func quoteString(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func isNumber(v string) bool {
	if v == "" {
		return false
	}
	dot := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '-' && i == 0 && len(v) > 1:
		case c == '.' && !dot && i > 0 && v[i-1] >= '0' && v[i-1] <= '9':
			dot = true
		default:
			return false
		}
	}
	return v[len(v)-1] >= '0' && v[len(v)-1] <= '9'
}

func copyVars(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
