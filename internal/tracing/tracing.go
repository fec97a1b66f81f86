// Package tracing makes the OpenTelemetry spans of caddy-antom with the tracer provider of
// Caddy's `tracing` directive, and lets work that outlives its request (delivery retries,
// inquiries) join the trace of the request that began it.
package tracing

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const instrumentation = "github.com/caddy-antom/caddy-antom"

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

// provider is the tracer provider of the last traced request seen. Caddy keeps one provider per
// process for every `tracing` directive (shut down when no config uses it any more: its spans
// are then dropped), so one per process here too.
var provider atomic.Pointer[providerBox]

type providerBox struct{ trace.TracerProvider }

type providerKey struct{}

// Start starts a span named name under the span in ctx. In a request that Caddy's `tracing`
// directive traces, the span uses that tracer provider; under a context from Resume, the one
// Resume found. Otherwise the span records nothing and costs next to nothing.
func Start(ctx context.Context, name string) (context.Context, trace.Span) {
	tp := trace.SpanFromContext(ctx).TracerProvider()
	if trace.SpanFromContext(ctx).IsRecording() {
		if box := provider.Load(); box == nil || box.TracerProvider != tp {
			provider.Store(&providerBox{tp})
		}
	} else if resumed, ok := ctx.Value(providerKey{}).(trace.TracerProvider); ok {
		tp = resumed
	}
	return tp.Tracer(instrumentation).Start(ctx, name)
}

// Parent returns the W3C traceparent of the sampled span in ctx, "" if there is none. Stored
// with an event or payment, it lets later work Resume the trace.
func Parent(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// Resume returns ctx (a background context) under the trace that traceparent names, so that
// spans Start makes in it join that trace. Without a traceparent, or before any traced request
// was seen in this process (after a restart, until the next one), ctx is returned as it is.
func Resume(ctx context.Context, traceparent string) context.Context {
	box := provider.Load()
	if traceparent == "" || box == nil || trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	ctx = propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return context.WithValue(ctx, providerKey{}, box.TracerProvider)
}

// Inject writes the traceparent (and tracestate) of the span in ctx into h, so that the app's
// traces join Caddy's.
func Inject(ctx context.Context, h propagation.TextMapCarrier) {
	propagator.Inject(ctx, h)
}
