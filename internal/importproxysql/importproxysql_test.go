package importproxysql

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

func TestParseLibconfig(t *testing.T) {
	doc, err := Parse(`
# comment
a = 1; b : 0x10L, c=-2.5
// another
s = "one " "two\t\"q\"" /* block
comment */ re = "^SELECT\.\d+$"
g = { x = true; y = "z" }
l = ( { n = 1 }, { n = 2 }, )
arr = [1, 2, 3]
`)
	require.NoError(t, err)
	require.Equal(t, int64(1), doc.Get("a").Int)
	require.Equal(t, int64(16), doc.Get("b").Int)
	require.Equal(t, -2.5, doc.Get("c").Float)
	require.Equal(t, "one two\t\"q\"", doc.Get("s").Str)
	require.Equal(t, `^SELECT\.\d+$`, doc.Get("re").Str, "unknown escapes stay as written (regular expressions)")
	require.True(t, doc.Get("g").Get("x").Bool)
	require.Equal(t, "z", doc.Get("g").Get("y").Str)
	require.Len(t, doc.Get("l").Items, 2)
	require.Equal(t, int64(2), doc.Get("l").Items[1].Get("n").Int)
	require.Len(t, doc.Get("arr").Items, 3)
	require.Nil(t, doc.Get("missing"))
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for src, want := range map[string]string{
		"a = 1\nb = {\n c = 2\n":   "missing }",
		"a = 1\n\nb = bare_word\n": "line 3",
		"a = \"open\n":             "unterminated string",
		"a = ( 1, 2\n":             "missing",
		"= 3":                      "expected a setting name",
		"a 3":                      "expected = or :",
	} {
		_, err := Parse(src)
		require.Error(t, err, src)
		require.Contains(t, err.Error(), want, src)
	}
}

// The realistic proxysql.cnf of testdata: what maps, what is left out
// with its reason, and the user/rule semantics carried over.
func TestConvertRealisticCnf(t *testing.T) {
	raw, err := os.ReadFile("testdata/proxysql.cnf")
	require.NoError(t, err)
	doc, err := Parse(string(raw))
	require.NoError(t, err)
	res := Convert(doc)
	c := res.Config
	require.Equal(t, "0.0.0.0:6033", c.Listen)
	require.Equal(t, "0.0.0.0:6032", c.Admin.Listen)
	require.Equal(t, "/var/lib/proxysql", c.Admin.Datadir)
	require.Equal(t, 2048, c.MaxConnections)
	require.Equal(t, 1500*time.Millisecond, c.Monitor.ReadOnlyInterval)
	require.Len(t, c.Servers, 3)
	require.Equal(t, 250*time.Millisecond, c.Servers[2].MaxLatency)
	require.Len(t, c.Users, 3, "orphan (frontend-only) is left out")
	split := c.Users[2]
	require.Equal(t, "front-pw", split.Password)
	require.Equal(t, "back-pw", split.BackendPassword)
	var ids []int
	for _, q := range c.QueryRules {
		ids = append(ids, q.RuleID)
	}
	require.Equal(t, []int{1, 2, 3, 4, 5}, ids, "chains and rewrites are carried over")
	require.Equal(t, 5, *c.QueryRules[2].FlagOUT)
	require.Equal(t, 5, c.QueryRules[3].FlagIN)
	require.Equal(t, `\1`, c.QueryRules[4].ReplacePattern)
	require.Equal(t, []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20, CheckType: "read_only", Comment: "sandbox"}},
		c.ReplicationHostgroups)
	require.Equal(t, 5*time.Second, c.QueryRules[1].CacheTTL, "ProxySQL's cache_ttl (ms) is carried over")
	all := strings.Join(res.Unmapped, "\n")
	require.NotContains(t, all, "cache_ttl")
	for _, want := range []string{
		"mysql_variables.threads: ProxySQL's threads are event loops",
		"/tmp/proxysql.sock: rwproxy listens on TCP only",
		`"orphan" is frontend-only`,
		"radmin: rwproxy has one admin account",
	} {
		require.Contains(t, all, want)
	}
}

// Main writes YAML that config.Load reads back to the same configuration,
// notes on standard error, and exit code 1 while it does not validate
// (here: the default admin password on 0.0.0.0).
func TestMainRoundTrip(t *testing.T) {
	var out, errOut bytes.Buffer
	rc := Main([]string{"testdata/proxysql.cnf"}, &out, &errOut, os.ReadFile)
	require.Equal(t, 1, rc, errOut.String())
	require.Contains(t, errOut.String(), "admin.password")
	require.NotContains(t, out.String(), "not carried over")

	yaml := strings.Replace(out.String(), `listen: "0.0.0.0:6032"`, `listen: "127.0.0.1:6032"`, 1)
	path := filepath.Join(t.TempDir(), "rwproxy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	c, err := config.Load(path)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:6033", c.Listen)
	require.Len(t, c.Users, 3)
	require.Equal(t, "back-pw", c.Users[2].BackendPassword)
	require.True(t, c.Log.QueryDigestsTrackHostname, "mysql-query_digests_track_hostname")
	require.Len(t, c.QueryRules, 5)
	require.Equal(t, 10, *c.QueryRules[2].DestinationHostgroup)
	require.Equal(t, 5*time.Second, c.QueryRules[1].CacheTTL)
	require.Equal(t, 64, c.QueryCacheSizeMB)
	require.Equal(t, 5, *c.QueryRules[2].FlagOUT)
	require.Equal(t, 5, c.QueryRules[3].FlagIN)
	require.Equal(t, `\1`, c.QueryRules[4].ReplacePattern)
	require.Len(t, c.Scheduler, 1)
	require.False(t, c.Scheduler[0].IsActive())
	require.Equal(t, 10*time.Second, c.Scheduler[0].Interval)
	require.Equal(t, "/var/lib/proxysql/proxysql_galera_checker.sh", c.Scheduler[0].Filename)
	require.Equal(t, []string{"10", "20"}, c.Scheduler[0].Args)

	require.Equal(t, 2, Main(nil, &out, &errOut, os.ReadFile))
	require.Equal(t, 2, Main([]string{"/nonexistent.cnf"}, &out, &errOut, os.ReadFile))
}
