package integration

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

const r24Schema = "rules24"

var r24DDL = []string{
	"CREATE TABLE r24_new (id INT PRIMARY KEY, v VARCHAR(20))",
	"INSERT INTO r24_new VALUES (1, 'new1'), (2, 'new2')",
	"CREATE TABLE r24_chain (id INT PRIMARY KEY, v VARCHAR(20))",
	"INSERT INTO r24_chain VALUES (1, 'c1'), (2, 'c2')",
	"CREATE TABLE r24_src (id INT PRIMARY KEY)",
	"CREATE TABLE r24_dst (id INT PRIMARY KEY)",
	"CREATE TABLE r24_both (id INT)",
	"CREATE TABLE r24_dead (id INT)",
}

// r24Proxy starts a proxy (with its admin interface) whose query rules
// chain, rewrite and mirror: hostgroup 30 is the primary again (a mirror
// whose effect the test can read), hostgroup 31 a server that is down.
func r24Proxy(t *testing.T) *admProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	yaml := admYAML(t.TempDir())
	yaml.Servers = append(yaml.Servers,
		config.Server{Hostgroup: 30, Host: "127.0.0.1", Port: sb.Ports[0], Weight: 1, Status: config.StatusOnline, MaxConnections: 50},
		config.Server{Hostgroup: 31, Host: "127.0.0.1", Port: deadPort, Weight: 1, Status: config.StatusOnline, MaxConnections: 50})
	n := func(v int) *int { return &v }
	yaml.QueryRules = []config.QueryRule{
		{RuleID: 1, Active: true, MatchPattern: `FROM r24_old\b`, ReplacePattern: `FROM r24_new`},
		{RuleID: 2, Active: true, MatchPattern: `^SELECT .* FROM r24_chain`, FlagOUT: n(7), DestinationHostgroup: n(20)},
		{RuleID: 3, Active: true, FlagIN: 7, MatchPattern: `WHERE id = 1\b`, DestinationHostgroup: n(10), Apply: true},
		{RuleID: 4, Active: true, MatchPattern: `^SELECT .* FROM r24_chain`, DestinationHostgroup: n(10), Apply: true},
		{RuleID: 5, Active: true, MatchPattern: `^INSERT INTO r24_src`, MirrorHostgroup: n(30), MirrorFlagOUT: n(50)},
		{RuleID: 6, Active: true, FlagIN: 50, MatchPattern: `r24_src`, ReplacePattern: `r24_dst`},
		{RuleID: 7, Active: true, MatchPattern: `^INSERT INTO r24_both`, MirrorHostgroup: n(30)},
		{RuleID: 8, Active: true, MatchPattern: `^INSERT INTO r24_dead`, MirrorHostgroup: n(31)},
	}
	return admStart(t, yaml, yaml.Admin.Datadir)
}

