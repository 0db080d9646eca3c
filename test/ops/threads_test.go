package ops

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// metricInt reads an unlabelled metric of p's /metrics.
func metricInt(t *testing.T, p *proxy, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(httpGet(t, "http://"+p.http+"/metrics"))
	require.NotNil(t, m, "%s on /metrics", name)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// TestThreadsFollowLoad: with threads: 0 (the default) the binary starts on
// the CPUs it may use and, idle, comes down to one thread; GOMAXPROCS in
// the environment fixes the count.
func TestThreadsFollowLoad(t *testing.T) {
	p := newProxy(t, "")
	p.write(t, p.render(1, 1))
	p.start(t, []string{"GOMAXPROCS="})
	require.Contains(t, p.log(t), `"by_load":true`)
	max := metricInt(t, p, "rwproxy_threads_max")
	require.GreaterOrEqual(t, max, 1)
	require.LessOrEqual(t, max, runtime.NumCPU(), "the CPUs the process may use")
	require.Eventually(t, func() bool { return metricInt(t, p, "rwproxy_threads") == 1 },
		90*time.Second, 200*time.Millisecond, "an idle proxy comes down to one thread")
	require.GreaterOrEqual(t, metricInt(t, p, "rwproxy_threads_changes_total"), max-1, "one thread less per change")

	f := newProxy(t, "")
	f.write(t, f.render(1, 1))
	f.start(t, []string{"GOMAXPROCS=3"})
	require.Contains(t, f.log(t), `"from_env":true,"by_load":false`)
	require.Equal(t, 3, metricInt(t, f, "rwproxy_threads"))
	require.Equal(t, 3, metricInt(t, f, "rwproxy_threads_max"))
	require.Equal(t, 0, metricInt(t, f, "rwproxy_threads_changes_total"))
}

// TestSysmonKeptAwake: the binary re-executes itself (same pid) with
// GODEBUG schedtrace set, keeping the runtime's monitor thread out of its
// deep sleep; an operator's GODEBUG schedtrace, 0 included, is kept.
func TestSysmonKeptAwake(t *testing.T) {
	environ := func(p *proxy) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
		require.NoError(t, err)
		return "\x00" + string(b)
	}
	p := newProxy(t, "")
	p.write(t, p.render(1, 1))
	p.start(t, []string{"GODEBUG=gctrace=0"})
	require.Contains(t, environ(p), "\x00GODEBUG=gctrace=0,schedtrace=2147483647\x00",
		"the serving process (the pid started) runs with schedtrace")
	require.Equal(t, 1, strings.Count(environ(p), "\x00GODEBUG="))

	o := newProxy(t, "")
	o.write(t, o.render(1, 1))
	o.start(t, []string{"GODEBUG=schedtrace=0"})
	require.Contains(t, environ(o), "\x00GODEBUG=schedtrace=0\x00")
	require.Equal(t, 1, strings.Count(environ(o), "\x00GODEBUG="))
}
