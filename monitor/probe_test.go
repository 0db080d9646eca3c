package monitor

import (
	"errors"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
)

func resultset(t *testing.T, names []string, rows ...[]any) *mysql.Resultset {
	t.Helper()
	rs, err := mysql.BuildSimpleTextResultset(names, rows)
	require.NoError(t, err)
	// Round-trip the rows through the text protocol parser, as the
	// client would see them.
	require.NoError(t, parseRows(rs))
	return rs
}

// parseRows fills rs.Values from rs.RowDatas (what the client does).
func parseRows(rs *mysql.Resultset) error {
	rs.Values = make([][]mysql.FieldValue, len(rs.RowDatas))
	for i, rd := range rs.RowDatas {
		v, err := rd.Parse(rs.Fields, false, nil)
		if err != nil {
			return err
		}
		rs.Values[i] = v
	}
	return nil
}

// MariaDB and MySQL < 8.0.22 column names (subset).
var slaveCols = []string{"Slave_IO_State", "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master"}

// MySQL 8.0.22+ column names (subset).
var replicaCols = []string{"Replica_IO_State", "Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source"}

func TestParseReplicaStatus(t *testing.T) {
	rows, err := parseReplicaStatus(resultset(t, slaveCols, []any{"Waiting", "Yes", "Yes", int64(3)}))
	require.NoError(t, err)
	require.Equal(t, []replicaRow{{io: "Yes", sql: "Yes", sbm: 3}}, rows)

	rows, err = parseReplicaStatus(resultset(t, replicaCols,
		[]any{"Waiting", "Yes", "Yes", int64(1)}, []any{"", "Connecting", "Yes", nil}))
	require.NoError(t, err)
	require.Equal(t, []replicaRow{{io: "Yes", sql: "Yes", sbm: 1}, {io: "Connecting", sql: "Yes", sbm: -1}}, rows)

	rows, err = parseReplicaStatus(resultset(t, slaveCols))
	require.NoError(t, err)
	require.Empty(t, rows)

	_, err = parseReplicaStatus(resultset(t, []string{"x"}, []any{"y"}))
	require.Error(t, err)
}

func TestLagFrom(t *testing.T) {
	ok := replicaRow{io: "Yes", sql: "Yes", sbm: 4}
	tests := []struct {
		name       string
		in         lagInput
		lag        float64
		reasonPart string
	}{
		{"seconds behind", lagInput{rows: []replicaRow{ok}}, 4, ""},
		{"worst channel", lagInput{rows: []replicaRow{ok, {io: "Yes", sql: "Yes", sbm: 9}}}, 9, ""},
		{"NULL lag is unknown, never 0", lagInput{rows: []replicaRow{{io: "Yes", sql: "Yes", sbm: -1}}}, -1,
			"Seconds_Behind_Master is NULL"},
		{"SQL thread stopped", lagInput{rows: []replicaRow{{io: "Yes", sql: "No", sbm: -1}}}, -1,
			"SQL thread not running (No)"},
		{"IO thread connecting", lagInput{rows: []replicaRow{{io: "Connecting", sql: "Yes", sbm: 0}}}, -1,
			"IO thread not running (Connecting)"},
		{"one stopped channel of two", lagInput{rows: []replicaRow{ok, {io: "No", sql: "Yes", sbm: -1}}}, -1,
			"IO thread not running"},
		{"empty status on a reader", lagInput{}, -1, "SHOW REPLICA STATUS is empty"},
		{"status denied", lagInput{statusErr: errAccess}, -1, "SHOW REPLICA STATUS failed: ERROR 1142"},
		{"heartbeat replaces seconds behind",
			lagInput{rows: []replicaRow{{io: "Yes", sql: "Yes", sbm: 0}}, heartbeat: true, hb: 0.42}, 0.42, ""},
		{"heartbeat with the IO thread stopped still measures",
			lagInput{rows: []replicaRow{{io: "No", sql: "Yes", sbm: -1}}, heartbeat: true, hb: 7.5}, 7.5, ""},
		{"heartbeat, SQL thread stopped: unknown",
			lagInput{rows: []replicaRow{{io: "Yes", sql: "No", sbm: -1}}, heartbeat: true, hb: 0.1}, -1,
			"SQL thread not running"},
		{"heartbeat, status denied: heartbeat only",
			lagInput{statusErr: errAccess, heartbeat: true, hb: 1.25}, 1.25, ""},
		{"heartbeat, negative clock skew clamps to 0",
			lagInput{rows: []replicaRow{ok}, heartbeat: true, hb: -0.01}, 0, ""},
		{"heartbeat table empty", lagInput{rows: []replicaRow{ok}, heartbeat: true, hbNull: true}, -1,
			"heartbeat table is empty"},
		{"heartbeat query failed", lagInput{rows: []replicaRow{ok}, heartbeat: true, hbErr: errAccess}, -1,
			"heartbeat query failed"},
		{"heartbeat, empty status", lagInput{heartbeat: true, hb: 0.1}, -1, "SHOW REPLICA STATUS is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := lagFrom(tc.in)
			require.Equal(t, tc.lag, s.lag)
			if tc.reasonPart == "" {
				require.Empty(t, s.reason)
			} else {
				require.Contains(t, s.reason, tc.reasonPart)
			}
		})
	}
}

