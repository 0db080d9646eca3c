package admin

import (
	"fmt"
	"time"
)

// TrafficCapturer is implemented by a Runtime that can capture client
// traffic (TRAFFIC CAPTURE; package capture).
type TrafficCapturer interface {
	// StartCapture begins a capture into dir for d (0: until stopped),
	// with literals redacted when redact is set.
	StartCapture(dir string, d time.Duration, redact bool) error
	// StopCapture ends the running capture and describes it as columns
	// and one row.
	StopCapture() ([]string, []any, error)
}

// trafficHelp lists the accepted forms, for error messages.
const trafficHelp = "TRAFFIC CAPTURE TO '<dir>' [DURATION='10s'] [REDACT] | TRAFFIC CAPTURE STOP"

// trafficCmd is a parsed TRAFFIC statement.
type trafficCmd struct {
	stop   bool
	dir    string
	dur    time.Duration
	redact bool
}

// parseTraffic parses a TRAFFIC statement (significant tokens); ok is
// false when s is not one.
func parseTraffic(s []token) (c trafficCmd, ok bool, err error) {
	if len(s) < 2 || !s[0].is("TRAFFIC") || !s[1].is("CAPTURE") {
		return c, false, nil
	}
	rest := s[2:]
	switch {
	case len(rest) == 1 && rest[0].is("STOP"):
		return trafficCmd{stop: true}, true, nil
	case len(rest) >= 2 && rest[0].is("TO") && (rest[1].kind == tkString || rest[1].kind == tkDQString) && unquote(rest[1]) != "":
		c.dir, rest = unquote(rest[1]), rest[2:]
	default:
		return c, true, fmt.Errorf("unknown TRAFFIC command; use %s", trafficHelp)
	}
	for len(rest) > 0 {
		switch {
		case rest[0].is("REDACT"):
			c.redact, rest = true, rest[1:]
		case len(rest) >= 3 && rest[0].is("DURATION") && rest[1].is("=") && rest[2].isLiteral():
			d, err := time.ParseDuration(unquote(rest[2]))
			if err != nil || d <= 0 {
				return c, true, fmt.Errorf("DURATION %q is not a positive Go duration (e.g. '10s', '5m')", unquote(rest[2]))
			}
			c.dur, rest = d, rest[3:]
		default:
			return c, true, fmt.Errorf("unexpected %q in TRAFFIC CAPTURE; use %s", rest[0].text, trafficHelp)
		}
	}
	return c, true, nil
}

// traffic runs a parsed TRAFFIC statement.
func (e *engine) traffic(c trafficCmd) (*result, error) {
	tc, ok := e.rt.(TrafficCapturer)
	if !ok {
		return nil, newError(erUnknown, "traffic capture is not available in this process")
	}
	if c.stop {
		cols, row, err := tc.StopCapture()
		if err != nil {
			return nil, newError(erUnknown, err.Error())
		}
		return &result{Columns: cols, Rows: [][]any{row}}, nil
	}
	if err := tc.StartCapture(c.dir, c.dur, c.redact); err != nil {
		return nil, newError(erUnknown, err.Error())
	}
	return &result{Info: "capture started in " + c.dir}, nil
}
