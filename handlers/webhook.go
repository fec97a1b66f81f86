package handlers

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/tracing"
	"github.com/caddy-antom/caddy-antom/outbox"
)

func init() {
	caddy.RegisterModule(Webhook{})
}

const (
	defaultSyncTimeout = 3 * time.Second
	maxSyncTimeout     = 20 * time.Second
	defaultMaxAge      = 72 * time.Hour
	// The largest notifications the SDKs model (a payment result with promotions, quotes, acquirer
	// and customs details; a dispute with its amounts) are a few KiB: 64 KiB leaves a tenfold margin.
	defaultMaxBody     = 64 << 10
	defaultReadTimeout = 10 * time.Second
	// Antom retries for about 24 h after the first attempt, possibly with the original
	// request-time; the default window covers that three times over, the minimum with an hour
	// to spare.
	defaultMaxRequestAge = 72 * time.Hour
	minMaxRequestAge     = 25 * time.Hour
	// maxClockSkew is how far in the future a request-time may be (clocks disagree a little).
	maxClockSkew = 5 * time.Minute
)

// DedupRetainer is the part of the antom app that antom_webhook needs besides App.
type DedupRetainer interface {
	// DedupRetention is how long a notification's identity is kept after its final state: a
	// repeat within it is recognised as a duplicate.
	DedupRetention() time.Duration
}

// Webhook terminates Antom's notifications at the public notify URL: it verifies Antom's
// signature, stores the notification durably, acknowledges it to Antom with the exact ack Antom
// expects, and forwards it to the merchant's app, signed per Standard Webhooks or in Antom's own
// format, and retried until the app accepts it.
type Webhook struct {
	// Profile is the merchant profile whose client id and Antom public keys apply. Default: default.
	Profile string `json:"profile,omitempty"`

	// Forward is the URL of the app endpoint that receives verified events. Required.
	Forward string `json:"forward,omitempty"`

	// ForwardFormat is how events reach Forward: "standard_webhooks" (the default) signs them per
	// Standard Webhooks with ForwardSecret; "antom" sends what Antom itself would send (the exact
	// body, Antom's Content-Type, client-id, request-time and signature headers), so an app's
	// existing Antom notify handler takes them unchanged, and counts a delivery only when the
	// app answers 2xx with Antom's success ack (result.resultStatus S); any other answer is
	// retried, its resultCode and resultMessage in the event's history. The signature is
	// Caddy's own with ForwardKey, or else Antom's own, passed through (see ForwardKey).
	ForwardFormat string `json:"forward_format,omitempty"`

	// ForwardKey, in the antom format, is the RSA private key Caddy signs each delivery with,
	// the way Antom signs a notification (over the Forward URL's path, a fresh request-time and
	// the body, with the profile's client id): the app verifies with its public half in place
	// of Antom's public key. PKCS#8 or PKCS#1, PEM or one-line base64 (`caddy antom keygen`
	// makes one); accepts `{env.*}` and `{file.*}`. Without it Antom's own request-time and
	// signature are passed through unchanged, so the app keeps Antom's public key; Antom's
	// signature covers the path Antom posted to, so that mode needs NotifyPath and a Forward
	// URL with the same path (and query). Inquiry results (reconcile) were never signed by
	// Antom as notifications and can only be delivered with ForwardKey.
	ForwardKey string `json:"forward_key,omitempty"`

	// ForwardKeyVersion is the keyVersion of ForwardKey in the signature header. Default: 1.
	ForwardKeyVersion string `json:"forward_key_version,omitempty"`

	// ForwardSecret signs forwarded events per Standard Webhooks: `whsec_` followed by base64
	// (generate one with `caddy antom secret`). Accepts `{env.*}` and `{file.*}`. Required in
	// the standard_webhooks format, unless ForwardSecrets gives the secrets; optional in the
	// antom format, where it adds the Standard Webhooks headers to Antom's.
	ForwardSecret string `json:"forward_secret,omitempty"`

	// ForwardSecrets are more secrets, for rotation: every delivery carries one signature per
	// secret (ForwardSecret's first), space-separated as Standard Webhooks allows, so the app
	// can switch to a new secret at its own pace and the old one is dropped afterwards. In the
	// Caddyfile, forward_secret given again.
	ForwardSecrets []string `json:"forward_secrets,omitempty"`

	// SyncTimeout is how long Antom's answer waits for the first delivery attempt; the event is
	// stored either way and later attempts run in the background. A slower first attempt is not
	// cut short: the event is stored pending and Antom answered, the attempt goes on (within the
	// forward's 30 s timeout), its outcome is recorded, and no other attempt starts meanwhile.
	// Default: 3s.
	SyncTimeout caddy.Duration `json:"sync_timeout,omitempty"`

	// MaxBody is the largest notification accepted, in bytes (413 above). Default: 64 KiB, ten
	// times the largest notification Antom's SDKs model.
	MaxBody int64 `json:"max_body,omitempty"`

	// ReadTimeout is how long the body of a notification may take to arrive once its headers
	// passed the cheap checks; a slower client gets 408 and its memory back. Default: 10s.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// MaxRequestAge is how old a notification's request-time may be (a signed notification
	// captured and replayed later is refused with 401 stale_request_time). It must cover
	// Antom's retries (about 24 h; at least 25h) and, with the 5 minutes a request-time may be
	// in the future, fit in the antom app's retention, so every replay inside the window is
	// still recognised as a duplicate. Default: 72h.
	MaxRequestAge caddy.Duration `json:"max_request_age,omitempty"`

	// MaxAge is how long delivery to the app is retried before the event is dead-lettered (it can
	// be replayed from the admin API). Default: 72h.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// MaxInFlight is how many deliveries to Forward may run at once, the synchronous first
	// attempts included; when all are busy a notification is still stored and acknowledged at
	// once, and delivered when one frees. Default: 4, one less than a stock PHP-FPM pool's 5
	// workers (pm.max_children), so a backlog drain leaves one for the shop's pages.
	MaxInFlight int `json:"max_in_flight,omitempty"`

	// Rate bounds deliveries to Forward, on every path: "<n>/s" or "<n>/m", spaced evenly (a
	// token bucket of one). A Retry-After from the app still wins. Default: none beyond
	// MaxInFlight.
	Rate string `json:"rate,omitempty"`

	// Ordering is "off" to let the events of one payment (keyed by paymentId: payment result,
	// capture, refund, dispute) overtake each other. By default each reaches the app only after
	// the ones received before it were delivered or went dead, so a REFUND_RESULT never arrives
	// before the PAYMENT_RESULT it depends on, also across retries and restarts.
	Ordering string `json:"ordering,omitempty"`

	// NotifyPath is the path (and query, if any) Antom signed, for when a rewrite or strip_prefix
	// changed the request before it reached this handler. Default: the request URI as received.
	// Required by ForwardFormat antom without ForwardKey, whose Forward URL must have this path.
	NotifyPath string `json:"notify_path,omitempty"`

	app    App
	client *antom.Client
	route  delivery.Route
	log    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Webhook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.antom_webhook",
		New: func() caddy.Module { return new(Webhook) },
	}
}

