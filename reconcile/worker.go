package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/held"
	"github.com/caddy-antom/caddy-antom/internal/tracing"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// Caller makes one signed, verified Antom API call; *antom.Client implements it. Tests may
// answer without HTTP.
type Caller interface {
	Call(ctx context.Context, api string, body []byte) (*antom.Response, error)
}

// Profile is what the worker needs to reconcile the payments of one merchant profile.
type Profile struct {
	Client Caller
	Config Config
}

// How a payment's reconciliation ended (the by argument of Options.OnFinished).
const (
	ByInquiry      = "inquiry"      // the result was found by inquiryPayment and delivered as an event
	ByNotification = "notification" // Antom's notification had arrived; nothing more to deliver
	ByGiveUp       = "gave_up"      // GiveUp passed without a final status
	ByNothingOwed  = "nothing_owed" // an automatic capture of a card payment that did not succeed
)

// Options configure a Worker. Profile and Route are required.
type Options struct {
	// Profile returns the setup of a profile in the current config; false if reconciliation is
	// not enabled for it (its payments then wait, pending, for a config that enables it).
	Profile func(name string) (Profile, bool)
	// Route returns the delivery route of a profile's events (its single antom_webhook): the
	// results found by inquiry go there, ordered as its notifications are (Route.OrderKey).
	Route func(profile string) (delivery.Route, error)
	// Kick, if set, wakes the delivery workers after an event was stored.
	Kick func()
	// Record, if set, takes the activity record of each inquiryPayment and cancel call for the
	// payment's timeline; it must not block.
	Record func(*outbox.Activity)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log receives the worker's decisions (nil: none).
	Log *zap.Logger
	// PollInterval is how often Run looks for due payments (default 1s).
	PollInterval time.Duration
	// Concurrency bounds the payments Run works on at once (default 8).
	Concurrency int
	// CallTimeout bounds one inquiryPayment or cancel call (default 15s).
	CallTimeout time.Duration
	// StoreTimeout bounds each store update (default 10s).
	StoreTimeout time.Duration

	// Hooks for metrics and Caddy events; they run on worker goroutines and must be quick.
	// outcome is the inquiry's: success, fail, cancelled, processing, pending, other (a status
	// that is not final), not_found, unknown (result U), refused (other F), error (no trusted
	// answer). The cancel outcome is cancelled, refused, unknown or error.
	OnInquiry  func(p *outbox.Payment, outcome string)
	OnCancel   func(p *outbox.Payment, outcome string)
	OnFinished func(p *outbox.Payment, by string)
}

// Worker inquires about payments whose final notification did not arrive. Every instance
// sharing the store may run one: the store's DuePayments leases each payment to one of them,
// so there is one inquiry loop per payment at a time. All its state is in the store, so a new
// Worker (restart, reload, another instance taking over) continues where the last one stopped.
type Worker struct {
	store outbox.EventStore
	opts  Options
	log   *zap.Logger

	kick     chan struct{}
	mu       sync.Mutex
	inflight map[string]struct{}
	held     held.Set // payments whose last step the store failed to record
}

// New returns a Worker on store.
func New(store outbox.EventStore, opts Options) *Worker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 15 * time.Second
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 10 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Worker{store: store, opts: opts, log: log, kick: make(chan struct{}, 1), inflight: map[string]struct{}{}}
}

// Kick makes Run look for due payments now. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run works on due payments until ctx is cancelled, then waits for the steps in progress. A
// step cut short by the cancellation records only the inquiries it made: the payment is handed
// back due, free of its lease, for the next config or instance.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, w.opts.Concurrency)
	tick := time.NewTicker(w.opts.PollInterval)
	defer tick.Stop()
	for {
		// A payment held back is inquired about again within MaxInterval, unless it is gone.
		w.held.Forget(w.opts.Now().Add(-MaxInterval))
		// No more than the free slots: DuePayments leases what it returns, and a payment
		// leased but not worked on would wait for its lease to end.
		var due []*outbox.Payment
		if free := cap(sem) - len(sem); free > 0 {
			var err error
			due, err = w.store.DuePayments(ctx, w.opts.Now(), free)
			if err != nil && ctx.Err() == nil {
				w.log.Error("looking for payments to reconcile", zap.Error(err))
			}
		}
		for _, p := range due {
			if !w.claim(p.ID) {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					w.release(p.ID)
					<-sem
				}()
				w.work(ctx, p.ID)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-tick.C:
		}
	}
}

