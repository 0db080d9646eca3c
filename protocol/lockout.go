package protocol

import (
	"errors"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// LockoutPolicy returns the current failed-login lockout settings: a user
// name is locked for lock after max consecutive failed logins (0 = off).
type LockoutPolicy func() (max int, lock time.Duration)

// maxLockoutNames bounds the user names tracked. Names are tracked whether
// they exist or not (a lock only on existing users would tell which
// exist); an entry goes when its lock has passed, or when it has not
// failed for a lock time. When the table is full of live entries a new name
// is not tracked: the per-source login limiter still applies to it.
const maxLockoutNames = 1 << 16

// lockout counts consecutive failed logins per user name, as MySQL's
// FAILED_LOGIN_ATTEMPTS and PASSWORD_LOCK_TIME do per account. It is safe
// for concurrent use.
type lockout struct {
	now func() time.Time
	mu  struct {
		sync.Mutex
		names map[string]*lockEntry
	}
}

type lockEntry struct {
	fails  int
	last   time.Time // the last failure
	locked time.Time // locked until then (zero: not locked)
}

// isLocked reports whether user is locked now.
func (l *lockout) isLocked(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.mu.names[user]
	return e != nil && l.now().Before(e.locked)
}

// fail records a failed login of user; it reports whether that locked it.
func (l *lockout) fail(user string, max int, lock time.Duration) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.names == nil {
		l.mu.names = make(map[string]*lockEntry)
	}
	e := l.mu.names[user]
	if e != nil && (!e.locked.IsZero() && !now.Before(e.locked) || e.locked.IsZero() && now.Sub(e.last) >= lock) {
		e = nil // its lock has passed, or it has not failed for a lock time: start again
	}
	if e == nil {
		if len(l.mu.names) >= maxLockoutNames {
			l.sweepLocked(now, lock)
			if len(l.mu.names) >= maxLockoutNames {
				return false
			}
		}
		e = &lockEntry{}
		l.mu.names[user] = e
	}
	if now.Before(e.locked) {
		return false // already locked
	}
	e.fails++
	e.last = now
	if e.fails >= max {
		e.locked, e.fails = now.Add(lock), 0
		return true
	}
	return false
}

// succeed forgets user's failures.
func (l *lockout) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.mu.names, user)
}

// sweepLocked forgets entries that are over.
func (l *lockout) sweepLocked(now time.Time, lock time.Duration) {
	for k, e := range l.mu.names {
		if !e.locked.IsZero() && !now.Before(e.locked) || e.locked.IsZero() && now.Sub(e.last) >= lock {
			delete(l.mu.names, k)
		}
	}
}

// SetLockout turns the per-user failed-login lockout on (policy is read at
// each login). A locked user name gets the decoy credential: its logins fail
// with the same 1045 as a wrong password, whatever password is sent, so the
// lock neither tells an attacker it works nor which names exist. Call it
// before the first login.
func (a *Auth) SetLockout(policy LockoutPolicy) {
	a.policy = policy
	a.locks.now = time.Now
}

// Locked counts the logins refused because their user name was locked.
func (a *Auth) Locked() uint64 { return a.lockedRefusals.Load() }

// OnAuthFailure implements server.AuthenticationHandler: a wrong password
// (1045) counts towards the user name's lockout.
func (a *Auth) OnAuthFailure(c *server.Conn, err error) {
	if a.policy == nil {
		return
	}
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != mysql.ER_ACCESS_DENIED_ERROR {
		return
	}
	max, lock := a.policy()
	switch {
	case max <= 0:
	case a.locks.isLocked(c.GetUser()):
		a.lockedRefusals.Add(1)
	default:
		a.locks.fail(c.GetUser(), max, lock)
	}
}

// OnAuthSuccess implements server.AuthenticationHandler: a successful login
// clears the user name's failures.
func (a *Auth) OnAuthSuccess(c *server.Conn) error {
	if a.policy != nil {
		a.locks.succeed(c.GetUser())
	}
	return nil
}

// lockedNow reports whether user's logins are refused by the lockout.
func (a *Auth) lockedNow(user string) bool {
	if a.policy == nil {
		return false
	}
	if max, _ := a.policy(); max <= 0 {
		return false
	}
	return a.locks.isLocked(user)
}