// Provision looks up the profile and registers the forward route with the antom app.
func (h *Webhook) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	registerHandlerMetrics(ctx.GetMetricsRegistry(), h.log)
	if h.Profile == "" {
		h.Profile = "default"
	}
	if h.SyncTimeout <= 0 {
		h.SyncTimeout = caddy.Duration(defaultSyncTimeout)
	}
	if h.MaxBody <= 0 {
		h.MaxBody = defaultMaxBody
	}
	if h.MaxAge <= 0 {
		h.MaxAge = caddy.Duration(defaultMaxAge)
	}
	if h.ReadTimeout <= 0 {
		h.ReadTimeout = caddy.Duration(defaultReadTimeout)
	}
	if h.MaxRequestAge <= 0 {
		h.MaxRequestAge = caddy.Duration(defaultMaxRequestAge)
	}
	if h.MaxBody > maxBodyMemory {
		return fmt.Errorf("antom_webhook: max_body %d is larger than the %d bytes all notifications being read may hold together; Antom's notifications are a few KiB", h.MaxBody, maxBodyMemory)
	}
	// The background workers leave a new event alone for outbox.DefaultGrace while the first
	// attempt runs; a longer wait would also keep Antom waiting past its own timeout.
	if time.Duration(h.SyncTimeout) > maxSyncTimeout {
		return fmt.Errorf("antom_webhook: sync_timeout %s is too long; at most %s (Antom waits only seconds for its ack, and slower deliveries continue in the background anyway)",
			time.Duration(h.SyncTimeout), maxSyncTimeout)
	}

	forward, err := url.Parse(h.Forward)
	if h.Forward == "" || err != nil || (forward.Scheme != "http" && forward.Scheme != "https") || forward.Host == "" {
		return fmt.Errorf("antom_webhook: forward must be the absolute http(s) URL of the app endpoint that receives events, e.g. http://127.0.0.1:8080/antom-events")
	}
	if h.ForwardFormat == "" {
		h.ForwardFormat = delivery.FormatStandardWebhooks
	}
	if h.ForwardFormat != delivery.FormatStandardWebhooks && h.ForwardFormat != delivery.FormatAntom {
		return fmt.Errorf("antom_webhook: forward_format must be standard_webhooks or antom, not %q", h.ForwardFormat)
	}
	secrets, err := h.parseSecrets()
	if err != nil {
		return err
	}
	forwardKey, err := h.parseForwardKey()
	if err != nil {
		return err
	}
	if h.MaxInFlight < 0 {
		return fmt.Errorf("antom_webhook: max_in_flight %d must be at least 1 (how many deliveries the app may get at once)", h.MaxInFlight)
	}
	if h.Ordering != "" && h.Ordering != "on" && h.Ordering != "off" {
		return fmt.Errorf("antom_webhook: ordering must be on or off, not %q", h.Ordering)
	}
	perSecond, err := ParseRate(h.Rate)
	if err != nil {
		return fmt.Errorf("antom_webhook: %v", err)
	}

	if h.app, err = loadApp(ctx); err != nil {
		return err
	}
	retainer, ok := h.app.(DedupRetainer)
	if !ok {
		return fmt.Errorf("antom_webhook: the antom app does not say how long it keeps events (%T)", h.app)
	}
	window, retention := time.Duration(h.MaxRequestAge), retainer.DedupRetention()
	if window < minMaxRequestAge {
		return fmt.Errorf("antom_webhook: max_request_age %s is too short: Antom retries a notification for about 24 h, possibly with its first request-time, so at least %s", window, minMaxRequestAge)
	}
	if window+maxClockSkew > retention {
		return fmt.Errorf("antom_webhook: max_request_age %s (plus %s of clock skew) is longer than the antom app's retention %s: a replay older than retention would no longer be recognised as a duplicate; lower max_request_age or raise retention",
			window, maxClockSkew, retention)
	}
	if h.client, err = h.app.Client(h.Profile); err != nil {
		return fmt.Errorf("antom_webhook: %v", err)
	}
	var signer *antom.Signer
	if forwardKey != nil {
		signer = &antom.Signer{ClientID: h.client.Signer.ClientID, KeyVersion: h.ForwardKeyVersion, Key: forwardKey}
	}
	h.route = delivery.Route{
		ID:          delivery.RouteID(h.Profile, h.Forward),
		Profile:     h.Profile,
		URL:         h.Forward,
		Secrets:     secrets,
		Format:      h.ForwardFormat,
		AntomSigner: signer,
		MaxAge:      time.Duration(h.MaxAge),
		MaxInFlight: h.MaxInFlight,
		Rate:        perSecond,
		Unordered:   h.Ordering == "off",
	}
	h.app.RegisterRoute(h.route)
	return nil
}

