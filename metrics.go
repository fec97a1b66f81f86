package caddyantom

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/metrics"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
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

	activityDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "activity_dropped_total",
		Help: "Timeline activities (API calls, inquiries, rejected and repeated notifications) not recorded because the writer was behind or stopping.",
	})

	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "events",
		Help: "Events in the store, by state (pending, delivered, dead).",
	}, []string{"state"})
)

// Reconciliation metrics (antom_api `reconcile`).
var (
	paymentsPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "payments_pending",
		Help: "Payments, refunds and captures started through antom_api whose final result is not known yet (under reconciliation).",
	})

	inquiriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "inquiries_total",
		Help: "inquiryPayment and inquiryRefund calls made by reconciliation, by what they follow (kind: payment, refund, capture) and outcome (success, fail, cancelled, processing, pending, other, not_found, nothing_owed, unknown, refused, error).",
	}, []string{"kind", "outcome"})

	paymentsReconciledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "payments_reconciled_total",
		Help: "Payments, refunds and captures whose reconciliation ended, by kind (payment, refund, capture), how (inquiry: the result was found by inquiry and delivered because the notification was missing; notification: it had arrived; gave_up; nothing_owed: an automatic capture of a card payment that failed) and final status (success, fail, cancelled, expired, unknown, no_capture).",
	}, []string{"kind", "by", "status"})

	cancelsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "antom", Name: "cancels_total",
		Help: "cancel calls for payments unpaid at their expiry (reconcile cancel_unpaid), by outcome (cancelled, refused, unknown, error).",
	}, []string{"outcome"})
)

// registerMetrics registers the collectors with this config's registry.
func registerMetrics(reg *prometheus.Registry, log *zap.Logger) {
	metrics.Register(reg, log, deliveriesTotal, deliveryDuration, queueDepth, activityDropped,
		paymentsPending, inquiriesTotal, paymentsReconciledTotal, cancelsTotal, oldestPendingAge)
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
		a.observeAttempt(ev, at)
	}
	opts.OnFailed = func(ev *outbox.Event, at delivery.Attempt, next time.Time) {
		deliveriesTotal.WithLabelValues("failed").Inc()
		deliveryDuration.Observe(at.Latency.Seconds())
		a.observeAttempt(ev, at)
	}
	opts.OnDead = func(ev *outbox.Event, at delivery.Attempt) {
		deliveriesTotal.WithLabelValues("dead").Inc()
		a.Emit("antom.event_dead", ev.Summary())
		a.observeAttempt(ev, at)
	}
}

// observeReconcile wires the reconcile worker's hooks to the metrics and Caddy events.
func (a *App) observeReconcile(opts *reconcile.Options) {
	opts.OnInquiry = func(p *outbox.Payment, outcome string) {
		inquiriesTotal.WithLabelValues(reconcile.KindName(p), outcome).Inc()
	}
	opts.OnCancel = func(_ *outbox.Payment, outcome string) {
		cancelsTotal.WithLabelValues(outcome).Inc()
	}
	opts.OnFinished = func(p *outbox.Payment, by string) {
		paymentsReconciledTotal.WithLabelValues(reconcile.KindName(p), by, strings.ToLower(p.FinalStatus)).Inc()
		a.Emit("antom.payment_reconciled", map[string]any{
			"kind":               reconcile.KindName(p),
			"profile":            p.Profile,
			"refund_request_id":  p.RefundRequestID,
			"capture_request_id": p.CaptureRequestID,
			"payment_request_id": p.PaymentRequestID,
			"payment_id":         p.PaymentID,
			"final_status":       p.FinalStatus,
			"by":                 by,
			"inquiries":          p.Attempts,
		})
	}
}
