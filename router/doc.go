// Package router classifies client statements and decides where they run.
//
// # Classifier
//
// Classifier.Classify turns one COM_QUERY string into a Stmt: a Kind
// (read, write, begin, commit, set, show, ...), Flags (facts that matter
// for routing and session-state tracking: locking reads, user variables,
// GET_LOCK, LAST_INSERT_ID, temporary tables, SQL-level PREPARE, ...), the
// normalized Digest, a /* rwproxy:... */ Hint (from a comment before the
// first keyword, right after it or at the end; hint.go), the database of USE
// and the assignments of SET. The classifier reports facts; the router
// decides what they mean.
//
// Classification runs in stages, cheapest first:
//
//  1. A hand-written lexer (lexer.go) skips whitespace and comments, parses
//     the hint, and classifies the common trivial statements without
//     allocating and without a digest (FlagFastPath): BEGIN, START
//     TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, XA, USE, SHOW,
//     KILL, HANDLER, SET of variables, and "simple" SELECTs, which contain
//     no locking clause, INTO, variable, session-effect function or second
//     statement. Anything else, including executable comments, goes on.
//  2. The statement's digest (digest.go) is looked up in the shared Cache.
//  3. On a miss, the TiDB parser parses it and an AST walk computes the
//     flags; the result is cached (except SET and USE, whose values are per
//     call).
//  4. If the parser rejects the statement (MariaDB syntax), the lexer
//     classifies what it can recognize by its leading keywords (SHOW, XA,
//     KILL, BEGIN WORK, connection-scoped locks such as LOCK TABLES ...
//     NOWAIT, BACKUP STAGE, FLUSH ... FOR EXPORT: classify_lock.go), and
//     SELECT ... INTO is re-parsed without its INTO clause. Everything else
//     is KindWrite with FlagParseError: when unsure, go to the primary
//     (and, unless FlagNoConnState says the shape is stateless, the
//     session pins its connection).
//
// ClassifyDigest, for a session that records digests too, computes the
// digest first and takes a fast-path result from the Classifier's memo of
// recent shapes when the digest is one of them (classify_digest.go), so
// that such a statement is lexed once; otherwise it runs the stages above.
//
// Every stage tokenizes under the session's SQL mode (SetSQLMode:
// NO_BACKSLASH_ESCAPES, ANSI_QUOTES), and the TiDB parser is given it too.
//
// # Concurrency
//
// A Classifier is NOT safe for concurrent use: it owns one TiDB parser
// (which is not goroutine-safe) and reusable buffers. Create one per
// session; its methods are called from the session's goroutine only.
//
// A Cache is safe for concurrent use and is shared by all sessions.
// ParseErrors and Normalize are safe for concurrent use.
//
// A Stmt never aliases the classified string, so it may be kept after the
// packet buffer holding the query is reused.
//
// # Limitations
//
//   - A SELECT that calls a stored function is a read; the classifier
//     cannot know that the function writes. Use a /* rwproxy:writer */ hint.
//   - Executable comments are classified as if executed, whatever their
//     version number.
//   - The SQL mode is the one the session's tracker reported; a server's
//     global NO_BACKSLASH_ESCAPES or ANSI_QUOTES is not known until the
//     client sets its own sql_mode. Under a non-default mode the shared
//     Cache is bypassed, and a statement the TiDB parser splits into fewer
//     statements than the server does (its lexer reads "..." under
//     ANSI_QUOTES with escapes) counts as rejected.
//   - MariaDB syntax the TiDB parser rejects is classified KindWrite with
//     FlagParseError unless the lexer recognizes it (see the corpus in
//     testdata/classify.tsv).
package router