// RunOnce works on every payment due now, one after the other, and returns how many it looked
// at. For tests and tools; Run is the loop.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	due, err := w.store.DuePayments(ctx, w.opts.Now(), 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range due {
		if !w.claim(p.ID) {
			continue
		}
		if w.work(ctx, p.ID) {
			n++
		}
		w.release(p.ID)
	}
	return n, nil
}

// work steps the payment with id if it is still pending and due. The caller has claimed it and
// DuePayments leased it; the list it came from may be older than the step that just released
// it. A due payment it does not step (held back, or the worker stopping) does not keep the
// lease: no instance would take it before the lease ends, a minute later.
func (w *Worker) work(ctx context.Context, id string) bool {
	sctx, cancel := w.storeCtx(ctx)
	p, err := w.store.GetPayment(sctx, id)
	cancel()
	if err != nil {
		if !errors.Is(err, outbox.ErrNotFound) {
			w.log.Error("loading a payment to reconcile", zap.String("id", id), zap.Error(err))
		}
		return false
	}
	if p.State != outbox.StatePending || p.NextInquiry.After(w.opts.Now()) || w.heldBack(p) {
		return false
	}
	if ctx.Err() != nil {
		w.putBack(p) // stopping: the next config or instance takes it at once
		return false
	}
	w.Step(ctx, p)
	return true
}

// putBack writes p, due, back unchanged but for what a step cut short by the worker stopping
// learnt (its inquiries); the write ends the lease DuePayments took.
func (w *Worker) putBack(p *outbox.Payment) {
	sctx, cancel := w.storeCtx(context.Background())
	defer cancel()
	if err := w.store.UpdatePayment(sctx, p); err != nil {
		w.log.Warn("handing a payment back on shutdown failed; the next config or instance takes it when its lease ends",
			zap.String("id", p.ID), zap.Error(err))
	}
}

// storeCtx bounds a store update; it outlives the cancellation of ctx so that what was learnt
// is recorded.
func (w *Worker) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), w.opts.StoreTimeout)
}

func (w *Worker) claim(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, busy := w.inflight[id]; busy {
		return false
	}
	w.inflight[id] = struct{}{}
	return true
}

func (w *Worker) release(id string) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

// heldBack reports whether p, due in storage, waits for the next inquiry that hold set, and
// gives p the inquiries made while storage could not record them. A payment held back is
// given that schedule in storage now that the store takes writes again (DuePayments just
// leased it): the write that failed is made, and it ends the lease, which would otherwise keep
// p from every instance for a minute past its next inquiry.
func (w *Worker) heldBack(p *outbox.Payment) bool {
	p.Attempts = max(p.Attempts, w.held.Attempts(p.ID))
	if !w.held.Waiting(p.ID, w.opts.Now()) {
		return false
	}
	p.NextInquiry = w.held.Until(p.ID)
	sctx, cancel := w.storeCtx(context.Background())
	defer cancel()
	if err := w.store.UpdatePayment(sctx, p); err == nil {
		w.held.Release(p.ID)
	}
	return true
}

// hold keeps p back until next after a store update failed, so that it backs off as if the
// update had worked. The first failure of a payment is logged as an error, the repeats at
// debug level.
func (w *Worker) hold(log *zap.Logger, p *outbox.Payment, next time.Time, msg string, err error) {
	lvl := zap.ErrorLevel
	if w.held.Hold(p.ID, p.Attempts, next) {
		lvl = zap.DebugLevel
	}
	log.Log(lvl, msg, zap.Error(err), zap.Time("next_inquiry", next))
}

// step is one decision about one payment.
type step struct {
	w   *Worker
	ctx context.Context
	p   *outbox.Payment
	cfg Config
	now time.Time
	log *zap.Logger
}

