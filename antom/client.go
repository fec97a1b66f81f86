package antom

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Gateways by region, from the protocol notes §3.
var gateways = map[string]string{
	"sg": "https://open-sea-global.alipay.com",
	"na": "https://open-na-global.alipay.com",
	"eu": "https://open-de-global.alipay.com",
	"us": "https://open.antglobal-us.com",
}

// MaxResponseBytes caps how much of a gateway response is read.
const MaxResponseBytes = 4 << 20

// GatewayURL resolves a region ("sg", "na", "eu", "us"; "" means "sg", the
// documented default) or an explicit http(s) base URL without path, and
// returns a base URL without trailing slash. http is allowed because the
// offline simulator runs on loopback.
func GatewayURL(regionOrURL string) (string, error) {
	s := strings.TrimSpace(regionOrURL)
	if s == "" {
		return gateways["sg"], nil
	}
	if g, ok := gateways[strings.ToLower(s)]; ok {
		return g, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("gateway %q: expected a region (sg, na, eu, us) or an http(s):// base URL", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("gateway %q: the URL must be scheme://host[:port] only; API paths (/ams/api/...) are added per call", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// ErrorKind classifies a failed Call by what the caller may assume happened.
type ErrorKind int

const (
	// NotSent: the request certainly never reached the gateway (no
	// connection was established). Call already retried it once.
	NotSent ErrorKind = iota + 1
	// Unknown: the request may or may not have been processed (timeout or
	// connection lost after sending began). Retry with the same request id
	// or inquire; never assume failure.
	Unknown
	// BadResponse: an answer arrived but cannot be trusted or read: non-200,
	// unsigned success, bad signature, oversized or not JSON.
	BadResponse
)

func (k ErrorKind) String() string {
	switch k {
	case NotSent:
		return "not_sent"
	case Unknown:
		return "unknown"
	case BadResponse:
		return "bad_response"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// CallError is the error type of Client.Call.
type CallError struct {
	Kind       ErrorKind
	Err        error
	StatusCode int // HTTP status of the answer, for BadResponse; 0 otherwise
}

func (e *CallError) Error() string {
	return "antom call " + e.Kind.String() + ": " + e.Err.Error()
}

func (e *CallError) Unwrap() error { return e.Err }

// ProxyStatus is the HTTP status a proxy should answer with: 504 for
// NotSent and Unknown, 502 for BadResponse.
func (e *CallError) ProxyStatus() int {
	if e.Kind == BadResponse {
		return http.StatusBadGateway
	}
	return http.StatusGatewayTimeout
}

// ProxyResult is the Antom-style result a proxy should answer with. It is
// always U: the payment state is unknown and must be retried or inquired.
func (e *CallError) ProxyResult() Result {
	msg := "Antom gateway did not answer in time; retry with the same request id or inquire"
	switch e.Kind {
	case NotSent:
		msg = "Antom gateway unreachable; the request was not sent, retry with the same request id"
	case BadResponse:
		msg = "Antom gateway answer could not be trusted; retry with the same request id or inquire"
	}
	return Result{ResultCode: "UNKNOWN_EXCEPTION", ResultStatus: StatusUnknown, ResultMessage: msg}
}

// Response is a verified gateway answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte        // exact bytes received
	Result     Result        // parsed result object
	Signed     bool          // false only for unsigned F/U answers
	AntomTime  time.Duration // from sending to having read the whole answer
}

// Client calls the Antom gateway as one merchant (or ISV agent).
type Client struct {
	Gateway    string   // base URL without trailing slash (see GatewayURL)
	Signer     Signer   // merchant client id, key version and private key
	AntomKeys  *Keyring // Antom public keys that verify responses
	AgentToken string   // ISV mode only; the Agent-Token header is sent when set
	// HTTP is the client to use; nil means a shared default with keep-alive
	// and verified TLS (1.2+). It must not follow redirects for POSTs.
	HTTP *http.Client
}

// The shared transport keeps connections to the gateway warm across all
// clients; Antom calls sit on a payment's critical path.
var defaultTransport = &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	DialContext: (&net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          256,
	MaxIdleConnsPerHost:   64,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
}

var defaultHTTPClient = &http.Client{
	Transport: defaultTransport,
	Timeout:   65 * time.Second, // a backstop; callers set tighter ctx deadlines
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is a bad answer, not a new target
	},
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTPClient
}

// Call POSTs body to the API (relative "v1/payments/pay" or full
// "/ams/api/v1/..." path; the sandbox rewrite is applied for SANDBOX_ client
// ids), signed, and verifies the answer per the protocol notes §3. body is
// sent byte for byte. Errors are *CallError. A request that certainly never
// left (connection not established) is retried once; once bytes may have
// reached the gateway it is never retried here.
func (c *Client) Call(ctx context.Context, api string, body []byte) (*Response, error) {
	if c.Gateway == "" {
		return nil, &CallError{Kind: NotSent, Err: errors.New("no gateway configured")}
	}
	if c.AntomKeys.Len() == 0 {
		return nil, &CallError{Kind: NotSent, Err: errors.New("no Antom public key configured to verify responses")}
	}
	if insecureTLS(c.httpClient()) {
		return nil, &CallError{Kind: NotSent, Err: errors.New("refusing an HTTP client with TLS verification disabled")}
	}
	path := GatewayPath(c.Signer.ClientID, api)
	reqTime := RequestTime(time.Now())
	sig, err := c.Signer.SignRequest(http.MethodPost, path, reqTime, body)
	if err != nil {
		return nil, &CallError{Kind: NotSent, Err: err}
	}
	target := strings.TrimSuffix(c.Gateway, "/") + path

	var (
		resp  *http.Response
		start time.Time
	)
	for attempt := 0; ; attempt++ {
		var connected atomic.Bool
		trace := &httptrace.ClientTrace{
			// Once a connection is handed out, request bytes may be written;
			// from then on a failure is "maybe sent".
			GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return nil, &CallError{Kind: NotSent, Err: err}
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("Client-Id", c.Signer.ClientID)
		req.Header.Set("Request-Time", reqTime)
		req.Header.Set("Signature", sig)
		if c.AgentToken != "" {
			req.Header.Set("Agent-Token", c.AgentToken)
		}
		start = time.Now()
		resp, err = c.httpClient().Do(req)
		if err == nil {
			break
		}
		if connected.Load() {
			return nil, &CallError{Kind: Unknown, Err: err}
		}
		if attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, &CallError{Kind: NotSent, Err: err}
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, &CallError{Kind: Unknown, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	antomTime := time.Since(start)
	bad := func(err error) (*Response, error) {
		return nil, &CallError{Kind: BadResponse, Err: err, StatusCode: resp.StatusCode}
	}
	if len(raw) > MaxResponseBytes {
		return bad(fmt.Errorf("answer larger than %d bytes", MaxResponseBytes))
	}
	if resp.StatusCode != http.StatusOK {
		return bad(fmt.Errorf("gateway answered HTTP %d, want 200", resp.StatusCode))
	}
	signed, err := VerifyResponse(c.AntomKeys, http.MethodPost, path, c.Signer.ClientID, resp.Header, raw)
	if err != nil {
		return bad(err)
	}
	result, err := ParseResult(raw)
	if err != nil {
		return bad(err)
	}
	return &Response{
		StatusCode: resp.StatusCode,
		Header:     resp.Header,
		Body:       raw,
		Result:     result,
		Signed:     signed,
		AntomTime:  antomTime,
	}, nil
}

// insecureTLS reports whether hc is visibly configured to skip certificate
// checks; three official SDKs do that and we refuse to.
func insecureTLS(hc *http.Client) bool {
	t, ok := hc.Transport.(*http.Transport)
	return ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify
}
