package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"
)

// TestDocsListEveryKey keeps docs/configuration.md in step with the types:
// every scalar key and every list-item key has a table row.
func TestDocsListEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	doc := string(raw)
	for key := range scalarDefaults(Defaults()) {
		require.True(t, strings.Contains(doc, "| `"+key+"` |"), "docs/configuration.md lacks a row for %s", key)
	}
	for _, item := range []any{User{}, Server{}, ReplicationHostgroup{}, QueryRule{}, HostgroupAttributes{}, GroupReplicationHostgroup{}, SchedulerJob{}, FirewallUser{}, FirewallAllow{}} {
		ty := reflect.TypeOf(item)
		for i := range ty.NumField() {
			tag := strings.Split(ty.Field(i).Tag.Get("mapstructure"), ",")[0]
			require.True(t, strings.Contains(doc, "| `"+tag+"` |"), "docs/configuration.md lacks a row for %s.%s", ty.Name(), tag)
		}
	}
}

// TestExampleHasEveryKey: configs/rwproxy.yaml is the documented example and
// spells out every scalar key itself (read without defaults).
func TestExampleHasEveryKey(t *testing.T) {
	v := viper.New()
	v.SetConfigFile("../configs/rwproxy.yaml")
	require.NoError(t, v.ReadInConfig())
	for key := range scalarDefaults(Defaults()) {
		require.True(t, v.InConfig(key), "configs/rwproxy.yaml lacks %s", key)
	}
}
