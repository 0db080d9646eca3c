package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if got := healthcheck([]string{srv.URL + "/healthz"}); got != 0 {
		t.Fatalf("healthy: exit %d, want 0", got)
	}
	status = http.StatusServiceUnavailable
	if got := healthcheck([]string{srv.URL + "/healthz"}); got != 1 {
		t.Fatalf("503: exit %d, want 1", got)
	}
	srv.Close()
	if got := healthcheck([]string{srv.URL + "/healthz"}); got != 1 {
		t.Fatalf("no listener: exit %d, want 1", got)
	}
}
