package session

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// firewallMaxLearned bounds the digests learned per user: past it, new
// digests are not learned (and counted), so memory stays bounded.
const firewallMaxLearned = 10000

// Firewall is the allow-list firewall's long-lived state: per user, the
// digests learned, the counters and when learning started. It outlives
// configurations; Build makes the immutable view a configuration runs
// with. Safe for concurrent use.
type Firewall struct {
	mu    sync.Mutex
	users map[string]*fwUser
	now   func() time.Time
}

// fwUser is one user's learned digests and counters.
type fwUser struct {
	mu      sync.RWMutex
	learned map[uint64]string // digest hash → digest text
	// learnMode / learnStart: the mode and period learning started with
	// (a changed mode or period starts a new period).
	learnMode   string
	learnPeriod time.Duration
	learnStart  time.Time

	blocked, detected, overflow atomic.Uint64
}

// NewFirewall returns an empty firewall state.
func NewFirewall() *Firewall { return &Firewall{users: make(map[string]*fwUser), now: time.Now} }

// FirewallView is the firewall of one configuration: immutable.
type FirewallView struct {
	fw    *Firewall
	users map[string]*fwRule
}

// fwRule is one user's firewall under one configuration.
type fwRule struct {
	mode       string
	learnUntil time.Time // zero: learn for as long as the mode stays
	allow      map[uint64]bool
	st         *fwUser
}

// Build returns the view of the firewall for c (nil when no user is
// under it: the firewall then costs nothing per statement).
func (f *Firewall) Build(c config.Firewall) *FirewallView {
	v := &FirewallView{fw: f, users: make(map[string]*fwRule)}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range c.Users {
		if u.Mode == config.FirewallOff || u.Mode == "" {
			continue
		}
		st := f.users[u.Username]
		if st == nil {
			st = &fwUser{learned: make(map[uint64]string)}
			f.users[u.Username] = st
		}
		r := &fwRule{mode: u.Mode, allow: make(map[uint64]bool), st: st}
		if u.Mode == config.FirewallLearn {
			if st.learnMode != u.Mode || st.learnPeriod != u.LearnPeriod {
				st.learnMode, st.learnPeriod, st.learnStart = u.Mode, u.LearnPeriod, f.now()
			}
			if u.LearnPeriod > 0 {
				r.learnUntil = st.learnStart.Add(u.LearnPeriod)
			}
		} else {
			st.learnMode = ""
		}
		v.users[u.Username] = r
	}
	for _, a := range c.Allow {
		if r := v.users[a.Username]; r != nil {
			h, err := strconv.ParseUint(a.Digest[2:], 16, 64)
			if err == nil {
				r.allow[h] = true
			}
		}
	}
	if len(v.users) == 0 {
		return nil
	}
	return v
}

// firewall checks statement st (text sql) against the session user's
// allow-list; a refused statement gets error 9030 and a Warn line.
func (s *Session) firewall(v *FirewallView, st *router.Stmt, sql string) *mysql.MyError {
	if v == nil {
		return nil
	}
	r := v.users[s.user.Username]
	if r == nil {
		return nil
	}
	if st.Digest == "" {
		st.Digest = s.cls.Digest(sql) // kept, as route does for the digest statistics
	}
	digest := st.Digest
	h := router.DigestHash(digest)
	if r.allow[h] || r.st.has(h) {
		return nil
	}
	mode := r.mode
	if mode == config.FirewallLearn {
		if r.learnUntil.IsZero() || v.fw.now().Before(r.learnUntil) {
			r.st.learn(h, digest)
			return nil
		}
		mode = config.FirewallEnforce // the learning period is over
	}
	hash := fmt.Sprintf("0x%016X", h)
	fields := []zap.Field{zap.String("user", s.user.Username), zap.String("digest", hash),
		zap.String("digest_text", truncate(digest, 256)), zap.String("mode", mode)}
	if mode == config.FirewallDetect {
		r.st.detected.Add(1)
		s.log().Info("firewall: statement not in the allow-list (detect mode: it runs)", fields...)
		return nil
	}
	r.st.blocked.Add(1)
	s.log().Warn("firewall: statement blocked", fields...)
	return protocol.NewErrFirewall(s.user.Username, hash)
}

func (u *fwUser) has(h uint64) bool {
	u.mu.RLock()
	_, ok := u.learned[h]
	u.mu.RUnlock()
	return ok
}

func (u *fwUser) learn(h uint64, digest string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.learned[h]; ok {
		return
	}
	if len(u.learned) >= firewallMaxLearned {
		u.overflow.Add(1)
		return
	}
	u.learned[h] = truncate(digest, 1024)
}

// FirewallDigest is one allowed digest of a user (stats_mysql_firewall_digests).
type FirewallDigest struct {
	User, Digest, DigestText string
	// Learned: learned in mode learn (else listed in firewall.allow).
	Learned bool
}

// FirewallUserStat is one user's firewall counters (stats_mysql_firewall_users).
type FirewallUserStat struct {
	User, Mode string
	// Learning: in mode learn and within the learning period.
	Learning                   bool
	Learned                    int
	Blocked, Detected, Dropped uint64
}

// Snapshot returns every user's counters and learned digests under view
// v (nil: no user is under the firewall), sorted by user and digest.
func (f *Firewall) Snapshot(v *FirewallView) ([]FirewallUserStat, []FirewallDigest) {
	if v == nil {
		return nil, nil
	}
	var us []FirewallUserStat
	var ds []FirewallDigest
	now := f.now()
	for name, r := range v.users {
		r.st.mu.RLock()
		us = append(us, FirewallUserStat{User: name, Mode: r.mode, Learned: len(r.st.learned),
			Learning: r.mode == config.FirewallLearn && (r.learnUntil.IsZero() || now.Before(r.learnUntil)),
			Blocked:  r.st.blocked.Load(), Detected: r.st.detected.Load(), Dropped: r.st.overflow.Load()})
		for h, text := range r.st.learned {
			ds = append(ds, FirewallDigest{User: name, Digest: fmt.Sprintf("0x%016X", h), DigestText: text, Learned: true})
		}
		r.st.mu.RUnlock()
		for h := range r.allow {
			ds = append(ds, FirewallDigest{User: name, Digest: fmt.Sprintf("0x%016X", h)})
		}
	}
	sort.Slice(us, func(i, j int) bool { return us[i].User < us[j].User })
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].User != ds[j].User {
			return ds[i].User < ds[j].User
		}
		return ds[i].Digest < ds[j].Digest
	})
	return us, ds
}
