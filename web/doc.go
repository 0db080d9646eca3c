// Package web is rwproxy's HTTP listener: Prometheus metrics (/metrics),
// liveness (/healthz), readiness (/readyz), the JSON status the dashboard
// polls (/api/status), the dashboard itself (/, embedded in the binary: plain
// HTML, JavaScript and CSS, nothing fetched from elsewhere) and, when
// enabled, net/http/pprof under /debug/pprof/.
//
// Concurrency: New, Start and Close are called by one owner; handlers run
// on net/http's goroutines and only read the Source.
package web
