package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// validateProxySQLFields checks the fields taken from ProxySQL's
// mysql_users and mysql_servers columns.
func (c *Config) validateProxySQLFields(p *problems) {
	for i, u := range c.Users {
		path := fmt.Sprintf("users[%d]", i)
		if u.Attributes != "" {
			var obj map[string]any
			if err := json.Unmarshal([]byte(u.Attributes), &obj); err != nil {
				p.add(path+".attributes", "must be empty or a JSON object: %v", err)
			}
		}
		if u.SchemaLocked && u.DefaultSchema == "" {
			p.add(path+".schema_locked", "needs default_schema (the schema the user is locked to)")
		}
		if strings.ContainsAny(u.DefaultSchema, "`\x00") {
			p.add(path+".default_schema", "%q is not a valid schema name", u.DefaultSchema)
		}
	}
	for i, s := range c.Servers {
		path := fmt.Sprintf("servers[%d]", i)
		if s.GTIDPort < 0 || s.GTIDPort > 65535 {
			p.add(path+".gtid_port", "%d is not a valid port (0-65535, 0 = none)", s.GTIDPort)
		}
		if s.MaxLatency < 0 {
			p.add(path+".max_latency", "%s must be >= 0 (0 disables the check)", s.MaxLatency)
		} else if s.MaxLatency%time.Millisecond != 0 {
			p.add(path+".max_latency", "%s must be whole milliseconds", s.MaxLatency)
		}
	}
}

// MinSchedulerInterval is the shortest scheduler[].interval.
const MinSchedulerInterval = 100 * time.Millisecond

// MaxSchedulerArgs is how many arguments a scheduler job takes (ProxySQL's arg1..arg5).
const MaxSchedulerArgs = 5

func (c *Config) validateScheduler(p *problems) {
	seen := make(map[int]int)
	for i, j := range c.Scheduler {
		path := fmt.Sprintf("scheduler[%d]", i)
		if j.ID <= 0 {
			p.add(path+".id", "%d must be > 0", j.ID)
		} else if k, dup := seen[j.ID]; dup {
			p.add(path+".id", "%d is a duplicate of scheduler[%d]", j.ID, k)
		} else {
			seen[j.ID] = i
		}
		if j.Interval < MinSchedulerInterval {
			p.add(path+".interval", "%s must be >= %s", j.Interval, MinSchedulerInterval)
		} else if j.Interval%time.Millisecond != 0 {
			p.add(path+".interval", "%s must be whole milliseconds", j.Interval)
		}
		if !strings.HasPrefix(j.Filename, "/") {
			p.add(path+".filename", "%q must be an absolute path", j.Filename)
		}
		if len(j.Args) > MaxSchedulerArgs {
			p.add(path+".args", "%d arguments, at most %d", len(j.Args), MaxSchedulerArgs)
		}
	}
}
