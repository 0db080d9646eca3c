package router

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the parser
)

// parseErrors counts statements the TiDB parser rejected (including those
// the lexer then classified, and cache hits of rejected digests).
var parseErrors atomic.Uint64

// ParseErrors returns the number of classified statements the TiDB parser
// rejected since the process started, whether they ended up as KindWrite
// with FlagParseError or were classified by the lexer (SHOW, XA, ...).
// It is safe for concurrent use.
func ParseErrors() uint64 { return parseErrors.Load() }

// errParserPanic reports a panic inside the TiDB parser.
var errParserPanic = errors.New("router: parser panicked")

// errModeMismatch reports a statement the TiDB parser split differently
// from the server under the session's sql_mode.
var errModeMismatch = errors.New("router: parser and lexer disagree under sql_mode")

// countStatements counts the non-empty statements of sql from start as
// the server splits them under mode m (an unterminated token ends the
// count).
func countStatements(sql string, start int, m SQLMode) int {
	l := newLexer(sql, start, m)
	n, inStmt := 0, false
	for {
		switch l.next().kind {
		case tokEOF, tokError:
			if inStmt {
				n++
			}
			return n
		case tokSemi:
			if inStmt {
				n++
			}
			inStmt = false
		default:
			inStmt = true
		}
	}
}

// Classifier classifies the statements of one session. It is NOT safe for
// concurrent use: it reuses one TiDB parser and its buffers between calls.
// Create one per session; share one Cache between all of them.
type Classifier struct {
	cache  *Cache
	p      *parser.Parser // created on first use: most sessions only hit the fast path and the cache
	dg     digester
	walker flagWalker
	mode   modeState
	noFast bool // tests: classify everything with the parser
	// parseLimit is the longest statement given to the parser (0: no
	// limit); see classify_huge.go.
	parseLimit int
	// lastDigest is the digest Digest returned last: a session repeats a
	// few statement shapes with different literals, and returning the
	// same string for the same digest spares an allocation per statement.
	lastDigest string
	// shapes are the last fast-path classifications ClassifyDigest made,
	// by digest (classify_digest.go); nil until its first call.
	shapes *shapeMemo
}

// NewClassifier returns a Classifier that stores parse results in cache,
// which may be nil (then every statement the fast path cannot classify is
// parsed).
func NewClassifier(cache *Cache) *Classifier {
	return &Classifier{cache: cache}
}

// Classify classifies one query string (one COM_QUERY, possibly holding
// several statements). It never fails: a statement the parser rejects and
// the lexer cannot classify is KindWrite with FlagParseError. The returned
// Stmt does not alias sql.
//
// Pipeline: comments at statement level (hint, see statementHint) → lexer fast path (no digest, no
// allocation) → digest → Cache → TiDB parser + AST walk → lexer rescue for
// statements the parser rejects.
func (c *Classifier) Classify(sql string) Stmt {
	start, st := c.hinted(sql)
	if !c.noFast {
		tmp := st
		if classifyFast(sql, start, &tmp, false, c.mode.lex) {
			tmp.Flags |= FlagFastPath
			return tmp
		}
	}
	c.classifySlow(sql, start, &st)
	return st
}

// hinted returns where sql's statement starts after its leading comments,
// and a Stmt holding only its hint (per call: hints are comments).
func (c *Classifier) hinted(sql string) (int, Stmt) {
	start, hint := scanLeading(sql)
	if hint.Target == HintNone && start < len(sql) {
		hint = statementHint(sql, start, c.mode.lex)
	}
	st := Stmt{Hint: hint, AutocommitValue: -1}
	if hint.Target != HintNone {
		st.Flags |= FlagHasHint
	}
	return start, st
}

// Digest returns the normalized digest of sql (see Normalize), reusing the
// Classifier's buffer. Use it for statements the fast path classified.
func (c *Classifier) Digest(sql string) string {
	c.dg.normalize(sql, c.mode.lex)
	if b := c.dg.textBytes(); string(b) != c.lastDigest { // the comparison does not allocate
		c.lastDigest = string(b)
	}
	c.dg.shrink()
	return c.lastDigest
}

// classifySlow classifies with the cache and the parser.
func (c *Classifier) classifySlow(sql string, start int, st *Stmt) {
	c.classifyNormalized(sql, start, st, c.dg.normalize(sql, c.mode.lex))
}

