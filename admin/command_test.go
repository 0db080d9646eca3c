package admin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in     string
		mod    string
		act    action
		dryRun bool
		err    string // substring; "" means no error
		notCmd bool
	}{
		{in: "LOAD MYSQL SERVERS TO RUNTIME", mod: "MYSQL SERVERS", act: actMemoryToRuntime},
		{in: "load mysql servers to run", mod: "MYSQL SERVERS", act: actMemoryToRuntime},
		{in: "LOAD MYSQL SERVERS FROM MEMORY", mod: "MYSQL SERVERS", act: actMemoryToRuntime},
		{in: "LOAD MYSQL SERVERS FROM MEM", mod: "MYSQL SERVERS", act: actMemoryToRuntime},
		{in: "Load Mysql Users To Runtime", mod: "MYSQL USERS", act: actMemoryToRuntime},
		{in: "LOAD MYSQL QUERY RULES TO RUNTIME", mod: "MYSQL QUERY RULES", act: actMemoryToRuntime},
		{in: "LOAD MYSQL VARIABLES TO RUNTIME", mod: "MYSQL VARIABLES", act: actMemoryToRuntime},
		{in: "LOAD ADMIN VARIABLES TO RUNTIME", mod: "ADMIN VARIABLES", act: actMemoryToRuntime},
		{in: "LOAD MYSQL SERVERS TO RUNTIME DRY RUN", mod: "MYSQL SERVERS", act: actMemoryToRuntime, dryRun: true},
		{in: "SAVE MYSQL SERVERS TO DISK", mod: "MYSQL SERVERS", act: actMemoryToDisk},
		{in: "SAVE MYSQL SERVERS FROM MEMORY", mod: "MYSQL SERVERS", act: actMemoryToDisk},
		{in: "SAVE MYSQL USERS FROM RUNTIME", mod: "MYSQL USERS", act: actRuntimeToMemory},
		{in: "SAVE MYSQL USERS FROM RUN", mod: "MYSQL USERS", act: actRuntimeToMemory},
		{in: "SAVE MYSQL USERS TO MEMORY", mod: "MYSQL USERS", act: actRuntimeToMemory},
		{in: "SAVE MYSQL USERS TO MEM", mod: "MYSQL USERS", act: actRuntimeToMemory},
		{in: "LOAD MYSQL QUERY RULES FROM DISK", mod: "MYSQL QUERY RULES", act: actDiskToMemory},
		{in: "LOAD MYSQL QUERY RULES TO MEMORY", mod: "MYSQL QUERY RULES", act: actDiskToMemory},
		{in: "LOAD MYSQL VARIABLES FROM CONFIG", mod: "MYSQL VARIABLES", act: actConfigToMemory},
		{in: "LOAD ADMIN VARIABLES FROM CONFIG", mod: "ADMIN VARIABLES", act: actConfigToMemory},
		{in: "LOAD /* c */ MYSQL -- x\n SERVERS TO RUNTIME", mod: "MYSQL SERVERS", act: actMemoryToRuntime},
		{in: "LOAD MYSQL SERVERS TO DISK", err: "not a valid direction"},
		{in: "SAVE MYSQL SERVERS TO RUNTIME", err: "not a valid direction"},
		{in: "LOAD MYSQL SERVERS", err: "unknown LOAD MYSQL SERVERS command"},
		{in: "LOAD MYSQL SERVERS TO NOWHERE", err: "unknown LOAD MYSQL SERVERS command"},
		{in: "LOAD MYSQL SERVER TO RUNTIME", err: "unknown LOAD command"},
		{in: "LOAD DATA INFILE 'x' INTO TABLE t", err: "unexpected"},
		{in: "SAVE MYSQL SERVERS TO DISK DRY RUN", err: "DRY RUN applies to LOAD ... TO RUNTIME only"},
		{in: "SELECT 1", notCmd: true},
		{in: "loader", notCmd: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			cmd, ok, err := parseCommand(sig(lex(tc.in)))
			if tc.notCmd {
				require.False(t, ok)
				return
			}
			require.True(t, ok)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mod, cmd.mod.name)
			require.Equal(t, tc.act, cmd.act)
			require.Equal(t, tc.dryRun, cmd.dryRun)
		})
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1;", []string{"SELECT 1"}},
		{"  ; ;SELECT 1;;", []string{"SELECT 1"}},
		{"UPDATE t SET a='x;y'; LOAD MYSQL SERVERS TO RUNTIME", []string{"UPDATE t SET a='x;y'", "LOAD MYSQL SERVERS TO RUNTIME"}},
		{"SELECT 'it''s;' -- c;\n; SELECT \"a;b\"", []string{"SELECT 'it''s;'", "SELECT \"a;b\""}},
		{"SELECT `a;b` /* ; */ FROM t # ;\n", []string{"SELECT `a;b`   FROM t"}},
		{"-- only a comment", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, st := range splitStatements(tc.in) {
			got = append(got, join(st))
		}
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestLexKeepsBackslashes(t *testing.T) {
	// ProxySQL's admin (SQLite) keeps backslashes in string literals, so
	// regular expressions are written as they are meant.
	toks := sig(lex(`INSERT INTO mysql_query_rules (match_digest) VALUES ('^SELECT \.\* FROM t WHERE id=\?')`))
	last := toks[len(toks)-2]
	require.Equal(t, tkString, last.kind)
	require.Equal(t, `^SELECT \.\* FROM t WHERE id=\?`, unquote(last))
	require.Equal(t, tkSysVar, sig(lex("select @@session.tx_isolation"))[1].kind)
	require.Equal(t, "@@mysql-max_connections", sig(lex("select @@mysql-max_connections"))[1].text)
	require.Equal(t, []string{"1e5", "0x1F", "3.5"}, []string{sig(lex("1e5"))[0].text, sig(lex("0x1F"))[0].text, sig(lex("3.5"))[0].text})
}

func TestMaskStatement(t *testing.T) {
	tests := []struct{ in, want string }{
		{"INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('bob', 's3cret', 10), ('amy','pw2',20)",
			"INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('bob', '***', 10), ('amy','***',20)"},
		{"INSERT INTO mysql_users VALUES ('bob','s3cret',1,10,1,0,'eventual',1000,'mysql_native_password')",
			"INSERT INTO mysql_users VALUES ('bob','***',1,10,1,0,'eventual',1000,'mysql_native_password')"},
		{"REPLACE INTO main.mysql_users(`username`,`password`) VALUES ('bob', 12345)",
			"REPLACE INTO main.mysql_users(`username`,`password`) VALUES ('bob', '***')"},
		{"UPDATE mysql_users SET password='new' WHERE username='bob'",
			"UPDATE mysql_users SET password='***' WHERE username='bob'"},
		{"UPDATE global_variables SET variable_value='mon:pw' WHERE variable_name='mysql-monitor_password'",
			"UPDATE global_variables SET variable_value='***' WHERE variable_name='mysql-monitor_password'"},
		{"UPDATE global_variables SET variable_value='admin:x' WHERE variable_name='admin-admin_credentials'",
			"UPDATE global_variables SET variable_value='***' WHERE variable_name='admin-admin_credentials'"},
		{"SET mysql-monitor_password = 'pw'", "SET mysql-monitor_password = '***'"},
		{"SET admin-admin_credentials='a:b'", "SET admin-admin_credentials='***'"},
		{"INSERT INTO mysql_users (username, password) SELECT 'x', 'y'", "INSERT INTO mysql_users (username, password) SELECT '***', '***'"},
		{"UPDATE global_variables SET variable_value='2000' WHERE variable_name='mysql-max_connections'",
			"UPDATE global_variables SET variable_value='2000' WHERE variable_name='mysql-max_connections'"},
		{"UPDATE mysql_servers SET weight=4 WHERE port=3307 # comment", "UPDATE mysql_servers SET weight=4 WHERE port=3307"},
		{"DELETE FROM mysql_users WHERE password = 'x'", "DELETE FROM mysql_users WHERE password = '***'"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, maskStatement(lex(tc.in)), tc.in)
	}
}
