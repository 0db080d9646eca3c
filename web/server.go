package web

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

//go:embed assets
var assets embed.FS

// Options configure a Server.
type Options struct {
	// Listen is the address to listen on (host:port; port 0 = any).
	Listen string
	// Source is read by /readyz, /api/status and the dashboard.
	Source Source
	// Gatherer is served at /metrics.
	Gatherer prometheus.Gatherer
	// PProf reports, per request, whether /debug/pprof/ is served (the
	// http.pprof key is hot-reloadable); nil means never.
	PProf func() bool
	// Log is the server's logger; nil means none.
	Log *zap.Logger
	// HistoryInterval spaces the samples of the query-rate history served
	// to the dashboard; 0 means every second.
	HistoryInterval time.Duration
	// Capture, when set, serves POST /api/capture and /api/capture/stop
	// (capture.go) to the account Credentials names.
	Capture     CaptureControl
	Credentials Credentials
}

// Server is the HTTP listener.
type Server struct {
	src      Source
	ln       net.Listener
	srv      *http.Server
	lg       *zap.Logger
	start    time.Time
	hist     history
	interval time.Duration
	cancel   context.CancelFunc
	once     sync.Once
	wg       sync.WaitGroup
}

// shutdownWait bounds how long Close lets in-flight requests (a pprof
// profile, say) finish before it closes their connections.
const shutdownWait = 2 * time.Second

// Timeouts of the HTTP listener: a client that stalls while sending its
// request, while reading the response or between requests on a kept-alive
// connection cannot hold a connection (and its goroutine) for ever. The
// write timeout leaves room for a 60 s CPU profile (/debug/pprof/profile
// refuses a duration over it).
const (
	readTimeout    = 30 * time.Second
	writeTimeout   = 90 * time.Second
	idleTimeout    = 60 * time.Second
	maxHeaderBytes = 64 << 10
)

// New binds the listener; Start serves it.
func New(o Options) (*Server, error) {
	if o.Source == nil || o.Gatherer == nil {
		return nil, errors.New("web: Source and Gatherer are required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{src: o.Source, ln: ln, lg: o.Log, start: time.Now(), interval: cmp.Or(o.HistoryInterval, time.Second)}
	s.srv = &http.Server{
		Handler:           s.routes(o),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(o.Log.Named("http")),
	}
	return s, nil
}

// Addr is the listener's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler returns the server's routes (tests use it with httptest).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start serves until Close, and samples the query-rate history.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.hist.run(ctx, s.interval, s.point) })
	s.wg.Go(func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.lg.Error("http listener stopped", zap.Error(err))
		}
	})
	s.lg.Info("http listening", zap.String("listen", s.Addr()))
}

// Close stops accepting, lets in-flight requests finish for a moment, then
// closes what is left and waits for the serving goroutine. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err = s.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = s.srv.Close()
		}
		_ = s.ln.Close() // never served (no Start): Shutdown does not know it
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
	})
	return err
}

func (s *Server) routes(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(o.Log.Named("metrics")), ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/status", s.apiStatus)
	s.captureRoutes(mux, o)
	pp := pprofGate(o.PProf, pprofMux())
	mux.Handle("GET /debug/pprof/", pp)
	mux.Handle("POST /debug/pprof/symbol", pp)
	static, _ := fs.Sub(assets, "assets") // a constant path of the embedded tree
	mux.Handle("GET /", noCache(http.FileServerFS(static)))
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	smp := s.src.Sample()
	if ok, why := smp.Ready(); !ok {
		text(w, http.StatusServiceUnavailable, "not ready: "+why+"\n")
		return
	}
	text(w, http.StatusOK, "ready\n")
}

func (s *Server) apiStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(s.status()); err != nil {
		s.lg.Debug("api/status: write", zap.Error(err))
	}
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// noCache keeps browsers from serving an old dashboard after an upgrade.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// pprofMux serves net/http/pprof on its own mux (not http.DefaultServeMux).
func pprofMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// pprofGate answers 404 unless on() says pprof is enabled right now.
func pprofGate(on func() bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if on == nil || !on() {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
