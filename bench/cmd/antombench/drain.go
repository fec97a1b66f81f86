package main

// drain.go: a backlog. Either the app goes down (-backlog outage: its port refuses connections,
// so every first delivery fails and the dispatcher keeps retrying with its backoff) or the forward
// is paused through caddy's admin API (-backlog pause: nothing is attempted). Antom sends
// -drain-events notifications meanwhile, which caddy verifies, stores and acks. Then the app
// comes back (or the forward is resumed), and we time how long until the app has received every
// event, the rate it received them at (against the forward's `rate`), the most requests it had
// in progress at once (against `max_in_flight`), and sample caddy's RSS all along.

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite": the drain counts what is pending
)

type rssSample struct {
	T   float64 `json:"t_s"` // seconds since the ingest started
	MiB float64 `json:"rss_mib"`
}

type drainResult struct {
	Build    string `json:"build"`
	Events   int    `json:"events"`
	Backlog  string `json:"backlog"`  // outage or pause
	Payments int    `json:"payments"` // the events belong to this many payments (0: one each)
	// Ingest: notifications accepted while the app was down.
	Ingest phase `json:"ingest"`
	// PendingAtOn: events stored as pending when the app came back.
	PendingAtOn int `json:"pending_at_on"`
	// DrainSeconds: from the app coming back to its last distinct delivery.
	DrainSeconds float64 `json:"drain_s"`
	// RecordedSeconds: until no event was pending in storage any more.
	RecordedSeconds float64 `json:"recorded_s"`
	Delivered       int     `json:"delivered"`
	Duplicates      int64   `json:"duplicates"`
	PerSecond       []int   `json:"per_second"` // distinct deliveries per second after the app came back
	// Rate: distinct deliveries per second from the first to the last one.
	Rate float64 `json:"rate"`
	// MaxConcurrent: the most deliveries the app had in progress at once during the drain.
	MaxConcurrent int64 `json:"max_concurrent"`
	// DeliveryMs: the mean time of caddy's delivery attempts during the drain (its metrics).
	DeliveryMs float64 `json:"delivery_ms"`
	DrainCPU   cpuUse  `json:"drain_cpu"`
	// RSS of caddy in MiB.
	RSSStart       float64     `json:"rss_start_mib"`
	RSSPeakIngest  float64     `json:"rss_peak_ingest_mib"`
	RSSPeakDrain   float64     `json:"rss_peak_drain_mib"`
	RSSEnd         float64     `json:"rss_end_mib"`
	RSS            []rssSample `json:"rss"`
	Note           string      `json:"note,omitempty"`
	IngestSeconds  float64     `json:"ingest_s"`
	AppDownSeconds float64     `json:"app_down_s"` // outage: the app's downtime; pause: the forward's
}

// backlogHold stops deliveries to the app while the backlog builds up, and release starts them
// again: the app's outage, or a pause of the forward through caddy's admin API.
func backlogHold(o *options, env *benchEnv, c *caddyProc) (hold, release func() error) {
	if o.backlog == "pause" {
		return func() error { return c.admin("/antom/forwards/pause") },
			func() error { return c.admin("/antom/forwards/resume") }
	}
	return func() error { return env.app.post("/off") }, func() error { return env.app.post("/on") }
}

