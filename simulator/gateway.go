package simulator

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Gateway path prefixes. Sandbox client ids (SANDBOX_...) must use the sandbox one and every
// other client id the production one: the SDKs sign the rewritten path.
const (
	prodPrefix    = "/ams/api/"
	sandboxPrefix = "/ams/sandbox/api/"
)

// maxRequestBytes bounds a request body; Antom requests are a few KiB.
const maxRequestBytes = 1 << 20

// call is one verified API request.
type call struct {
	ctx      context.Context
	clientID string
	body     []byte
	base     string // base URL for cashier links
	now      time.Time
}

// reply is what an API returns: a body to sign and send, and the magic that applies to it.
type reply struct {
	body  any
	magic magic
	// first is true when this request id was processed by this call (not a replay); once-only
	// magic applies to first answers.
	first bool
}

func answer(v any) reply { return reply{body: v} }

// apiFunc serves one API. It runs with s.mu unlocked.
type apiFunc func(s *Simulator, c *call) reply

// apis are the APIs the simulator implements, by path after the gateway prefix.
var apis = map[string]apiFunc{
	"v1/payments/consult":              (*Simulator).consult,
	"v1/payments/pay":                  (*Simulator).pay,
	"v1/payments/createPaymentSession": (*Simulator).createPaymentSession,
	"v1/payments/inquiryPayment":       (*Simulator).inquiryPayment,
	"v1/payments/cancel":               (*Simulator).cancelPayment,
	"v1/payments/capture":              (*Simulator).capture,
	"v1/payments/refund":               (*Simulator).refund,
	"v1/payments/inquiryRefund":        (*Simulator).inquiryRefund,
	"v1/authorizations/applyToken":     (*Simulator).applyToken,
}

// serveGateway answers /ams/api/... and /ams/sandbox/api/...: authenticate, dispatch, sign.
func (s *Simulator) serveGateway(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the Antom gateway only accepts POST", http.StatusMethodNotAllowed)
		return
	}
	api, sandbox := strings.CutPrefix(r.URL.Path, sandboxPrefix)
	if !sandbox {
		api = strings.TrimPrefix(r.URL.Path, prodPrefix)
	}
	fn := apis[api]
	if fn == nil {
		s.unsigned(w, fail("NO_INTERFACE_DEF", fmt.Sprintf("API is not defined: the simulator implements %s", implementedAPIs())))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		s.unsigned(w, antom.Result{ResultCode: "UNKNOWN_EXCEPTION", ResultStatus: "U", ResultMessage: "reading the request body: " + err.Error()})
		return
	}
	if len(body) > maxRequestBytes {
		s.unsigned(w, fail("PARAM_ILLEGAL", "the request body is larger than 1 MiB"))
		return
	}
	clientID := r.Header.Get("Client-Id")
	if res, ok := s.authenticate(r, path, clientID, sandbox, body); !ok {
		s.log.Info("antom simulator: request refused",
			zap.String("path", path), zap.String("client_id", clientID), zap.String("result_code", res.ResultCode), zap.String("why", res.ResultMessage))
		s.unsigned(w, res)
		return
	}
	c := &call{ctx: r.Context(), clientID: clientID, body: body, base: s.baseFor(r), now: s.now()}
	rep := fn(s, c)
	s.respond(w, path, c, rep)
}

func implementedAPIs() string {
	return "v1/payments/{consult,pay,createPaymentSession,inquiryPayment,cancel,capture,refund,inquiryRefund} and v1/authorizations/applyToken"
}

