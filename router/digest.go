package router

// Digest text format (in the spirit of parser.NormalizeDigest, but computed
// by our own allocation-free lexer):
//   - comments are dropped, except the contents of executable comments
//     (/*! ... */, /*M! ... */), which the server runs;
//   - tokens are separated by one space; unquoted words, quoted identifiers
//     and variables are lower-cased;
//   - string, number, hex and bit literals become '?';
//   - a comma-separated run of literals becomes "...", and a comma-separated
//     run of parenthesized literal lists "( ... ) , ( ... )" becomes one
//     "( ... )", so IN lists and multi-row VALUES of any length share a digest;
//   - a unary sign before a number is folded into its '?';
//   - trailing ';' is dropped.
//
// Example: "SELECT c FROM sbtest1 WHERE id IN (1,2,3) AND k=-5" →
// "select c from sbtest1 where id in ( ... ) and k = ?".
//
// The digest keys the Cache, so it must keep every token that can change a
// statement's classification: only literal values are replaced.

// MaxDigestLen bounds the digest text. A longer digest is truncated (at a
// token boundary) and the statement is not cached, because statements that
// differ only after the cut would share the key; this also bounds the
// memory of the Cache and of metrics labels.
const MaxDigestLen = 4096

// Buffers grown past these sizes by one huge statement are dropped after
// use instead of being kept for the session's lifetime.
const (
	maxKeptDigestBuf   = 64 << 10
	maxKeptDigestElems = 4 << 10
)

// elemKind classifies an emitted digest element for list collapsing.
type elemKind uint8

const (
	elemOther   elemKind = iota // keyword, operator, ...
	elemOperand                 // identifier, variable, ')' (something a sign after it is binary)
	elemLit                     // ?
	elemList                    // ...
	elemOpen                    // (
	elemComma                   // ,
	elemRow                     // ( ? ) or ( ... )
)

type digestElem struct {
	kind elemKind
	off  int // offset in the output buffer where the element (and its leading space) starts
}

// digester builds digest text into a reusable buffer. Not goroutine-safe.
type digester struct {
	buf   []byte
	elems []digestElem
	// exec: the last normalize met an executable comment (/*! ... */),
	// whose markers the digest does not keep; semis is the number of ';'
	// it met (trailing ones are not kept either).
	exec  bool
	semis int
}

// normalize writes the digest of sql into d.buf and reports whether the
// lexer could tokenize all of it (an unterminated string, quoted identifier
// or comment makes the digest unsuitable as a cache key).
func (d *digester) normalize(sql string, m SQLMode) (ok bool) {
	d.buf = d.buf[:0]
	d.elems = d.elems[:0]
	d.semis = 0
	l := newLexer(sql, 0, m)
	pendingSemi := false
	var pushed token
	havePushed := false
	for {
		var t token
		if havePushed {
			t, havePushed = pushed, false
		} else {
			t = l.next()
		}
		switch t.kind {
		case tokEOF:
			d.exec = l.sawExec
			return true
		case tokError:
			d.word("<error>", elemOther)
			d.exec = l.sawExec
			return false
		case tokSemi:
			pendingSemi = true
			d.semis++
			continue
		}
		if pendingSemi {
			d.word(";", elemOther)
			pendingSemi = false
		}
		switch t.kind {
		case tokString, tokNumber:
			d.literal()
		case tokWord, tokQuoted, tokUserVar, tokSysVar:
			d.lower(l.text(t))
		case tokPunct:
			p := l.text(t)
			if (p == "-" || p == "+") && d.unaryPosition() {
				n := l.next()
				if n.kind == tokNumber {
					d.literal()
					continue
				}
				pushed, havePushed = n, true
			}
			d.punct(p)
		}
	}
}

// unaryPosition reports whether a sign here would be a unary operator.
func (d *digester) unaryPosition() bool {
	if len(d.elems) == 0 {
		return true
	}
	switch d.elems[len(d.elems)-1].kind {
	case elemOther, elemOpen, elemComma:
		return true
	}
	return false
}

func (d *digester) start(k elemKind) {
	d.elems = append(d.elems, digestElem{kind: k, off: len(d.buf)})
	if len(d.buf) > 0 {
		d.buf = append(d.buf, ' ')
	}
}

func (d *digester) word(w string, k elemKind) {
	d.start(k)
	d.buf = append(d.buf, w...)
}

func (d *digester) lower(w string) {
	d.start(elemOperand)
	for i := 0; i < len(w); i++ {
		d.buf = append(d.buf, lowerTab[w[i]])
	}
}

// last returns the kinds of the last two elements (elemOther when absent).
func (d *digester) last2() (prev, last elemKind) {
	n := len(d.elems)
	if n > 0 {
		last = d.elems[n-1].kind
	}
	if n > 1 {
		prev = d.elems[n-2].kind
	}
	return prev, last
}

// truncate drops elements from index i on, and their text.
func (d *digester) truncate(i int) {
	d.buf = d.buf[:d.elems[i].off]
	d.elems = d.elems[:i]
}

func (d *digester) literal() {
	prev, last := d.last2()
	if last == elemComma && (prev == elemLit || prev == elemList) {
		// "? , ?" or "... , ?" → "..."
		d.truncate(len(d.elems) - 2)
		d.word("...", elemList)
		return
	}
	d.word("?", elemLit)
}

func (d *digester) punct(p string) {
	switch p {
	case "(":
		d.word(p, elemOpen)
	case ",":
		d.word(p, elemComma)
	case ")":
		prev, last := d.last2()
		if prev != elemOpen || (last != elemLit && last != elemList) {
			d.word(p, elemOperand)
			return
		}
		// "( ? )" or "( ... )" is a row; merge "row , row" into one row.
		n := len(d.elems)
		rowStart := n - 2
		if rowStart >= 2 && d.elems[rowStart-1].kind == elemComma && d.elems[rowStart-2].kind == elemRow {
			d.truncate(rowStart - 1) // drop ", ( ... "
			return
		}
		d.word(p, elemOperand)
		off := d.elems[rowStart].off
		d.elems = append(d.elems[:rowStart], digestElem{kind: elemRow, off: off})
	default:
		d.word(p, elemOther)
	}
}

// complete reports whether the digest in d.buf is within MaxDigestLen.
func (d *digester) complete() bool { return len(d.buf) <= MaxDigestLen }

// text returns the digest in d.buf as a new string, truncated to
// MaxDigestLen bytes at a token boundary.
func (d *digester) text() string { return string(d.textBytes()) }

// textBytes is text without the copy: it aliases the digester's buffer,
// valid until the next normalize.
func (d *digester) textBytes() []byte {
	b := d.buf
	if len(b) > MaxDigestLen {
		b = b[:MaxDigestLen]
		for i := len(b) - 1; i > 0; i-- {
			if b[i] == ' ' {
				b = b[:i]
				break
			}
		}
	}
	return b
}

// shrink drops buffers a huge statement grew.
func (d *digester) shrink() {
	if cap(d.buf) > maxKeptDigestBuf {
		d.buf = nil
	}
	if cap(d.elems) > maxKeptDigestElems {
		d.elems = nil
	}
}

// Normalize returns the digest text of sql (see the format above),
// truncated to MaxDigestLen. It is safe for concurrent use and allocates;
// a Classifier's Digest method reuses its buffers.
func Normalize(sql string) string {
	var d digester
	d.normalize(sql, 0)
	return d.text()
}
