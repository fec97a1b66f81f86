package handlers

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Label values are small fixed sets: outcomes, API names from the allow list, result statuses.
// Never client IPs or payment ids.
var (
	notificationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "notifications_total",
		Help: "Antom notifications received, by outcome (accepted, duplicate, storage_error, rejected_<reason>).",
	}, []string{"outcome"})

	apiCallsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "api_calls_total",
		Help: "API calls proxied by antom_api, by API and result status (S, F, U, or the proxy's own error code).",
	}, []string{"api", "result_status"})

	apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "api_duration_seconds",
		Help:    "Time of proxied API calls, split into the part spent at Antom (part=antom) and in Caddy (part=proxy).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"api", "part"})
)

// registerHandlerMetrics registers the collectors with this config's registry. Caddy makes a new
// registry on every config load, so this runs in every Provision.
func registerHandlerMetrics(reg *prometheus.Registry, log *zap.Logger) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{notificationsTotal, apiCallsTotal, apiDuration} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				log.Warn("registering metrics", zap.Error(err))
			}
		}
	}
}

func countNotification(outcome string) { notificationsTotal.WithLabelValues(outcome).Inc() }

func observeAPICall(api, resultStatus string, antomTime, total time.Duration) {
	apiCallsTotal.WithLabelValues(api, resultStatus).Inc()
	apiDuration.WithLabelValues(api, "antom").Observe(antomTime.Seconds())
	apiDuration.WithLabelValues(api, "proxy").Observe((total - antomTime).Seconds())
}
