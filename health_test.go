package caddyantom

import (
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/delivery"
)

// A forward is failing after failingAfter failed attempts in a row, announced once; the next
// success announces its recovery once and clears the count.
func TestForwardHealth(t *testing.T) {
	var h forwardHealth
	t0 := time.Unix(1700000000, 0)
	fail := delivery.Attempt{Err: "app answered 500"}
	for i := 1; i < failingAfter; i++ {
		if ev, st := h.record("rt_a", fail, t0); ev != "" || st.Failing || st.ConsecutiveFailures != i {
			t.Fatalf("failure %d: event %q, state %+v", i, ev, st)
		}
	}
	if ev, st := h.record("rt_a", fail, t0); ev != "antom.forward_failing" || !st.Failing || st.LastError != fail.Err || !st.FailingSince.Equal(t0) {
		t.Fatalf("failure %d: event %q, state %+v, want forward_failing", failingAfter, ev, st)
	}
	if ev, _ := h.record("rt_a", fail, t0.Add(time.Minute)); ev != "" {
		t.Fatalf("a further failure announced %q again", ev)
	}
	if st := h.get("rt_b"); st.Failing || st.ConsecutiveFailures != 0 {
		t.Fatalf("another route shares the state: %+v", st)
	}
	if ev, st := h.record("rt_a", delivery.Attempt{OK: true}, t0.Add(2*time.Minute)); ev != "antom.forward_recovered" || !st.FailingSince.Equal(t0) {
		t.Fatalf("success: event %q, state before %+v, want forward_recovered", ev, st)
	}
	if ev, st := h.record("rt_a", delivery.Attempt{OK: true}, t0); ev != "" || st.Failing || st.ConsecutiveFailures != 0 {
		t.Fatalf("a further success: event %q, state %+v", ev, st)
	}
}
