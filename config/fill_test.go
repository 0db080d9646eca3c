package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFillDefaults(t *testing.T) {
	c := Defaults()
	c.Users = []User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	c.Servers = []Server{{Hostgroup: 10, Host: "127.0.0.1", Port: 3306},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3307, Status: StatusOfflineSoft}}
	c.ReplicationHostgroups = []ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	c.HostgroupAttributes = []HostgroupAttributes{{HostgroupID: 10}}
	c.ReaderFallback = ""
	require.Error(t, c.Validate())
	c.FillDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultConsistency, c.Users[0].Consistency)
	require.Equal(t, DefaultReadYourWritesTimeout, c.Users[0].ReadYourWritesTimeout)
	require.Equal(t, DefaultServerWeight, c.Servers[0].Weight)
	require.Equal(t, DefaultServerMaxConnections, c.Servers[0].MaxConnections)
	require.Equal(t, StatusOnline, c.Servers[0].Status)
	require.Equal(t, 0, c.Servers[1].Weight, "an explicit status keeps an explicit zero weight")
	require.Equal(t, DefaultCheckType, c.ReplicationHostgroups[0].CheckType)
	require.Equal(t, DefaultBalance, c.HostgroupAttributes[0].Balance)
	require.Equal(t, DefaultReaderFallback, c.ReaderFallback)
}
