package admin

import (
	"strings"

	"go.uber.org/zap"
)

// maxAuditStatement bounds the statement text in an audit line.
const maxAuditStatement = 2048

// audit logs one admin change (INSERT, REPLACE, UPDATE, DELETE, SET, LOAD,
// SAVE) at Info: who, from where, the statement with passwords masked,
// and the outcome.
func (e *engine) audit(sess *adminSession, st []token, res *result, err error) {
	stmt := maskStatement(st)
	if len(stmt) > maxAuditStatement {
		stmt = stmt[:maxAuditStatement] + "..."
	}
	fields := []zap.Field{
		zap.String("admin_user", sess.User),
		zap.String("client_addr", sess.Addr),
		zap.String("statement", stmt),
	}
	if err != nil {
		fields = append(fields, zap.String("outcome", "error"), zap.String("error", err.Error()))
	} else {
		fields = append(fields, zap.String("outcome", "ok"))
		if res != nil && res.Info != "" {
			fields = append(fields, zap.String("changes", res.Info))
		}
		if res != nil && res.Affected > 0 {
			fields = append(fields, zap.Int64("rows_affected", res.Affected))
		}
	}
	e.lg.Info("admin change", fields...)
}

// maskStatement returns the statement with every literal that may be a
// secret replaced by '***': a value compared with or assigned to a
// password column, a value in a password column of INSERT/REPLACE, and
// every value of a statement that names a secret variable
// (mysql-monitor_password, admin-admin_credentials).
func maskStatement(st []token) string {
	var idx []int // indexes of significant tokens in st
	for i, t := range st {
		if t.significant() {
			idx = append(idx, i)
		}
	}
	mask := make(map[int]bool)
	maskNextToSecret(st, idx, mask)
	maskSecretExpressions(st, idx, mask)
	maskInsertColumns(st, idx, mask)
	if opaqueSecretStatement(st, idx) {
		for _, i := range idx {
			if st[i].isLiteral() {
				mask[i] = true
			}
		}
	}
	if namesSecretVariable(st, idx) {
		for _, i := range idx {
			v := strings.ToLower(unquote(st[i]))
			if st[i].isLiteral() && !strings.HasPrefix(v, prefixMySQL) && !strings.HasPrefix(v, prefixAdmin) {
				mask[i] = true
			}
		}
	}
	var b strings.Builder
	for i, t := range st {
		switch {
		case mask[i]:
			b.WriteString("'***'")
		case t.kind == tkComment:
			b.WriteByte(' ')
		default:
			b.WriteString(t.text)
		}
	}
	return strings.TrimSpace(b.String())
}

// isSecretName reports whether an identifier names a secret.
func isSecretName(t token) bool {
	// A double-quoted name is a column in SQLite when one matches.
	if t.kind != tkIdent && t.kind != tkQuoted && t.kind != tkDQString {
		return false
	}
	n := strings.ToLower(unquote(t))
	return strings.Contains(n, "password") || strings.Contains(n, "credentials") || strings.Contains(n, "secret")
}

var comparison = map[string]bool{"=": true, "==": true, "!=": true, "<>": true, "<=>": true, ":=": true, "LIKE": true, "GLOB": true}

// maskNextToSecret masks literals in "password = 'x'" or "'x' = password".
func maskNextToSecret(st []token, idx []int, mask map[int]bool) {
	for k, i := range idx {
		if !st[i].isLiteral() {
			continue
		}
		if k >= 2 && comparison[strings.ToUpper(st[idx[k-1]].text)] && isSecretName(st[idx[k-2]]) {
			mask[i] = true
		}
		if k+2 < len(idx) && comparison[strings.ToUpper(st[idx[k+1]].text)] && isSecretName(st[idx[k+2]]) {
			mask[i] = true
		}
	}
}

// maskInsertColumns masks the password columns' values in
// INSERT/REPLACE INTO t [(cols)] VALUES (...), (...).
func maskInsertColumns(st []token, idx []int, mask map[int]bool) {
	k := 0
	for k < len(idx) && !st[idx[k]].is("INTO") {
		k++
	}
	if k+1 >= len(idx) {
		return
	}
	k++
	name := unquote(st[idx[k]])
	if k+2 < len(idx) && st[idx[k+1]].text == "." {
		k += 2
		name = unquote(st[idx[k]])
	}
	k++
	var cols []string
	if k < len(idx) && st[idx[k]].text == "(" {
		for k++; k < len(idx) && st[idx[k]].text != ")"; k++ {
			if t := st[idx[k]]; t.kind == tkIdent || t.kind == tkQuoted || t.kind == tkDQString {
				cols = append(cols, strings.ToLower(unquote(t)))
			}
		}
		k++
	} else {
		for _, t := range configTables {
			if strings.EqualFold(t.name, name) {
				cols = t.colNames()
			}
		}
	}
	if k >= len(idx) || !st[idx[k]].is("VALUES") {
		if k < len(idx) && st[idx[k]].is("SELECT") {
			for _, i := range idx[k:] {
				if st[i].isLiteral() {
					mask[i] = true // INSERT ... SELECT: cannot tell, mask all
				}
			}
		}
		return
	}
	depth, pos := 0, 0
	for _, i := range idx[k+1:] {
		switch t := st[i]; {
		case t.text == "(":
			depth++
			if depth == 1 {
				pos = 0
			}
		case t.text == ")":
			depth--
		case t.text == "," && depth == 1:
			pos++
		case depth >= 1 && t.isLiteral() && pos < len(cols) && strings.Contains(cols[pos], "password"):
			mask[i] = true
		}
	}
}

// namesSecretVariable reports whether the statement mentions a secret
// global variable: SET mysql-monitor_password = ..., or a global_variables
// row for one.
func namesSecretVariable(st []token, idx []int) bool {
	if len(idx) == 0 {
		return false
	}
	vars := st[idx[0]].is("SET")
	secret := false
	for _, i := range idx {
		t := st[i]
		if t.is("global_variables") || (t.kind == tkQuoted && strings.EqualFold(unquote(t), "global_variables")) {
			vars = true
		}
		if isSecretName(t) || (t.isLiteral() && isSecretVariable(unquote(t))) {
			secret = true
		}
	}
	return vars && secret
}
