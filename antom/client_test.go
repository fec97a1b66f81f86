package antom

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatewayReq is what the fake gateway saw.
type gatewayReq struct {
	Path   string
	Header http.Header
	Body   []byte
	// VerifyErr is the result of checking the request signature with the
	// merchant public key, as Antom would.
	VerifyErr error
}

// reply says how the fake gateway answers.
type reply struct {
	Status   int
	Body     string
	Unsigned bool
	Tamper   bool   // change the body after signing
	Drop     string // header to remove after signing
	Delay    time.Duration
}

type fakeGateway struct {
	*httptest.Server
	mu   sync.Mutex
	seen []gatewayReq
}

func (g *fakeGateway) last(t *testing.T) gatewayReq {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		t.Fatal("gateway saw no request")
	}
	return g.seen[len(g.seen)-1]
}

func newFakeGateway(t *testing.T, keys testKeys, tlsServer bool, answer func(gatewayReq) reply) *fakeGateway {
	t.Helper()
	merchant := NewKeyring(keys.merchantPub)
	g := &fakeGateway{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		gr := gatewayReq{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		_, gr.VerifyErr = merchant.Verify(r.Method, r.URL.RequestURI(), r.Header.Get("Client-Id"), r.Header.Get("Request-Time"), body, r.Header.Get("Signature"))
		g.mu.Lock()
		g.seen = append(g.seen, gr)
		g.mu.Unlock()
		rp := answer(gr)
		if rp.Delay > 0 {
			select {
			case <-time.After(rp.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if rp.Status == 0 {
			rp.Status = http.StatusOK
		}
		out := []byte(rp.Body)
		if !rp.Unsigned {
			rt := "2024-01-01T00:00:01+08:00"
			sig, err := Sign(keys.antomPriv, ContentToSign(r.Method, r.URL.RequestURI(), r.Header.Get("Client-Id"), rt, out))
			if err != nil {
				t.Error(err)
			}
			w.Header().Set("signature", SignatureHeader("1", sig))
			w.Header().Set("response-time", rt)
			w.Header().Set("client-id", r.Header.Get("Client-Id"))
		}
		if rp.Drop != "" {
			w.Header().Del(rp.Drop)
		}
		if rp.Tamper {
			out = []byte(strings.Replace(string(out), "S", "X", 1))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.Status)
		w.Write(out)
	})
	if tlsServer {
		g.Server = httptest.NewTLSServer(h)
	} else {
		g.Server = httptest.NewServer(h)
	}
	t.Cleanup(g.Close)
	return g
}

const okBody = `{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentId":"2024X"}`

func newTestClient(t *testing.T, keys testKeys, gw, clientID string) *Client {
	t.Helper()
	return &Client{
		Gateway:   gw,
		Signer:    Signer{ClientID: clientID, Key: keys.merchantPriv},
		AntomKeys: NewKeyring(keys.antomPub),
	}
}

func callErrKind(err error) ErrorKind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}

func TestClientSignedSuccess(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody} })
	c := newTestClient(t, keys, g.URL, "TEST_5X00000000000000")
	body := []byte(`{"paymentRequestId":"r1","paymentAmount":{"currency":"USD","value":"1000"},"note":"Café  x"}`)
	resp, err := c.Call(context.Background(), "v1/payments/pay", body)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Signed || resp.Result.ResultStatus != "S" || string(resp.Body) != okBody || resp.StatusCode != 200 {
		t.Fatalf("unexpected response %+v", resp)
	}
	if resp.AntomTime <= 0 {
		t.Fatal("AntomTime not measured")
	}
	r := g.last(t)
	if r.VerifyErr != nil {
		t.Fatalf("gateway could not verify the request signature: %v", r.VerifyErr)
	}
	if r.Path != "/ams/api/v1/payments/pay" {
		t.Fatalf("path %q", r.Path)
	}
	if string(r.Body) != string(body) {
		t.Fatal("body not sent byte for byte")
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if r.Header.Get("Client-Id") != "TEST_5X00000000000000" || len(r.Header.Get("Request-Time")) != 13 {
		t.Fatalf("headers %v", r.Header)
	}
	if _, ok := r.Header["Agent-Token"]; ok {
		t.Fatal("Agent-Token sent although not set")
	}
}

func TestClientAgentToken(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody} })
	c := newTestClient(t, keys, g.URL, "TEST_1")
	c.AgentToken = "agent-123"
	if _, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := g.last(t).Header.Values("Agent-Token"); len(got) != 1 || got[0] != "agent-123" {
		t.Fatalf("Agent-Token = %v", got)
	}
}

func TestClientSandboxPath(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody} })
	c := newTestClient(t, keys, g.URL, "SANDBOX_5X00000000000000")
	for _, api := range []string{"v1/payments/inquiryPayment", "/ams/api/v1/payments/inquiryPayment"} {
		if _, err := c.Call(context.Background(), api, []byte(`{"paymentRequestId":"r"}`)); err != nil {
			t.Fatalf("%s: %v", api, err)
		}
		r := g.last(t)
		if r.Path != "/ams/sandbox/api/v1/payments/inquiryPayment" {
			t.Fatalf("%s: sent to %q", api, r.Path)
		}
		if r.VerifyErr != nil {
			t.Fatalf("%s: signed path differs from sent path: %v", api, r.VerifyErr)
		}
	}
}