// authenticate checks the headers and the request signature the way the gateway does. A
// refusal is answered unsigned, like the real INVALID_SIGNATURE.
func (s *Simulator) authenticate(r *http.Request, path, clientID string, sandboxPath bool, body []byte) (antom.Result, bool) {
	invalid := func(format string, args ...any) (antom.Result, bool) {
		return fail("INVALID_SIGNATURE", "The signature is invalid: "+fmt.Sprintf(format, args...)), false
	}
	if clientID == "" {
		return fail("INVALID_CLIENT", "The client is invalid: the Client-Id header is missing."), false
	}
	switch sb := antom.IsSandbox(clientID); {
	case sb && !sandboxPath:
		return invalid("client id %q is a sandbox client id, so the SDKs sign and send %s..., but this request went to %s", clientID, strings.TrimSuffix(sandboxPrefix, "/"), path)
	case !sb && sandboxPath:
		return invalid("client id %q is not a sandbox client id (SANDBOX_...), so the request must be signed and sent to %s..., not %s", clientID, strings.TrimSuffix(prodPrefix, "/"), path)
	}
	reqTime := r.Header.Get("Request-Time")
	if reqTime == "" {
		return invalid("the Request-Time header is missing; it is part of the signed content")
	}
	sigHeader := r.Header.Get("Signature")
	params, err := antom.ParseSignatureHeader(sigHeader)
	if err != nil {
		return invalid("%v", err)
	}
	keys := s.merchantKeys(clientID)
	if len(keys) == 0 {
		return fail("KEY_NOT_FOUND", fmt.Sprintf("The key is not found: no merchant public key is configured in the simulator for client id %q.", clientID)), false
	}
	for _, pub := range keys {
		var ring antom.Keyring
		ring.Add(params.KeyVersion, pub) // the merchant's key version is not ours to police
		if _, err := ring.Verify(http.MethodPost, path, clientID, reqTime, body, sigHeader); err == nil {
			return antom.Result{}, true
		}
	}
	return invalid("the signature does not verify with the merchant public key configured for client id %q; sign \"POST %s\\n%s.<Request-Time>.<body>\" with the matching merchant private key, over the exact body bytes sent", clientID, path, clientID)
}

// merchantKeys returns the public keys configured for clientID (exact matches and wildcards).
func (s *Simulator) merchantKeys(clientID string) []*rsa.PublicKey {
	var keys []*rsa.PublicKey
	for _, m := range s.merchants {
		if m.ClientID == "" || m.ClientID == clientID {
			keys = append(keys, m.PublicKey)
		}
	}
	return keys
}

// unsigned writes a result-only answer without signature headers, as the gateway does for
// authentication failures: HTTP 200, no signature, no response-time.
func (s *Simulator) unsigned(w http.ResponseWriter, res antom.Result) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(antom.ResultBody(res.ResultCode, res.ResultStatus, res.ResultMessage))
}

// respond signs and writes an API answer, applying its magic.
func (s *Simulator) respond(w http.ResponseWriter, path string, c *call, rep reply) {
	switch {
	case rep.magic == magicUnsigned:
		s.unsigned(w, resUnknownExc)
		return
	case rep.magic == magicUnknown && rep.first:
		rep.body = onlyResult{resUnknownExc}
	case rep.magic == magicSlow && rep.first:
		t := time.NewTimer(s.slowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return // the client gave up; so do we
		case <-s.ctx.Done():
			s.unsigned(w, resUnknownExc) // closing: the outcome stays unknown to the client
			return
		}
	}
	body := antom.MustMarshal(rep.body)
	respTime := iso(s.now())
	b64, err := antom.Sign(s.key, antom.ContentToSign(http.MethodPost, path, c.clientID, respTime, body))
	if err != nil {
		s.log.Error("antom simulator: signing a response", zap.Error(err))
		http.Error(w, "signing the response failed", http.StatusInternalServerError)
		return
	}
	if rep.magic == magicBadSignature {
		b64 = corrupt(b64)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	// The gateway emits these names in lower case; so do we, to catch case-sensitive readers.
	h["client-id"] = []string{c.clientID}
	h["response-time"] = []string{respTime}
	h["signature"] = []string{antom.SignatureHeader(s.keyVersion, b64)}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// corrupt flips one bit of a base64 signature: still well-formed, no longer valid.
func corrupt(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) == 0 {
		return b64
	}
	raw[len(raw)/2] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}
