package pool

import "container/list"

// Stmt is a statement prepared on one backend connection.
type Stmt struct {
	ID     uint32
	Params int
	// Types are the parameter types last bound on the backend (for
	// executes that do not resend them).
	Types []byte
	query string
	elem  *list.Element
}

// StmtCache is a bounded LRU of a connection's prepared statements. It
// keeps the number of statements per backend connection below the
// server's max_prepared_stmt_count share.
type StmtCache struct {
	max   int
	byQ   map[string]*Stmt
	order *list.List
}

// NewStmtCache makes a cache holding at most max statements.
func NewStmtCache(max int) *StmtCache {
	if max < 1 {
		max = 1
	}
	return &StmtCache{max: max, byQ: make(map[string]*Stmt), order: list.New()}
}

// Get returns the statement prepared for query, marking it recently used.
func (c *StmtCache) Get(query string) *Stmt {
	s := c.byQ[query]
	if s != nil {
		c.order.MoveToFront(s.elem)
	}
	return s
}

// Put records a prepared statement and returns the backend ids evicted to
// make room; the caller closes them on the backend.
func (c *StmtCache) Put(query string, s *Stmt) (evicted []uint32) {
	if old := c.byQ[query]; old != nil {
		c.order.Remove(old.elem)
		evicted = append(evicted, old.ID)
	}
	s.query = query
	s.elem = c.order.PushFront(s)
	c.byQ[query] = s
	for c.order.Len() > c.max {
		e := c.order.Back()
		old := e.Value.(*Stmt)
		c.order.Remove(e)
		delete(c.byQ, old.query)
		evicted = append(evicted, old.ID)
	}
	return evicted
}

// Shrink evicts the older half (after the server refused more statements).
func (c *StmtCache) Shrink() (evicted []uint32) {
	for n := (c.order.Len() + 1) / 2; n > 0; n-- {
		e := c.order.Back()
		old := e.Value.(*Stmt)
		c.order.Remove(e)
		delete(c.byQ, old.query)
		evicted = append(evicted, old.ID)
	}
	return evicted
}

// Clear forgets every statement (after COM_RESET_CONNECTION).
func (c *StmtCache) Clear() {
	clear(c.byQ)
	c.order.Init()
}

// Len is the number of cached statements.
func (c *StmtCache) Len() int { return len(c.byQ) }