func TestReadOnlyQueryAndParse(t *testing.T) {
	require.Equal(t, "SELECT @@global.read_only AS `read_only`", readOnlyQuery([]string{"read_only"}))
	require.Equal(t, "SELECT @@global.read_only AS `read_only`, @@global.innodb_read_only AS `innodb_read_only`",
		readOnlyQuery([]string{"read_only", "innodb_read_only"}))

	vals, err := parseReadOnly(resultset(t, []string{"read_only"}, []any{int64(1)}),
		[]string{"super_read_only"}, map[string]string{"super_read_only": "read_only"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"super_read_only": true}, vals)

	vals, err = parseReadOnly(resultset(t, []string{"innodb_read_only"}, []any{"OFF"}), []string{"innodb_read_only"}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"innodb_read_only": false}, vals)

	_, err = parseReadOnly(resultset(t, []string{"read_only"}, []any{"maybe"}), []string{"read_only"}, nil)
	require.Error(t, err)
	_, err = parseReadOnly(resultset(t, []string{"read_only"}), []string{"read_only"}, nil)
	require.Error(t, err)
}

func TestHeartbeat(t *testing.T) {
	require.Equal(t, "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), NOW(6))/1e6 AS lag FROM `heartbeat`.`heartbeat`",
		heartbeatQuery("heartbeat.heartbeat"))
	require.Equal(t, "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), NOW(6))/1e6 AS lag FROM `hb`", heartbeatQuery("hb"))
	lag, null, err := parseHeartbeat(resultset(t, []string{"lag"}, []any{"0.4123"}))
	require.NoError(t, err)
	require.False(t, null)
	require.Equal(t, 0.4123, lag)
	_, null, err = parseHeartbeat(resultset(t, []string{"lag"}, []any{nil}))
	require.NoError(t, err)
	require.True(t, null, "MAX over an empty table is NULL")
}

func TestParseGR(t *testing.T) {
	cols := []string{"member_state", "member_role", "transactions_behind", "members_viable", "members_total",
		"super_read_only", "apply_lag"}
	m, err := parseGR(resultset(t, cols, []any{"ONLINE", "SECONDARY", int64(12), int64(3), int64(3), int64(1), "1.5"}))
	require.NoError(t, err)
	require.Equal(t, &grMember{state: "ONLINE", role: "SECONDARY", txBehind: 12, viable: 3, total: 3,
		superReadOnly: true, applyLag: 1.5}, m)
	require.True(t, m.quorum())

	m, err = parseGR(resultset(t, cols[:6], []any{"RECOVERING", "SECONDARY", nil, int64(1), int64(3), int64(0)}))
	require.NoError(t, err)
	require.Equal(t, -1.0, m.applyLag, "no apply-lag column")
	require.False(t, m.quorum())

	m, err = parseGR(resultset(t, cols))
	require.NoError(t, err)
	require.Nil(t, m, "no row: not a member")
}

func TestErrorClassification(t *testing.T) {
	require.NotNil(t, sqlError(errAccess))
	require.Nil(t, sqlError(errors.New("read tcp: i/o timeout")))
	require.True(t, isCode(&mysql.MyError{Code: errParse}, errBadField, errParse))
	require.False(t, isCode(errors.New("x"), errParse))
}
