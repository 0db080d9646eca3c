package headless

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const page = `<!doctype html><html><body data-state="ok">
<table id="t"><tbody>
<tr data-hostgroup="10" data-addr="a:1" class="row first"><td data-field="state">ONLINE</td><td data-field="q"> 12 </td></tr>
<tr data-hostgroup="20" data-addr="b:1" class="row"><td data-field="state">SHUNNED</td><td data-field="q">3</td></tr>
</tbody></table>
<p class="note">x <b>y</b></p>
</body></html>`

func TestSelectors(t *testing.T) {
	d, err := ParseDOM(page)
	require.NoError(t, err)
	tests := []struct {
		sel   string
		texts []string
	}{
		{`tr[data-hostgroup="10"][data-addr="a:1"] td[data-field="q"]`, []string{"12"}},
		{`table#t td[data-field=state]`, []string{"ONLINE", "SHUNNED"}},
		{`tr.row.first td`, []string{"ONLINE", "12"}},
		{`tr.row`, []string{"ONLINE 12", "SHUNNED3"}},
		{`p.note`, []string{"x y"}},
		{`body[data-state]`, []string{"ONLINE 12 \nSHUNNED3\n\nx y"}},
		{`tr[data-addr='b:1'] td[data-field="state"]`, []string{"SHUNNED"}},
		{`div`, nil},
		{`#t tr`, []string{"ONLINE 12", "SHUNNED3"}},
	}
	for _, tc := range tests {
		t.Run(tc.sel, func(t *testing.T) {
			ns, err := d.All(tc.sel)
			require.NoError(t, err)
			var texts []string
			for _, n := range ns {
				texts = append(texts, Text(n))
			}
			require.Equal(t, tc.texts, texts)
		})
	}
	ns, err := d.All("body")
	require.NoError(t, err)
	v, ok := Attr(ns[0], "data-state")
	require.True(t, ok)
	require.Equal(t, "ok", v)
	_, ok = Attr(ns[0], "nope")
	require.False(t, ok)

	for _, bad := range []string{"", "tr[data-x", "tr>td"} {
		_, err := d.All(bad)
		require.Error(t, err, bad)
	}
}
