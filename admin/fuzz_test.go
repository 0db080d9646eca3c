package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fuzzAdminSeeds are admin statements in the shapes operators type, and
// some they should not: edits that pass or fail validation, LOAD/SAVE in
// every direction, DRY RUN, SET on variables, SHOW, multi-statements,
// comments, quoting and plain junk.
var fuzzAdminSeeds = []string{
	"SELECT * FROM mysql_servers",
	"SELECT COUNT(*) FROM runtime_mysql_users; SELECT 1",
	"UPDATE mysql_servers SET weight = 5 WHERE port = 3307; LOAD MYSQL SERVERS TO RUNTIME",
	"UPDATE mysql_servers SET port = 0; LOAD MYSQL SERVERS TO RUNTIME",
	"DELETE FROM mysql_servers; LOAD MYSQL SERVERS TO RUNTIME",
	"INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (30, '10.0.0.9', 3306); LOAD MYSQL SERVERS TO RUNTIME DRY RUN",
	"INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('u2', '*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3', 10); LOAD MYSQL USERS TO RUNTIME",
	"REPLACE INTO mysql_query_rules (rule_id, active, match_digest, destination_hostgroup, apply) VALUES (9, 1, '^SELECT (', 10, 1); LOAD MYSQL QUERY RULES TO RUNTIME",
	"SET mysql-max_connections = 10; LOAD MYSQL VARIABLES TO RUNTIME",
	"SET admin-admin_credentials = 'admin:admin'; LOAD ADMIN VARIABLES TO RUNTIME",
	"SET mysql-monitor_interval = 'soon'",
	"SAVE MYSQL SERVERS TO DISK",
	"LOAD MYSQL SERVERS FROM DISK; LOAD MYSQL SERVERS FROM MEMORY",
	"SAVE MYSQL USERS FROM RUNTIME",
	"LOAD MYSQL VARIABLES FROM CONFIG",
	"LOAD MYSQL SERVERS TO DISK",
	"load /* x */ mysql -- y\n servers to run",
	"SHOW TABLES; SHOW VARIABLES LIKE 'mysql-%'; SHOW CREATE TABLE mysql_servers",
	"SELECT * FROM stats.stats_mysql_connection_pool; SELECT * FROM monitor.mysql_server_ping_log",
	"USE disk; SELECT * FROM mysql_servers; USE main",
	"DROP TABLE mysql_servers",
	"ATTACH DATABASE '/tmp/x.db' AS x",
	"PRAGMA writable_schema = 1",
	"UPDATE runtime_mysql_servers SET port = 1",
	"BEGIN; UPDATE mysql_users SET max_connections = 3; COMMIT; LOAD MYSQL USERS TO RUNTIME",
	"SELECT 'a;b'; SELECT \"c;d\"; SELECT `e;f` FROM mysql_servers",
	"SELECT '",
	";;;",
	"\x00\xff LOAD",
	strings.Repeat("(", 200),
	"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
}

// FuzzAdminSQL feeds statements to the admin engine in-process. Whatever
// the input, the engine must not panic, the runtime configuration must
// stay valid, and it may change only through a LOAD ... TO RUNTIME (or
// FROM MEMORY) statement that is part of the input and not a DRY RUN.
// go test runs the seeds; go test -fuzz=FuzzAdminSQL ./admin explores.
func FuzzAdminSQL(f *testing.F) {
	for _, s := range fuzzAdminSeeds {
		f.Add(s)
	}
	cfg := testConfig()
	cfg.Admin.Datadir = f.TempDir()
	rt := &fakeRuntime{cfg: cfg}
	e, err := newEngine(context.Background(), engineOptions{Runtime: rt, Datadir: cfg.Admin.Datadir, Log: zap.NewNop(), Version: Version})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	sess := &adminSession{User: "admin", Addr: "127.0.0.1:50000", DB: schemaMain}

	f.Fuzz(func(t *testing.T, q string) {
		before, applies := rt.Config(), rt.applied()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = e.Exec(ctx, sess, q)
		sess.DB = schemaMain // a USE in the input must not leak into the next one
		after := rt.Config()
		if err := after.Validate(); err != nil {
			t.Fatalf("runtime configuration invalid after %q: %v", q, err)
		}
		if after == before && rt.applied() == applies {
			return
		}
		if !hasLoadToRuntime(q) {
			t.Fatalf("runtime configuration changed by %q, which has no LOAD ... TO RUNTIME", q)
		}
	})
}

// hasLoadToRuntime reports whether q has a statement that moves MEMORY to
// RUNTIME for real (not a DRY RUN).
func hasLoadToRuntime(q string) bool {
	for _, st := range splitStatements(q) {
		cmd, ok, err := parseCommand(sig(st))
		if ok && err == nil && cmd.act == actMemoryToRuntime && !cmd.dryRun {
			return true
		}
	}
	return false
}
