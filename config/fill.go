package config

// FillDefaults sets the per-item defaults on every list item whose field
// is at its zero value, as Load does for keys absent from a file. Code that
// builds a Config (tests, the admin interface) calls it before Validate.
// A zero weight is left alone when the status is set, since weight 0 can
// be meant there. It also sets the monitor's timeout and shun counts when
// they are zero, which is never legal for them.
func (c *Config) FillDefaults() {
	if c.ReaderFallback == "" {
		c.ReaderFallback = DefaultReaderFallback
	}
	c.fillReplayDefaults()
	for i := range c.Servers {
		s := &c.Servers[i]
		if s.Status == "" {
			s.Status = DefaultServerStatus
			if s.Weight == 0 {
				s.Weight = DefaultServerWeight
			}
		}
		if s.MaxConnections == 0 {
			s.MaxConnections = DefaultServerMaxConnections
		}
	}
	for i := range c.Users {
		u := &c.Users[i]
		if u.Consistency == "" {
			u.Consistency = DefaultConsistency
		}
		if u.ConsistencyScope == "" {
			u.ConsistencyScope = DefaultConsistencyScope
		}
		if u.ReadYourWritesTimeout == 0 {
			u.ReadYourWritesTimeout = DefaultReadYourWritesTimeout
		}
	}
	for i := range c.QueryRules {
		normalizeReModifiers(&c.QueryRules[i])
	}
	for i := range c.ReplicationHostgroups {
		if c.ReplicationHostgroups[i].CheckType == "" {
			c.ReplicationHostgroups[i].CheckType = DefaultCheckType
		}
	}
	for i := range c.GroupReplicationHostgroups {
		if c.GroupReplicationHostgroups[i].MaxWriters == 0 {
			c.GroupReplicationHostgroups[i].MaxWriters = DefaultMaxWriters
		}
	}
	c.Monitor.fillDefaults()
	for i := range c.HostgroupAttributes {
		if c.HostgroupAttributes[i].Balance == "" {
			c.HostgroupAttributes[i].Balance = DefaultBalance
		}
		if c.HostgroupAttributes[i].Affinity == "" {
			c.HostgroupAttributes[i].Affinity = DefaultAffinity
		}
	}
}

// fillDefaults sets the monitor's counts and timeout when they are zero
// (a Config built in code from an older literal): zero is never legal
// for them. Interval-like keys where 0 means "use monitor.interval" are
// left alone.
func (m *Monitor) fillDefaults() {
	if m.Timeout == 0 {
		m.Timeout = DefaultMonitorTimeout
	}
	if m.ShunAfterFailures == 0 {
		m.ShunAfterFailures = DefaultShunAfterFailures
	}
	if m.LagShunAfter == 0 {
		m.LagShunAfter = DefaultLagShunAfter
	}
	if m.LagUnshunAfter == 0 {
		m.LagUnshunAfter = DefaultLagUnshunAfter
	}
}
