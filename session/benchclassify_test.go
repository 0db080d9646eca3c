package session

import "github.com/rwproxy/rwproxy/router"

// benchClassify is what runQuery classifies with (BenchmarkTextRoute).
func (s *Session) benchClassify(sql string) router.Stmt { return s.classifyQuery(sql) }
