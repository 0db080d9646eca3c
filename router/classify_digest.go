package router

import "hash/maphash"

// ClassifyDigest and its memo of statement shapes.
//
// A session with digest statistics on (the default) needs both the
// classification and the digest of every text statement. Classify's lexer
// fast path computes no digest, so the statements it classifies (point
// selects, ranges, BEGIN, COMMIT: most of sysbench's and of a typical
// application's) were lexed twice, once to classify and once to
// normalize. ClassifyDigest normalizes first and keeps the fast path's
// result for the last few digests: a statement of a shape the session ran
// recently (the same text up to literal values and comments) takes its
// classification from there, in one pass over the text, and reuses that
// digest's string.
//
// The memo is sound because the fast path's outcome depends only on what
// the digest keeps. The fast path looks at token kinds, words (compared
// case-insensitively; the digest lower-cases them), variables and
// punctuation (kept), and never at literal values (the digest's '?') or
// ordinary comments (dropped); leading comments and hints are read again
// for every statement (the Stmt's Hint and FlagHasHint are per call). What
// it does read that the digest loses is excluded: a statement with an
// executable comment (the fast path refuses it; the digest keeps the
// comment's text without its markers), more than one ';' (the digest drops
// trailing ones; the fast path takes one), a text the lexer could not finish,
// a digest cut at MaxDigestLen, and another sql_mode. Only results that
// carry nothing of the statement's own values are kept: reads and
// BEGIN/COMMIT/ROLLBACK, not SET (values), USE (a schema name, compared
// case-sensitively by the server) or anything else.

// The memo is 2-way set associative over the digest's hash: shapeSets
// sets of two entries, the older of a set replaced. sysbench's
// oltp_read_only event has 22 fast-path shapes over its 4 tables (5 selects
// on each, BEGIN, COMMIT); 32 entries hold them with room for conflicts,
// and a workload with more shapes in rotation misses and pays what
// Classify plus Digest cost, plus one hash of the digest. It takes 1 KiB
// (and the digests' strings) per session, allocated at the session's first
// text statement.
const shapeSets = 16

// shape is one memoized fast-path classification.
type shape struct {
	digest string
	lex    SQLMode
	kind   Kind
	flags  Flags // without perCallFlags
}

// shapeSeed hashes digests for the memo.
var shapeSeed = maphash.MakeSeed()

// shapeMemo is a Classifier's memo: fast-path results by digest.
type shapeMemo struct {
	e [2 * shapeSets]shape
	// older has bit i set when entry 2i+1 is older than 2i.
	older uint32
}

// ClassifyDigest is Classify with the statement's digest (Stmt.Digest set
// whenever Digest would return one, fast path included): for a session
// that records both. Its results are those of Classify followed by
// Digest, field for field; FlagFastPath is set when the fast path
// classified the statement, now or for an earlier statement of the same
// digest.
func (c *Classifier) ClassifyDigest(sql string) Stmt {
	start, st := c.hinted(sql)
	lexed := c.dg.normalize(sql, c.mode.lex)
	memo := !c.noFast && lexed && !c.dg.exec && c.dg.semis <= 1 && c.dg.complete()
	if memo {
		if sh := c.shape(); sh != nil {
			st.Kind, st.Digest = sh.kind, sh.digest
			st.Flags |= sh.flags | FlagFastPath
			c.lastDigest = sh.digest
			c.dg.shrink()
			return st
		}
	}
	if !c.noFast {
		tmp := st
		if classifyFast(sql, start, &tmp, false, c.mode.lex) {
			tmp.Flags |= FlagFastPath
			tmp.Digest = c.digestText()
			if memo && memoizable(&tmp) {
				c.remember(&tmp)
			}
			return tmp
		}
	}
	c.classifyNormalized(sql, start, &st, lexed)
	if st.Digest == "" && st.Kind != KindEmpty {
		// As Digest: a statement the parser path left without one.
		st.Digest = c.Digest(sql)
	}
	return st
}

// digestText is Digest's result for the text c.dg holds.
func (c *Classifier) digestText() string {
	if b := c.dg.textBytes(); string(b) != c.lastDigest { // the comparison does not allocate
		c.lastDigest = string(b)
	}
	c.dg.shrink()
	return c.lastDigest
}

// shape returns the memoized classification of the digest in c.dg, nil
// when there is none.
func (c *Classifier) shape() *shape {
	m := c.shapes
	if m == nil {
		return nil
	}
	b := c.dg.buf
	set := shapeSet(b)
	for i := 2 * set; i < 2*set+2; i++ {
		sh := &m.e[i]
		if len(sh.digest) == len(b) && sh.lex == c.mode.lex && sh.digest == string(b) && sh.digest != "" {
			return sh
		}
	}
	return nil
}

// shapeSet is the set of the memo that holds digest b.
func shapeSet(b []byte) int { return int(maphash.Bytes(shapeSeed, b) % shapeSets) }

// memoizable reports a fast-path result that holds nothing of the
// statement's values.
func memoizable(st *Stmt) bool {
	switch st.Kind {
	case KindRead, KindBegin, KindCommit, KindRollback:
		return st.DB == "" && len(st.SetVars) == 0 && st.AutocommitValue == -1
	}
	return false
}

// remember memoizes st, a fast-path result for the digest st.Digest, in
// place of the older entry of its set.
func (c *Classifier) remember(st *Stmt) {
	if c.shapes == nil {
		c.shapes = &shapeMemo{}
	}
	m := c.shapes
	set := int(maphash.String(shapeSeed, st.Digest) % shapeSets) // = shapeSet of its bytes
	i := 2 * set
	if m.older&(1<<set) != 0 {
		i++
		m.older &^= 1 << set
	} else {
		m.older |= 1 << set
	}
	m.e[i] = shape{digest: st.Digest, lex: c.mode.lex, kind: st.Kind, flags: st.Flags &^ perCallFlags}
}
