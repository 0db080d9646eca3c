package tracing

import "github.com/prometheus/client_golang/prometheus"

var (
	dDropped  = prometheus.NewDesc("rwproxy_tracing_spans_dropped_total", "Spans dropped because the export queue (tracing.queue_size) was full.", nil, nil)
	dExported = prometheus.NewDesc("rwproxy_tracing_spans_exported_total", "Spans the OTLP receiver accepted.", nil, nil)
	dFailed   = prometheus.NewDesc("rwproxy_tracing_spans_failed_total", "Spans whose export request failed (receiver unreachable or refusing).", nil, nil)
)

// Describe implements prometheus.Collector.
func (t *Tracer) Describe(ch chan<- *prometheus.Desc) {
	ch <- dDropped
	ch <- dExported
	ch <- dFailed
}

// Collect implements prometheus.Collector.
func (t *Tracer) Collect(ch chan<- prometheus.Metric) {
	c := t.Counts()
	ch <- prometheus.MustNewConstMetric(dDropped, prometheus.CounterValue, float64(c.Dropped))
	ch <- prometheus.MustNewConstMetric(dExported, prometheus.CounterValue, float64(c.Exported))
	ch <- prometheus.MustNewConstMetric(dFailed, prometheus.CounterValue, float64(c.Failed))
}