// ParseRate reads a rate such as 50/s or 600/m into events per second; "" is no limit (0).
func ParseRate(text string) (float64, error) {
	if text == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(text, "/")
	n, err := strconv.ParseFloat(num, 64)
	per := map[string]float64{"s": 1, "m": 60}[unit]
	if err != nil || n <= 0 || math.IsInf(n, 0) || per == 0 {
		return 0, fmt.Errorf("rate '%s' is not a positive number of deliveries per second or minute, such as 50/s or 600/m", text)
	}
	return n / per, nil
}

// parseSecrets resolves and parses forward_secret and forward_secrets, in that order.
func (h *Webhook) parseSecrets() ([]delivery.Secret, error) {
	texts := h.ForwardSecrets
	if h.ForwardSecret != "" {
		texts = append([]string{h.ForwardSecret}, texts...)
	}
	if len(texts) == 0 && h.ForwardFormat == delivery.FormatAntom {
		return nil, nil
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("antom_webhook: forward_secret is required so the app can trust forwarded events; generate one with `caddy antom secret` and pass it as {env.ANTOM_FORWARD_SECRET}")
	}
	repl := caddy.NewReplacer()
	secrets := make([]delivery.Secret, len(texts))
	for i, text := range texts {
		// Numbered only when there are several, so the message finds the right one.
		which := "forward_secret"
		if len(texts) > 1 {
			which = fmt.Sprintf("forward_secret #%d of %d", i+1, len(texts))
		}
		resolved, err := repl.ReplaceOrErr(text, true, true)
		if err != nil {
			return nil, fmt.Errorf("antom_webhook: %s: %v (check that the environment variable or file exists and is not empty)", which, err)
		}
		if secrets[i], err = delivery.ParseSecret(resolved); err != nil {
			return nil, fmt.Errorf("antom_webhook: %s: %v", which, err)
		}
	}
	return secrets, nil
}

