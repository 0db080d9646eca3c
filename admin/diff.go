package admin

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/config"
)

// change is one row-level difference between two configurations.
type change struct {
	table string
	key   string // e.g. "hostgroup_id=20, hostname='db3', port=3306"
	what  string // "added", "removed" or "weight: 1 -> 4; status: ..."
}

// diffModule lists what differs between the module's tables for cur and
// next. Secret values (passwords) are never shown, only that they changed.
func diffModule(m *module, cur, next *config.Config) []change {
	var out []change
	for _, t := range m.tables {
		conv := converters[t]
		old, oldKeys := keyed(m, t, conv.rows(cur))
		neu, newKeys := keyed(m, t, conv.rows(next))
		for _, k := range newKeys {
			o, ok := old[k]
			if !ok {
				out = append(out, change{t.name, k, "added"})
				continue
			}
			if d := rowDiff(t, o, neu[k]); d != "" {
				out = append(out, change{t.name, k, d})
			}
		}
		for _, k := range oldKeys {
			if _, ok := neu[k]; !ok {
				out = append(out, change{t.name, k, "removed"})
			}
		}
	}
	return out
}

// keyed indexes the module's rows of t by their key text, in order.
func keyed(m *module, t *table, rows []row) (map[string]row, []string) {
	idx := make(map[string]row, len(rows))
	var keys []string
	for _, r := range rows {
		if !m.keep(t, r) {
			continue
		}
		k := rowKey(t, r)
		if _, dup := idx[k]; !dup {
			keys = append(keys, k)
		}
		idx[k] = r
	}
	return idx, keys
}

// rowKey names a row by its key columns: "hostgroup_id=20, hostname='db3'".
func rowKey(t *table, r row) string {
	parts := make([]string, 0, len(t.key))
	for _, k := range t.key {
		i := t.colIndex(k)
		parts = append(parts, k+"="+literal(r[i]))
	}
	return strings.Join(parts, ", ")
}

// rowDiff describes the differing non-key columns of a and b, or "".
func rowDiff(t *table, a, b row) string {
	var parts []string
	secret := t == tVariables && isSecretVariable(asString(a[0]))
	for i, c := range t.cols {
		if literal(a[i]) == literal(b[i]) {
			continue
		}
		if secret || strings.Contains(c.name, "password") {
			parts = append(parts, c.name+" changed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", c.name, literal(a[i]), literal(b[i])))
	}
	return strings.Join(parts, "; ")
}

// literal formats a value as SQL would show it.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return quoteString(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// maxInfo bounds the change summary sent in the OK packet.
const maxInfo = 1000

// summarize renders changes for the OK packet's info text.
func summarize(changes []change) string {
	if len(changes) == 0 {
		return "no changes"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d change(s): ", len(changes))
	for i, c := range changes {
		s := fmt.Sprintf("%s (%s) %s", c.table, c.key, c.what)
		if i > 0 {
			s = "; " + s
		}
		if b.Len()+len(s) > maxInfo {
			fmt.Fprintf(&b, "; ... %d more", len(changes)-i)
			break
		}
		b.WriteString(s)
	}
	return b.String()
}

// fieldPath matches a configuration list item path such as
// "servers[2].port" or "users[0]".
var fieldPath = regexp.MustCompile(`^([a-z_]+)\[(\d+)\](?:\.([a-z_]+))?$`)

// describeConfigErrors rewrites config.Validate's problems ("servers[2].port:
// ...") in admin terms ("mysql_servers (hostgroup_id=20, hostname='db3',
// port=0): port: ..."), one per line; c is the validated configuration.
func describeConfigErrors(err error, c *config.Config) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			lines = append(lines, e.Error())
			continue
		}
		lines = append(lines, describePath(fe.Path, c)+": "+fe.Msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// describePath names a configuration key as the admin tables show it.
func describePath(path string, c *config.Config) string {
	if name := variableOfPath(path); name != "" {
		return "global_variables " + name
	}
	m := fieldPath.FindStringSubmatch(path)
	for t, conv := range converters {
		if conv.cfgKey == "" {
			continue
		}
		if path == conv.cfgKey {
			return t.name
		}
		if m == nil || m[1] != conv.cfgKey {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		rows := conv.rows(c)
		out := t.name
		if i < len(rows) {
			out += " (" + rowKey(t, rows[i]) + ")"
		}
		if m[3] != "" {
			col := m[3]
			if alt, ok := conv.fields[col]; ok {
				col = alt
			}
			out += " " + col
		}
		return out
	}
	return path
}
