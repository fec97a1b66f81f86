package main

// drain.go: a backlog. The app goes down (its port refuses connections); Antom sends
// -drain-events notifications, which caddy verifies, stores and acks although the first
// delivery fails; the dispatcher keeps retrying with its backoff. Then the app comes back, and
// we time how long until it has received every event, and sample caddy's RSS all along.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

type rssSample struct {
	T   float64 `json:"t_s"` // seconds since the ingest started
	MiB float64 `json:"rss_mib"`
}

type drainResult struct {
	Build  string `json:"build"`
	Events int    `json:"events"`
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
	DrainCPU        cpuUse  `json:"drain_cpu"`
	// RSS of caddy in MiB.
	RSSStart       float64     `json:"rss_start_mib"`
	RSSPeakIngest  float64     `json:"rss_peak_ingest_mib"`
	RSSPeakDrain   float64     `json:"rss_peak_drain_mib"`
	RSSEnd         float64     `json:"rss_end_mib"`
	RSS            []rssSample `json:"rss"`
	Note           string      `json:"note,omitempty"`
	IngestSeconds  float64     `json:"ingest_s"`
	AppDownSeconds float64     `json:"app_down_s"`
}

func runDrain(ctx context.Context, o *options, env *benchEnv, b build) (*drainResult, error) {
	c, err := env.startCaddy(ctx, b, "drain-"+b.name)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	defer env.app.post("/on")
	if err := env.app.post("/off"); err != nil {
		return nil, err
	}
	down := time.Now()
	_ = env.app.post("/reset")
	res := &drainResult{Build: b.name, Events: o.drainEvents}
	logf("drain: %s caddy, pid %d; app down; sending %d notifications", b.name, c.pid(), o.drainEvents)

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
	res.Ingest.Scenario, res.Ingest.Build, res.Ingest.Load = "drain_ingest", b.name, "c=32, app down"
	res.Ingest.CaddyUsReq = res.Ingest.CPU.Caddy * res.Ingest.Seconds / float64(max(1, res.Ingest.OK)) * 1e6
	logPhase(res.Ingest)
	res.IngestSeconds = time.Since(start).Seconds()
	onAt := time.Since(start).Seconds()
	pendingDir := filepath.Join(c.storageDir(), "antom", "events", "pending")
	res.PendingAtOn = countIDs(pendingDir)
	if res.Ingest.OK != o.drainEvents {
		res.Note = fmt.Sprintf("only %d of %d notifications were acked while the app was down (first error: %s)", res.Ingest.OK, o.drainEvents, res.Ingest.FirstErr)
	}

	// The app comes back.
	m = startCPU([]int{c.pid()}, env.app.pid(), 0)
	var prof chan error
	profPath := filepath.Join(o.out, "profiles", "drain-"+b.name+".pprof")
	if o.profile {
		prof = make(chan error, 1)
		go func() { prof <- c.profile(10, profPath) }()
	}
	on := time.Now()
	res.AppDownSeconds = on.Sub(down).Seconds()
	if err := env.app.post("/on"); err != nil {
		finishSampling()
		return nil, err
	}
	logf("drain: app back after %.1fs down; %d events pending", res.AppDownSeconds, res.PendingAtOn)
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
	for time.Now().Before(deadline) && countIDs(pendingDir) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	res.RecordedSeconds = time.Since(on).Seconds()
	res.DrainCPU = m.stop()
	st = env.appStats()
	res.Duplicates = st.Duplicates
	// per-second counts are since the reset; keep those after the app came back
	skip := int(on.Sub(down).Seconds())
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
	logf("drain: %d delivered in %.1fs (recorded in %.1fs), %d duplicates, RSS start %.0f MiB, peak ingest %.0f, peak drain %.0f, end %.0f",
		res.Delivered, res.DrainSeconds, res.RecordedSeconds, res.Duplicates, res.RSSStart, res.RSSPeakIngest, res.RSSPeakDrain, res.RSSEnd)
	return res, ctx.Err()
}

// countIDs counts the event files in an outbox folder (temporary files start with a dot or
// are not msg_ ids).
func countIDs(dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if len(e.Name()) > 4 && e.Name()[:4] == "msg_" {
			n++
		}
	}
	return n
}
