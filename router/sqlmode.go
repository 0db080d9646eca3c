package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// SQLMode is the part of a session's sql_mode that changes how a
// statement is tokenized, which the classifier must follow: the same text
// can be one SELECT of a string literal in one mode and a SELECT followed
// by a DELETE in another.
type SQLMode uint8

// SQL mode bits.
const (
	// ModeNoBackslashEscapes: NO_BACKSLASH_ESCAPES; a backslash inside a
	// string literal is an ordinary character.
	ModeNoBackslashEscapes SQLMode = 1 << iota
	// ModeANSIQuotes: ANSI_QUOTES; "x" is an identifier, not a string.
	ModeANSIQuotes
)

// modeState is a Classifier's SQL mode: the raw sql_mode value it was
// computed from (to make SetSQLMode free when nothing changed), the lexer
// bits and the TiDB parser's mode.
type modeState struct {
	raw   string
	lex   SQLMode
	tidb  mysql.SQLMode
	isSet bool
}

// ParseSQLMode returns the lexer-relevant bits of a sql_mode value (a
// comma-separated list, any case; combination modes ANSI, ORACLE, ... that
// imply ANSI_QUOTES count).
func ParseSQLMode(s string) SQLMode {
	m, _ := parseModes(s)
	return m
}

// parseModes computes both the lexer bits and the TiDB parser mode of a
// sql_mode value. Names the TiDB parser does not know (MariaDB's
// SIMULTANEOUS_ASSIGNMENT, ...) are ignored: they do not change how a
// statement is tokenized.
func parseModes(s string) (SQLMode, mysql.SQLMode) {
	var lex SQLMode
	var tm mysql.SQLMode
	for s != "" {
		var name string
		name, s, _ = strings.Cut(s, ",")
		name = strings.TrimSpace(name)
		switch {
		case strings.EqualFold(name, "NO_BACKSLASH_ESCAPES"):
			lex |= ModeNoBackslashEscapes
		case strings.EqualFold(name, "ANSI_QUOTES"), strings.EqualFold(name, "ANSI"),
			strings.EqualFold(name, "ORACLE"), strings.EqualFold(name, "POSTGRESQL"),
			strings.EqualFold(name, "DB2"), strings.EqualFold(name, "MSSQL"),
			strings.EqualFold(name, "MAXDB"):
			lex |= ModeANSIQuotes
		}
		if m, ok := mysql.Str2SQLMode[strings.ToUpper(name)]; ok {
			tm |= m
		}
	}
	if lex&ModeANSIQuotes != 0 {
		tm |= mysql.ModeANSIQuotes
	}
	return lex, tm
}

// SetSQLMode makes the Classifier tokenize and parse as the server does
// under the session's sql_mode value (as the session tracker reported
// it; "" means the server default, taken to be neither
// NO_BACKSLASH_ESCAPES nor ANSI_QUOTES). It costs one string comparison
// when the value did not change. Classification under a mode with
// lexer bits set bypasses the shared Cache, whose entries are computed
// in the default mode.
func (c *Classifier) SetSQLMode(sqlMode string) {
	if c.mode.isSet && sqlMode == c.mode.raw {
		return
	}
	lex, tm := parseModes(sqlMode)
	c.mode = modeState{raw: sqlMode, lex: lex, tidb: tm, isSet: true}
	if c.p != nil {
		c.p.SetSQLMode(tm)
	}
}

// newLexer returns a lexer over s from pos under mode m.
func newLexer(s string, pos int, m SQLMode) lexer {
	return lexer{s: s, pos: pos, mode: m}
}
