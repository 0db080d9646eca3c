package main

import (
	"go.uber.org/zap/zapcore"
)

// plainErrors is a zapcore.Core that logs error fields as their message
// only. zap.Error adds an "errorVerbose" field for errors that format
// themselves with %+v, and go-mysql's errors (pingcap/errors) print their
// Go stack there: a backend refusing connections would log a kilobyte of
// stack per line. A stack belongs to bugs only (DPanic and above, and the
// session's panic handler, which logs its own).
type plainErrors struct{ zapcore.Core }

func (c plainErrors) With(fields []zapcore.Field) zapcore.Core {
	return plainErrors{c.Core.With(plainFields(fields))}
}

func (c plainErrors) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c plainErrors) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, plainFields(fields))
}

// plainFields replaces error fields by their Error() text (a copy of
// fields when one is replaced).
func plainFields(fields []zapcore.Field) []zapcore.Field {
	out := fields
	for i, f := range fields {
		if f.Type != zapcore.ErrorType {
			continue
		}
		if &out[0] == &fields[0] {
			out = append([]zapcore.Field(nil), fields...)
		}
		msg := "<nil>"
		if err, ok := f.Interface.(error); ok && err != nil {
			msg = err.Error()
		}
		out[i] = zapcore.Field{Key: f.Key, Type: zapcore.StringType, String: msg}
	}
	return out
}