func TestClientResponsePolicy(t *testing.T) {
	keys := loadTestKeys(t)
	failBody := string(ResultBody("INVALID_SIGNATURE", "F", "invalid signature"))
	cases := []struct {
		name       string
		reply      reply
		wantErr    ErrorKind
		wantSigned bool
		wantStatus string
	}{
		{"signed S", reply{Body: okBody}, 0, true, "S"},
		{"signed F", reply{Body: failBody}, 0, true, "F"},
		{"unsigned F", reply{Body: failBody, Unsigned: true}, 0, false, "F"},
		{"unsigned U", reply{Body: string(ResultBody("UNKNOWN_EXCEPTION", "U", "x")), Unsigned: true}, 0, false, "U"},
		{"unsigned S refused", reply{Body: okBody, Unsigned: true}, BadResponse, false, ""},
		{"signature without response-time", reply{Body: okBody, Drop: "response-time"}, BadResponse, false, ""},
		{"response-time without signature", reply{Body: failBody, Drop: "signature"}, BadResponse, false, ""},
		{"tampered body", reply{Body: okBody, Tamper: true}, BadResponse, false, ""},
		{"non-200 signed", reply{Body: failBody, Status: 500}, BadResponse, false, ""},
		{"non-200 unsigned", reply{Body: "bad gateway", Status: 502, Unsigned: true}, BadResponse, false, ""},
		{"signed, not JSON", reply{Body: "<html>hi</html>"}, BadResponse, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return tc.reply })
			c := newTestClient(t, keys, g.URL, "TEST_1")
			resp, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`))
			if tc.wantErr != 0 {
				if callErrKind(err) != tc.wantErr || resp != nil {
					t.Fatalf("want %v error and nil response, got %v, %v", tc.wantErr, resp, err)
				}
				var ce *CallError
				errors.As(err, &ce)
				if ce.ProxyStatus() != http.StatusBadGateway || ce.ProxyResult().ResultStatus != "U" {
					t.Fatalf("BadResponse should map to 502 U, got %d %+v", ce.ProxyStatus(), ce.ProxyResult())
				}
				if tc.reply.Status != 0 && ce.StatusCode != tc.reply.Status {
					t.Fatalf("StatusCode = %d", ce.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Signed != tc.wantSigned || resp.Result.ResultStatus != tc.wantStatus {
				t.Fatalf("signed=%v status=%q", resp.Signed, resp.Result.ResultStatus)
			}
		})
	}
}

func TestClientOversizedResponse(t *testing.T) {
	keys := loadTestKeys(t)
	big := `{"result":{"resultStatus":"F"},"pad":"` + strings.Repeat("x", MaxResponseBytes) + `"}`
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: big, Unsigned: true} })
	_, err := newTestClient(t, keys, g.URL, "TEST_1").Call(context.Background(), "v1/payments/pay", []byte(`{}`))
	if callErrKind(err) != BadResponse || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized answer: %v", err)
	}
}

func TestClientConnectionRefusedIsNotSent(t *testing.T) {
	keys := loadTestKeys(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newTestClient(t, keys, "http://"+addr, "TEST_1")
	_, err = c.Call(context.Background(), "v1/payments/pay", []byte(`{}`))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != NotSent {
		t.Fatalf("want NotSent, got %v", err)
	}
	if ce.ProxyStatus() != http.StatusGatewayTimeout || ce.ProxyResult().ResultStatus != "U" {
		t.Fatal("NotSent should map to 504 U")
	}
}

func TestClientRetriesNotSentOnce(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody} })
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, errors.New("connect: connection refused")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := newTestClient(t, keys, g.URL, "TEST_1")
	c.HTTP = &http.Client{Transport: tr}
	if _, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`)); err != nil {
		t.Fatalf("the retry should have succeeded: %v", err)
	}
	if dials.Load() != 2 {
		t.Fatalf("dials = %d, want 2", dials.Load())
	}

	// Two failures in a row: exactly one retry, then NotSent.
	dials.Store(0)
	tr2 := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("connect: connection refused")
	}}
	c.HTTP = &http.Client{Transport: tr2}
	if _, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`)); callErrKind(err) != NotSent {
		t.Fatalf("want NotSent, got %v", err)
	}
	if dials.Load() != 2 {
		t.Fatalf("dials = %d, want 2 (one retry)", dials.Load())
	}
}

func TestClientTimeoutAfterSendIsUnknown(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody, Delay: 5 * time.Second} })
	c := newTestClient(t, keys, g.URL, "TEST_1")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Call(ctx, "v1/payments/pay", []byte(`{}`))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != Unknown {
		t.Fatalf("want Unknown, got %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the cause should be the deadline: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("Call did not honour the context deadline")
	}
	g.mu.Lock()
	n := len(g.seen)
	g.mu.Unlock()
	if n != 1 {
		t.Fatalf("a maybe-sent request must not be retried; gateway saw %d", n)
	}
	if ce.ProxyStatus() != http.StatusGatewayTimeout {
		t.Fatal("Unknown should map to 504")
	}
}

func TestClientConnectionLostIsUnknown(t *testing.T) {
	keys := loadTestKeys(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // received the request, then hung up without answering
		}
	}))
	t.Cleanup(srv.Close)
	_, err := newTestClient(t, keys, srv.URL, "TEST_1").Call(context.Background(), "v1/payments/pay", []byte(`{}`))
	if callErrKind(err) != Unknown {
		t.Fatalf("want Unknown, got %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("must not retry after sending; hits = %d", hits.Load())
	}
}

func TestClientKeepAliveReuse(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, false, func(gatewayReq) reply { return reply{Body: okBody} })
	c := newTestClient(t, keys, g.URL, "TEST_1") // HTTP nil: the shared default transport
	var reused []bool
	var mu sync.Mutex
	for range 3 {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) {
				mu.Lock()
				reused = append(reused, i.Reused)
				mu.Unlock()
			},
		})
		if _, err := c.Call(ctx, "v1/payments/pay", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if len(reused) != 3 || reused[0] || !reused[1] || !reused[2] {
		t.Fatalf("GotConnInfo.Reused = %v, want [false true true]", reused)
	}
}

func TestClientTLS(t *testing.T) {
	keys := loadTestKeys(t)
	g := newFakeGateway(t, keys, true, func(gatewayReq) reply { return reply{Body: okBody} })

	// The default client verifies certificates: the test CA is unknown to it.
	c := newTestClient(t, keys, g.URL, "TEST_1")
	_, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`))
	if callErrKind(err) != NotSent || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate must fail before sending: %v", err)
	}
	g.mu.Lock()
	seen := len(g.seen)
	g.mu.Unlock()
	if seen != 0 {
		t.Fatal("gateway must not have seen a request")
	}

	// With the test CA trusted it works.
	c.HTTP = g.Client()
	if _, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	// A client that skips verification is refused outright.
	c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if _, err := c.Call(context.Background(), "v1/payments/pay", []byte(`{}`)); callErrKind(err) != NotSent || !strings.Contains(err.Error(), "TLS verification disabled") {
		t.Fatalf("insecure client must be refused: %v", err)
	}
}

