package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/internal/tracing"
	"github.com/caddy-antom/caddy-antom/outbox"
	"github.com/caddy-antom/caddy-antom/reconcile"
)

func init() {
	caddy.RegisterModule(API{})
}

const (
	defaultAPITimeout = 15 * time.Second
	// Requests from the app (a pay with order details and line items) are larger than
	// notifications; the app is trusted, so the limit only stops mistakes.
	defaultAPIMaxBody = 1 << 20
)

// defaultAllow is the set of APIs antom_api proxies when `allow` is not given: the core payment
// APIs a shop needs.
var defaultAllow = []string{"consult", "pay", "createPaymentSession", "inquiryPayment", "cancel", "capture", "refund", "inquiryRefund"}

// API is a signing proxy: the app POSTs plain JSON to a path ending in /v1/<group>/<api>, and
// Caddy signs it with the merchant's private key, calls Antom, verifies Antom's signed answer and
// returns it byte-identical. The private key never leaves Caddy.
//
// It signs whatever it receives, so it only answers loopback clients unless trusted_clients
// says otherwise; bind it to a loopback listener (see the README).
type API struct {
	// Profile is the merchant profile that signs the calls. Default: default.
	Profile string `json:"profile,omitempty"`

	// Allow lists the APIs the app may call, by name (`refund`) or as `<group>/<api>`
	// (`payments/refund`); names are letters and digits. Default: consult pay
	// createPaymentSession inquiryPayment cancel capture refund inquiryRefund.
	Allow []string `json:"allow,omitempty"`

	// TrustedClients lists the addresses (`10.1.2.3`, `::1`) and CIDR ranges (`10.0.0.0/8`)
	// of the clients this handler answers, judged by the TCP peer address, never by
	// X-Forwarded-For. Default: loopback only (127.0.0.0/8 and ::1). A list replaces the
	// default, so add 127.0.0.1 if loopback clients still call it. Every other client gets 403
	// CLIENT_NOT_ALLOWED. List only your app servers' networks: anyone who reaches antom_api
	// can make payments and refunds in your name, and public traffic often arrives from private
	// addresses (Docker's userland proxy, load balancers, Kubernetes ingress).
	TrustedClients []string `json:"trusted_clients,omitempty"`

	// NotifyURL is filled into paymentNotifyUrl (pay, createPaymentSession) and refundNotifyUrl
	// (refund) when the app leaves it out, so the app need not know its public notify URL.
	NotifyURL string `json:"notify_url,omitempty"`

	// Timeout bounds one call to Antom. Default: 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxBody is the largest request accepted from the app, in bytes (413 above). Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// ReadTimeout is how long the body of a request may take to arrive; a slower client gets
	// 408 BODY_TIMEOUT and its connection is closed. Default: 10s.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// Reconcile, when present, makes sure the app learns the result of every payment started
	// through this handler even if Antom's notification never arrives: each pay and
	// createPaymentSession Antom does not refuse (S, U, or no trusted answer such as a timeout)
	// is recorded in the antom app's storage, and if no final PAYMENT_RESULT notification has
	// arrived after a grace period, the app's background worker
	// calls inquiryPayment (2s, 4s, 8s, ... up to 5 minutes apart) until the payment is final
	// or expired, and delivers the result to the profile's antom_webhook forward URL exactly like
	// the missing notification (same body shape and webhook-id, header Antom-Event-Source:
	// inquiry). The profile needs exactly one antom_webhook. Absent: nothing is recorded.
	Reconcile *ReconcileConfig `json:"reconcile,omitempty"`

	app     App
	client  *antom.Client
	trusted []netip.Prefix // TrustedClients parsed; nil: loopback only
	log     *zap.Logger
}

