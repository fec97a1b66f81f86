package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Work resumed from a stored traceparent joins that trace with the provider of the last traced
// request; without a traceparent it stays untraced.
func TestResume(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	reqCtx, reqSpan := tp.Tracer("test").Start(context.Background(), "request")
	ctx, span := Start(reqCtx, "antom.store") // remembers tp
	stored := Parent(ctx)
	span.End()
	reqSpan.End()

	_, retry := Start(Resume(context.Background(), stored), "antom.deliver")
	retry.End()
	_, untraced := Start(Resume(context.Background(), ""), "antom.deliver")
	untraced.End()

	ended := spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans recorded, want request, antom.store and the resumed antom.deliver", len(ended))
	}
	resumed := ended[2]
	if resumed.Name() != "antom.deliver" || resumed.SpanContext().TraceID() != reqSpan.SpanContext().TraceID() ||
		resumed.Parent().SpanID() != span.SpanContext().SpanID() {
		t.Errorf("resumed span %s in trace %s under %s; want antom.deliver under antom.store %s of trace %s",
			resumed.Name(), resumed.SpanContext().TraceID(), resumed.Parent().SpanID(), span.SpanContext().SpanID(), reqSpan.SpanContext().TraceID())
	}
	if untraced.IsRecording() || untraced.SpanContext().IsValid() {
		t.Error("work without a traceparent was traced")
	}
}

// Parent is empty for an unsampled or missing span: nothing to resume.
func TestParentOfUnsampled(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if p := Parent(ctx); p != "" {
		t.Errorf("Parent of an unsampled span = %q, want \"\"", p)
	}
	if p := Parent(context.Background()); p != "" {
		t.Errorf("Parent without a span = %q, want \"\"", p)
	}
}