// parseForwardKey checks the antom format's options: it resolves and parses forward_key (nil
// without one), or, without it, checks that Antom's signature passed through can verify at
// forward. Errors never contain the key.
func (h *Webhook) parseForwardKey() (*rsa.PrivateKey, error) {
	if h.ForwardFormat != delivery.FormatAntom {
		if h.ForwardKey != "" || h.ForwardKeyVersion != "" {
			return nil, fmt.Errorf("antom_webhook: forward_key and forward_key_version sign deliveries in Antom's format; add forward_format antom, or remove them")
		}
		return nil, nil
	}
	if h.ForwardKey == "" {
		if h.ForwardKeyVersion != "" {
			return nil, fmt.Errorf("antom_webhook: forward_key_version is given without forward_key; add forward_key, or remove forward_key_version to pass Antom's own signature through")
		}
		return nil, h.checkPassThroughPath()
	}
	if h.ForwardKeyVersion == "" {
		h.ForwardKeyVersion = "1"
	}
	resolved, err := caddy.NewReplacer().ReplaceOrErr(h.ForwardKey, true, true)
	if err != nil {
		return nil, fmt.Errorf("antom_webhook: forward_key: %v (check that the environment variable or file exists and is not empty)", err)
	}
	key, err := antom.ParsePrivateKey(resolved)
	if err != nil {
		return nil, fmt.Errorf("antom_webhook: forward_key: %v", err)
	}
	return key, nil
}

// checkPassThroughPath refuses a pass-through forward whose path is not the one Antom signs:
// the app would verify Antom's signature over another path and refuse every delivery.
func (h *Webhook) checkPassThroughPath() error {
	path, err := delivery.SignedPath(h.Forward)
	if err != nil {
		return fmt.Errorf("antom_webhook: forward: %v", err)
	}
	if h.NotifyPath == "" {
		return fmt.Errorf("antom_webhook: forward_format antom without forward_key passes Antom's own signature through, which covers the path Antom posts to; "+
			"set notify_path to that path (your notify URL's path, e.g. %s) so Caddy can check that the forward URL has it too, or add forward_key to sign deliveries with a key of your own", path)
	}
	if path != h.NotifyPath {
		return fmt.Errorf("antom_webhook: forward_format antom without forward_key passes Antom's own signature through, but Antom signed the path %s (notify_path) and the forward URL's path is %s: "+
			"the app would verify the signature over %s and refuse every notification; forward to a URL whose path is %s, or add forward_key to sign deliveries with a key of your own",
			h.NotifyPath, path, path, h.NotifyPath)
	}
	return nil
}

