package admin

import (
	"fmt"
	"strings"
)

// module is a set of tables that LOAD and SAVE move together, as in
// ProxySQL ("LOAD MYSQL SERVERS TO RUNTIME").
type module struct {
	name   string // e.g. "MYSQL SERVERS"
	tables []*table
	// prefix restricts global_variables to the module's variables.
	prefix string
}

// modules are every LOAD/SAVE module.
var modules = []*module{
	{name: "MYSQL SERVERS", tables: []*table{tServers, tReplication, tGroupReplication, tAttributes}},
	{name: "MYSQL USERS", tables: []*table{tUsers}},
	{name: "MYSQL QUERY RULES", tables: []*table{tRules}},
	{name: "MYSQL VARIABLES", tables: []*table{tVariables}, prefix: prefixMySQL},
	{name: "ADMIN VARIABLES", tables: []*table{tVariables}, prefix: prefixAdmin},
	{name: "SCHEDULER", tables: []*table{tScheduler}},
	{name: "MYSQL FIREWALL", tables: []*table{tFirewallUsers, tFirewallAllow}},
}

// where is the SQL condition selecting the module's rows of t ("" for all).
func (m *module) where(t *table) string {
	if t != tVariables || m.prefix == "" {
		return ""
	}
	return " WHERE substr(variable_name, 1, " + fmt.Sprint(len(m.prefix)) + ") = " + quoteString(m.prefix)
}

// keep reports whether row r of t belongs to the module.
func (m *module) keep(t *table, r row) bool {
	return t != tVariables || m.prefix == "" || strings.HasPrefix(asString(r[0]), m.prefix)
}

// action is what a LOAD or SAVE command moves, and where.
type action uint8

// Actions, named after the data flow.
const (
	actMemoryToRuntime action = iota + 1
	actRuntimeToMemory
	actMemoryToDisk
	actDiskToMemory
	actConfigToMemory
)

// command is a parsed LOAD or SAVE statement.
type command struct {
	mod    *module
	act    action
	dryRun bool
}

// String is the command's canonical spelling.
func (c *command) String() string {
	s := map[action]string{
		actMemoryToRuntime: "LOAD %s TO RUNTIME", actRuntimeToMemory: "SAVE %s TO MEMORY",
		actMemoryToDisk: "SAVE %s TO DISK", actDiskToMemory: "LOAD %s FROM DISK",
		actConfigToMemory: "LOAD %s FROM CONFIG",
	}[c.act]
	out := fmt.Sprintf(s, c.mod.name)
	if c.dryRun {
		out += " DRY RUN"
	}
	return out
}

// layerAliases maps the layer words to canonical ones.
var layerAliases = map[string]string{
	"RUNTIME": "RUNTIME", "RUN": "RUNTIME", "MEMORY": "MEMORY", "MEM": "MEMORY",
	"DISK": "DISK", "CONFIG": "CONFIG",
}

// commandActions are the accepted verb/direction/layer combinations
// (ProxySQL's, with their aliases).
var commandActions = map[string]action{
	"LOAD TO RUNTIME": actMemoryToRuntime, "LOAD FROM MEMORY": actMemoryToRuntime,
	"SAVE TO MEMORY": actRuntimeToMemory, "SAVE FROM RUNTIME": actRuntimeToMemory,
	"SAVE TO DISK": actMemoryToDisk, "SAVE FROM MEMORY": actMemoryToDisk,
	"LOAD FROM DISK": actDiskToMemory, "LOAD TO MEMORY": actDiskToMemory,
	"LOAD FROM CONFIG": actConfigToMemory,
}

// commandHelp lists the accepted forms, for error messages.
const commandHelp = "LOAD <module> TO RUNTIME | FROM DISK | FROM CONFIG, SAVE <module> TO DISK | FROM RUNTIME " +
	"(<module>: MYSQL SERVERS, MYSQL USERS, MYSQL QUERY RULES, MYSQL VARIABLES, ADMIN VARIABLES, SCHEDULER)"

// parseCommand parses a LOAD or SAVE statement (significant tokens). ok is
// false when st is not one; err says what is wrong with one that is.
func parseCommand(st []token) (cmd *command, ok bool, err error) {
	if len(st) == 0 || !(st[0].is("LOAD") || st[0].is("SAVE")) {
		return nil, false, nil
	}
	verb := strings.ToUpper(st[0].text)
	words := make([]string, 0, len(st)-1)
	for _, t := range st[1:] {
		if t.kind != tkIdent {
			return nil, true, fmt.Errorf("unexpected %q in %s command; use %s", t.text, verb, commandHelp)
		}
		words = append(words, strings.ToUpper(t.text))
	}
	rest := strings.Join(words, " ")
	var mod *module
	for _, m := range modules {
		if strings.HasPrefix(rest+" ", m.name+" ") {
			mod = m
			break
		}
	}
	if mod == nil {
		return nil, true, fmt.Errorf("unknown %s command; use %s", verb, commandHelp)
	}
	words = words[len(strings.Fields(mod.name)):]
	c := &command{mod: mod}
	if n := len(words); n >= 2 && words[n-2] == "DRY" && words[n-1] == "RUN" {
		c.dryRun = true
		words = words[:n-2]
	}
	if len(words) != 2 || (words[0] != "TO" && words[0] != "FROM") || layerAliases[words[1]] == "" {
		return nil, true, fmt.Errorf("unknown %s %s command; use %s", verb, mod.name, commandHelp)
	}
	act := commandActions[verb+" "+words[0]+" "+layerAliases[words[1]]]
	if act == 0 {
		return nil, true, fmt.Errorf("%s %s %s %s is not a valid direction; use %s", verb, mod.name, words[0], words[1], commandHelp)
	}
	c.act = act
	if c.dryRun && act != actMemoryToRuntime {
		return nil, true, fmt.Errorf("DRY RUN applies to LOAD ... TO RUNTIME only")
	}
	return c, true, nil
}
