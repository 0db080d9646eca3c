package monitor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// MySQL/MariaDB error codes the probes react to.
const (
	errParse          = 1064 // ER_PARSE_ERROR: SHOW REPLICA STATUS before MariaDB 10.5 / MySQL 8.0.22
	errUnknownSysVar  = 1193 // ER_UNKNOWN_SYSTEM_VARIABLE: super_read_only on MariaDB
	errBadField       = 1054 // ER_BAD_FIELD_ERROR
	errNoSuchTable    = 1146 // ER_NO_SUCH_TABLE
	errUnknownTable   = 1109 // ER_UNKNOWN_TABLE
	errSpecificAccess = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
)

// sqlError returns the server's error when err is one (the server
// answered), nil for anything else (network, timeout, protocol).
func sqlError(err error) *mysql.MyError {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me
	}
	return nil
}

// isCode reports whether err is a server error with one of the codes.
func isCode(err error, codes ...uint16) bool {
	me := sqlError(err)
	if me == nil {
		return false
	}
	for _, c := range codes {
		if me.Code == c {
			return true
		}
	}
	return false
}

// query runs q and returns its result set (nil for a statement without
// one). The result is deliberately not Close()d: go-mysql v1.16.0 pools
// closed result sets without clearing their fields, and a pooled one
// reused by mysql.BuildSimpleTextResultset elsewhere in the process keeps
// stale column names or fails with "row types aren't consistent".
func query(conn *client.Conn, q string) (*mysql.Resultset, error) {
	r, err := conn.Execute(q)
	if err != nil {
		return nil, err
	}
	return r.Resultset, nil
}

// colIndex returns the index of the first column named one of names
// (case-insensitive), or -1.
func colIndex(rs *mysql.Resultset, names ...string) int {
	for i, f := range rs.Fields {
		for _, n := range names {
			if strings.EqualFold(string(f.Name), n) {
				return i
			}
		}
	}
	return -1
}

// cell returns a copy of row's column as text, and false for NULL or a
// missing column.
func cell(rs *mysql.Resultset, row, col int) (string, bool) {
	if col < 0 || row >= len(rs.Values) {
		return "", false
	}
	v, err := rs.GetValue(row, col)
	if err != nil || v == nil {
		return "", false
	}
	s, err := rs.GetString(row, col)
	if err != nil {
		return "", false
	}
	return strings.Clone(s), true
}

// parseBool reads a read-only variable's value: 1/0, ON/OFF, YES/NO.
func parseBool(s string) (bool, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "1", "ON", "YES", "TRUE":
		return true, nil
	case "0", "OFF", "NO", "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("unexpected read-only value %q", s)
}

// readOnlyQuery selects the variables, each under its own name.
func readOnlyQuery(vars []string) string {
	cols := make([]string, len(vars))
	for i, v := range vars {
		cols[i] = fmt.Sprintf("@@global.%s AS `%s`", v, v)
	}
	return "SELECT " + strings.Join(cols, ", ")
}

// parseReadOnly reads the one row of readOnlyQuery; alias maps a variable
// the server lacks to the one queried in its place.
func parseReadOnly(rs *mysql.Resultset, vars []string, alias map[string]string) (map[string]bool, error) {
	if rs == nil || len(rs.Values) != 1 {
		return nil, errors.New("read-only check returned no row")
	}
	out := make(map[string]bool, len(vars))
	for _, v := range vars {
		src := v
		if a, ok := alias[v]; ok {
			src = a
		}
		s, ok := cell(rs, 0, colIndex(rs, src))
		if !ok {
			return nil, fmt.Errorf("read-only check: no value for %s", src)
		}
		b, err := parseBool(s)
		if err != nil {
			return nil, err
		}
		out[v] = b
	}
	return out, nil
}

// replicaRow is one replication channel of SHOW REPLICA STATUS.
type replicaRow struct {
	io, sql string  // Replica_IO_Running / Slave_IO_Running: Yes, No, Connecting
	sbm     float64 // Seconds_Behind_Source / Seconds_Behind_Master; -1 NULL
}