// ReconcileConfig configures the reconciliation of payments started through antom_api.
type ReconcileConfig struct {
	// After is the grace period between the start of a payment and the first inquiry; a
	// notification that arrives within it makes the inquiry unnecessary. Default: 30s.
	After caddy.Duration `json:"after,omitempty"`

	// GiveUp is how long after its start a payment is inquired about at most. A payment
	// still without a final status then is logged as an error and left to a human; nothing
	// is delivered for it. Default: 24h.
	GiveUp caddy.Duration `json:"give_up,omitempty"`

	// CancelUnpaid calls cancel for a payment that is still unpaid (paymentStatus PROCESSING
	// in a signed answer) at its expiry: paymentExpiryTime or paymentSessionExpiryTime, or
	// Antom's default of 14 minutes for CASHIER_PAYMENT and 1 hour for EasySafePay sessions.
	// The app then receives a failed PAYMENT_RESULT. Payments whose status is unclear (U
	// answers, network errors) or that have no known expiry are never cancelled. Default: off,
	// because it changes payments at Antom.
	CancelUnpaid bool `json:"cancel_unpaid,omitempty"`
}

// config converts to the worker's settings, with defaults.
func (c *ReconcileConfig) config() reconcile.Config {
	return reconcile.Config{
		After:        time.Duration(c.After),
		GiveUp:       time.Duration(c.GiveUp),
		CancelUnpaid: c.CancelUnpaid,
	}.WithDefaults()
}

// ReconcileRegistrar is implemented by the antom app: antom_api handlers with `reconcile`
// register their profile's settings in Provision, and the app's worker (on the instance that
// holds the storage lock) inquires about the payments they record.
type ReconcileRegistrar interface {
	RegisterReconcile(profile string, cfg reconcile.Config)
}

// recordTimeout bounds the storage write that records a payment for reconciliation.
const recordTimeout = 5 * time.Second

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.antom_api",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision checks the settings and looks up the profile, which must hold a private key.
func (h *API) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	registerHandlerMetrics(ctx.GetMetricsRegistry(), h.log)
	if h.Profile == "" {
		h.Profile = "default"
	}
	if len(h.Allow) == 0 {
		h.Allow = defaultAllow
	}
	for _, a := range h.Allow {
		if !validAllowEntry(a) {
			return fmt.Errorf("antom_api: allow: %q is not an API; write its name (refund) or group and name (payments/refund), letters and digits only", a)
		}
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(defaultAPITimeout)
	}
	if h.MaxBody <= 0 {
		h.MaxBody = defaultAPIMaxBody
	}
	if h.ReadTimeout <= 0 {
		h.ReadTimeout = caddy.Duration(defaultReadTimeout)
	}
	var err error
	if h.trusted, err = parseTrustedClients(h.TrustedClients); err != nil {
		return fmt.Errorf("antom_api: %v", err)
	}
	if h.app, err = loadApp(ctx); err != nil {
		return err
	}
	if h.client, err = h.app.Client(h.Profile); err != nil {
		return fmt.Errorf("antom_api: %v", err)
	}
	if h.client.Signer.Key == nil {
		return fmt.Errorf("antom_api: antom profile %q has no private_key; antom_api signs requests with it", h.Profile)
	}
	if h.Reconcile != nil {
		cfg := h.Reconcile.config()
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("antom_api: %v", err)
		}
		reg, ok := h.app.(ReconcileRegistrar)
		if !ok {
			return fmt.Errorf("antom_api: reconcile: the antom app (%T) cannot reconcile payments", h.app)
		}
		reg.RegisterReconcile(h.Profile, cfg)
	}
	return nil
}

