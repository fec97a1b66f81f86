package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/outbox"
)

func init() {
	caddy.RegisterModule(Webhook{})
}

const (
	defaultSyncTimeout = 3 * time.Second
	defaultMaxBody     = 1 << 20
	defaultMaxAge      = 72 * time.Hour
	maxSyncTimeout     = 20 * time.Second
)

// Webhook terminates Antom's notifications at the public notify URL: it verifies Antom's
// signature, stores the notification durably, acknowledges it to Antom with the exact ack Antom
// expects, and forwards it to the merchant's app, signed per Standard Webhooks and retried until
// the app accepts it.
type Webhook struct {
	// Profile is the merchant profile whose client id and Antom public keys apply. Default: default.
	Profile string `json:"profile,omitempty"`

	// Forward is the URL of the app endpoint that receives verified events. Required.
	Forward string `json:"forward,omitempty"`

	// ForwardSecret signs forwarded events per Standard Webhooks: `whsec_` followed by base64
	// (generate one with `caddy antom secret`). Accepts `{env.*}` and `{file.*}`. Required.
	ForwardSecret string `json:"forward_secret,omitempty"`

	// SyncTimeout is how long the first delivery may take before Antom is answered; the event is
	// stored either way and later attempts run in the background. Default: 3s.
	SyncTimeout caddy.Duration `json:"sync_timeout,omitempty"`

	// MaxBody is the largest notification accepted, in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// MaxAge is how long delivery to the app is retried before the event is dead-lettered (it can
	// be replayed from the admin API). Default: 72h.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// NotifyPath is the path (and query, if any) Antom signed, for when a rewrite or strip_prefix
	// changed the request before it reached this handler. Default: the request URI as received.
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
	if h.ForwardSecret == "" {
		return fmt.Errorf("antom_webhook: forward_secret is required so the app can trust forwarded events; generate one with `caddy antom secret` and pass it as {env.ANTOM_FORWARD_SECRET}")
	}
	secretText, err := caddy.NewReplacer().ReplaceOrErr(h.ForwardSecret, true, true)
	if err != nil {
		return fmt.Errorf("antom_webhook: forward_secret: %v (check that the environment variable or file exists and is not empty)", err)
	}
	secret, err := delivery.ParseSecret(secretText)
	if err != nil {
		return fmt.Errorf("antom_webhook: forward_secret: %v", err)
	}

	if h.app, err = loadApp(ctx); err != nil {
		return err
	}
	if h.client, err = h.app.Client(h.Profile); err != nil {
		return fmt.Errorf("antom_webhook: %v", err)
	}
	h.route = delivery.Route{
		ID:      delivery.RouteID(h.Profile, h.Forward),
		Profile: h.Profile,
		URL:     h.Forward,
		Secret:  secret,
		MaxAge:  time.Duration(h.MaxAge),
	}
	h.app.RegisterRoute(h.route)
	return nil
}

// ServeHTTP receives one notification.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "Antom notifications are POSTed; got "+r.Method, "")
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("notification larger than max_body (%d bytes); raise max_body if Antom really sends this much", h.MaxBody), "")
			return nil
		}
		h.reject(w, r, http.StatusBadRequest, "body_unreadable", "reading the notification: "+err.Error(), "")
		return nil
	}

	clientID := r.Header.Get("Client-Id")
	if clientID != h.client.Signer.ClientID {
		h.reject(w, r, http.StatusUnauthorized, "client_id_mismatch",
			fmt.Sprintf("client-id %q is not the client id of antom profile %q", clientID, h.Profile), "")
		return nil
	}
	keyVersion, err := h.client.AntomKeys.Verify(http.MethodPost, h.signedPath(r), clientID, r.Header.Get("Request-Time"), body, r.Header.Get("Signature"))
	if err != nil {
		reason := "bad_signature"
		var verr *antom.VerifyError
		if errors.As(err, &verr) {
			reason, keyVersion = verr.Reason, verr.KeyVersion
		}
		h.reject(w, r, http.StatusUnauthorized, reason, err.Error(), keyVersion)
		return nil
	}

	n, err := antom.ParseNotification(body)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "not_json", "the signed notification is not JSON: "+err.Error(), keyVersion)
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
		DedupKey:       n.DedupKey,
		Body:           body,
		ReceivedAt:     time.Now(),
	}
	added, err := h.app.Store().Add(r.Context(), ev)
	if err != nil {
		// Not acknowledged, so Antom retries: nothing is lost.
		h.log.Error("storing a verified notification failed; answering 503 so Antom retries",
			zap.String("webhook_id", ev.ID), zap.Error(err))
		countNotification("storage_error")
		writeResult(w, http.StatusServiceUnavailable, "STORAGE_UNAVAILABLE", "U", "the notification could not be stored; retry later")
		return nil
	}

	fields := []zap.Field{zap.String("webhook_id", ev.ID), zap.String("profile", h.Profile),
		zap.String("type", ev.Type), zap.String(ev.RequestIDField, ev.RequestID)}
	if !added {
		countNotification("duplicate")
		h.log.Info("duplicate notification acknowledged, not delivered again", fields...)
	} else {
		countNotification("accepted")
		h.log.Info("notification verified and stored", fields...)
		h.app.Emit("antom.notification_verified", ev.Summary())
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.SyncTimeout))
		h.app.DeliverNow(ctx, ev)
		cancel()
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(antom.AckBody)
	return nil
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

// reject answers a notification that was not accepted with a non-SUCCESS result, so Antom
// retries it, and says why in the log, the metrics and a Caddy event.
func (h *Webhook) reject(w http.ResponseWriter, r *http.Request, status int, reason, message, keyVersion string) {
	countNotification("rejected_" + reason)
	h.log.Warn("notification rejected",
		zap.String("reason", reason),
		zap.String("detail", message),
		zap.String("key_version", keyVersion),
		zap.String("remote_ip", r.RemoteAddr),
		zap.String("uri", r.RequestURI))
	h.app.Emit("antom.notification_rejected", map[string]any{"profile": h.Profile, "reason": reason, "key_version": keyVersion})
	writeResult(w, status, "NOTIFICATION_REJECTED", "F", reason+": "+message)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Webhook)(nil)
	_ caddyhttp.MiddlewareHandler = (*Webhook)(nil)
)
