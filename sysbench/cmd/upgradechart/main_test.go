package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const sample = `[ 1s ] thds: 8 tps: 10.00 qps: 200.00 (r/w/o: 140.00/40.00/20.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
[ 2s ] thds: 8 tps: 50.00 qps: 1000.00 (r/w/o: 700.00/200.00/100.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
[ 3s ] thds: 8 tps: 50.00 qps: 1000.00 (r/w/o: 700.00/200.00/100.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
[ 4s ] thds: 8 tps: 52.00 qps: 1040.00 (r/w/o: 728.00/208.00/104.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
[ 5s ] thds: 8 tps: 48.00 qps: 960.00 (r/w/o: 672.00/192.00/96.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
[ 6s ] thds: 8 tps: 20.00 qps: 400.00 (r/w/o: 280.00/80.00/40.00) lat (ms,95%): 50.00 err/s: 0.00 reconn/s: 0.00
[ 7s ] thds: 8 tps: 45.00 qps: 900.00 (r/w/o: 630.00/180.00/90.00) lat (ms,95%): 5.00 err/s: 0.00 reconn/s: 0.00
SQL statistics:
    ignored errors:                      3      (0.43 per sec.)
    reconnects:                          0      (0.00 per sec.)
`

// TestSummary: the baseline is the median of the seconds after warm-up
// and up to the mark; the dip is the seconds after it under half of that.
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "run.log")
	require.NoError(t, os.WriteFile(log, []byte(sample), 0o644))
	out := filepath.Join(dir, "upgrade")
	phases := filepath.Join(dir, "phases.log")
	require.NoError(t, os.WriteFile(phases, []byte(`{"ts":100.0,"msg":"upgrade: phase spawn: starting the new binary"}
{"ts":102.5,"msg":"upgrade: phase ready: new process serves"}
{"ts":102.75,"msg":"upgrade: phase done: every session handed over"}
`), 0o644))
	var md strings.Builder
	require.NoError(t, run([]string{"-out", out, "-run", "8=" + log + "=5.2", "-phases", phases}, &md))
	r, err := load("8=" + log + "=5.2")
	require.NoError(t, err)
	require.Equal(t, 1000.0, r.Summary.Baseline)
	require.Equal(t, 400.0, r.Summary.Min)
	require.Equal(t, 6.0, r.Summary.MinAt)
	require.Equal(t, 1, r.Summary.DipSeconds)
	require.Equal(t, int64(3), r.Summary.Errors)
	w := handoffs(`{"ts":100.0,"msg":"upgrade: phase spawn: x"}` + "\n" + `{"ts":102.5,"msg":"upgrade: phase ready: x"}` +
		"\n" + `{"ts":102.75,"msg":"upgrade: phase done: x"}`)
	require.Equal(t, []window{{readyAfter: 2.5, handoff: 0.25}}, w)
	require.Zero(t, r.Summary.Reconnects)
	require.Contains(t, md.String(), "| 8 | 5.2 s | 0.250 s | 1000 | 400 (6 s) | 1 | 3 | 0 |")
	for _, ext := range []string{".json", ".md", "-qps.png"} {
		fi, err := os.Stat(out + ext)
		require.NoError(t, err)
		require.Positive(t, fi.Size())
	}
}
