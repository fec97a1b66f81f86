package main

// load.go: the two load generators.
//
// openLoop sends at a constant arrival rate whatever the server does, and measures each latency
// from the moment the request was due, not from when it was actually sent: a server that stalls
// is charged for every request queued behind the stall (no coordinated omission).
// closedLoop keeps a fixed number of requests in flight, for throughput at saturation.

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// doFunc makes one request. exclude is time inside the request that is not the system under
// test (e.g. the client's own signing); the phase reports latency both with and without it.
type doFunc func(ctx context.Context) (exclude time.Duration, err error)

// phase is the outcome of one measured phase.
type phase struct {
	Scenario string  `json:"scenario"` // notify, reverse_proxy, api_proxy, api_direct, ...
	Build    string  `json:"build"`    // std or boringcrypto
	Run      int     `json:"run"`      // repetition
	Load     string  `json:"load"`     // "saturation c=64" or "500/s"
	Offered  float64 `json:"offered"`  // arrival rate asked for, per second; 0 for closed loop
	Conc     int     `json:"conc"`     // closed loop: requests in flight
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	Dropped  int     `json:"dropped"` // open loop: not sent because maxInflight requests were pending
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"` // successful requests per second
	// Latency percentiles in milliseconds.
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// The same without the excluded time (only set when a doFunc excludes time).
	NetP50   float64 `json:"net_p50_ms,omitempty"`
	NetP99   float64 `json:"net_p99_ms,omitempty"`
	Excluded float64 `json:"excluded_p50_ms,omitempty"`
	FirstErr string  `json:"first_error,omitempty"`
	// CPU: cores used on average during the phase, by process, and caddy's CPU per request.
	CPU        cpuUse  `json:"cpu"`
	CaddyUsReq float64 `json:"caddy_cpu_us_per_req"`
	// NewConns counts TCP connections accepted upstream (app or simulator) during the phase.
	NewConns int `json:"new_conns"`
	// Delivered counts the distinct events the app received during the phase (notify), and
	// UpMaxConc the most requests the upstream had in progress at once.
	Delivered int   `json:"delivered,omitempty"`
	UpMaxConc int64 `json:"upstream_max_concurrent"`
	// DeliveryMs is the mean time of caddy's delivery attempts to the app (its metrics).
	DeliveryMs float64 `json:"delivery_ms,omitempty"`
	Note       string  `json:"note,omitempty"`
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu       sync.Mutex
	lat, net []time.Duration
	excl     []time.Duration
	errors   int
	firstErr string
}

func (r *recorder) add(lat, exclude time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.lat = append(r.lat, lat)
	if exclude > 0 {
		r.net = append(r.net, lat-exclude)
		r.excl = append(r.excl, exclude)
	}
}

func (r *recorder) phase(elapsed time.Duration) phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := phase{OK: len(r.lat), Errors: r.errors, FirstErr: r.firstErr, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		p.Rate = float64(p.OK) / elapsed.Seconds()
	}
	if len(r.lat) > 0 {
		p.P50, p.P90, p.P99, p.Max = pct(r.lat, 0.50), pct(r.lat, 0.90), pct(r.lat, 0.99), pct(r.lat, 1)
	}
	if len(r.net) > 0 {
		p.NetP50, p.NetP99, p.Excluded = pct(r.net, 0.50), pct(r.net, 0.99), pct(r.excl, 0.50)
	}
	return p
}

// pct returns the q-quantile of ds in milliseconds (nearest rank; sorts ds).
func pct(ds []time.Duration, q float64) float64 {
	slices.Sort(ds)
	i := int(q*float64(len(ds)) + 0.5)
	i = min(max(i-1, 0), len(ds)-1)
	return float64(ds[i]) / float64(time.Millisecond)
}

// openLoop sends n requests at rate per second, at most maxInflight pending at once (beyond that
// a request is dropped and counted, so the loop stays bounded).
func openLoop(ctx context.Context, rate float64, n, maxInflight int, do doFunc) phase {
	interval := time.Duration(float64(time.Second) / rate)
	rec := &recorder{}
	var wg sync.WaitGroup
	var inflight atomic.Int64
	dropped := 0
	start := time.Now().Add(5 * time.Millisecond)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if inflight.Load() >= int64(maxInflight) {
			dropped++
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			excl, err := do(ctx)
			rec.add(time.Since(due), excl, err)
		}()
	}
	wg.Wait()
	p := rec.phase(time.Since(start))
	p.Offered, p.Dropped = rate, dropped
	return p
}

// closedLoop runs conc workers back to back for dur, or until do has been called limit times
// (limit <= 0: no limit).
func closedLoop(ctx context.Context, conc int, dur time.Duration, limit int, do doFunc) phase {
	rec := &recorder{}
	var wg sync.WaitGroup
	var calls atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit > 0 && calls.Add(1) > int64(limit) {
					return
				}
				t0 := time.Now()
				excl, err := do(ctx)
				rec.add(time.Since(t0), excl, err)
			}
		}()
	}
	wg.Wait()
	p := rec.phase(time.Since(start))
	p.Conc = conc
	return p
}

// loadClient is the HTTP client of the load generators: keep-alive, enough idle connections
// for every request in flight, 10 s per request.
func loadClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}
