package config

// FillDefaults sets the per-item defaults on every list item whose field
// is at its zero value, as Load does for keys absent from a file. Code that
// builds a Config (tests, the admin interface) calls it before Validate.
// A zero weight is left alone when the status is set, since weight 0 can
// be meant there.
func (c *Config) FillDefaults() {
	if c.ReaderFallback == "" {
		c.ReaderFallback = DefaultReaderFallback
	}
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
		if u.ReadYourWritesTimeout == 0 {
			u.ReadYourWritesTimeout = DefaultReadYourWritesTimeout
		}
	}
	for i := range c.ReplicationHostgroups {
		if c.ReplicationHostgroups[i].CheckType == "" {
			c.ReplicationHostgroups[i].CheckType = DefaultCheckType
		}
	}
	for i := range c.HostgroupAttributes {
		if c.HostgroupAttributes[i].Balance == "" {
			c.HostgroupAttributes[i].Balance = DefaultBalance
		}
	}
}
