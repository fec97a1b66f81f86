package main

// notify.go: the notify path. Antom (the load generator) POSTs pre-signed, distinct
// notifications to antom_webhook; caddy verifies the signature, stores the event (the default
// SQLite store: one group commit), delivers it to the app (which answers 204), records the delivery
// (a second durable write) and only then acks. Side by side, in the same caddy and at the same
// loads: the same body through Caddy's plain reverse_proxy to the same app. With several
// instances (the PostgreSQL store) both are spread over them round robin.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

var errPoolEmpty = errors.New("out of pre-signed notifications (raise -pool)")

func runNotify(ctx context.Context, o *options, env *benchEnv, b build, run int) ([]phase, error) {
	cs, err := env.startInstances(ctx, b, "notify-"+b.name)
	if err != nil {
		return nil, err
	}
	defer stopAll(cs)
	c := cs[0]
	logf("notify: %s caddy (run %d), %d instance(s), first pid %d, data %s", b.name, run, len(cs), c.pid(), c.storageDir())

	hc := loadClient()
	p := newPool(env.notes)
	var notifyURLs, rpURLs []string
	for _, c := range cs {
		notifyURLs = append(notifyURLs, c.notifyURL())
		rpURLs = append(rpURLs, "http://"+c.ports.rp+"/antom-events")
	}
	sendNotify := notifySender(hc, notifyURLs, p)
	nextRP := roundRobin(rpURLs)
	rpBody := notificationBody(0)
	sendRP := func(ctx context.Context) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, nextRP(), bytes.NewReader(rpBody))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("Client-Id", clientID)
		return 0, expect(hc, req, http.StatusNoContent, nil)
	}

	// The fixed-rate phases need this many notifications; saturation may use the rest.
	reserve := 0
	for _, r := range o.rates {
		reserve += int(float64(r) * o.phase.Seconds())
	}
	warm := func(do doFunc) { closedLoop(ctx, 8, 2*time.Second, 400, do) }
	warm(sendNotify)
	warm(sendRP)
	satLimit := p.left() - reserve
	if satLimit < 1000 {
		return nil, fmt.Errorf("-pool %d leaves %d notifications for the saturation phase; raise -pool", o.pool, satLimit)
	}

	m := &measurer{o: o, c: c, peers: cs[1:], up: env.app, pgPid: env.pgPID(b), b: b, run: run, after: func(ph *phase) {
		if ph.Scenario == "notify" {
			if st := env.appStats(); st.Unique != ph.OK {
				ph.Note = fmt.Sprintf("app received %d distinct events for %d acks", st.Unique, ph.OK)
			}
		}
	}}
	settle := backlogSettler(c, b)
	defer settle.close()
	sat := fmt.Sprintf("saturation c=%d", o.conc)
	settle.wait(ctx, "notify "+sat) // the warm-up's
	m.measure("notify", sat, true, func() phase { return closedLoop(ctx, o.conc, o.phase, satLimit, sendNotify) })
	settle.wait(ctx, "reverse_proxy "+sat)
	m.measure("reverse_proxy", sat, true, func() phase { return closedLoop(ctx, o.conc, o.phase, 0, sendRP) })
	for _, r := range o.rates {
		n := int(float64(r) * o.phase.Seconds())
		load := fmt.Sprintf("%d/s", r)
		m.measure("notify", load, true, func() phase { return openLoop(ctx, float64(r), n, 5000, sendNotify) })
		settle.wait(ctx, "reverse_proxy "+load)
		m.measure("reverse_proxy", load, true, func() phase { return openLoop(ctx, float64(r), n, 5000, sendRP) })
	}
	if n := c.countLog(`"level":"error"`); n > 0 {
		logf("notify: caddy logged %d errors; see %s", n, c.log)
	}
	return m.out, ctx.Err()
}

// notifySender POSTs the next notification of p to the next of urls, as Antom does, and
// expects the ack.
func notifySender(hc *http.Client, urls []string, p *pool) doFunc {
	next := roundRobin(urls)
	return func(ctx context.Context) (time.Duration, error) {
		n := p.take()
		if n == nil {
			return 0, errPoolEmpty
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, next(), bytes.NewReader(n.Body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("Client-Id", clientID)
		req.Header.Set("Request-Time", n.RequestTime)
		req.Header.Set("Signature", n.Signature)
		return 0, expect(hc, req, http.StatusOK, antom.AckBody)
	}
}

// settler waits, before a phase, until the events the phase before acknowledged faster than
// max_in_flight let them reach the app are delivered, so that their delivery in the background
// does not take the CPU from the next phase (each fixed-rate notify phase follows a
// reverse_proxy phase, which has nothing to deliver later). Only on the SQLite default, whose
// database the harness can read; elsewhere it does nothing.
type settler struct{ db *sql.DB }

// settleLimit bounds one wait for the backlog.
const settleLimit = 3 * time.Minute

func backlogSettler(c *caddyProc, b build) settler {
	if b.instances > 0 {
		return settler{}
	}
	db, err := openEventsDB(c.storageDir())
	if err != nil {
		logf("notify: %v; phases are not separated by the drain of the backlog", err)
		return settler{}
	}
	return settler{db: db}
}

// wait returns once no event is pending (or after settleLimit), logging how long it took.
func (s settler) wait(ctx context.Context, next string) {
	if s.db == nil {
		return
	}
	start := time.Now()
	n := countPending(s.db)
	for n > 0 && time.Since(start) < settleLimit && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		n = countPending(s.db)
	}
	logf("notify: waited %.1fs for the backlog to drain before %s (%d events still pending)", time.Since(start).Seconds(), next, max(n, 0))
}

func (s settler) close() {
	if s.db != nil {
		_ = s.db.Close()
	}
}

// roundRobin returns each of urls in turn, safe for concurrent use.
func roundRobin(urls []string) func() string {
	var i atomic.Uint64
	return func() string { return urls[(i.Add(1)-1)%uint64(len(urls))] }
}

// expect sends req and checks the status and, if want is set, the body.
func expect(hc *http.Client, req *http.Request, status int, want []byte) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != status || (want != nil && !bytes.Equal(body, want)) {
		return fmt.Errorf("HTTP %d %.200s", resp.StatusCode, body)
	}
	return nil
}

func logPhase(ph phase) {
	logf("  %-14s %-6s %-16s ok=%-6d err=%-4d %7.0f/s  p50=%6.2fms p99=%7.2fms  caddy %.2f cores %5.0fµs/req  others %.2f cores  stolen %.2f cores  conns=%d %s",
		ph.Scenario, ph.Build, ph.Load, ph.OK, ph.Errors+ph.Dropped, ph.Rate, ph.P50, ph.P99,
		ph.CPU.Caddy, ph.CaddyUsReq, ph.CPU.Others, ph.CPU.Stolen, ph.NewConns, firstNonEmpty(ph.Note, ph.FirstErr))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
