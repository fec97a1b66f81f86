package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
)

func init() {
	caddy.RegisterModule(API{})
}

const defaultAPITimeout = 15 * time.Second

// defaultAllow is the set of APIs antom_api proxies when `allow` is not given: the core payment
// APIs a shop needs.
var defaultAllow = []string{"consult", "pay", "createPaymentSession", "inquiryPayment", "cancel", "capture", "refund", "inquiryRefund"}

// API is a signing proxy: the app POSTs plain JSON to a path ending in /v1/<group>/<api>, and
// Caddy signs it with the merchant's private key, calls Antom, verifies Antom's signed answer and
// returns it byte-identical. The private key never leaves Caddy.
//
// It signs whatever it receives, so it only answers clients on loopback or private addresses;
// bind it to a loopback listener (see the README).
type API struct {
	// Profile is the merchant profile that signs the calls. Default: default.
	Profile string `json:"profile,omitempty"`

	// Allow lists the APIs the app may call, by name (`refund`) or as `<group>/<api>`
	// (`payments/refund`). Default: consult pay createPaymentSession inquiryPayment cancel capture
	// refund inquiryRefund.
	Allow []string `json:"allow,omitempty"`

	// NotifyURL is filled into paymentNotifyUrl (pay, createPaymentSession) and refundNotifyUrl
	// (refund) when the app leaves it out, so the app need not know its public notify URL.
	NotifyURL string `json:"notify_url,omitempty"`

	// Timeout bounds one call to Antom. Default: 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxBody is the largest request accepted from the app, in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	app    App
	client *antom.Client
	log    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.antom_api",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision looks up the profile, which must hold a private key.
func (h *API) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	registerHandlerMetrics(ctx.GetMetricsRegistry(), h.log)
	if h.Profile == "" {
		h.Profile = "default"
	}
	if len(h.Allow) == 0 {
		h.Allow = defaultAllow
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(defaultAPITimeout)
	}
	if h.MaxBody <= 0 {
		h.MaxBody = defaultMaxBody
	}
	var err error
	if h.app, err = loadApp(ctx); err != nil {
		return err
	}
	if h.client, err = h.app.Client(h.Profile); err != nil {
		return fmt.Errorf("antom_api: %v", err)
	}
	if h.client.Signer.Key == nil {
		return fmt.Errorf("antom_api: antom profile %q has no private_key; antom_api signs requests with it", h.Profile)
	}
	return nil
}

// ServeHTTP proxies one API call.
func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	fail := func(status int, code, resultStatus, message string) error {
		h.log.Warn("API call refused", zap.String("code", code), zap.String("detail", message), zap.String("uri", r.RequestURI))
		apiCallsTotal.WithLabelValues("refused", code).Inc()
		writeResult(w, status, code, resultStatus, message)
		return nil
	}

	if !privateClient(r.RemoteAddr) {
		return fail(http.StatusForbidden, "CLIENT_NOT_ALLOWED", "F",
			"antom_api only answers clients on loopback or private addresses: it signs whatever it receives. Bind it to a loopback listener")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "F", "Antom APIs are called with POST")
	}
	call, err := parseAPIPath(r.URL.Path)
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

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "F", fmt.Sprintf("request larger than max_body (%d bytes)", h.MaxBody))
		}
		return fail(http.StatusBadRequest, "BODY_UNREADABLE", "F", "reading the request: "+err.Error())
	}
	if body, err = fillNotifyURL(call.name, body, h.NotifyURL); err != nil {
		return fail(http.StatusBadRequest, "INVALID_JSON", "F", "the request body must be a JSON object: "+err.Error())
	}
	if ce := h.log.Check(zap.DebugLevel, "calling Antom"); ce != nil {
		ce.Write(zap.String("api", call.api), zap.ByteString("body", redact(body)))
	}

	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
	defer cancel()
	resp, err := h.client.Call(ctx, call.api, body)
	if err != nil {
		var cerr *antom.CallError
		if !errors.As(err, &cerr) {
			cerr = &antom.CallError{Kind: antom.Unknown, Err: err}
		}
		result := cerr.ProxyResult()
		h.log.Error("Antom call failed", zap.String("api", call.api), zap.String("kind", cerr.Kind.String()), zap.Error(err))
		observeAPICall(call.name, "proxy_"+strings.ToLower(cerr.Kind.String()), time.Since(start), time.Since(start))
		writeResult(w, cerr.ProxyStatus(), result.ResultCode, result.ResultStatus, result.ResultMessage)
		return nil
	}

	observeAPICall(call.name, resp.Result.ResultStatus, resp.AntomTime, time.Since(start))
	h.log.Info("Antom call",
		zap.String("api", call.api),
		zap.String("result_status", resp.Result.ResultStatus),
		zap.String("result_code", resp.Result.ResultCode),
		zap.Bool("signed", resp.Signed),
		zap.Duration("antom_time", resp.AntomTime))
	for _, name := range []string{"Content-Type", "Signature", "Response-Time", "Client-Id"} {
		if v := resp.Header.Get(name); v != "" {
			w.Header().Set(name, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(resp.Body)
	return nil
}

func envName(sandbox bool) string {
	if sandbox {
		return "sandbox"
	}
	return "production"
}

// privateClient reports whether the TCP peer is on loopback or a private network.
func privateClient(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