// Step makes one reconciliation step for p, due now: look for the notification, inquire,
// then deliver the final result, cancel an unpaid expired payment, give up, or schedule the
// next inquiry. It records the outcome in the store.
func (w *Worker) Step(ctx context.Context, p *outbox.Payment) {
	s := &step{w: w, ctx: ctx, p: p, now: w.opts.Now(), log: w.log.With(logFields(p)...)}
	prof, ok := w.opts.Profile(p.Profile)
	if !ok {
		const why = "reconciliation is not enabled for profile "
		if !s.now.Before(p.CreatedAt.Add(DefaultGiveUp)) {
			s.log.Error("giving up on a " + KindName(p) + ": reconciliation stayed disabled for its profile; check it in the Antom dashboard")
			s.finish(FinalUnknown, ByGiveUp, why+p.Profile)
			return
		}
		s.log.Warn("payment waits for reconciliation, but no antom_api with `reconcile` uses its profile in the current config")
		s.cfg.GiveUp = DefaultGiveUp
		s.reschedule(MaxInterval, "waiting: "+why+p.Profile)
		return
	}
	s.cfg = prof.Config.WithDefaults()

	// The notification may have arrived meanwhile: its webhook-id follows from the paymentId
	// (refundId, captureId).
	if key := notificationKey(p); key != "" {
		ev, err := w.store.Get(ctx, outbox.EventID(p.Profile, key))
		if err == nil {
			status := StatusFail
			if ev.ResultStatus == antom.StatusSuccess {
				status = StatusSuccess
			}
			s.finish(status, byOf(ev), ev.Type+" "+ev.ResultStatus+" "+ev.Source+" "+ev.ID)
			return
		}
		if !errors.Is(err, outbox.ErrNotFound) {
			s.log.Warn("looking for the payment's notification", zap.Error(err))
		}
	}

	a := s.inquire(prof.Client)
	if a == nil {
		w.putBack(p) // cut short by shutdown
		return
	}
	if a.final {
		s.deliver(a)
		return
	}
	if a.nothingOwed {
		s.finish(FinalNothingOwed, ByNothingOwed, a.summary)
		return
	}
	if a.unpaid && s.cfg.CancelUnpaid && s.expired(ExpiryMargin) {
		if !s.cancel(prof.Client) {
			s.reschedule(backoff(p.Attempts), a.summary)
			return
		}
		if a = s.inquire(prof.Client); a == nil {
			w.putBack(p)
			return
		}
		if a.final {
			s.deliver(a)
			return
		}
	}
	if a.notFound && s.expired(NotExistGrace) && p.Kind == outbox.RecordCapture {
		s.finish(FinalNothingOwed, ByNothingOwed, a.summary) // the payment never existed
		return
	}
	if a.notFound && s.expired(NotExistGrace) {
		body, res := expiredBody(p)
		s.deliver(&answer{final: true, status: FinalExpired, body: body, result: res, summary: a.summary})
		return
	}
	if !s.now.Before(p.CreatedAt.Add(s.cfg.GiveUp)) {
		s.log.Error("giving up on a "+KindName(p)+": no final status within give_up; check it in the Antom dashboard and tell the app by hand",
			zap.String("last_result", a.summary), zap.Int("inquiries", p.Attempts), zap.Duration("give_up", s.cfg.GiveUp))
		s.finish(FinalUnknown, ByGiveUp, a.summary)
		return
	}
	s.reschedule(backoff(p.Attempts), a.summary)
}

// answer is what an inquiry taught.
type answer struct {
	final    bool // a final paymentStatus, in a signed S answer
	unpaid   bool // paymentStatus PROCESSING in a signed S answer: safe to cancel
	notFound bool // ORDER_NOT_EXIST
	// nothingOwed: an automatic capture's payment failed or was cancelled: no capture
	nothingOwed bool
	status      string // the final status (or FinalExpired)
	paymentID   string
	body        []byte       // the notification-shaped event body, when final
	result      antom.Result // its result
	summary     string       // for LastResult and logs
}

