package app

import (
	"time"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/capture"
)

var _ admin.TrafficCapturer = adminRuntime{}

// StartCapture implements admin.TrafficCapturer (TRAFFIC CAPTURE TO).
func (r adminRuntime) StartCapture(dir string, d time.Duration, redact bool) error {
	return r.a.Capture.Start(capture.Options{Dir: dir, Duration: d, Redact: redact})
}

// StopCapture implements admin.TrafficCapturer (TRAFFIC CAPTURE STOP).
func (r adminRuntime) StopCapture() ([]string, []any, error) {
	s, err := r.a.Capture.Stop()
	if err != nil {
		return nil, nil, err
	}
	return []string{"dir", "statements", "dropped", "files", "bytes", "seconds", "reason"},
		[]any{s.Dir, int64(s.Written), int64(s.Dropped), int64(s.Files), s.Bytes,
			s.Ended.Sub(s.Started).Seconds(), s.Reason}, nil
}
