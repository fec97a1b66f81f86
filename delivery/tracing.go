package delivery

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StartSpan starts a span named name under the span in ctx, with the tracer provider of that
// span: Caddy's `tracing` directive puts one in a request's context. Without it (no `tracing`,
// or a background delivery) the span records nothing and costs next to nothing.
func StartSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/caddy-antom/caddy-antom").Start(ctx, name)
}

// traceContext writes the W3C traceparent (and tracestate) of the span in ctx into forwarded
// requests, so the app's traces join Caddy's.
var traceContext = propagation.TraceContext{}