// inquire calls inquiryPayment (inquiryRefund for a refund) once; nil means the call was cut
// short by shutdown.
func (s *step) inquire(c Caller) *answer {
	p := s.p
	api, ask := "v1/payments/inquiryPayment", map[string]string{"paymentRequestId": p.PaymentRequestID}
	switch {
	case p.Kind == outbox.RecordRefund:
		api, ask = "v1/payments/inquiryRefund", map[string]string{"refundRequestId": p.RefundRequestID}
	case p.PaymentRequestID == "": // a capture asked by paymentId
		ask = map[string]string{"paymentId": p.PaymentID}
	}
	resp, act, err := s.call(c, "antom.inquiry", outbox.ActivityInquiry, api, antom.MustMarshal(ask))
	if err != nil && s.ctx.Err() != nil {
		return nil
	}
	p.Attempts++
	a := &answer{}
	outcome := s.classify(resp, err, a)
	if a.paymentID != "" && p.PaymentID == "" {
		p.PaymentID = a.paymentID
	}
	s.record(act, a.summary)
	if s.w.opts.OnInquiry != nil {
		s.w.opts.OnInquiry(p, outcome)
	}
	s.log.Debug(api[len("v1/payments/"):], zap.Int("attempt", p.Attempts), zap.String("outcome", outcome), zap.String("result", a.summary))
	return a
}

// classify reads an inquiryPayment answer into a and returns the metrics outcome.
func (s *step) classify(resp *antom.Response, err error, a *answer) string {
	if err != nil {
		a.summary = truncate("inquiry failed: " + err.Error())
		return "error"
	}
	r := resp.Result
	a.summary = "inquiry: " + r.ResultCode + " (" + r.ResultStatus + ")"
	switch r.ResultStatus {
	case antom.StatusUnknown:
		return "unknown"
	case antom.StatusFail:
		if r.ResultCode == "ORDER_NOT_EXIST" {
			a.notFound = true
			return "not_found"
		}
		s.log.Warn("inquiry refused; check the profile's keys and permissions", zap.String("result_code", r.ResultCode), zap.String("message", r.ResultMessage))
		return "refused"
	case antom.StatusSuccess:
	default:
		return "unknown"
	}
	if !resp.Signed {
		a.summary = "inquiry: unsigned SUCCESS answer"
		return "error"
	}
	switch s.p.Kind {
	case outbox.RecordRefund:
		return s.classifyRefund(resp.Body, a)
	case outbox.RecordCapture:
		return s.classifyCapture(resp.Body, a)
	}
	var q inquiry
	if err := json.Unmarshal(resp.Body, &q); err != nil {
		a.summary = "inquiry: unreadable SUCCESS answer"
		return "error"
	}
	if q.PaymentRequestID != "" && q.PaymentRequestID != s.p.PaymentRequestID {
		s.log.Error("inquiryPayment answered about another payment; ignoring it", zap.String("answered_payment_request_id", q.PaymentRequestID))
		a.summary = "inquiry: answer names another paymentRequestId"
		return "error"
	}
	a.paymentID = q.PaymentID
	a.summary = "inquiry: " + q.PaymentStatus
	if q.PaymentResultCode != "" && q.PaymentStatus != StatusSuccess {
		a.summary += " (" + q.PaymentResultCode + ")"
	}
	switch q.PaymentStatus {
	case StatusSuccess, StatusFail, StatusCancelled:
		body, res, err := resultBody(resp.Body, q)
		if err != nil {
			a.summary = truncate("inquiry: " + err.Error())
			return "error"
		}
		a.final, a.status, a.body, a.result = true, q.PaymentStatus, body, res
	case StatusProcessing:
		a.unpaid = true
	case StatusPending:
	default:
		return "other"
	}
	return strings.ToLower(q.PaymentStatus)
}

// cancel closes an unpaid payment after its expiry. It reports whether Antom gave a clear
// answer (cancelled, or refused because the payment is final already), after which the payment
// is inquired about again.
func (s *step) cancel(c Caller) bool {
	p := s.p
	resp, act, err := s.call(c, "antom.cancel", outbox.ActivityAPICall, "v1/payments/cancel", antom.MustMarshal(map[string]string{"paymentRequestId": p.PaymentRequestID}))
	outcome := "error"
	switch {
	case err != nil:
	case resp.Result.ResultStatus == antom.StatusSuccess:
		outcome = "cancelled"
	case resp.Result.ResultStatus == antom.StatusFail:
		outcome = "refused"
	default:
		outcome = "unknown"
	}
	act.Detail = "cancel_unpaid of the reconciliation"
	s.record(act, outcome)
	if s.w.opts.OnCancel != nil {
		s.w.opts.OnCancel(p, outcome)
	}
	fields := []zap.Field{zap.String("outcome", outcome), zap.Time("expired_at", p.ExpiresAt)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	} else {
		fields = append(fields, zap.String("result_code", resp.Result.ResultCode))
	}
	s.log.Info("cancelled an unpaid payment after its expiry (cancel_unpaid)", fields...)
	return outcome == "cancelled" || outcome == "refused"
}

