package session

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

func TestSetList(t *testing.T) {
	tests := []struct {
		name       string
		want, have map[string]string
		sql        string
	}{
		{"no difference", map[string]string{"autocommit": "OFF"}, map[string]string{"autocommit": "OFF"}, ""},
		{"both empty", nil, nil, ""},
		{"one variable", map[string]string{"autocommit": "OFF"}, nil, "SET SESSION autocommit='OFF'"},
		{"changed value", map[string]string{"sql_mode": "ANSI_QUOTES"}, map[string]string{"sql_mode": ""},
			"SET SESSION sql_mode='ANSI_QUOTES'"},
		{
			// A charset resets its collation: collation_* must come last.
			"character_set_* before collation_*",
			map[string]string{
				"collation_connection": "latin1_bin", "character_set_results": "latin1",
				"character_set_connection": "latin1", "character_set_client": "latin1",
			},
			nil,
			"SET SESSION character_set_client='latin1', character_set_connection='latin1', " +
				"character_set_results='latin1', collation_connection='latin1_bin'",
		},
		{
			"missing from want: DEFAULT, or the baseline value",
			nil,
			map[string]string{
				"sql_mode": "", "character_set_client": "latin1", "character_set_connection": "latin1",
				"character_set_results": "latin1", "collation_connection": "latin1_swedish_ci", "wait_timeout": "10",
			},
			"SET SESSION character_set_client='utf8mb4', character_set_connection='utf8mb4', " +
				"character_set_results='utf8mb4', collation_connection='" + pool.BaselineCollation + "', " +
				"sql_mode=DEFAULT, wait_timeout=DEFAULT",
		},
		{
			"set and reset together",
			map[string]string{"wait_timeout": "30", "time_zone": "+00:00"},
			map[string]string{"wait_timeout": "10", "autocommit": "OFF"},
			"SET SESSION autocommit=DEFAULT, time_zone='+00:00', wait_timeout=30",
		},
		{"NULL results charset", map[string]string{"character_set_results": ""}, nil,
			"SET SESSION character_set_results=NULL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.sql, setList(tc.want, tc.have))
		})
	}
}

// The list is deterministic whatever the map iteration order.
func TestSetListDeterministic(t *testing.T) {
	want := map[string]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "character_set_client", "collation_connection"} {
		want[k] = "1"
	}
	first := setList(want, nil)
	for i := 0; i < 50; i++ {
		require.Equal(t, first, setList(want, nil))
	}
}

func TestQuoteValue(t *testing.T) {
	tests := []struct {
		name, variable, value, sql string
	}{
		{"string", "time_zone", "+00:00", "'+00:00'"},
		{"empty string", "sql_mode", "", "''"},
		{"quote doubled", "x", "it's", "'it''s'"},
		{"backslash spelled out (any sql_mode)", "x", `a\b`, `CONCAT('a', CHAR(92 USING utf8mb4), 'b')`},
		{"quote and backslash", "x", `\'`, `CONCAT('', CHAR(92 USING utf8mb4), '''')`},
		{"injection stays a literal", "x", "'; DROP TABLE t; --", "'''; DROP TABLE t; --'"},
		{"integer bare", "wait_timeout", "28800", "28800"},
		{"negative bare", "x", "-1", "-1"},
		{"decimal bare", "long_query_time", "10.000000", "10.000000"},
		{"two dots quoted", "x", "1.2.3", "'1.2.3'"},
		{"lone minus quoted", "x", "-", "'-'"},
		{"leading dot quoted", "x", ".5", "'.5'"},
		{"hex quoted", "x", "0x10", "'0x10'"},
		{"ON quoted", "autocommit", "ON", "'ON'"},
		{"NULL results charset", "character_set_results", "", "NULL"},
		{"other empty charset is a string", "character_set_client", "", "''"},
		{"results charset with a value", "character_set_results", "utf8mb4", "'utf8mb4'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.sql, quoteValue(tc.variable, tc.value))
		})
	}
}

