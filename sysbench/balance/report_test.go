package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func fixtureReport() *Report {
	rep := &Report{Started: "2026-01-02T03:04:05Z", Duration: "4m0s", Commit: "abc1234", CPUs: 2, Pinned: true,
		Config: "12 s runs"}
	for _, cond := range []string{condEqual, condLabel(condDelay, 2*time.Millisecond), condLabel(condCPU, 0)} {
		for _, w := range []string{"point", "mixed"} {
			for i, algo := range []string{"weighted_round_robin", "least_outstanding", "adaptive"} {
				share := 0.5
				if cond != condEqual {
					share = 0.5 - 0.15*float64(i)
				}
				rep.Results = append(rep.Results, Result{Condition: cond, Workload: w, Algorithm: algo,
					QPS: 10000 + 1000*float64(i), P50Ms: 1, P95Ms: 2, P99Ms: 3 + float64(i), Share3: share,
					EffWeight: [2]float64{1, 1}, LatencyUs: [2]float64{300, 900}, Load: 3.5})
			}
		}
	}
	rep.Results[1].Errors = 2
	return rep
}

func TestMarkdown(t *testing.T) {
	md := markdown(fixtureReport(), "img/balance.png")
	require.Contains(t, md, "| point | equal | weighted_round_robin | 10000 | 1.00 | 2.00 | 3.00 | 50.0% | 1.00 / 1.00 | 300 / 900 | 3.5 |")
	require.Contains(t, md, "| point | node 3 +2ms | adaptive | 12000 | 1.00 | 2.00 | 5.00 | 20.0% |")
	require.Contains(t, md, "| 11000 (2 errors) |")
	require.Contains(t, md, "![QPS, p99 latency and node 3's share per algorithm](img/balance.png)")
	require.Equal(t, 1+18, strings.Count(md, "\n| "), "header + 18 rows")
}

func TestReplaceSection(t *testing.T) {
	doc := "# Balancing\n\ntext\n"
	once := replaceSection(doc, "table 1\n")
	require.Equal(t, doc+"\n"+markBegin+"\ntable 1\n"+markEnd+"\n", once)
	twice := replaceSection(once+"after\n", "table 2\n")
	require.Equal(t, doc+"\n"+markBegin+"\ntable 2\n"+markEnd+"\nafter\n", twice)
	require.Equal(t, "\n"+markBegin+"\nx\n"+markEnd+"\n", replaceSection("", "x\n"))
}

func TestChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "balance.png")
	require.NoError(t, writeChart(path, fixtureReport()))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, fi.Size(), int64(10000))
	require.Error(t, writeChart(path, &Report{}))
}

func TestOptions(t *testing.T) {
	o, err := parseOptions(nil)
	require.NoError(t, err)
	require.Equal(t, 3536, o.basePort)
	require.Equal(t, []string{"point", "mixed"}, o.workloads)
	require.Equal(t, []string{"weighted_round_robin", "least_outstanding", "adaptive"}, o.algos)
	_, err = parseOptions([]string{"-workloads", "point,nope"})
	require.ErrorContains(t, err, `unknown "nope"`)
	require.Equal(t, []string{"equal", "delay", "cpu"}, o.conds)
	_, err = parseOptions([]string{"-conditions", "equal,warm"})
	require.ErrorContains(t, err, `unknown "warm"`)
	_, err = parseOptions([]string{"-time", "0"})
	require.Error(t, err)
}
