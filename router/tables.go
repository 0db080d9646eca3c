package router

import (
	"slices"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Tables returns the tables sql names, each as "schema.table" in lower
// case, with unqualified names resolved against db (the session's current
// schema). It is the query cache's view of a statement: the tables a
// cached read depends on, or the tables a write changes.
//
// ok is false when the set is not known: the parser rejected the
// statement, or an unqualified name has no current schema to resolve
// against. The set errs on the side of more tables (a CTE's name counts as
// a table of the current schema): more is harmless for invalidation, fewer
// never happens for names written in the statement. It cannot see tables
// reached through views, triggers, stored functions or cascading foreign
// keys (docs/query-cache.md).
//
// It uses the Classifier's parser, under the sql_mode last set with
// SetSQLMode, and is NOT safe for concurrent use.
func (c *Classifier) Tables(sql, db string) (tables []string, ok bool) {
	stmts, err := c.parseSQL(mysqlComments(sql))
	if err != nil || len(stmts) == 0 {
		return nil, false
	}
	v := tableVisitor{db: db, ok: true}
	for _, s := range stmts {
		s.Accept(&v)
	}
	if !v.ok {
		return nil, false
	}
	slices.Sort(v.out)
	return slices.Compact(v.out), true
}

// tableVisitor collects table names.
type tableVisitor struct {
	db  string
	out []string
	ok  bool
}

func (v *tableVisitor) Enter(n ast.Node) (ast.Node, bool) {
	t, isTable := n.(*ast.TableName)
	if !isTable {
		return n, false
	}
	schema := t.Schema.L
	if schema == "" {
		if v.db == "" {
			v.ok = false
			return n, true
		}
		schema = lower(v.db)
	}
	v.out = append(v.out, schema+"."+t.Name.L)
	return n, true
}

func (v *tableVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// lower is strings.ToLower for ASCII names without an allocation when the
// name is lower case already.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