// TestQueryRulesIssue24 runs the rule chains, rewriting, mirroring and the
// firewall against the sandbox, through one proxy.
func TestQueryRulesIssue24(t *testing.T) {
	needSandbox(t)
	createSchema(t, r24Schema, r24DDL)
	p := r24Proxy(t)
	addr := p.app.Addr()
	c := conn(t, openDB(t, dsn(addr, "app", r24Schema)))
	direct := conn(t, openDB(t, dsn(primary(), "app", r24Schema)))

	t.Run("rewrite reaches the backend, text and prepared", func(t *testing.T) {
		// r24_old does not exist: only the rewritten statement can answer.
		require.Equal(t, [][]string{{"new1"}}, spQuery(t, c, "SELECT v FROM r24_old WHERE id = 1"))
		require.Equal(t, [][]string{{"new2"}}, spQuery(t, c, "SELECT v FROM r24_old WHERE id = ?", 2))
	})

	t.Run("chaining order", func(t *testing.T) {
		for range 4 {
			vals, node := spRow(t, c, "SELECT v, @@port FROM r24_chain WHERE id = 1")
			require.Equal(t, []string{"c1"}, vals)
			require.Equal(t, 1, node, "rule 3 (chain 7) sends it to the writer")
			vals, node = spRow(t, c, "SELECT v, @@port FROM r24_chain WHERE id = 2")
			require.Equal(t, []string{"c2"}, vals)
			require.Contains(t, []int{2, 3}, node, "chain 7 has no match: rule 2's hostgroup 20; rule 4 (chain 0) is skipped")
		}
		hits := map[string]string{}
		for _, r := range p.rows(t, "SELECT rule_id, hits FROM stats_mysql_query_rules") {
			hits[r[0]] = r[1]
		}
		require.Equal(t, "8", hits["2"])
		require.Equal(t, "4", hits["3"])
		require.Equal(t, "0", hits["4"], "a chain-0 rule never sees a statement already in chain 7")
	})

	t.Run("mirror receives text and prepared statements", func(t *testing.T) {
		spExec(t, c, "INSERT INTO r24_src VALUES (1)")
		spExec(t, c, "INSERT INTO r24_both VALUES (?)", 5)
		require.Eventually(t, func() bool {
			dst := spQuery(t, direct, "SELECT COUNT(*) FROM r24_dst WHERE id = 1")
			both := spQuery(t, direct, "SELECT COUNT(*) FROM r24_both WHERE id = 5")
			return dst[0][0] == "1" && both[0][0] == "2"
		}, 30*time.Second, 50*time.Millisecond, "the copy of the text INSERT (rewritten for the mirror by chain 50) "+
			"and of the prepared INSERT reach hostgroup 30")
		require.Equal(t, [][]string{{"1"}}, spQuery(t, direct, "SELECT COUNT(*) FROM r24_src"), "the client's own insert, once")
	})

	t.Run("a dead mirror does not affect the client", func(t *testing.T) {
		failed := func() int {
			for _, r := range p.rows(t, "SELECT Variable_Name, Variable_Value FROM stats_mysql_global") {
				if r[0] == "Mirror_Failed" {
					n, _ := strconv.Atoi(r[1])
					return n
				}
			}
			return -1
		}
		before := failed()
		for i := range 5 {
			spExec(t, c, "INSERT INTO r24_dead VALUES (?)", i)
		}
		require.Equal(t, [][]string{{"5"}}, spQuery(t, direct, "SELECT COUNT(*) FROM r24_dead"))
		require.Eventually(t, func() bool { return failed() >= before+5 }, 60*time.Second, 50*time.Millisecond)
	})

	t.Run("firewall learns, then enforces", func(t *testing.T) {
		fw := conn(t, openDB(t, dsn(addr, "app2", r24Schema)))
		p.run(t, "INSERT INTO mysql_firewall_users (username, mode) VALUES ('app2', 'learn')",
			"LOAD MYSQL FIREWALL TO RUNTIME")
		require.Equal(t, [][]string{{"new1"}}, spQuery(t, fw, "SELECT v FROM r24_new WHERE id = 1"))
		require.Equal(t, [][]string{{"2"}}, spQuery(t, fw, "SELECT COUNT(*) FROM r24_chain"))
		p.run(t, "UPDATE mysql_firewall_users SET mode = 'enforce'", "LOAD MYSQL FIREWALL TO RUNTIME")

		require.Equal(t, [][]string{{"new2"}}, spQuery(t, fw, "SELECT v FROM r24_new WHERE id = 2"), "learned digest")
		_, err := fw.QueryContext(context.Background(), "SELECT v FROM r24_chain WHERE id = 2")
		me := myErr(t, err)
		require.EqualValues(t, protocol.ErrCodeFirewall, me.Number)
		require.Contains(t, me.Message, "blocked by the firewall")
		st := p.rows(t, "SELECT mode, learning, blocked FROM stats_mysql_firewall_users WHERE username = 'app2'")
		require.Equal(t, [][]string{{"enforce", "0", "1"}}, st)
		learned := p.rows(t, "SELECT COUNT(*) FROM stats_mysql_firewall_digests WHERE username = 'app2' AND source = 'learned'")
		n, _ := strconv.Atoi(learned[0][0])
		require.GreaterOrEqual(t, n, 2)

		// The documented way to keep what was learned.
		p.run(t, "INSERT OR IGNORE INTO mysql_firewall_allow (username, digest, comment) "+
			"SELECT username, digest, 'learned' FROM stats.stats_mysql_firewall_digests WHERE source = 'learned'",
			"LOAD MYSQL FIREWALL TO RUNTIME")
		require.Equal(t, [][]string{{strconv.Itoa(n)}}, p.rows(t, "SELECT COUNT(*) FROM runtime_mysql_firewall_allow"))
		require.Equal(t, [][]string{{"new1"}}, spQuery(t, fw, "SELECT v FROM r24_new WHERE id = 1"))
	})
}