// ServeHTTP proxies one API call. A refusal that leaves the body unread closes the connection
// (closeIfUnread).
func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	watchBody(r)
	fail := func(status int, code, resultStatus, message string) error {
		h.log.Warn("API call refused", zap.String("code", code), zap.String("detail", message), zap.String("uri", r.RequestURI))
		apiCallsTotal.WithLabelValues("refused", code).Inc()
		closeIfUnread(w, r, h.log)
		writeResult(w, status, code, resultStatus, message)
		return nil
	}

	if !h.trustedClient(r.RemoteAddr) {
		return fail(http.StatusForbidden, "CLIENT_NOT_ALLOWED", "F", fmt.Sprintf(
			"client %s is not in antom_api's trusted_clients (default: loopback only): it signs whatever it receives. Call it over loopback, or list the app's address in trusted_clients", r.RemoteAddr))
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "F", "Antom APIs are called with POST")
	}
	call, err := parseAPIPath(r.URL)
	if err != nil {
		return fail(http.StatusNotFound, "API_NOT_FOUND", "F", err.Error())
	}
	if !call.allowedBy(h.Allow) {
		return fail(http.StatusForbidden, "API_NOT_ALLOWED", "F",
			fmt.Sprintf("%s is not in this antom_api's allow list", call.api))
	}
	if call.sandbox != nil && *call.sandbox != antom.IsSandbox(h.client.Signer.ClientID) {
		return fail(http.StatusBadRequest, "ENVIRONMENT_MISMATCH", "F",
			fmt.Sprintf("the app called a %s path, but antom profile %q is a %s client id; point the app at the matching profile", envName(*call.sandbox), h.Profile, envName(!*call.sandbox)))
	}
	if id := r.Header.Get("Client-Id"); id != "" && id != h.client.Signer.ClientID {
		return fail(http.StatusBadRequest, "CLIENT_ID_MISMATCH", "F",
			fmt.Sprintf("the app sent Client-Id %q but antom profile %q has another client id; point the app at the matching profile", id, h.Profile))
	}
	// An ISV app's Agent-Token names the merchant the call is for: never replace or drop it.
	if tok := r.Header.Get("Agent-Token"); tok != "" && tok != h.client.AgentToken {
		return fail(http.StatusBadRequest, "AGENT_TOKEN_MISMATCH", "F",
			fmt.Sprintf("the app sent an Agent-Token that is not the agent_token of antom profile %q, so the call would be made for another merchant; set that agent_token in the profile or point the app at the matching profile", h.Profile))
	}

	tooLarge := func() error {
		return fail(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "F", fmt.Sprintf("request larger than max_body (%d bytes)", h.MaxBody))
	}
	if r.ContentLength > h.MaxBody {
		return tooLarge()
	}
	var buf bytes.Buffer
	if err := readWithin(w, r, &buf, h.MaxBody, time.Duration(h.ReadTimeout), h.log); err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			return tooLarge()
		case errors.As(err, &netErr) && netErr.Timeout():
			return fail(http.StatusRequestTimeout, "BODY_TIMEOUT", "F", fmt.Sprintf("the request body did not arrive within read_timeout (%s)", time.Duration(h.ReadTimeout)))
		}
		return fail(http.StatusBadRequest, "BODY_UNREADABLE", "F", "reading the request: "+err.Error())
	}
	body := buf.Bytes()
	if body, err = fillNotifyURL(call.name, body, h.NotifyURL); err != nil {
		return fail(http.StatusBadRequest, "INVALID_JSON", "F", "the request body must be a JSON object: "+err.Error())
	}
	if ce := h.log.Check(zap.DebugLevel, "calling Antom"); ce != nil {
		ce.Write(zap.String("api", call.api), zap.ByteString("body", redact(body)))
	}

	ctx, span := tracing.Start(r.Context(), "antom.api_call")
	defer span.End()
	span.SetAttributes(attribute.String("antom.api", call.api), attribute.String("antom.profile", h.Profile))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.Timeout))
	defer cancel()
	resp, err := h.client.Call(ctx, call.api, body)
	if err != nil {
		var cerr *antom.CallError
		if !errors.As(err, &cerr) {
			cerr = &antom.CallError{Kind: antom.Unknown, Err: err}
		}
		result := cerr.ProxyResult()
		span.SetStatus(codes.Error, result.ResultCode)
		h.log.Error("Antom call failed", zap.String("api", call.api), zap.String("kind", cerr.Kind.String()), zap.Error(err))
		if h.Reconcile != nil && call.group == "payments" && cerr.Kind != antom.NotSent {
			h.record(ctx, call.name, body, nil) // it may have reached Antom: only an inquiry tells
		}
		observeAPICall(call.name, "proxy_"+strings.ToLower(cerr.Kind.String()), time.Since(start), time.Since(start))
		h.recordCall(call.api, start, cerr.ProxyStatus(), result, body, nil)
		writeResult(w, cerr.ProxyStatus(), result.ResultCode, result.ResultStatus, result.ResultMessage)
		return nil
	}

	observeAPICall(call.name, resp.Result.ResultStatus, resp.AntomTime, time.Since(start))
	span.SetAttributes(attribute.String("antom.result_status", resp.Result.ResultStatus), attribute.String("antom.result_code", resp.Result.ResultCode),
		attribute.Int("http.response.status_code", resp.StatusCode))
	h.log.Info("Antom call",
		zap.String("api", call.api),
		zap.String("result_status", resp.Result.ResultStatus),
		zap.String("result_code", resp.Result.ResultCode),
		zap.Bool("signed", resp.Signed),
		zap.Duration("antom_time", resp.AntomTime))
	if h.Reconcile != nil && call.group == "payments" {
		h.record(ctx, call.name, body, resp)
	}
	h.recordCall(call.api, start, resp.StatusCode, resp.Result, body, resp.Body)
	if v := resp.Header.Get("Content-Type"); v != "" {
		w.Header().Set("Content-Type", v)
	}
	// Antom's headers go back under the lower-case names the gateway uses, not Go's canonical
	// form: official SDKs look them up case-sensitively (Python fails the call without them, PHP
	// silently skips its verification).
	for _, name := range []string{"signature", "response-time", "client-id"} {
		if v := resp.Header.Get(name); v != "" {
			w.Header()[name] = []string{v}
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(resp.Body)
	return nil
}

// record stores the payment, refund or capture (reconcile.Records, with the trace of ctx,
// which its inquiries join) Antom did not refuse (resp nil: no trusted answer) so that its
// result is reconciled if the notification never arrives. A failure is logged and does not
// change the app's answer: the payment exists at Antom, or not, either way.
func (h *API) record(ctx context.Context, api string, body []byte, resp *antom.Response) {
	ps := reconcile.Records(h.Profile, api, body, resp, time.Now(), h.Reconcile.config())
	if len(ps) == 0 {
		return
	}
	parent := tracing.Parent(ctx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	for _, p := range ps {
		p.TraceParent = parent
		kind := reconcile.KindName(p)
		ids := []zap.Field{zap.String("kind", kind), zap.String("payment_request_id", p.PaymentRequestID),
			zap.String("payment_id", p.PaymentID), zap.String("refund_request_id", p.RefundRequestID), zap.String("capture_request_id", p.CaptureRequestID)}
		added, err := h.app.Store().AddPayment(ctx, p)
		if err != nil {
			h.log.Error("recording a "+kind+" for reconciliation failed; if its notification is lost, the app will not learn its result from Caddy",
				append(ids, zap.Error(err))...)
			continue
		}
		if added {
			h.log.Debug(kind+" recorded for reconciliation",
				append(ids, zap.Time("expires_at", p.ExpiresAt), zap.Time("first_inquiry", p.NextInquiry))...)
		}
	}
}

// recordCall puts the call into the timeline of the payment, refund or capture its request and
// answer name: ids, amount, status, result and latency, never a body.
func (h *API) recordCall(api string, start time.Time, status int, result antom.Result, req, answer []byte) {
	act, amount := newActivity(outbox.ActivityAPICall, start, req, answer)
	act.Profile, act.API, act.Status, act.Latency = h.Profile, api, status, time.Since(start)
	act.Result = strings.TrimSpace(result.ResultStatus + " " + result.ResultCode)
	if amount != "" {
		act.Detail = "amount " + amount
	}
	h.app.RecordActivity(act)
}

func envName(sandbox bool) string {
	if sandbox {
		return "sandbox"
	}
	return "production"
}

// trustedClient reports whether the TCP peer is in trusted_clients, or on loopback when that is
// not given.
func (h *API) trustedClient(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap().WithZone("")
	if h.trusted == nil {
		return ip.IsLoopback()
	}
	for _, p := range h.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseTrustedClients parses trusted_clients: addresses and CIDR ranges, none of which may
// admit every address.
func parseTrustedClients(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, ipErr := netip.ParseAddr(s)
			if ipErr != nil || ip.Zone() != "" {
				return nil, fmt.Errorf("trusted_clients: %q is not an IP address or CIDR range such as 10.1.2.3 or 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("trusted_clients: %q admits every address, but anyone who reaches antom_api can make payments in your name; list only your app servers' networks", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // clients are compared unmapped
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