func runDrain(ctx context.Context, o *options, env *benchEnv, b build) (*drainResult, error) {
	c, err := env.startCaddy(ctx, b, "drain-"+b.name)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	defer env.app.post("/on")
	hold, release := backlogHold(o, env, c)
	if err := hold(); err != nil {
		return nil, err
	}
	down := time.Now()
	_ = env.app.post("/reset")
	res := &drainResult{Build: b.name, Events: o.drainEvents, Backlog: o.backlog, Payments: o.payments}
	logf("drain: %s caddy, pid %d; deliveries held (%s); sending %d notifications", b.name, c.pid(), o.backlog, o.drainEvents)

	// RSS sampler, every 250 ms until the end.
	start := time.Now()
	var mu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			mu.Lock()
			res.RSS = append(res.RSS, rssSample{T: time.Since(start).Seconds(), MiB: rssMiB(c.pid())})
			mu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	finishSampling := func() {
		close(stopSampling)
		<-sampled
	}
	res.RSSStart = rssMiB(c.pid())

	p := newPool(env.notes)
	m := startCPU([]int{c.pid()}, env.app.pid(), 0)
	res.Ingest = closedLoop(ctx, 32, 10*time.Minute, o.drainEvents, notifySender(loadClient(), []string{c.notifyURL()}, p))
	res.Ingest.CPU = m.stop()
	res.Ingest.Scenario, res.Ingest.Build, res.Ingest.Load = "drain_ingest", b.name, "c=32, "+o.backlog
	res.Ingest.CaddyUsReq = res.Ingest.CPU.Caddy * res.Ingest.Seconds / float64(max(1, res.Ingest.OK)) * 1e6
	logPhase(res.Ingest)
	res.IngestSeconds = time.Since(start).Seconds()
	onAt := time.Since(start).Seconds()
	db, err := openEventsDB(c.storageDir())
	if err != nil {
		finishSampling()
		return nil, err
	}
	defer db.Close()
	res.PendingAtOn = countPending(db)
	if res.Ingest.OK != o.drainEvents {
		res.Note = fmt.Sprintf("only %d of %d notifications were acked while deliveries were held (first error: %s)", res.Ingest.OK, o.drainEvents, res.Ingest.FirstErr)
	}
	if st := env.appStats(); st.Requests > 0 {
		res.Note = firstNonEmpty(res.Note, fmt.Sprintf("the app got %d requests while deliveries were held", st.Requests))
	}
	resetAt := down
	if o.backlog == "pause" { // nothing was delivered: count the drain alone
		_ = env.app.post("/reset")
		resetAt = time.Now()
	}

	// The app comes back.
	m = startCPU([]int{c.pid()}, env.app.pid(), 0)
	var prof chan error
	profPath := filepath.Join(o.out, "profiles", "drain-"+fileSafe(b.name)+".pprof")
	if o.profile {
		prof = make(chan error, 1)
		go func() { prof <- c.profile(10, profPath) }()
	}
	deliveryMs := c.deliveryMeter()
	on := time.Now()
	res.AppDownSeconds = on.Sub(down).Seconds()
	if err := release(); err != nil {
		finishSampling()
		return nil, err
	}
	logf("drain: deliveries released after %.1fs; %d events pending", res.AppDownSeconds, res.PendingAtOn)
	deadline := on.Add(5 * time.Minute)
	var st appStats
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st = env.appStats()
		if st.Unique >= res.Ingest.OK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Delivered, res.Duplicates = st.Unique, st.Duplicates
	if st.LastNano > 0 {
		res.DrainSeconds = float64(st.LastNano-on.UnixNano()) / 1e9
	}
	if st.Unique > 1 && st.LastNano > st.FirstNano {
		res.Rate = float64(st.Unique-1) / (float64(st.LastNano-st.FirstNano) / 1e9)
	}
	for time.Now().Before(deadline) && countPending(db) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	res.RecordedSeconds = time.Since(on).Seconds()
	res.DrainCPU = m.stop()
	res.DeliveryMs = deliveryMs()
	st = env.appStats()
	res.Duplicates, res.MaxConcurrent = st.Duplicates, st.MaxConc
	// per-second counts are since the reset; keep those after the app came back
	skip := int(on.Sub(resetAt).Seconds())
	if skip < len(st.PerSecond) {
		res.PerSecond = st.PerSecond[skip:]
	}
	time.Sleep(time.Second) // one more RSS sample after the drain
	finishSampling()
	res.RSSEnd = rssMiB(c.pid())
	for _, s := range res.RSS {
		if s.T < onAt {
			res.RSSPeakIngest = max(res.RSSPeakIngest, s.MiB)
		} else {
			res.RSSPeakDrain = max(res.RSSPeakDrain, s.MiB)
		}
	}
	if prof != nil {
		if err := <-prof; err == nil {
			summarizeProfile(profPath)
		}
	}
	if res.Delivered < res.Ingest.OK {
		res.Note = firstNonEmpty(res.Note, fmt.Sprintf("only %d of %d events delivered within 5 minutes", res.Delivered, res.Ingest.OK))
	}
	logf("drain: %d delivered in %.1fs (%.0f/s, at most %d at once; recorded in %.1fs), %d duplicates, RSS start %.0f MiB, peak ingest %.0f, peak drain %.0f, end %.0f",
		res.Delivered, res.DrainSeconds, res.Rate, res.MaxConcurrent, res.RecordedSeconds, res.Duplicates, res.RSSStart, res.RSSPeakIngest, res.RSSPeakDrain, res.RSSEnd)
	return res, ctx.Err()
}

// openEventsDB opens caddy's default event database (SQLite, antom/events.db in its storage
// dir) for reading beside it.
func openEventsDB(storageDir string) (*sql.DB, error) {
	path := filepath.Join(storageDir, "antom", "events.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("opening the event database %s: %w", path, err)
	}
	return db, nil
}

// countPending counts the pending events in the event database (-1 when it cannot be read).
func countPending(db *sql.DB) int {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM antom_events WHERE state = 'pending'`).Scan(&n); err != nil {
		logf("drain: counting the pending events: %v", err)
		return -1
	}
	return n
}
