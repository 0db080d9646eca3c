package router

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTables(t *testing.T) {
	tests := []struct {
		name, sql, db string
		want          []string
		ok            bool
	}{
		{"select", "SELECT c FROM sbtest1 WHERE id = 1", "sb", []string{"sb.sbtest1"}, true},
		{"qualified and case", "SELECT * FROM Shop.Items i JOIN orders o ON o.i = i.id", "sb", []string{"sb.orders", "shop.items"}, true},
		{"subquery", "SELECT * FROM a WHERE x IN (SELECT x FROM b.c)", "d", []string{"b.c", "d.a"}, true},
		{"update", "UPDATE t SET c = 1 WHERE id = 2", "d", []string{"d.t"}, true},
		{"insert select", "INSERT INTO t SELECT * FROM u", "d", []string{"d.t", "d.u"}, true},
		{"multi-table delete", "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "d", []string{"d.t1", "d.t2"}, true},
		{"ddl", "TRUNCATE TABLE x.t", "", []string{"x.t"}, true},
		{"multi statement", "UPDATE a SET x=1; DELETE FROM b", "d", []string{"d.a", "d.b"}, true},
		{"no schema", "SELECT * FROM t", "", nil, false},
		{"parse error", "SELEKT * FROM t", "d", nil, false},
		{"no table", "SELECT 1", "d", nil, true},
	}
	c := NewClassifier(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.Tables(tc.sql, tc.db)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
