package admin

import "strings"

// Structural masking: a secret may reach a password column through any
// expression, not only as the literal next to it (lower('x'), 'a' || 'b',
// CASE ... END, a sub-select, a CTE, a row value). These rules mask
// whole expressions, and every literal of a statement whose shape they
// cannot follow.

// exprStop are the words that end an expression at its own depth.
var exprStop = map[string]bool{
	"WHERE": true, "AND": true, "OR": true, "FROM": true, "ORDER": true, "GROUP": true, "LIMIT": true,
	"RETURNING": true, "ON": true, "SET": true, "SELECT": true, "WHEN": true, "THEN": true, "ELSE": true,
	"VALUES": true, "HAVING": true, "UNION": true, "DO": true,
}

// maskSecretExpressions masks every literal of the expression compared
// with or assigned to a secret name, on either side of the operator.
func maskSecretExpressions(st []token, idx []int, mask map[int]bool) {
	for k, i := range idx {
		if !isSecretName(st[i]) {
			continue
		}
		if k+1 < len(idx) && isComparison(st[idx[k+1]]) {
			maskRun(st, idx, k+2, +1, mask)
		}
		if k >= 1 && isComparison(st[idx[k-1]]) {
			maskRun(st, idx, k-2, -1, mask)
		}
	}
}

func isComparison(t token) bool {
	return comparison[strings.ToUpper(t.text)] || t.is("IN") || t.is("IS")
}

// maskRun masks the literals of the expression that starts at idx[k] and
// runs in direction dir (+1 forward, -1 backward), up to the first comma,
// closing bracket or stop word at its own depth. CASE ... END nests like
// brackets.
func maskRun(st []token, idx []int, k, dir int, mask map[int]bool) {
	open, closeTok, caseOpen, caseClose := "(", ")", "CASE", "END"
	if dir < 0 {
		open, closeTok, caseOpen, caseClose = ")", "(", "END", "CASE"
	}
	depth := 0
	for ; k >= 0 && k < len(idx); k += dir {
		t := st[idx[k]]
		switch {
		case t.text == open || t.is(caseOpen):
			depth++
		case t.text == closeTok || t.is(caseClose):
			if depth == 0 {
				return
			}
			depth--
		case depth == 0 && (t.text == "," || t.text == ";" || (t.kind == tkIdent && exprStop[strings.ToUpper(t.text)])):
			return
		case t.isLiteral():
			mask[idx[k]] = true
		}
	}
}

// opaqueSecretStatement reports whether the statement names a secret and
// has a shape the rules above do not follow: a sub-select or CTE (the
// secret may be any literal in it) or a row-value assignment
// (SET (a, password) = (...)). Such a statement has all its literals masked.
func opaqueSecretStatement(st []token, idx []int) bool {
	secret, opaque := false, false
	for k, i := range idx {
		t := st[i]
		if isSecretName(t) || (t.isLiteral() && isSecretVariable(unquote(t))) {
			secret = true
		}
		if k > 0 && (t.is("SELECT") || t.is("WITH")) {
			opaque = true
		}
		if k == 0 && t.is("WITH") {
			opaque = true
		}
		if t.is("SET") && k+1 < len(idx) && st[idx[k+1]].text == "(" {
			opaque = true
		}
	}
	return secret && opaque
}
