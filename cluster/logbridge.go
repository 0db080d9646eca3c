package cluster

import (
	"bytes"
	"log"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newStdLogger bridges memberlist's *log.Logger to zap. Memberlist writes
// every line through one logger with the level in the text
// ("[DEBUG] memberlist: Stream connection from=..."); zap.NewStdLog would
// log them all at Info, burying the warnings under a line per probe and
// push/pull. This writer maps the tag to the zap level instead.
//
// mute silences it for good: memberlist's Shutdown does not wait for a
// probe already in flight, whose late line would otherwise reach a logger
// its owner has closed (a test's, which then fails the run).
func newStdLogger(lg *zap.Logger) (l *log.Logger, mute func()) {
	w := &levelWriter{lg: lg}
	return log.New(w, "", 0), w.mute
}

type levelWriter struct {
	lg *zap.Logger
	mu sync.RWMutex // held for reading by every Write, for writing by mute
	// off is set by mute; once mute returned, no line is logged.
	off bool
}

func (w *levelWriter) mute() {
	w.mu.Lock()
	w.off = true
	w.mu.Unlock()
}

var levelTags = []struct {
	tag   []byte
	level zapcore.Level
}{
	{[]byte("[DEBUG] "), zapcore.DebugLevel},
	{[]byte("[INFO] "), zapcore.InfoLevel},
	{[]byte("[WARN] "), zapcore.WarnLevel},
	{[]byte("[ERR] "), zapcore.ErrorLevel},
	{[]byte("[ERROR] "), zapcore.ErrorLevel},
}

// Write logs one line. Memberlist's errors are mostly about unreachable
// peers, which the cluster handles (reconnect, anti-entropy), so they are
// logged as warnings: an Error should need a human.
func (w *levelWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.off {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	level := zapcore.InfoLevel
	for _, t := range levelTags {
		if bytes.HasPrefix(line, t.tag) {
			level, line = t.level, line[len(t.tag):]
			break
		}
	}
	if level == zapcore.ErrorLevel {
		level = zapcore.WarnLevel
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if ce := w.lg.Check(level, string(line)); ce != nil {
		ce.Write()
	}
	return len(p), nil
}
