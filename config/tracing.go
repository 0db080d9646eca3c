package config

import (
	"net/url"
	"time"
)

// Tracing configures OpenTelemetry traces of client statements (package
// tracing). Node-local; every key needs a restart: the exporter is built
// once at start.
type Tracing struct {
	// Enabled turns tracing on; off, the statement path pays one nil check.
	Enabled bool `mapstructure:"enabled" reload:"restart"`
	// Endpoint is the OTLP receiver: a URL (http://host:4318 for "http",
	// host:4317 or a URL for "grpc").
	Endpoint string `mapstructure:"endpoint" reload:"restart"`
	// Protocol is the OTLP transport: "http" (protobuf over HTTP) or "grpc".
	Protocol string `mapstructure:"protocol" reload:"restart"`
	// Insecure sends without TLS (plain http:// or insecure gRPC).
	Insecure bool `mapstructure:"insecure" reload:"restart"`
	// SamplingRatio is the share of statements without a sampled parent
	// that are traced (parent-based: a client's sampled traceparent is
	// always followed, an unsampled one never). 0..1.
	SamplingRatio float64 `mapstructure:"sampling_ratio" reload:"restart"`
	// IncludeStatement adds the literal statement text (db.query.text);
	// off, spans carry only the normalized digest, never literal values.
	IncludeStatement bool `mapstructure:"include_statement" reload:"restart"`
	// QueueSize bounds the finished spans waiting for export; past it new
	// spans are dropped (counted) rather than slowing statements.
	QueueSize int `mapstructure:"queue_size" reload:"restart"`
	// BatchSize is the most spans sent in one export request.
	BatchSize int `mapstructure:"batch_size" reload:"restart"`
	// BatchTimeout is how long a partial batch waits before it is sent.
	BatchTimeout time.Duration `mapstructure:"batch_timeout" reload:"restart"`
	// TransactionSpans gives each sampled transaction a span, the parent
	// of its statements' spans; the sampling decision is then made once
	// per transaction, at its first statement.
	TransactionSpans bool `mapstructure:"transaction_spans" reload:"restart"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `mapstructure:"service_name" reload:"restart"`
}

// Tracing protocols.
const (
	TracingHTTP = "http"
	TracingGRPC = "grpc"
)

// DefaultTracing is the tracing section of Defaults: off.
func DefaultTracing() Tracing {
	return Tracing{
		Endpoint:      "http://127.0.0.1:4318",
		Protocol:      TracingHTTP,
		Insecure:      true,
		SamplingRatio: 0.01,
		QueueSize:     4096,
		BatchSize:     512,
		BatchTimeout:  time.Second,
		ServiceName:   "rwproxy",
	}
}

func (t Tracing) validate(p *problems) {
	p.oneOf("tracing.protocol", t.Protocol, []string{TracingHTTP, TracingGRPC})
	if t.SamplingRatio < 0 || t.SamplingRatio > 1 {
		p.add("tracing.sampling_ratio", "%g is not in 0..1", t.SamplingRatio)
	}
	if t.QueueSize < 1 {
		p.add("tracing.queue_size", "%d must be >= 1", t.QueueSize)
	}
	if t.BatchSize < 1 || t.BatchSize > t.QueueSize {
		p.add("tracing.batch_size", "%d must be in 1..tracing.queue_size (%d)", t.BatchSize, t.QueueSize)
	}
	p.positive("tracing.batch_timeout", t.BatchTimeout)
	if t.ServiceName == "" {
		p.add("tracing.service_name", "must not be empty")
	}
	if !t.Enabled {
		return
	}
	if t.Endpoint == "" {
		p.add("tracing.endpoint", "must be set when tracing.enabled is true")
	} else if t.Protocol == TracingHTTP {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("tracing.endpoint", "%q is not an http:// or https:// URL (tracing.protocol: http)", t.Endpoint)
		}
	}
}
