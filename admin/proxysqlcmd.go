package admin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// Pauser is implemented by a Runtime whose client listener can stop
// taking new connections (PROXYSQL PAUSE) and take them again (RESUME).
type Pauser interface {
	SetPaused(paused bool)
}

// proxysqlWhy says, for each of ProxySQL's PROXYSQL commands rwproxy
// does not run, why (docs/admin.md, "PROXYSQL commands").
var proxysqlWhy = map[string]string{
	"START":    "the admin interface is part of the rwproxy process",
	"STOP":     "the admin interface is part of the rwproxy process",
	"RESTART":  "restart rwproxy through its service manager",
	"KILL":     "stop rwproxy through its service manager",
	"SHUTDOWN": "stop rwproxy through its service manager (SIGTERM drains the sessions)",
	"RELOAD":   "TLS certificates are read at start (tls.*)",
}

// proxysql answers ProxySQL's PROXYSQL ... commands (significant tokens
// s): PAUSE and RESUME stop and resume taking client connections,
// READONLY and READWRITE enter and leave the admin interface's read-only
// mode, FLUSH LOGS flushes the logger, CHECKSUM ... is CHECKSUM's
// spelling; the others are refused with the reason.
func (e *engine) proxysql(ctx context.Context, sess *adminSession, s []token) (*result, error) {
	what := ""
	if len(s) > 1 {
		what = strings.ToUpper(s[1].text)
	}
	if what == "CHECKSUM" {
		return e.checksum(ctx, s[1:])
	}
	if sess.ReadOnly {
		return nil, newError(erReadOnly, "the read-only admin account may not run PROXYSQL "+what)
	}
	switch what {
	case "PAUSE", "RESUME":
		p, ok := e.rt.(Pauser)
		if !ok || len(s) != 2 {
			break
		}
		p.SetPaused(what == "PAUSE")
		e.lg.Warn("client listener "+strings.ToLower(what)+"d (PROXYSQL "+what+")",
			zap.String("admin_user", sess.User), zap.String("client_addr", sess.Addr))
		return &result{}, nil
	case "READONLY", "READWRITE":
		if len(s) != 2 {
			break
		}
		e.adminReadOnly.Store(what == "READONLY")
		return &result{}, nil
	case "FLUSH":
		if len(s) != 3 || !s[2].is("LOGS") {
			break
		}
		// rwproxy logs to standard output and error, which it does not
		// reopen: flushing what zap buffers is all there is to do.
		_ = e.lg.Sync()
		return &result{Info: "logs flushed (rwproxy logs to standard output and error: nothing to reopen)"}, nil
	}
	why, ok := proxysqlWhy[what]
	if !ok {
		why = "unknown PROXYSQL command; rwproxy runs PAUSE, RESUME, READONLY, READWRITE, FLUSH LOGS and CHECKSUM"
	}
	return nil, newError(erNotSupported, fmt.Sprintf("PROXYSQL %s is not supported by rwproxy: %s (docs/admin.md, PROXYSQL commands)",
		strings.TrimSpace(joinSig(s[1:])), why))
}

// checksumLayers maps CHECKSUM's layer words to the schema and table
// prefix the layer's rows are read from.
var checksumLayers = map[string][2]string{
	"DISK": {schemaDisk, ""}, "MEMORY": {schemaMain, ""}, "MEM": {schemaMain, ""},
	"RUNTIME": {schemaMain, runtimePrefix}, "RUN": {schemaMain, runtimePrefix},
}

// checksum answers CHECKSUM [DISK | MEMORY | MEM | RUNTIME] <module>
// (significant tokens s, from CHECKSUM on) as ProxySQL does: one row,
// the module's name and a checksum of its rows in that layer (MEMORY by
// default), so that two layers, or two nodes, can be compared. A module
// is one of the LOAD/SAVE modules, or one of its tables by ProxySQL's
// name (MYSQL REPLICATION HOSTGROUPS, ...).
func (e *engine) checksum(ctx context.Context, s []token) (*result, error) {
	words := make([]string, 0, len(s))
	for _, t := range s[1:] {
		words = append(words, strings.ToUpper(t.text))
	}
	layer := checksumLayers["MEMORY"]
	if len(words) > 0 {
		if l, ok := checksumLayers[words[0]]; ok {
			layer, words = l, words[1:]
		}
	}
	name := strings.Join(words, " ")
	mod, tables := checksumModule(name)
	if mod == nil {
		return nil, newError(erSyntax, fmt.Sprintf("CHECKSUM: unknown module %q; use CHECKSUM [DISK | MEMORY | RUNTIME] "+
			"MYSQL SERVERS | MYSQL USERS | MYSQL QUERY RULES | MYSQL VARIABLES | ADMIN VARIABLES | SCHEDULER | "+
			"MYSQL REPLICATION HOSTGROUPS | MYSQL GROUP REPLICATION HOSTGROUPS | MYSQL HOSTGROUP ATTRIBUTES", name))
	}
	h := sha256.New()
	for _, t := range tables {
		order := make([]string, len(t.cols))
		for i := range t.cols {
			order[i] = fmt.Sprint(i + 1)
		}
		q := "SELECT * FROM " + layer[0] + "." + quoteIdent(layer[1]+t.name) + mod.where(t) + " ORDER BY " + strings.Join(order, ", ")
		res, err := e.runSQL(ctx, q, true)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", t.name, len(res.Rows))
		for _, r := range res.Rows {
			for _, v := range r {
				if v == nil {
					h.Write([]byte{0xff}) // NULL differs from ''
					continue
				}
				fmt.Fprintf(h, "%d:%v", len(fmt.Sprint(v)), v)
			}
		}
	}
	sum := h.Sum(nil)
	return &result{Columns: []string{"table", "checksum"},
		Rows: [][]any{{name, fmt.Sprintf("0x%016X", binary.BigEndian.Uint64(sum[:8]))}}}, nil
}

// checksumModule finds CHECKSUM's module by name: a LOAD/SAVE module
// (all its tables), or one configuration table by ProxySQL's name
// ("MYSQL REPLICATION HOSTGROUPS" is mysql_replication_hostgroups).
func checksumModule(name string) (*module, []*table) {
	for _, m := range modules {
		if m.name == name {
			return m, m.tables
		}
	}
	want := strings.ReplaceAll(strings.ToLower(name), " ", "_")
	for _, t := range configTables {
		if t.name == want && t != tVariables {
			return &module{name: name, tables: []*table{t}}, []*table{t}
		}
	}
	return nil, nil
}
