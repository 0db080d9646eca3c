package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		cmd     string
		usage   bool
		initial bool
	}{
		{args: nil, cmd: "run"},
		{args: []string{"--config", "x.yaml", "--initial"}, cmd: "run", initial: true},
		{args: []string{"version"}, cmd: "version"},
		{args: []string{"--version"}, cmd: "version"},
		{args: []string{"-v"}, cmd: "version"},
		{args: []string{"config", "dump", "--config", "x.yaml"}, cmd: "config dump"},
		{args: []string{"help"}, cmd: "help"},
		{args: []string{"--help"}, cmd: "help"},
		{args: []string{"serve"}, usage: true},
		{args: []string{"version", "extra"}, usage: true},
		{args: []string{"config"}, usage: true},
		{args: []string{"--no-such-flag"}, usage: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, o, err := parseArgs(tc.args, io.Discard)
			if tc.usage {
				require.ErrorIs(t, err, errUsage)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.cmd, cmd)
			require.Equal(t, tc.initial, o.initial)
		})
	}
}

// TestDefaultConfigMissing: without --config the default path is named.
func TestDefaultConfigMissing(t *testing.T) {
	require.Equal(t, "/etc/rwproxy/rwproxy.yaml", defaultConfig)
	defaultConfig = filepath.Join(t.TempDir(), "etc-rwproxy.yaml") // whatever this machine's /etc holds
	t.Cleanup(func() { defaultConfig = DefaultConfigPath })
	_, o, err := parseArgs(nil, io.Discard)
	require.NoError(t, err)
	_, err = loadConfig(o)
	require.ErrorContains(t, err, "no --config given and the default configuration file "+defaultConfig+" does not exist")

	_, o, err = parseArgs([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, io.Discard)
	require.NoError(t, err)
	_, err = loadConfig(o)
	require.ErrorContains(t, err, "missing.yaml")
}
