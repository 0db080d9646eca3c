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
