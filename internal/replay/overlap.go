package replay

import (
	"cmp"
	"slices"
	"strings"
)

// The replay keeps the capture's order wherever the capture determines it
// (order.go). It does not where a read's snapshot and another session's
// commit overlapped in the capture: the capture's timestamps are taken at
// the proxy, and whether the server made the snapshot before or after the
// commit is not in them, so the read may see the commit in one run and
// not in the other. Such a read is "order-dependent": when its rows differ
// the report counts it apart (Report.OrderDependent), not as a mismatch.
//
// A read's snapshot is the read itself outside a transaction, and the
// transaction's first read inside one (InnoDB's consistent read view, in
// REPEATABLE READ); a commit is a COMMIT, or a write outside a
// transaction.

// interval is a statement's captured [start, end) in ns.
type interval struct {
	start, end int64
	session    int
}

// orderDependent marks, per session and statement, the reads whose
// snapshot overlapped another session's commit in the capture.
func orderDependent(sessions []*session) [][]bool {
	snaps := make([][]interval, len(sessions)) // per statement; zero: not a read
	var commits []interval
	for si, s := range sessions {
		snaps[si] = make([]interval, len(s.stmts))
		inTxn := false
		implicit := s.state.Autocommit != nil && !*s.state.Autocommit // autocommit=0: always in one
		var snap *interval
		for i, r := range s.stmts {
			iv := interval{r.T, r.T + r.DurUS*1000, si}
			switch d := strings.ToUpper(strings.TrimSpace(r.Digest)); {
			case strings.HasPrefix(d, "BEGIN") || strings.HasPrefix(d, "START TRANSACTION"):
				inTxn, snap = true, nil
			case strings.HasPrefix(d, "COMMIT") || strings.HasPrefix(d, "ROLLBACK"):
				commits = append(commits, iv)
				inTxn, snap = false, nil
			case isRead(r.Digest):
				if !inTxn && !implicit {
					snaps[si][i] = iv
					continue
				}
				if snap == nil {
					snap = &iv
				}
				snaps[si][i] = *snap
			case !inTxn && !implicit:
				commits = append(commits, iv)
			}
		}
	}
	slices.SortFunc(commits, func(a, b interval) int { return cmp.Compare(a.start, b.start) })
	var longest int64
	for _, c := range commits {
		longest = max(longest, c.end-c.start)
	}
	out := make([][]bool, len(sessions))
	for si, s := range sessions {
		out[si] = make([]bool, len(s.stmts))
		for i, iv := range snaps[si] {
			if iv.end == 0 {
				continue
			}
			// The commits that start before the snapshot ends and end after
			// it starts; they start at most longest before it.
			k, _ := slices.BinarySearchFunc(commits, iv.start-longest, func(c interval, t int64) int { return cmp.Compare(c.start, t) })
			for ; k < len(commits) && commits[k].start < iv.end; k++ {
				if c := commits[k]; c.session != si && c.end > iv.start {
					out[si][i] = true
					break
				}
			}
		}
	}
	return out
}
