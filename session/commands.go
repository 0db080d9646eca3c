package session

import (
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Command classes of stats_mysql_commands_counters (ProxySQL's names).
var commandNames = [...]string{
	"UNKNOWN", "SELECT", "SELECT_FOR_UPDATE", "INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN",
	"START_TRANSACTION", "COMMIT", "ROLLBACK", "SAVEPOINT", "SET", "SHOW", "USE", "CALL", "EXPLAIN",
	"DESCRIBE", "PREPARE", "EXECUTE", "DEALLOCATE", "LOCK_TABLE", "UNLOCK_TABLES", "TRUNCATE_TABLE",
	"GRANT", "REVOKE", "KILL", "FLUSH", "ANALYZE_TABLE", "OPTIMIZE", "CREATE_TABLE", "CREATE_INDEX",
	"CREATE_VIEW", "CREATE_DATABASE", "CREATE_USER", "CREATE_TRIGGER", "CREATE_TEMPORARY", "ALTER_TABLE",
	"ALTER_VIEW", "DROP_TABLE", "DROP_INDEX", "DROP_VIEW", "DROP_DATABASE", "DROP_USER", "DROP_TRIGGER",
	"RENAME_TABLE",
}

// numCommands is the number of command classes.
const numCommands = len(commandNames)

// CommandBucketsUs are the upper bounds (microseconds) of the latency
// buckets: cnt_100us .. cnt_10s, then cnt_INFs.
var CommandBucketsUs = [...]int64{100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 10000000}

// CommandStat counts one command class.
type CommandStat struct {
	Count       atomic.Uint64
	TotalTimeUs atomic.Uint64
	Buckets     [len(CommandBucketsUs) + 1]atomic.Uint64
}

// CommandCounters are the counters of stats_mysql_commands_counters.
type CommandCounters [numCommands]CommandStat

// CommandNames names the classes of CommandCounters, by index.
func CommandNames() []string { return commandNames[:] }

func (cc *CommandCounters) record(i int, d time.Duration) {
	if i < 0 || i >= numCommands {
		return
	}
	c := &cc[i]
	us := d.Microseconds()
	c.Count.Add(1)
	c.TotalTimeUs.Add(uint64(max(us, 0)))
	b := len(CommandBucketsUs)
	for j, limit := range CommandBucketsUs {
		if us <= limit {
			b = j
			break
		}
	}
	c.Buckets[b].Add(1)
}

// commandKey is one entry of commandKeys: a statement's first word, or
// for CREATE, ALTER and DROP its first two joined by "_", and its class.
type commandKey struct {
	key string
	idx int
}

// commandKeys are ProxySQL's class names and the other spellings of
// them, sorted by key for a binary search (no map on the query path).
var commandKeys = func() []commandKey {
	var out []commandKey
	for i, n := range commandNames {
		out = append(out, commandKey{n, i})
	}
	byName := func(n string) int {
		for i, c := range commandNames {
			if c == n {
				return i
			}
		}
		panic("session: no command class " + n)
	}
	for alias, name := range map[string]string{
		"WITH": "SELECT", "START": "START_TRANSACTION", "DESC": "DESCRIBE", "LOCK": "LOCK_TABLE",
		"UNLOCK": "UNLOCK_TABLES", "TRUNCATE": "TRUNCATE_TABLE", "ANALYZE": "ANALYZE_TABLE",
		"RENAME": "RENAME_TABLE", "CREATE_UNIQUE": "CREATE_INDEX", "CREATE_FULLTEXT": "CREATE_INDEX",
		"CREATE_SPATIAL": "CREATE_INDEX", "CREATE_SCHEMA": "CREATE_DATABASE", "DROP_SCHEMA": "DROP_DATABASE",
		"CREATE_OR": "CREATE_VIEW",
	} {
		out = append(out, commandKey{alias, byName(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}()

// commandLetters is, for each letter, the range of commandKeys whose keys
// start with it.
var commandLetters = func() (r [26][2]uint8) {
	for i, k := range commandKeys {
		l := &r[k.key[0]-'A']
		if l[1] == 0 {
			l[0] = uint8(i)
		}
		l[1] = uint8(i + 1)
	}
	return r
}()

// lookupCommand returns key's class, 0 (UNKNOWN) when it has none.
// It runs for every statement: a binary search (no closure, no conversion
// of key) among the keys of key's first letter only.
func lookupCommand(key []byte) int {
	if len(key) == 0 || key[0] < 'A' || key[0] > 'Z' {
		return 0
	}
	r := commandLetters[key[0]-'A']
	lo, hi := int(r[0]), int(r[1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if commandKeys[m].key < string(key) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(commandKeys) && commandKeys[lo].key == string(key) {
		return commandKeys[lo].idx
	}
	return 0
}

// Classes commandOf names directly.
var (
	cmdSelect          = lookupCommand([]byte("SELECT"))
	cmdSelectForUpdate = lookupCommand([]byte("SELECT_FOR_UPDATE"))
)

// maxCommandKey bounds the words commandOf reads.
const maxCommandKey = 32

// skipSpaceAndComments passes leading spaces, parentheses and comments.
func skipSpaceAndComments(sql string) string {
	for {
		sql = sql[leadingSpace(sql):]
		switch {
		case strings.HasPrefix(sql, "/*"):
			end := strings.Index(sql, "*/")
			if end < 0 {
				return ""
			}
			sql = sql[end+2:]
		case strings.HasPrefix(sql, "#") || strings.HasPrefix(sql, "-- "):
			end := strings.IndexByte(sql, '\n')
			if end < 0 {
				return ""
			}
			sql = sql[end+1:]
		default:
			return sql
		}
	}
}

// leadingSpace is the length of sql's run of spaces, tabs, line breaks
// and opening parentheses.
func leadingSpace(sql string) int {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '\n' || sql[i] == '(') {
		i++
	}
	return i
}

// appendWord appends sql's leading word, upper-cased, to key (without
// allocating) and returns the rest of sql.
func appendWord(key []byte, sql string) ([]byte, string) {
	i := 0
	for ; i < len(sql) && len(key) < maxCommandKey; i++ {
		c := sql[i]
		switch {
		case c >= 'a' && c <= 'z':
			key = append(key, c-'a'+'A')
		case c >= 'A' && c <= 'Z' || c == '_':
			key = append(key, c)
		default:
			return key, sql[i:]
		}
	}
	return key, sql[i:]
}

// commandOf classifies a statement for stats_mysql_commands_counters
// (0, UNKNOWN, when no class fits).
func commandOf(sql string, locking bool) int {
	var buf [maxCommandKey + 1]byte
	key, rest := appendWord(buf[:0], skipSpaceAndComments(sql))
	i := lookupCommand(key)
	switch {
	case i == cmdSelect && locking:
		return cmdSelectForUpdate
	case string(key) == "CREATE" || string(key) == "ALTER" || string(key) == "DROP":
		key = append(key, '_')
		key, _ = appendWord(key, skipSpaceAndComments(rest))
		i = lookupCommand(key)
	}
	return i
}