// entries builds a session-state block.
func stateBlock(entries ...[]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

func lenencStr(dst []byte, s string) []byte {
	return append(mysql.AppendLengthEncodedInteger(dst, uint64(len(s))), s...)
}

func sysvar(name, value string) []byte {
	data := lenencStr(lenencStr(nil, name), value)
	return append(mysql.AppendLengthEncodedInteger([]byte{mysql.SESSION_TRACK_SYSTEM_VARIABLES}, uint64(len(data))), data...)
}

func schema(name string) []byte {
	data := lenencStr(nil, name)
	return append(mysql.AppendLengthEncodedInteger([]byte{mysql.SESSION_TRACK_SCHEMA}, uint64(len(data))), data...)
}

func stateChange() []byte {
	return append([]byte{mysql.SESSION_TRACK_STATE_CHANGE}, lenencStr(nil, "1")...)
}

func gtids(gtid string) []byte {
	data := lenencStr([]byte{0}, gtid)
	return append(mysql.AppendLengthEncodedInteger([]byte{mysql.SESSION_TRACK_GTIDS}, uint64(len(data))), data...)
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name        string
		state       []byte
		unexplained bool
		vars        map[string]string
		db          string
	}{
		{"no state block", nil, false, map[string]string{}, "old"},
		{"system variable", stateBlock(sysvar("autocommit", "OFF")), false,
			map[string]string{"autocommit": "OFF"}, "old"},
		{"names are lower-cased", stateBlock(sysvar("SQL_MODE", "ANSI")), false,
			map[string]string{"sql_mode": "ANSI"}, "old"},
		{"several variables", stateBlock(sysvar("character_set_client", "latin1"), sysvar("collation_connection", "latin1_bin")),
			false, map[string]string{"character_set_client": "latin1", "collation_connection": "latin1_bin"}, "old"},
		{"tracker variables are not replayed", stateBlock(sysvar("session_track_schema", "OFF"), sysvar("last_gtid", "x:1")),
			false, map[string]string{}, "old"},
		{"schema", stateBlock(schema("shop")), false, map[string]string{}, "shop"},
		{"state change only: a user variable or temporary table", stateBlock(stateChange()), true,
			map[string]string{}, "old"},
		{"variable and state change", stateBlock(sysvar("autocommit", "OFF"), stateChange()), false,
			map[string]string{"autocommit": "OFF"}, "old"},
		{"schema and state change", stateBlock(schema("db2"), stateChange()), false, map[string]string{}, "db2"},
		// last_gtid and the GTID tracker report the last write, not session
		// state: they explain no state change (a write that also assigns
		// a user variable, as UPDATE t SET c = (@v := c + 1) with
		// autocommit on MariaDB, must still pin).
		{"last_gtid does not explain a state change", stateBlock(sysvar("last_gtid", "0-1-42"), stateChange()), true,
			map[string]string{}, "old"},
		{"GTIDs do not explain a state change", stateBlock(gtids("3e11fa47-71ca-11e1-9e33-c80aa9429562:7"), stateChange()), true,
			map[string]string{}, "old"},
		{"malformed block keeps what decoded", stateBlock(sysvar("autocommit", "OFF"), []byte{0, 9, 1}), false,
			map[string]string{"autocommit": "OFF"}, "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &state{db: "old", vars: map[string]string{}}
			c := &pool.Conn{DB: "old", Vars: map[string]string{}}
			ok := &protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED, State: tc.state}
			require.Equal(t, tc.unexplained, observe(ok, st, c))
			require.Equal(t, tc.vars, st.vars, "session")
			require.Equal(t, tc.vars, c.Vars, "backend connection")
			require.Equal(t, tc.db, st.db)
			require.Equal(t, tc.db, c.DB)
		})
	}
}

func TestInitCharset(t *testing.T) {
	tests := []struct {
		name      string
		collation uint8
		vars      map[string]string
	}{
		{"45 utf8mb4_general_ci is the baseline", 45, map[string]string{}},
		{"33 utf8_general_ci", 33, map[string]string{
			"character_set_client": "utf8mb3", "character_set_connection": "utf8mb3",
			"character_set_results": "utf8mb3", "collation_connection": "utf8_general_ci"}},
		{"8 latin1_swedish_ci", 8, map[string]string{
			"character_set_client": "latin1", "character_set_connection": "latin1",
			"character_set_results": "latin1", "collation_connection": "latin1_swedish_ci"}},
		{"255 utf8mb4_0900_ai_ci keeps the default collation", 255, map[string]string{
			"character_set_client": "utf8mb4", "character_set_connection": "utf8mb4",
			"character_set_results": "utf8mb4"}},
		{"unknown id", 0, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st state
			st.vars = map[string]string{"stale": "1"}
			st.initCharset(int(tc.collation))
			require.Equal(t, tc.vars, st.vars)
		})
	}
}

func TestAutocommit(t *testing.T) {
	for v, want := range map[string]bool{"ON": true, "1": true, "OFF": false, "0": false} {
		st := state{vars: map[string]string{"autocommit": v}}
		require.Equal(t, want, st.autocommit(), v)
	}
	require.True(t, (&state{vars: map[string]string{}}).autocommit(), "unset means the server default, ON")
}

// observe also keeps what read-your-writes and LAST_INSERT_ID() need.
func TestObserveWrites(t *testing.T) {
	tests := []struct {
		name     string
		ok       protocol.OK
		gtid     string
		insertID uint64
		collUnk  bool
	}{
		{"insert id", protocol.OK{InsertID: 42}, "", 42, false},
		{"MariaDB last_gtid", protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED,
			State: stateBlock(sysvar("last_gtid", "0-1-42"))}, "0-1-42", 0, false},
		{"MySQL GTID tracker", protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED,
			State: stateBlock(gtids("uuid:1-9"))}, "uuid:1-9", 0, false},
		{"last_insert_id variable", protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED,
			State: stateBlock(sysvar("last_insert_id", "77"))}, "", 77, false},
		{"charset without collation", protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED,
			State: stateBlock(sysvar("character_set_connection", "latin1"))}, "", 0, true},
		{"charset with collation", protocol.OK{Status: mysql.SERVER_SESSION_STATE_CHANGED,
			State: stateBlock(sysvar("character_set_connection", "latin1"), sysvar("collation_connection", "latin1_bin"))},
			"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &state{vars: map[string]string{}}
			c := &pool.Conn{Vars: map[string]string{}}
			observe(&tc.ok, st, c)
			require.Equal(t, tc.gtid, st.lastGTID)
			require.Equal(t, tc.insertID, st.lastInsertID)
			require.Equal(t, tc.insertID, c.LastInsertID)
			require.Equal(t, tc.collUnk, st.collationUnknown)
		})
	}
}
