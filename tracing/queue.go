package tracing

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// queue is a span processor in front of an exporter: OnEnd never blocks
// (a full queue drops the span and counts it), and one goroutine sends
// batches of up to batchSize spans, at the latest batchTimeout after the
// first span of a batch arrived. The SDK's BatchSpanProcessor drops the
// same way but does not expose how many it dropped, which is the number an
// operator needs to size the queue.
type queue struct {
	exp     sdktrace.SpanExporter
	ch      chan sdktrace.ReadOnlySpan
	batch   int
	timeout time.Duration
	flush   chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once

	dropped, exported, failed atomic.Uint64
}

var _ sdktrace.SpanProcessor = (*queue)(nil)

func newQueue(exp sdktrace.SpanExporter, size, batch int, timeout time.Duration) *queue {
	q := &queue{exp: exp, ch: make(chan sdktrace.ReadOnlySpan, size), batch: batch, timeout: timeout,
		flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// OnStart implements sdktrace.SpanProcessor.
func (q *queue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: enqueue or drop, never wait.
func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if q.closed.Load() {
		q.dropped.Add(1)
		return
	}
	select {
	case q.ch <- s:
	default:
		q.dropped.Add(1)
	}
}

// run owns the batch and the exporter calls.
func (q *queue) run() {
	defer close(q.done)
	buf := make([]sdktrace.ReadOnlySpan, 0, q.batch)
	t := time.NewTimer(q.timeout)
	t.Stop()
	for {
		select {
		case s := <-q.ch:
			if len(buf) == 0 {
				t.Reset(q.timeout)
			}
			if buf = append(buf, s); len(buf) >= q.batch {
				buf = q.export(buf)
			}
		case <-t.C:
			buf = q.export(buf)
		case reply := <-q.flush:
			buf = q.drain(buf)
			close(reply)
		case <-q.stop:
			q.drain(buf)
			return
		}
	}
}

// drain exports everything queued now.
func (q *queue) drain(buf []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	for {
		select {
		case s := <-q.ch:
			if buf = append(buf, s); len(buf) >= q.batch {
				buf = q.export(buf)
			}
		default:
			return q.export(buf)
		}
	}
}

func (q *queue) export(buf []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	if len(buf) == 0 {
		return buf
	}
	ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
	err := q.exp.ExportSpans(ctx, buf)
	cancel()
	if err != nil {
		q.failed.Add(uint64(len(buf)))
	} else {
		q.exported.Add(uint64(len(buf)))
	}
	clear(buf)
	return buf[:0]
}

// exportTimeout bounds one export request.
const exportTimeout = 10 * time.Second

// ForceFlush implements sdktrace.SpanProcessor: it returns once the spans
// queued before the call were exported (or ctx ends).
func (q *queue) ForceFlush(ctx context.Context) error {
	if q.closed.Load() {
		return nil
	}
	reply := make(chan struct{})
	select {
	case q.flush <- reply:
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown implements sdktrace.SpanProcessor: export what is queued, then
// shut the exporter down.
func (q *queue) Shutdown(ctx context.Context) error {
	var err error
	q.once.Do(func() {
		q.closed.Store(true)
		close(q.stop)
		select {
		case <-q.done:
		case <-ctx.Done():
		}
		err = q.exp.Shutdown(ctx)
	})
	return err
}