// ServeHTTP receives one notification. What costs nothing is checked before the body is read
// (method, client-id, the Signature header, request-time), and the body is read within
// read_timeout into memory reserved from a budget shared by all notifications being read (also
// after such a refusal, under the same limits, only for the ids it claims: see reject). A
// refusal that leaves the body unread closes the connection (closeIfUnread).
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	watchBody(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Antom notifications are POSTed; got "+r.Method, "", nil)
		return nil
	}
	clientID := r.Header.Get("Client-Id")
	if clientID != h.client.Signer.ClientID {
		h.reject(w, r, http.StatusUnauthorized, "client_id_mismatch",
			fmt.Sprintf("client-id %q is not the client id of antom profile %q", clientID, h.Profile), "", h.claimedBody(w, r))
		return nil
	}
	keyVersion, err := h.client.AntomKeys.CheckHeader(r.Header.Get("Signature"))
	if err != nil {
		h.rejectSignature(w, r, err, h.claimedBody(w, r))
		return nil
	}
	requestTime := r.Header.Get("Request-Time")
	if reason, msg := h.checkRequestTime(requestTime, time.Now()); reason != "" {
		h.reject(w, r, http.StatusUnauthorized, reason, msg, keyVersion, h.claimedBody(w, r))
		return nil
	}

	body, status, reason, msg := h.readBody(w, r)
	if reason != "" {
		h.reject(w, r, status, reason, msg, keyVersion, nil)
		return nil
	}
	_, span := tracing.Start(r.Context(), "antom.verify")
	_, err = h.client.AntomKeys.Verify(http.MethodPost, h.signedPath(r), clientID, requestTime, body, r.Header.Get("Signature"))
	span.End()
	if err != nil {
		if !h.app.AdmitUnverified() {
			body = nil
		}
		h.rejectSignature(w, r, err, body)
		return nil
	}

	n, err := antom.ParseNotification(body)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "not_json", "the signed notification is not JSON: "+err.Error(), keyVersion, nil)
		return nil
	}
	ev := &outbox.Event{
		ID:             outbox.EventID(h.Profile, n.DedupKey),
		Profile:        h.Profile,
		Route:          h.route.ID,
		Source:         outbox.SourceNotification,
		Kind:           n.Kind,
		Type:           n.Type,
		ResultStatus:   n.ResultStatus,
		RequestIDField: n.RequestIDField,
		RequestID:      n.RequestID,
		SubscriptionID: n.SubscriptionID,
		DedupKey:       n.DedupKey,
		OrderKey:       h.route.OrderKey(n.PaymentID),
		Body:           body,
		Signed: &outbox.AntomSignature{
			ClientID:    clientID,
			RequestTime: requestTime,
			Signature:   r.Header.Get("Signature"),
			Path:        h.signedPath(r),
		},
		ReceivedAt:  time.Now(),
		TraceParent: tracing.Parent(r.Context()),
	}
	// The store decides, in the transaction that stores the event, whether its first attempt
	// may go now (see outbox.EventStore's AddDelivering); an event that waits for its payment's
	// earlier one or a paused forward is not delivered here.
	emitted := false
	deliver := func() {
		emitted = true
		h.app.Emit("antom.notification_verified", ev.Summary())
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.SyncTimeout))
		defer cancel()
		h.app.DeliverNow(ctx, ev)
	}
	storeCtx, span := tracing.Start(r.Context(), "antom.store")
	var added bool
	if h.app.ForwardFull(ev.Route) {
		// Its first attempt could not start now: stored due at once, unclaimed, for the
		// background deliveries, rather than claimed for an attempt that is then handed back.
		ev.NextAttempt = ev.ReceivedAt
		if added, err = h.app.Store().Add(storeCtx, ev); added {
			h.app.Kick()
		}
	} else {
		added, err = h.app.Store().AddDelivering(storeCtx, ev, deliver)
	}
	span.End()
	if err != nil {
		// Not acknowledged, so Antom retries: nothing is lost.
		h.log.Error("storing a verified notification failed; answering 503 so Antom retries",
			zap.String("webhook_id", ev.ID), zap.Error(err))
		countNotification("storage_error")
		writeResult(w, http.StatusServiceUnavailable, "STORAGE_UNAVAILABLE", "U", "the notification could not be stored; retry later")
		return nil
	}

	fields := []zap.Field{zap.String("webhook_id", ev.ID), zap.String("profile", h.Profile), zap.String("type", ev.Type)}
	if ev.RequestIDField != "" {
		fields = append(fields, zap.String(ev.RequestIDField, ev.RequestID))
	}
	if added && !emitted {
		h.app.Emit("antom.notification_verified", ev.Summary())
	}
	if !added {
		countNotification("duplicate")
		h.log.Info("duplicate notification acknowledged, not delivered again", fields...)
		act, _ := newActivity(outbox.ActivityDuplicate, ev.ReceivedAt, body)
		act.Profile, act.Result, act.Detail = h.Profile, ev.ResultStatus, "duplicate of "+ev.ID
		h.app.RecordActivity(act)
	} else {
		countNotification("accepted")
		h.log.Info("notification verified and stored", fields...)
	}

	// The ack is not signed (Antom's docs: it needs none); the two headers are those of their example.
	w.Header().Set("Content-Type", "application/json")
	w.Header()["response-time"] = []string{time.Now().Format("2006-01-02T15:04:05-07:00")}
	w.Header()["client-id"] = []string{h.client.Signer.ClientID}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(antom.AckBody)
	return nil
}

// checkRequestTime refuses a request-time that is unreadable, older than max_request_age or
// more than maxClockSkew ahead of now; it returns a reason and message, or "" when it is fresh.
func (h *Webhook) checkRequestTime(v string, now time.Time) (reason, msg string) {
	t, err := antom.ParseRequestTime(v)
	if err != nil {
		return "malformed_request_time", err.Error()
	}
	switch age := now.Sub(t); {
	case age > time.Duration(h.MaxRequestAge):
		return "stale_request_time", fmt.Sprintf("request-time %s is %s old, more than max_request_age %s: a replay, or a clock far off",
			v, age.Round(time.Second), time.Duration(h.MaxRequestAge))
	case -age > maxClockSkew:
		return "stale_request_time", fmt.Sprintf("request-time %s is %s in the future, more than the %s of clock skew allowed",
			v, (-age).Round(time.Second), maxClockSkew)
	}
	return "", ""
}

