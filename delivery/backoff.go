package delivery

import (
	"math/rand/v2"
	"time"
)

// now is the clock seam for tests.
var now = time.Now

const (
	baseDelay = time.Second
	// maxDelay caps the exponential schedule: once the app has been down
	// for a while, it is retried hourly until max_age.
	maxDelay = time.Hour
	// maxRetryAfter caps what an app may ask for with Retry-After.
	maxRetryAfter = 6 * time.Hour
)

// NextDelay is how long to wait after the attempt-th failed attempt
// (attempt >= 1). The base doubles from 1s (1s, 2s, 4s, ...) up to 1h and
// is "equal jittered": the delay is uniform in [base/2, base], so retries
// of many events spread out but never come sooner than half the base. A
// Retry-After from the app wins when longer (capped at 6h). rnd returns a
// float in [0,1); nil means math/rand/v2.
func NextDelay(attempt int, retryAfter time.Duration, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	if attempt < 1 {
		attempt = 1
	}
	base := maxDelay
	if attempt <= 13 { // 2^12 s > 1h
		base = min(baseDelay<<(attempt-1), maxDelay)
	}
	half := base / 2
	d := half + time.Duration(rnd()*float64(half))
	if retryAfter > 0 {
		d = max(d, min(retryAfter, maxRetryAfter))
	}
	return d
}
