package handlers

import (
	"context"
	"slices"
	"strings"
	"time"
)

// forwardHealth is the delivery health of one forward (route) over the last 24 hours.
type forwardHealth struct {
	Forward
	Configured              bool // in the running config (else only its events or outcomes are left)
	Pending, Dead           int
	Delivered24h, Failed24h int
	hourly
	ChartBars []bar
}

// hourly counts the delivery outcomes of one forward in the last 24 UTC clock hours.
type hourly struct {
	Delivered, Failed [24]int // per hour, oldest first; the last is the current hour so far
}

// bar is one hour of the chart.
type bar struct{ X, DeliveredY, DeliveredH, FailedY, FailedH int }

// chartHeight is the height in pixels of a forward's chart.
const chartHeight = 40

// health returns every forward's health: the configured forwards and those with events left or
// outcomes counted, their pending and dead events now, and their delivery outcomes in the 24 UTC
// clock hours up to now's (the last one so far), as the store counted them (HourlyOutcomes): no
// event is read.
func (c *Console) health(ctx context.Context, now time.Time) ([]forwardHealth, error) {
	store := c.app.Store()
	backlogs, err := store.Backlogs(ctx)
	if err != nil {
		return nil, err
	}
	first := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
	outcomes, err := store.HourlyOutcomes(ctx, first)
	if err != nil {
		return nil, err
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
	for route, hours := range outcomes {
		fh := row(route)
		for _, o := range hours {
			// An hour after now's is one another instance's clock, ahead of this one's, counted.
			if i := int(o.Hour.Sub(first) / time.Hour); i >= 0 && i < 24 {
				fh.Delivered[i] += o.Delivered
				fh.Failed[i] += o.Failed
			}
		}
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