// parseReplicaStatus reads SHOW REPLICA STATUS (or SHOW SLAVE STATUS) by
// column name, accepting both the MySQL 8.0.22+ and the old names.
func parseReplicaStatus(rs *mysql.Resultset) ([]replicaRow, error) {
	if rs == nil {
		return nil, nil
	}
	io := colIndex(rs, "Replica_IO_Running", "Slave_IO_Running")
	sq := colIndex(rs, "Replica_SQL_Running", "Slave_SQL_Running")
	sbm := colIndex(rs, "Seconds_Behind_Source", "Seconds_Behind_Master")
	if len(rs.Values) > 0 && (io < 0 || sq < 0 || sbm < 0) {
		return nil, errors.New("replica status lacks the IO/SQL running or seconds-behind columns")
	}
	rows := make([]replicaRow, 0, len(rs.Values))
	for i := range rs.Values {
		r := replicaRow{sbm: -1}
		r.io, _ = cell(rs, i, io)
		r.sql, _ = cell(rs, i, sq)
		if s, ok := cell(rs, i, sbm); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("seconds behind %q: %w", s, err)
			}
			r.sbm = f
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// lagInput is everything one lag check measured.
type lagInput struct {
	rows      []replicaRow
	statusErr error // SHOW REPLICA STATUS failed (server error)
	heartbeat bool  // monitor.heartbeat_table is set
	hb        float64
	hbNull    bool  // the heartbeat table had no row
	hbErr     error // heartbeat query failed (server error)
}

// lagFrom turns a lag check into a sample. Unknown lag (-1) is never
// reported as 0: a stopped thread, a NULL Seconds_Behind_Master or an
// empty status on a server expected to replicate all give -1 and a reason.
// With a heartbeat table its value is the lag, but a stopped SQL thread
// still makes the lag unknown; a status the monitor user may not read is
// then tolerated (the heartbeat alone grows when replication stops).
func lagFrom(in lagInput) lagSample {
	if in.statusErr == nil && len(in.rows) == 0 {
		return lagSample{lag: -1, notReplica: true,
			reason: "SHOW REPLICA STATUS is empty: the server does not replicate (check the configuration)"}
	}
	if !in.heartbeat && in.statusErr != nil {
		return lagSample{lag: -1, reason: "SHOW REPLICA STATUS failed: " + in.statusErr.Error()}
	}
	worst := 0.0
	for _, r := range in.rows {
		switch {
		case !strings.EqualFold(r.sql, "Yes"):
			return lagSample{lag: -1, reason: "replication SQL thread not running (" + orDash(r.sql) + ")"}
		case in.heartbeat:
		case !strings.EqualFold(r.io, "Yes"):
			return lagSample{lag: -1, reason: "replication IO thread not running (" + orDash(r.io) + ")"}
		case r.sbm < 0:
			return lagSample{lag: -1, reason: "Seconds_Behind_Master is NULL"}
		default:
			worst = max(worst, r.sbm)
		}
	}
	if !in.heartbeat {
		return lagSample{lag: worst}
	}
	switch {
	case in.hbErr != nil:
		return lagSample{lag: -1, reason: "heartbeat query failed: " + in.hbErr.Error()}
	case in.hbNull:
		return lagSample{lag: -1, reason: "heartbeat table is empty"}
	}
	return lagSample{lag: max(in.hb, 0)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// heartbeatQuery measures how old the newest heartbeat applied here is.
// The table name was validated (identifier characters, one dot).
func heartbeatQuery(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = "`" + p + "`"
	}
	return "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), NOW(6))/1e6 AS lag FROM " + strings.Join(parts, ".")
}

// parseHeartbeat reads heartbeatQuery's value; null when the table is empty.
func parseHeartbeat(rs *mysql.Resultset) (lag float64, null bool, err error) {
	if rs == nil || len(rs.Values) == 0 {
		return 0, true, nil
	}
	s, ok := cell(rs, 0, 0)
	if !ok {
		return 0, true, nil
	}
	lag, err = strconv.ParseFloat(s, 64)
	return lag, false, err
}

// The group replication query: one round trip per member, reading the
// member's own row, its view of the group (quorum as ProxySQL's
// viable_candidate: ONLINE+RECOVERING members > half of all members), its
// applier queue and, from replication_applier_status_by_worker, the age
// of the transaction it is applying (0 when idle). grQueryNoLag is the
// fallback for servers without that table or column.
const (
	grSelect = `SELECT m.MEMBER_STATE AS member_state, m.MEMBER_ROLE AS member_role,
 s.COUNT_TRANSACTIONS_REMOTE_IN_APPLIER_QUEUE AS transactions_behind,
 (SELECT COUNT(*) FROM performance_schema.replication_group_members WHERE MEMBER_STATE IN ('ONLINE', 'RECOVERING')) AS members_viable,
 (SELECT COUNT(*) FROM performance_schema.replication_group_members) AS members_total,
 @@global.super_read_only AS super_read_only`
	grApplyLag = `,
 (SELECT COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, APPLYING_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP, NOW(6))), 0)/1e6
    FROM performance_schema.replication_applier_status_by_worker
   WHERE CHANNEL_NAME = 'group_replication_applier' AND APPLYING_TRANSACTION <> '') AS apply_lag`
	grFrom = `
FROM performance_schema.replication_group_members m
LEFT JOIN performance_schema.replication_group_member_stats s USING (MEMBER_ID)
WHERE m.MEMBER_ID = @@server_uuid`
	grQuery      = grSelect + grApplyLag + grFrom
	grQueryNoLag = grSelect + grFrom
)

// parseGR reads the group replication query; nil when the server reports
// no row for itself (not a member, or the plugin is not installed).
func parseGR(rs *mysql.Resultset) (*grMember, error) {
	if rs == nil || len(rs.Values) == 0 {
		return nil, nil
	}
	m := &grMember{applyLag: -1}
	m.state, _ = cell(rs, 0, colIndex(rs, "member_state"))
	m.role, _ = cell(rs, 0, colIndex(rs, "member_role"))
	m.state, m.role = strings.ToUpper(m.state), strings.ToUpper(m.role)
	if s, ok := cell(rs, 0, colIndex(rs, "transactions_behind")); ok { // NULL without member stats
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("group replication transactions_behind %q: %w", s, err)
		}
		m.txBehind = n
	}
	for _, x := range []struct {
		col string
		dst *int
	}{{"members_viable", &m.viable}, {"members_total", &m.total}} {
		s, _ := cell(rs, 0, colIndex(rs, x.col))
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("group replication %s %q: %w", x.col, s, err)
		}
		*x.dst = n
	}
	if s, ok := cell(rs, 0, colIndex(rs, "super_read_only")); ok {
		m.superReadOnly, _ = parseBool(s)
	}
	if s, ok := cell(rs, 0, colIndex(rs, "apply_lag")); ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("group replication apply_lag %q: %w", s, err)
		}
		m.applyLag = max(f, 0)
	}
	return m, nil
}
