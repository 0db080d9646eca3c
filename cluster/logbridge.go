package cluster

import (
	"bytes"
	"log"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newStdLogger bridges memberlist's *log.Logger to zap. Memberlist writes
// every line through one logger with the level in the text
// ("[DEBUG] memberlist: Stream connection from=..."); zap.NewStdLog would
// log them all at Info, burying the warnings under a line per probe and
// push/pull. This writer maps the tag to the zap level instead.
func newStdLogger(lg *zap.Logger) *log.Logger {
	return log.New(levelWriter{lg: lg}, "", 0)
}

type levelWriter struct{ lg *zap.Logger }

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
func (w levelWriter) Write(p []byte) (int, error) {
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