// deliver stores the final result as an event for the app, unless the notification (or an
// earlier run of this step) stored it already, and finishes the payment.
func (s *step) deliver(a *answer) {
	p := s.p
	route, err := s.w.opts.Route(p.Profile)
	if err != nil {
		s.log.Error("found the payment's final result by inquiry but cannot deliver it: no route to the app; the payment stays pending until the config has exactly one antom_webhook for the profile",
			zap.String("status", a.status), zap.Error(err))
		s.reschedule(MaxInterval, a.summary+"; not delivered: "+err.Error())
		return
	}
	learnt := s.w.opts.Now() // after the inquiry, which the timeline shows before its result
	ev := resultEvent(p, a, route)
	ev.ReceivedAt = learnt
	ev.NextAttempt = learnt // due at once: the dispatcher of this (leader) instance sends it
	sctx, cancel := s.storeCtx()
	defer cancel()
	added, err := s.w.store.Add(sctx, ev)
	if err != nil {
		s.log.Error("storing the result found by inquiry failed; will inquire again", zap.Error(err))
		s.reschedule(backoff(p.Attempts), a.summary+"; storing the event failed")
		return
	}
	by := ByInquiry
	if added {
		if s.w.opts.Kick != nil {
			s.w.opts.Kick()
		}
		s.log.Info(KindName(p)+" result found by inquiry; delivering it to the app as the missing notification",
			zap.String("status", a.status), zap.String("webhook_id", ev.ID), zap.Int("inquiries", p.Attempts))
	} else if old, err := s.w.store.Get(sctx, ev.ID); err == nil {
		by = byOf(old)
	}
	p.Route = route.ID
	s.finish(a.status, by, a.summary)
}

// byOf tells whether an event came from the notification or from an inquiry.
func byOf(ev *outbox.Event) string {
	if ev.Source == outbox.SourceInquiry {
		return ByInquiry
	}
	return ByNotification
}

func (s *step) finish(status, by, summary string) {
	p := s.p
	p.LastResult = summary
	sctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.w.store.FinishPayment(sctx, p, status); err != nil {
		s.w.hold(s.log, p, s.now.Add(backoff(p.Attempts)), "recording the end of a payment's reconciliation failed; it will be looked at again", err)
		return
	}
	s.w.held.Release(p.ID)
	s.log.Debug(KindName(p)+" reconciled", zap.String("status", status), zap.String("by", by))
	if s.w.opts.OnFinished != nil {
		s.w.opts.OnFinished(p, by)
	}
}

// reschedule keeps p pending and sets its next inquiry after wait, but not later than its next
// checkpoint (expiry, the end of NotExistGrace, GiveUp), so that each of them gets its inquiry.
func (s *step) reschedule(wait time.Duration, summary string) {
	p := s.p
	next := s.now.Add(wait)
	checkpoints := []time.Time{}
	if !p.ExpiresAt.IsZero() {
		checkpoints = append(checkpoints, p.ExpiresAt.Add(ExpiryMargin), p.ExpiresAt.Add(NotExistGrace))
	}
	if s.cfg.GiveUp > 0 {
		checkpoints = append(checkpoints, p.CreatedAt.Add(s.cfg.GiveUp))
	}
	for _, c := range checkpoints {
		if c.After(s.now) && c.Before(next) {
			next = c
		}
	}
	p.NextInquiry = next
	p.LastResult = summary
	sctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.w.store.UpdatePayment(sctx, p); err != nil {
		s.w.hold(s.log, p, next, "rescheduling a payment's inquiry failed; it is inquired about again then anyway", err)
		return
	}
	s.w.held.Release(p.ID)
}