func TestClientMisconfigured(t *testing.T) {
	keys := loadTestKeys(t)
	cases := map[string]*Client{
		"no gateway":   {Signer: Signer{ClientID: "C", Key: keys.merchantPriv}, AntomKeys: NewKeyring(keys.antomPub)},
		"no antom key": {Gateway: "http://127.0.0.1:1", Signer: Signer{ClientID: "C", Key: keys.merchantPriv}},
		"no key":       {Gateway: "http://127.0.0.1:1", Signer: Signer{ClientID: "C"}, AntomKeys: NewKeyring(keys.antomPub)},
		"no client id": {Gateway: "http://127.0.0.1:1", Signer: Signer{Key: keys.merchantPriv}, AntomKeys: NewKeyring(keys.antomPub)},
	}
	for name, c := range cases {
		if _, err := c.Call(context.Background(), "v1/payments/pay", nil); callErrKind(err) != NotSent {
			t.Errorf("%s: want NotSent, got %v", name, err)
		}
	}
}

func TestGatewayURL(t *testing.T) {
	good := map[string]string{
		"sg":                       "https://open-sea-global.alipay.com",
		"":                         "https://open-sea-global.alipay.com",
		"NA":                       "https://open-na-global.alipay.com",
		"eu":                       "https://open-de-global.alipay.com",
		" us ":                     "https://open.antglobal-us.com",
		"https://gw.example.com/":  "https://gw.example.com",
		"http://127.0.0.1:8080":    "http://127.0.0.1:8080",
		"https://gw.example.com:8": "https://gw.example.com:8",
	}
	for in, want := range good {
		got, err := GatewayURL(in)
		if err != nil || got != want {
			t.Errorf("GatewayURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"cn", "ftp://x", "open-sea-global.alipay.com", "https://", "https://gw/ams/api", "https://gw?x=1", "https://u:p@gw"} {
		if got, err := GatewayURL(in); err == nil {
			t.Errorf("GatewayURL(%q) = %q, want error", in, got)
		}
	}
}

func TestErrorKindString(t *testing.T) {
	if NotSent.String() != "not_sent" || Unknown.String() != "unknown" || BadResponse.String() != "bad_response" {
		t.Fatal("ErrorKind strings changed")
	}
	e := &CallError{Kind: Unknown, Err: context.DeadlineExceeded}
	if !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "unknown") {
		t.Fatalf("CallError: %v", e)
	}
}
