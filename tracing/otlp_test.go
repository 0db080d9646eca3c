package tracing

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each protobuf
// export request and keeps its spans and resources.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
	paths    []string
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var er coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &er); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	for _, rs := range er.ResourceSpans {
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				r.services = append(r.services, kv.Value.GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestOTLPHTTPExport: the configured exporter delivers the statement's
// span tree to an OTLP/HTTP receiver, in the client's trace.
func TestOTLPHTTPExport(t *testing.T) {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	cfg := testConfig(0)
	cfg.Endpoint, cfg.ServiceName = srv.URL, "rwproxy-test"
	tr, err := New(cfg)
	require.NoError(t, err)

	t0 := time.Now()
	st := tr.Start("SELECT c FROM sbtest1 WHERE id=7 /*traceparent='00-"+clientTrace+"-"+clientSpan+"-01'*/", "", OpQuery, t0)
	require.NotNil(t, st, "the client's sampled context is followed at ratio 0")
	st.Digest, st.Namespace, st.Hostgroup, st.Addr = "SELECT `c` FROM `sbtest1` WHERE `id` = ?", "sbtest", 20, "127.0.0.1:3307"
	st.PoolStart, st.BackendStart, st.BackendEnd = t0, t0.Add(time.Millisecond), t0.Add(2*time.Millisecond)
	st.End(t0.Add(3 * time.Millisecond))
	require.NoError(t, tr.Close(context.Background()))

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Equal(t, []string{"/v1/traces"}, rcv.paths)
	require.Equal(t, []string{"rwproxy-test"}, rcv.services)
	require.Len(t, rcv.spans, 3)
	var root *tracepb.Span
	for _, s := range rcv.spans {
		require.Equal(t, clientTrace, hex.EncodeToString(s.TraceId))
		if s.Name == "SELECT sbtest" {
			root = s
		}
	}
	require.NotNil(t, root)
	require.Equal(t, clientSpan, hex.EncodeToString(root.ParentSpanId))
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, root.Kind)
	got := map[string]string{}
	for _, kv := range root.Attributes {
		got[kv.Key] = kv.Value.GetStringValue()
	}
	require.Equal(t, "mysql", got["db.system.name"])
	require.Equal(t, "SELECT `c` FROM `sbtest1` WHERE `id` = ?", got["db.query.summary"])
	require.Equal(t, "127.0.0.1:3307", got["rwproxy.backend"])
	for _, s := range rcv.spans {
		if s != root {
			require.Equal(t, root.SpanId, s.ParentSpanId, s.Name)
		}
	}
	require.Equal(t, uint64(3), tr.Counts().Exported)
}

// TestOTLPUnreachable: a receiver that is down costs failed exports
// (counted), not errors for statements.
func TestOTLPUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := testConfig(1)
	cfg.Endpoint = url
	tr, err := New(cfg)
	require.NoError(t, err)
	st := tr.Start("SELECT 1", "", OpQuery, time.Now())
	require.NotNil(t, st)
	st.End(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = tr.Close(ctx)
	require.Equal(t, Counts{Failed: 1}, tr.Counts())
}
