package config

// Clone returns a deep copy of c: slices and pointer fields are copied, so
// the result may be modified freely without affecting c (which may be a
// shared snapshot). A nil slice stays nil. Clone of nil is nil.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	out.Users = cloneSlice(c.Users, func(u *User) {
		u.Active, u.Frontend = clonePtr(u.Active), clonePtr(u.Frontend)
		u.TransactionPersistent = clonePtr(u.TransactionPersistent)
	})
	out.Servers = cloneSlice(c.Servers, nil)
	out.ReplicationHostgroups = cloneSlice(c.ReplicationHostgroups, nil)
	out.GroupReplicationHostgroups = cloneSlice(c.GroupReplicationHostgroups, func(g *GroupReplicationHostgroup) {
		g.Active = clonePtr(g.Active)
	})
	out.QueryRules = cloneSlice(c.QueryRules, func(r *QueryRule) {
		r.DestinationHostgroup = clonePtr(r.DestinationHostgroup)
		r.FlagOUT, r.ReModifiers, r.Multiplex = clonePtr(r.FlagOUT), clonePtr(r.ReModifiers), clonePtr(r.Multiplex)
		r.Retries, r.MirrorHostgroup, r.MirrorFlagOUT = clonePtr(r.Retries), clonePtr(r.MirrorHostgroup), clonePtr(r.MirrorFlagOUT)
		r.CacheEmptyResult = clonePtr(r.CacheEmptyResult)
	})
	out.Firewall.Users = cloneSlice(c.Firewall.Users, nil)
	out.Firewall.Allow = cloneSlice(c.Firewall.Allow, nil)
	out.HostgroupAttributes = cloneSlice(c.HostgroupAttributes, nil)
	out.Scheduler = cloneSlice(c.Scheduler, func(j *SchedulerJob) {
		j.Active = clonePtr(j.Active)
		j.Args = cloneSlice(j.Args, nil)
	})
	out.Cluster.Join = cloneSlice(c.Cluster.Join, nil)
	return &out
}

// cloneSlice copies s element by element and then lets deep (if not nil)
// replace the pointer fields of each copied element.
func cloneSlice[T any](s []T, deep func(*T)) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	copy(out, s)
	if deep != nil {
		for i := range out {
			deep(&out[i])
		}
	}
	return out
}

// clonePtr returns a pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
