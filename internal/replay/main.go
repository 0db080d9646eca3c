package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Main runs `rwproxy replay` with args and returns the exit code: 0 when
// the replay ran (differences or not: read the last line), 2 for a bad
// command line, 1 when it could not run.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rwproxy replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var out string
	fs.StringVar(&o.From, "from", "", "capture directory (TRAFFIC CAPTURE TO ...)")
	fs.StringVar(&o.To, "to", "", "server or rwproxy to replay against, host:port")
	fs.StringVar(&o.User, "user", "", "user to log in as")
	fs.StringVar(&o.Password, "password", "", "its password")
	fs.Float64Var(&o.Speed, "speed", 1, "replay speed (2: twice as fast as captured)")
	fs.BoolVar(&o.ReadOnly, "read-only", false, "replay reads only")
	fs.StringVar(&out, "report", "", "directory for report.md and report.json (default <from>/replay-report)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.From == "" || o.To == "" || o.User == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: rwproxy replay --from <dir> --to host:port --user U --password P [--speed N] [--read-only] [--report dir]")
		return 2
	}
	if out == "" {
		out = filepath.Join(o.From, "replay-report")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := r.Write(out); err != nil {
		fmt.Fprintln(stderr, "replay: report:", err)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(out, "report.md"))
	fmt.Fprintln(stdout, r.Summary())
	return 0
}