// classifyNormalized is classifySlow once c.dg holds the digest of sql
// (lexed: normalize's result).
func (c *Classifier) classifyNormalized(sql string, start int, st *Stmt, lexed bool) {
	// SET and USE results hold per-call values; they are never cached.
	cacheable := lexed && c.dg.complete() && c.cache != nil && !perCallStatement(sql, start, c.mode.lex) && c.mode.lex == 0
	if cacheable {
		if e := c.cache.get(c.dg.buf); e != nil {
			st.Kind, st.Digest = e.kind, e.digest
			st.Flags |= e.flags
			if e.rejected {
				parseErrors.Add(1)
			}
			return
		}
	}
	st.Digest = c.dg.text()
	c.dg.shrink()
	if c.tooLong(sql) {
		classifyLong(sql, start, st)
		return
	}
	rejected, perCall := c.parse(sql, start, st)
	if rejected {
		parseErrors.Add(1)
	}
	if cacheable && !perCall {
		c.cache.put(&cacheEntry{
			digest:   st.Digest,
			kind:     st.Kind,
			flags:    st.Flags &^ perCallFlags,
			rejected: rejected,
		})
	}
}

// parse classifies with the TiDB parser and, when it rejects the
// statement, with the lexer rescue paths.
func (c *Classifier) parse(sql string, start int, st *Stmt) (rejected, perCall bool) {
	text := mysqlComments(sql)
	stmts, err := c.parseSQL(text)
	if err == nil && c.mode.lex != 0 && len(stmts) < countStatements(text, start, c.mode.lex) {
		// The TiDB lexer reads "..." under ANSI_QUOTES with backslash
		// escapes, as the server does not: where it sees fewer statements
		// than the server will run, its classification cannot be trusted.
		err = errModeMismatch
	}
	if err == nil {
		return false, c.fromAST(text, start, stmts, st)
	}
	tmp := *st
	if classifyFast(sql, start, &tmp, true, c.mode.lex) {
		*st = tmp
		return true, st.Kind == KindSet || st.Kind == KindUse || len(st.SetVars) > 0
	}
	if c.rescueSelectInto(text, start, st) {
		return true, false
	}
	st.Kind = KindWrite
	st.Flags |= FlagParseError
	if noConnState(sql, start, c.mode.lex) {
		st.Flags |= FlagNoConnState
	}
	return true, false
}

// parseSQL runs the TiDB parser. The parser is generated code fed with
// client input; a panic in it is contained here (as a parse error, so the
// statement goes to the primary) and the parser is replaced, because the
// Classifier must never take the session down for a statement it merely
// fails to understand.
func (c *Classifier) parseSQL(sql string) (stmts []ast.StmtNode, err error) {
	if c.p == nil {
		c.p = parser.New()
		c.p.SetMariaDB(true)
		c.p.SetSQLMode(c.mode.tidb)
	}
	defer func() {
		if r := recover(); r != nil {
			c.p = nil
			stmts, err = nil, errParserPanic
		}
	}()
	stmts, _, err = c.p.ParseSQL(sql)
	return stmts, err
}

// mysqlComments makes the TiDB lexer read comments as MySQL and MariaDB
// servers do, keeping every offset, and returns sql itself when nothing
// needs changing:
//   - MariaDB executable comments /*M!NNNNNN ... */ (ignored by TiDB,
//     executed by MariaDB) become /*! ... */;
//   - six-digit versions /*!NNNNNN (MariaDB) are blanked, since TiDB reads
//     only five digits;
//   - TiDB feature comments /*T![f] ... */ (executed by TiDB, plain comments
//     for MySQL and MariaDB) become plain comments.
//
// Like the lexer's executable-comment handling, it ignores string
// boundaries; a rewrite inside a string literal only changes its value.
func mysqlComments(sql string) string {
	var b []byte
	edit := func() {
		if b == nil {
			b = []byte(sql)
		}
	}
	for i := strings.Index(sql, "/*"); i >= 0 && i+3 < len(sql); {
		switch {
		case sql[i+2] == 'M' && sql[i+3] == '!':
			edit()
			b[i+2], b[i+3] = '!', ' '
			blankDigits(b, i+4)
		case sql[i+2] == 'T' && sql[i+3] == '!':
			edit()
			b[i+3] = ' '
		case sql[i+2] == '!' && countDigits(sql, i+3) == 6:
			edit()
			blankDigits(b, i+3)
		}
		next := strings.Index(sql[i+2:], "/*")
		if next < 0 {
			break
		}
		i += 2 + next
	}
	if b == nil {
		return sql
	}
	return string(b)
}

func countDigits(s string, p int) int {
	n := 0
	for p+n < len(s) && isDigit(s[p+n]) {
		n++
	}
	return n
}

func blankDigits(b []byte, p int) {
	for ; p < len(b) && isDigit(b[p]); p++ {
		b[p] = ' '
	}
}

// perCallStatement reports whether the statement at start is a SET or
// USE, whose results hold per-call values.
func perCallStatement(sql string, start int, m SQLMode) bool {
	l := newLexer(sql, start, m)
	t := l.next()
	return l.isWord(t, "set") || l.isWord(t, "use")
}
