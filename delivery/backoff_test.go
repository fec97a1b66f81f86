package delivery

import (
	"testing"
	"time"
)

func TestNextDelay(t *testing.T) {
	lo := func() float64 { return 0 }
	hi := func() float64 { return 0.999999 }
	for attempt, base := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		12: 2048 * time.Second, 13: time.Hour, 40: time.Hour, 1 << 30: time.Hour,
	} {
		if got := NextDelay(attempt, 0, lo); got != base/2 {
			t.Errorf("NextDelay(%d, lo) = %v, want %v", attempt, got, base/2)
		}
		if got := NextDelay(attempt, 0, hi); got > base || got < base*99/100 {
			t.Errorf("NextDelay(%d, hi) = %v, want about %v", attempt, got, base)
		}
		if got := NextDelay(attempt, 0, nil); got < base/2 || got > base {
			t.Errorf("NextDelay(%d, nil) = %v out of [%v, %v]", attempt, got, base/2, base)
		}
	}
	// Retry-After wins when longer, capped at 6h.
	if got := NextDelay(1, 2*time.Minute, hi); got != 2*time.Minute {
		t.Errorf("retry-after: %v", got)
	}
	if got := NextDelay(20, 2*time.Minute, lo); got != 30*time.Minute {
		t.Errorf("retry-after shorter than backoff: %v", got)
	}
	if got := NextDelay(1, 48*time.Hour, lo); got != 6*time.Hour {
		t.Errorf("retry-after cap: %v", got)
	}
}
