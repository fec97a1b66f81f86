package handlers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/internal/metrics"
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

// registerHandlerMetrics registers the collectors with this config's registry.
func registerHandlerMetrics(reg *prometheus.Registry, log *zap.Logger) {
	metrics.Register(reg, log, notificationsTotal, apiCallsTotal, apiDuration)
}

func countNotification(outcome string) { notificationsTotal.WithLabelValues(outcome).Inc() }

func observeAPICall(api, resultStatus string, antomTime, total time.Duration) {
	apiCallsTotal.WithLabelValues(api, resultStatus).Inc()
	apiDuration.WithLabelValues(api, "antom").Observe(antomTime.Seconds())
	apiDuration.WithLabelValues(api, "proxy").Observe((total - antomTime).Seconds())
}
