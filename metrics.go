package caddyantom

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Delivery metrics. Labels are small fixed sets; never ids or addresses.
var (
	deliveriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "deliveries_total",
		Help: "Delivery attempts to the app, by outcome (delivered, failed, dead).",
	}, []string{"outcome"})

	deliveryDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "delivery_duration_seconds",
		Help:    "Time the app took to answer a delivery attempt.",
		Buckets: prometheus.DefBuckets,
	})

	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "events",
		Help: "Events in the store, by state (pending, delivered, dead).",
	}, []string{"state"})
)

// registerMetrics registers the collectors with this config's registry; Caddy makes a new
// registry on every config load, so this runs in every Provision.
func registerMetrics(reg *prometheus.Registry, log *zap.Logger) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{deliveriesTotal, deliveryDuration, queueDepth} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				log.Warn("registering metrics", zap.Error(err))
			}
		}
	}
}

func setQueueDepth(counts map[outbox.State]int) {
	for _, state := range []outbox.State{outbox.StatePending, outbox.StateDelivered, outbox.StateDead} {
		queueDepth.WithLabelValues(string(state)).Set(float64(counts[state]))
	}
}

// observe wires the dispatcher's hooks to the metrics, the log and Caddy events.
func (a *App) observe(opts *delivery.DispatcherOptions) {
	opts.OnDelivered = func(ev *outbox.Event, at delivery.Attempt) {
		deliveriesTotal.WithLabelValues("delivered").Inc()
		deliveryDuration.Observe(at.Latency.Seconds())
		a.Emit("antom.event_delivered", ev.Summary())
	}
	opts.OnFailed = func(ev *outbox.Event, at delivery.Attempt, next time.Time) {
		deliveriesTotal.WithLabelValues("failed").Inc()
		deliveryDuration.Observe(at.Latency.Seconds())
	}
	opts.OnDead = func(ev *outbox.Event, at delivery.Attempt) {
		deliveriesTotal.WithLabelValues("dead").Inc()
		a.Emit("antom.event_dead", ev.Summary())
	}
}
