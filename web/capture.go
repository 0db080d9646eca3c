package web

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// CaptureControl starts and stops a traffic capture: the HTTP equivalent
// of the admin port's TRAFFIC CAPTURE (Options.Capture).
type CaptureControl interface {
	// StartCapture begins a capture into dir for d (0: until stopped).
	StartCapture(dir string, d time.Duration, redact bool) error
	// StopCapture ends the running capture and describes it as columns
	// and one row, as TRAFFIC CAPTURE STOP answers.
	StopCapture() ([]string, []any, error)
}

// Credentials returns the account allowed to start and stop a capture
// (admin.username / admin.password: read per request, so a reload
// applies). An empty user or password refuses every request.
type Credentials func() (user, password string)

// captureRequest is POST /api/capture's body.
type captureRequest struct {
	Dir      string `json:"dir"`
	Duration string `json:"duration"` // a Go duration ("10s"); "" or "0": until stopped
	Redact   bool   `json:"redact"`
}

// maxCaptureBody bounds POST /api/capture's body.
const maxCaptureBody = 4 << 10

// captureRoutes adds POST /api/capture and POST /api/capture/stop. Both
// need HTTP basic authentication as the admin account: the rest of the
// listener is read-only and open, but a capture writes every statement's
// text into a directory the caller names, which only the admin may do (as
// on the admin port, where the read-only stats account may not either).
func (s *Server) captureRoutes(mux *http.ServeMux, o Options) {
	if o.Capture == nil {
		return
	}
	mux.Handle("POST /api/capture", s.adminOnly(o.Credentials, func(w http.ResponseWriter, r *http.Request) {
		var req captureRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCaptureBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			jsonError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		if req.Dir == "" {
			jsonError(w, http.StatusBadRequest, `"dir" is required`)
			return
		}
		var d time.Duration
		if req.Duration != "" {
			var err error
			if d, err = time.ParseDuration(req.Duration); err != nil || d < 0 {
				jsonError(w, http.StatusBadRequest, `"duration" is not a duration (e.g. "10s")`)
				return
			}
		}
		if err := o.Capture.StartCapture(req.Dir, d, req.Redact); err != nil {
			jsonError(w, http.StatusConflict, err.Error())
			return
		}
		s.lg.Info("traffic capture started over http", zap.String("dir", req.Dir), zap.Duration("duration", d),
			zap.Bool("redact", req.Redact), zap.String("client_addr", r.RemoteAddr))
		writeJSON(w, http.StatusOK, map[string]any{"status": "capture started in " + req.Dir})
	}))
	mux.Handle("POST /api/capture/stop", s.adminOnly(o.Credentials, func(w http.ResponseWriter, _ *http.Request) {
		cols, row, err := o.Capture.StopCapture()
		if err != nil {
			jsonError(w, http.StatusConflict, err.Error())
			return
		}
		out := make(map[string]any, len(cols))
		for i, c := range cols {
			out[c] = row[i]
		}
		writeJSON(w, http.StatusOK, out)
	}))
}

// adminOnly answers 401 unless the request carries the admin account's
// credentials (compared in constant time).
func (s *Server) adminOnly(creds Credentials, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		var wu, wp string
		if creds != nil {
			wu, wp = creds()
		}
		if !ok || wu == "" || wp == "" ||
			subtle.ConstantTimeCompare([]byte(u), []byte(wu))&subtle.ConstantTimeCompare([]byte(p), []byte(wp)) != 1 {
			s.lg.Warn("http admin request refused", zap.String("path", r.URL.Path), zap.String("client_addr", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Basic realm="rwproxy admin"`)
			jsonError(w, http.StatusUnauthorized, "admin credentials required")
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
