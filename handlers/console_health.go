package handlers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// forwardHealth is the delivery health of one forward (route) over the last 24 hours.
type forwardHealth struct {
	Forward
	Configured              bool // in the running config (else only its events are left)
	Pending, Dead           int
	Delivered24h, Failed24h int
	hourly
	ChartBars []bar
}

// hourly counts the delivery outcomes of one forward in the last 24 hours.
type hourly struct {
	Delivered, Failed [24]int // per hour, oldest first
}

// bar is one hour of the chart.
type bar struct{ X, DeliveredY, DeliveredH, FailedY, FailedH int }

// chartHeight is the height in pixels of a forward's chart.
const chartHeight = 40

// outcomesEvery is how often the chart's counts are recounted at most: counting reads every
// event of the last two days, and an hourly chart is no worse for being a minute old.
const outcomesEvery = time.Minute

// outcomesCache holds the last count of delivery outcomes, which the page's loads share.
type outcomesCache struct {
	mu      sync.Mutex // held while counting, so concurrent loads count once
	at      time.Time
	byRoute map[string]hourly
}

// get returns the outcomes counted at most outcomesEvery before now, and when they were.
func (o *outcomesCache) get(ctx context.Context, store outbox.EventStore, now time.Time) (map[string]hourly, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byRoute == nil || now.Sub(o.at) >= outcomesEvery || now.Before(o.at) {
		byRoute, err := countOutcomes(ctx, store, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		o.byRoute, o.at = byRoute, now
	}
	return o.byRoute, o.at, nil
}

// health returns every forward's health: the configured forwards and those with events left,
// their pending and dead events now, and their delivery outcomes counted at the time it returns.
func (c *Console) health(ctx context.Context, now time.Time) ([]forwardHealth, time.Time, error) {
	store := c.app.Store()
	backlogs, err := store.Backlogs(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	outcomes, at, err := c.outcomes.get(ctx, store, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	byRoute := map[string]*forwardHealth{}
	row := func(route string) *forwardHealth {
		if byRoute[route] == nil {
			byRoute[route] = &forwardHealth{Forward: Forward{Route: route}}
		}
		return byRoute[route]
	}
	for _, f := range c.app.Forwards() {
		fh := row(f.Route)
		fh.Forward, fh.Configured = f, true
	}
	for route, b := range backlogs {
		fh := row(route)
		fh.Pending, fh.Dead = b.Pending, b.Dead
	}
	for route, h := range outcomes {
		row(route).hourly = h
	}
	out := make([]forwardHealth, 0, len(byRoute))
	for _, fh := range byRoute {
		for i := range 24 {
			fh.Delivered24h += fh.Delivered[i]
			fh.Failed24h += fh.Failed[i]
		}
		fh.ChartBars = chart(fh.Delivered, fh.Failed)
		out = append(out, *fh)
	}
	slices.SortFunc(out, func(a, b forwardHealth) int { return strings.Compare(a.Route, b.Route) })
	return out, at, nil
}

// countOutcomes counts, per forward, the deliveries and failed attempts of the 24 hours before
// now by hour. It reads every event received in the last 48 hours.
func countOutcomes(ctx context.Context, store outbox.EventStore, now time.Time) (map[string]hourly, error) {
	since := now.Add(-24 * time.Hour)
	// Outcomes of the last 24 h belong to events received up to max_age before; a day more
	// covers the default max_age.
	evs, _, err := store.Search(ctx, outbox.Filter{Since: since.Add(-24 * time.Hour)}, outbox.Cursor{}, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]hourly{}
	for _, ev := range evs {
		h := out[ev.Route]
		for _, st := range ev.History {
			if st.At.Before(since) || st.At.After(now) {
				continue
			}
			hour := min(int(st.At.Sub(since)/time.Hour), 23) // an outcome at now is in the last hour
			switch st.What {
			case outbox.StepDelivered:
				h.Delivered[hour]++
			case outbox.StepRetry, outbox.StepDead:
				h.Failed[hour]++
			}
		}
		out[ev.Route] = h
	}
	return out, nil
}

// chart scales the hourly counts to bars of at most chartHeight pixels, failures stacked on
// deliveries.
func chart(delivered, failed [24]int) []bar {
	top := 1
	for i := range delivered {
		top = max(top, delivered[i]+failed[i])
	}
	bars := make([]bar, 24)
	for i := range bars {
		dh := delivered[i] * chartHeight / top
		fh := failed[i] * chartHeight / top
		if delivered[i] > 0 && dh == 0 {
			dh = 1
		}
		if failed[i] > 0 && fh == 0 {
			fh = 1
		}
		bars[i] = bar{X: i * 10, DeliveredY: chartHeight - dh, DeliveredH: dh, FailedY: chartHeight - dh - fh, FailedH: fh}
	}
	return bars
}
