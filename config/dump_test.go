package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMarshalYAMLRoundTrip: every example file, rendered by MarshalYAML and
// loaded back, is the same configuration; and rendering that again gives
// the same bytes.
func TestMarshalYAMLRoundTrip(t *testing.T) {
	for _, f := range []string{"../configs/rwproxy.yaml", "../configs/sandbox.yaml"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			require.NoError(t, err)
			// Values that need quoting or are optional pointers.
			c.ServerVersion = "8.0.36"
			c.Admin.Password = "true"
			c.Cluster.Enabled = true
			c.Cluster.Secret = "a-long-enough-cluster-secret"
			c.Cluster.Join = []string{"10.0.0.1:7946", "10.0.0.2:7946"}
			c.QueryRules = append(c.QueryRules, QueryRule{RuleID: 99, Active: true, MatchDigest: "^SELECT .* FOR UPDATE$",
				DestinationHostgroup: ptr(c.Users[0].DefaultHostgroup), Apply: true, Comment: "# not a comment: yes"})
			require.NoError(t, c.Validate())
			out, err := MarshalYAML(c)
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "dump.yaml")
			require.NoError(t, os.WriteFile(path, out, 0o600))
			back, err := Load(path)
			require.NoError(t, err, "%s", out)
			require.Equal(t, c, back)
			again, err := MarshalYAML(back)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again))
		})
	}
}