// readBody reads the notification body with a deadline, into memory reserved from bodyMemory.
// On failure it returns the status, reason and message to reject with.
func (h *Webhook) readBody(w http.ResponseWriter, r *http.Request) (body []byte, status int, reason, msg string) {
	size := h.MaxBody
	if r.ContentLength > h.MaxBody {
		return nil, http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("notification of %d bytes is larger than max_body (%d bytes); raise max_body if Antom really sends this much", r.ContentLength, h.MaxBody)
	}
	if r.ContentLength >= 0 {
		size = r.ContentLength
	}
	if !bodyMemory.acquire(size) {
		return nil, http.StatusServiceUnavailable, "busy",
			fmt.Sprintf("%d bytes of notification bodies are being read already; retry later", maxBodyMemory)
	}
	defer bodyMemory.release(size)
	buf := bytes.NewBuffer(make([]byte, 0, size+1)) // +1: reading EOF must not grow it
	if err := readWithin(w, r, buf, size, time.Duration(h.ReadTimeout), h.log); err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			return nil, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("notification larger than max_body (%d bytes); raise max_body if Antom really sends this much", h.MaxBody)
		case errors.As(err, &netErr) && netErr.Timeout():
			return nil, http.StatusRequestTimeout, "body_timeout",
				fmt.Sprintf("the body did not arrive within read_timeout (%s)", time.Duration(h.ReadTimeout))
		}
		return nil, http.StatusBadRequest, "body_unreadable", "reading the notification: " + err.Error()
	}
	return buf.Bytes(), 0, "", ""
}

// signedPath is the path Antom signed: the request URI as Antom sent it, before any rewrite.
func (h *Webhook) signedPath(r *http.Request) string {
	if h.NotifyPath != "" {
		return h.NotifyPath
	}
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.RequestURI != "" {
		return orig.RequestURI
	}
	return r.RequestURI
}

// rejectSignature rejects with the reason of a *antom.VerifyError.
func (h *Webhook) rejectSignature(w http.ResponseWriter, r *http.Request, err error, body []byte) {
	reason, keyVersion := "bad_signature", ""
	var verr *antom.VerifyError
	if errors.As(err, &verr) {
		reason, keyVersion = verr.Reason, verr.KeyVersion
	}
	h.reject(w, r, http.StatusUnauthorized, reason, err.Error(), keyVersion, body)
}

// claimedBody reads the body of a notification rejected on its headers, for the ids it claims
// (see reject), within the limits of every notification body; nil if it cannot be read or no
// record of it is admitted now.
func (h *Webhook) claimedBody(w http.ResponseWriter, r *http.Request) []byte {
	if !h.app.AdmitUnverified() {
		return nil
	}
	body, _, reason, _ := h.readBody(w, r)
	if reason != "" {
		return nil
	}
	return body
}

// reject answers a notification that was not accepted with a non-SUCCESS result, so Antom
// retries it, and says why in the log, the metrics and a Caddy event. If its body (nil: not
// read) claims ids, the rejection goes into those payments' timelines with the ids marked
// unverified, the reason and the sender's address; never the body.
func (h *Webhook) reject(w http.ResponseWriter, r *http.Request, status int, reason, message, keyVersion string, body []byte) {
	countNotification("rejected_" + reason)
	h.log.Warn("notification rejected",
		zap.String("reason", reason),
		zap.String("detail", message),
		zap.String("key_version", keyVersion),
		zap.String("remote_ip", r.RemoteAddr),
		zap.String("uri", r.RequestURI))
	h.app.Emit("antom.notification_rejected", map[string]any{"profile": h.Profile, "reason": reason, "key_version": keyVersion})
	if body != nil {
		act, _ := newActivity(outbox.ActivityRejected, time.Now(), body)
		act.Profile, act.Unverified, act.Status, act.Result, act.Remote = h.Profile, true, status, reason, remoteIP(r.RemoteAddr)
		act.Detail = truncateDetail(message)
		h.app.RecordActivity(act)
	}
	closeIfUnread(w, r, h.log)
	writeResult(w, status, "NOTIFICATION_REJECTED", "F", reason+": "+message)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Webhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*Webhook)(nil)
)
