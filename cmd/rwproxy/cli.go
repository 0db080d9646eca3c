package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
)

// DefaultConfigPath is the configuration file used without --config.
const DefaultConfigPath = "/etc/rwproxy/rwproxy.yaml"

// defaultConfig is DefaultConfigPath (tests point it elsewhere).
var defaultConfig = DefaultConfigPath

// options are the command line's flags.
type options struct {
	config    string
	level     string
	pprof     string
	pprofAny  bool // --pprof-any-address
	initial   bool
	version   bool
	configSet bool // --config was given
	// takeover: start by taking over the process on this upgrade socket;
	// upgradeSocket: this process's upgrade socket ("" = default).
	takeover      string
	upgradeSocket string
}

// errUsage is returned for a command line that cannot be run; the usage
// was already printed. main exits 2.
var errUsage = errors.New("usage")

const usageHead = `rwproxy: a MySQL read/write-splitting proxy.

Usage:
  rwproxy [flags]                  run the proxy
  rwproxy config dump [flags]      print, as YAML, the configuration the proxy would start with
                                   (the file, rwproxy.db per config_source, the environment);
                                   it loads back unchanged with --config
  rwproxy version                  print the version, commit and build date (also --version, -v)
  rwproxy import-proxysql FILE     convert a ProxySQL configuration file (proxysql.cnf) to rwproxy's
                                   YAML on standard output; what cannot be mapped goes to standard error
  rwproxy healthcheck [URL]        GET URL (default http://127.0.0.1:6070/healthz); exit 0 on 2xx
                                   (for container HEALTHCHECKs: the image has no curl)
  rwproxy replay --from DIR --to HOST:PORT --user U --password P [--speed N] [--read-only]
                                   replay a TRAFFIC CAPTURE and report differences (docs/observability.md)
  rwproxy upgrade [--config F]     start the binary now installed in place of the running proxy's: it takes
                                   over its sockets and sessions with no client error (also SIGUSR2)
  rwproxy help                     print this help

Flags:
`

func newFlags(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rwproxy", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.config, "config", defaultConfig, "configuration file (YAML)")
	fs.StringVar(&o.level, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	fs.StringVar(&o.pprof, "pprof", "", "serve /debug/pprof/ on this address (e.g. 127.0.0.1:6060); off when empty "+
		"(http.pprof serves it on the HTTP listener instead)")
	fs.BoolVar(&o.pprofAny, "pprof-any-address", false, "allow --pprof on an address that is not loopback (profiles and "+
		"goroutine dumps expose internals to whoever reaches it)")
	fs.BoolVar(&o.initial, "initial", false, "start from the configuration file, not from the configuration saved in "+
		"admin.datadir (which is kept as rwproxy.db.bak-<time> and rewritten from the file)")
	fs.StringVar(&o.takeover, "takeover", "", "take the listening sockets, configuration and sessions over from the rwproxy "+
		"listening on this upgrade socket (set by `rwproxy upgrade` and SIGUSR2; docs/operations.md)")
	fs.StringVar(&o.upgradeSocket, "upgrade-socket", "", "the upgrade socket this process listens on "+
		"(default <admin.datadir>/rwproxy-upgrade.sock)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.version, "v", false, "print the version and exit (same as --version)")
	fs.Usage = func() {
		_, _ = io.WriteString(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses the command line into its subcommand ("run", "version",
// "help", "config dump") and flags. Flags may come before or after the
// subcommand; anything else is an error.
func parseArgs(args []string, stderr io.Writer) (string, options, error) {
	var o options
	fs := newFlags(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "help", o, nil
		}
		return "", o, errUsage
	}
	rest := fs.Args()
	cmd := "run"
	switch {
	case len(rest) == 0:
	case rest[0] == "version" || rest[0] == "help":
		cmd, rest = rest[0], rest[1:]
	case rest[0] == "config" && len(rest) > 1 && rest[1] == "dump":
		cmd, rest = "config dump", rest[2:]
	default:
		fmt.Fprintf(stderr, "rwproxy: unknown command or argument %q (rwproxy --help lists them)\n", strings.Join(rest, " "))
		return "", o, errUsage
	}
	if err := fs.Parse(rest); err != nil {
		return "", o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rwproxy: unexpected argument %q (rwproxy --help lists the commands)\n", strings.Join(fs.Args(), " "))
		return "", o, errUsage
	}
	fs.Visit(func(f *flag.Flag) { o.configSet = o.configSet || f.Name == "config" })
	if o.version {
		cmd = "version"
	}
	if cmd == "help" {
		fs.SetOutput(os.Stdout)
		fs.Usage()
	}
	return cmd, o, nil
}

// loadConfig reads the configuration file, saying which one was missing
// when it was the default.
func loadConfig(o options) (*config.Config, error) {
	if _, err := os.Stat(o.config); err != nil && !o.configSet && errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no --config given and the default configuration file %s does not exist "+
			"(write one, see configs/rwproxy.yaml, or pass --config <file>)", o.config)
	}
	return config.Load(o.config)
}

// printVersion prints the build's identity.
func printVersion(w io.Writer) { fmt.Fprintln(w, buildinfo.Get().String()) }

// dumpConfig prints the configuration the proxy would start with.
func dumpConfig(o options, w io.Writer) error {
	file, err := loadConfig(o)
	if err != nil {
		return err
	}
	cfg, err := admin.Resolve(file.Admin.Datadir, file)
	if err != nil {
		return err
	}
	out, err := config.MarshalYAML(cfg)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