// expired reports whether p's expiry plus margin has passed; never for a payment without one.
func (s *step) expired(margin time.Duration) bool {
	return !s.p.ExpiresAt.IsZero() && !s.now.Before(s.p.ExpiresAt.Add(margin))
}

// call makes one Antom call about the payment, under a span named spanName in the trace of the
// antom_api call that started the payment. It returns the call's activity for the payment's
// timeline, for the caller to complete with the result and record.
func (s *step) call(c Caller, spanName, what, api string, body []byte) (*antom.Response, *outbox.Activity, error) {
	ctx, span := tracing.Start(tracing.Resume(s.ctx, s.p.TraceParent), spanName)
	defer span.End()
	span.SetAttributes(attribute.String("antom.api", api), attribute.String("antom.payment_request_id", s.p.PaymentRequestID),
		attribute.String("antom.reconcile.kind", KindName(s.p)))
	ctx, cancel := context.WithTimeout(ctx, s.w.opts.CallTimeout)
	defer cancel()
	act := outbox.NewActivity(what, time.Now())
	resp, err := c.Call(ctx, api, body)
	act.Latency = time.Since(act.At)
	if err == nil && resp == nil {
		err = fmt.Errorf("%s: no answer", api)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.String("antom.result_status", resp.Result.ResultStatus), attribute.String("antom.result_code", resp.Result.ResultCode))
	}
	act.Profile, act.API = s.p.Profile, api
	nameIDs(act, s.p)
	if err == nil {
		act.Status = resp.StatusCode
	}
	return resp, act, err
}

// record hands a completed call's activity to Options.Record.
func (s *step) record(act *outbox.Activity, result string) {
	if s.w.opts.Record != nil {
		act.Result = result
		nameIDs(act, s.p) // the inquiry may have taught some
		s.w.opts.Record(act)
	}
}

// storeCtx bounds a store update of the step (Worker.storeCtx).
func (s *step) storeCtx() (context.Context, context.CancelFunc) {
	return s.w.storeCtx(s.ctx)
}

func truncate(s string) string {
	if len(s) > 300 {
		return strings.ToValidUTF8(s[:300], "") + "..."
	}
	return s
}

// KindName is what p follows: "payment", "refund" or "capture".
func KindName(p *outbox.Payment) string {
	if p.Kind == outbox.RecordPayment {
		return "payment"
	}
	return p.Kind
}

// logFields name p in the worker's log lines.
func logFields(p *outbox.Payment) []zap.Field {
	f := []zap.Field{zap.String("profile", p.Profile), zap.String("kind", KindName(p))}
	for _, id := range [][2]string{{"payment_request_id", p.PaymentRequestID}, {"payment_id", p.PaymentID},
		{"refund_request_id", p.RefundRequestID}, {"capture_request_id", p.CaptureRequestID}} {
		if id[1] != "" {
			f = append(f, zap.String(id[0], id[1]))
		}
	}
	return f
}

// nameIDs gives act the ids p knows, for the timelines of the payment and of its refund or
// capture.
func nameIDs(act *outbox.Activity, p *outbox.Payment) {
	IDs{p.PaymentRequestID, p.PaymentID, p.RefundRequestID, p.RefundID, p.CaptureRequestID, p.CaptureID}.Name(act)
}

// IDs are the ids of a payment, its refund or its capture, by their Antom field names
// (outbox.ActivityIDFields): decoded from a request, answer or notification, or taken from a
// record.
type IDs struct {
	PaymentRequestID string `json:"paymentRequestId"`
	PaymentID        string `json:"paymentId"`
	RefundRequestID  string `json:"refundRequestId"`
	RefundID         string `json:"refundId"`
	CaptureRequestID string `json:"captureRequestId"`
	CaptureID        string `json:"captureId"`
}

// Name gives act the ids that are set.
func (ids IDs) Name(act *outbox.Activity) {
	act.Name("paymentRequestId", ids.PaymentRequestID)
	act.Name("paymentId", ids.PaymentID)
	act.Name("refundRequestId", ids.RefundRequestID)
	act.Name("refundId", ids.RefundID)
	act.Name("captureRequestId", ids.CaptureRequestID)
	act.Name("captureId", ids.CaptureID)
}
