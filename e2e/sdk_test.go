package e2e

// Issue 9: antom_api as a drop-in gateway for shops that already use an official Antom SDK.
//
// sdkClient behaves as the official SDKs do (protocol notes §1 and §3, and the SDK sources
// listed there): it signs with the merchant key it was given, which after the migration is a
// THROWAWAY key (Caddy holds the real one), rewrites /ams/api to /ams/sandbox/api for SANDBOX_
// client ids, sends the SDK header set with each SDK's own spelling and case, and verifies the
// answer itself with the Antom public key over "POST <path>\n<client-id>.<response-time>.<body>".
// It reads the answer's headers the strictest way an SDK does: the Python SDK looks for header
// names exactly "signature", "response-time" and "client-id" (case-sensitive) and fails the call
// without them; the PHP SDK finds "response-time" case-sensitively and otherwise skips the
// verification. Antom's gateway sends those names in lower case.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sdkStyle is how one SDK spells its request: the Request-Time format and the header lines.
type sdkStyle struct {
	name        string
	requestTime func(time.Time) string
	headers     func(clientID, requestTime, signature string) []string
}

var sdkStyles = []sdkStyle{
	{
		name:        "java",
		requestTime: func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) },
		headers: func(cid, rt, sig string) []string {
			return []string{
				"Accept: text/plain,text/xml,text/javascript,text/html",
				"User-Agent: global-sdk-java",
				"Content-Type: application/json; charset=UTF-8",
				"Request-Time: " + rt,
				"Client-Id: " + cid,
				"Signature: " + sig,
			}
		},
	},
	{
		name:        "python",
		requestTime: func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z07:00") },
		headers: func(cid, rt, sig string) []string {
			return []string{
				"Content-type: application/json; charset=UTF-8",
				"Accept: text/plain,text/xml,text/javascript,text/html",
				"Cache-Control: no-cache",
				"User-Agent: global-open-sdk-python/1.5.5",
				"Request-Time: " + rt,
				"client-id: " + cid,
				"Signature: " + sig,
			}
		},
	},
	{
		name:        "php",
		requestTime: func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-0700") },
		headers: func(cid, rt, sig string) []string {
			return []string{ // PHP's curl header lines have no space after the colon
				"Content-Type:application/json; charset=UTF-8",
				"Request-Time:" + rt,
				"client-id:" + cid,
				"Signature:" + sig,
				"User-Agent:global-open-sdk-php/1.5.5",
			}
		},
	},
	{
		name:        "go",
		requestTime: func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) },
		headers: func(cid, rt, sig string) []string {
			return []string{
				"Content-Type: application/json",
				"Content-Type: application/json; charset=UTF-8",
				"Request-Time: " + rt,
				"Client-Id: " + cid,
				"Key-Version: 1",
				"Signature: " + sig,
			}
		},
	},
	{
		name:        "lower-case",
		requestTime: func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) },
		headers: func(cid, rt, sig string) []string {
			return []string{
				"content-type: application/json; charset=UTF-8",
				"request-time: " + rt,
				"client-id: " + cid,
				"key-version: 1",
				"sdk-version: ams-sdk-e2e",
				"signature: " + sig,
			}
		},
	},
}

// sdkStyleNamed returns one of sdkStyles.
func sdkStyleNamed(name string) sdkStyle {
	for _, s := range sdkStyles {
		if s.name == name {
			return s
		}
	}
	panic("no SDK style " + name)
}

// sdkThrowawayKey is a fresh RSA-2048 key: what the app keeps after the migration.
func sdkThrowawayKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sdkClient is an app using an official SDK with gatewayUrl pointed at antom_api.
type sdkClient struct {
	gateway  string // "127.0.0.1:port" (gatewayUrl http://127.0.0.1:port)
	clientID string
	key      *rsa.PrivateKey // the throwaway merchant private key
	antomPub *rsa.PublicKey  // alipayPublicKey
	style    sdkStyle
	extra    []string // more header lines (Agent-Token, ...)
	https    bool     // TLS to gateway, as the Python SDK (and some Java versions) insist on
}

// sdkCall is one executed call: what the SDK sent, and what it got.
type sdkCall struct {
	path, requestTime, signature string
	resp                         *apiRawResponse
}

// execute sends an API call the way the SDK does. api is the SDK's request path,
// "/ams/api/v1/payments/pay"; it is rewritten for sandbox client ids.
func (c sdkClient) execute(t testing.TB, api string, body []byte) sdkCall {
	t.Helper()
	path := api
	if strings.HasPrefix(c.clientID, "SANDBOX_") {
		path = strings.Replace(path, "/ams/api", "/ams/sandbox/api", 1)
	}
	rt := c.style.requestTime(time.Now())
	sum := sha256.Sum256([]byte("POST " + path + "\n" + c.clientID + "." + rt + "." + string(body)))
	raw, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(raw))
	lines := append(c.style.headers(c.clientID, rt, "algorithm=RSA256,keyVersion=1,signature="+sig), c.extra...)
	call := sdkCall{path: path, requestTime: rt, signature: sig}
	if !c.https {
		call.resp = apiRawPost(t, c.gateway, path, lines, body)
		return call
	}
	// Like the Python SDK: TLS without certificate checks (and, for an IP, without SNI), the
	// request target in absolute form, Host without the port.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", c.gateway, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", c.gateway, err)
	}
	host, _, _ := net.SplitHostPort(c.gateway)
	call.resp = apiRawExchange(t, conn, "https://"+host+path, host, lines, body)
	return call
}

// verify is the SDK's response check: HTTP 200, the three headers under their lower-case names,
// the client id its own, and Antom's signature over the path it requested.
func (c sdkClient) verify(call sdkCall) error {
	r := call.resp
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", r.StatusCode, r.Body)
	}
	sig, okSig := r.RawHeader("signature")
	rt, okRT := r.RawHeader("response-time")
	cid, okCID := r.RawHeader("client-id")
	if !okSig || !okRT || !okCID {
		return fmt.Errorf("response header exception: the answer lacks signature/response-time/client-id under those exact names (an SDK that reads them case-sensitively fails or skips its verification); header lines: %q", r.RawLines)
	}
	if cid != c.clientID {
		return fmt.Errorf("answer client-id %q, SDK's %q", cid, c.clientID)
	}
	if err := apiVerifySignature(c.antomPub, "POST", call.path, cid, rt, r.Body, sig); err != nil {
		return fmt.Errorf("response signature verify fail over POST %s: %v", call.path, err)
	}
	return nil
}

func sdkPayBody(ref string) []byte {
	return []byte(`{"productCode":"CASHIER_PAYMENT","paymentRequestId":"` + ref + `",` +
		`"paymentAmount":{"currency":"USD","value":"1000"},"order":{"referenceOrderId":"` + ref + `","orderDescription":"sdk e2e"},` +
		`"paymentMethod":{"paymentMethodType":"ALIPAY_HK"},"paymentRedirectUrl":"https://shop.example/return",` +
		`"settlementStrategy":{"settlementCurrency":"USD"}}`)
}

// Through the real caddy against the simulator, an app with an official SDK (each SDK's header
// spelling; production and sandbox) that signs with a throwaway key gets its pay and
// inquiryPayment answered, and its own verification of Antom's answer succeeds with the Antom
// public key it already has. The simulator verifies requests with the real merchant public key,
// so had the throwaway signature been forwarded, it would have answered INVALID_SIGNATURE.
func TestSDKDropInAgainstSimulator(t *testing.T) {
	t.Parallel()
	simPort, prodPort, sandboxPort := freePort(t), freePort(t), freePort(t)
	sim := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	conf := apiConfig(
		apiProfile("", apiClientID, sim, "")+apiProfile("sandbox", apiSandboxClientID, sim, ""),
		apiSimSite(simPort),
		apiSite(prodPort, "\t\tnotify_url "+apiNotifyURL+"\n"),
		apiSite(sandboxPort, "\t\tprofile sandbox\n"),
	)
	startCaddy(t, conf, apiEnv(t))
	antomPub := apiParsePublicKey(t, antomSimPublicKey(t))
	throwaway := sdkThrowawayKey(t)

	for _, env := range []struct {
		name, clientID string
		port           int
	}{
		{"production", apiClientID, prodPort},
		{"sandbox", apiSandboxClientID, sandboxPort},
	} {
		for _, style := range sdkStyles {
			t.Run(env.name+"/"+style.name, func(t *testing.T) {
				t.Parallel()
				c := sdkClient{
					gateway:  fmt.Sprintf("127.0.0.1:%d", env.port),
					clientID: env.clientID,
					key:      throwaway,
					antomPub: antomPub,
					style:    style,
				}
				ref := apiUnique("sdk-" + env.name + "-" + style.name)
				pay := c.execute(t, "/ams/api/v1/payments/pay", sdkPayBody(ref))
				if err := c.verify(pay); err != nil {
					t.Fatalf("pay: %v", err)
				}
				if r := apiResult(t, pay.resp.Body); r.ResultCode != "PAYMENT_IN_PROCESS" || apiField(t, pay.resp.Body, "normalUrl") == "" {
					t.Fatalf("pay: %+v %s; want PAYMENT_IN_PROCESS with a normalUrl", r, pay.resp.Body)
				}
				inq := c.execute(t, "/ams/api/v1/payments/inquiryPayment", []byte(`{"paymentRequestId":"`+ref+`"}`))
				if err := c.verify(inq); err != nil {
					t.Fatalf("inquiryPayment: %v", err)
				}
				if r := apiResult(t, inq.resp.Body); r.ResultStatus != "S" || apiField(t, inq.resp.Body, "paymentStatus") != "PROCESSING" {
					t.Fatalf("inquiryPayment: %+v %s", r, inq.resp.Body)
				}
			})
		}
	}
}

// What reaches the gateway is Caddy's request, not the app's: the throwaway signature, the
// app's Request-Time and its SDK-only headers never arrive; the signature that does verifies
// with the real merchant key. The answer comes back with Antom's signature, response-time and
// client-id unchanged (names as Antom sends them) and the body byte for byte, and an ISV app's
// Agent-Token is the profile's.
func TestSDKGatewayNeverSeesAppSignature(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	prodPort, sandboxPort, agentPort := freePort(t), freePort(t), freePort(t)
	conf := apiConfig(
		apiProfile("", apiClientID, gw.URL, "")+
			apiProfile("sandbox", apiSandboxClientID, gw.URL, "")+
			apiProfile("agent", apiClientID, gw.URL, "\t\tagent_token      {env.AGENT_TOKEN}\n"),
		apiSite(prodPort, ""),
		apiSite(sandboxPort, "\t\tprofile sandbox\n"),
		apiSite(agentPort, "\t\tprofile agent\n"),
	)
	startCaddy(t, conf, apiEnv(t))
	antomPub := apiParsePublicKey(t, antomSimPublicKey(t))
	throwaway := sdkThrowawayKey(t)

	cases := []struct {
		name, clientID string
		port           int
		style          sdkStyle
		extra          []string
		wantPath       string
	}{
		{"production java", apiClientID, prodPort, sdkStyleNamed("java"), nil, "/ams/api/v1/payments/pay"},
		{"production lower-case", apiClientID, prodPort, sdkStyleNamed("lower-case"), nil, "/ams/api/v1/payments/pay"},
		{"sandbox python", apiSandboxClientID, sandboxPort, sdkStyleNamed("python"), nil, "/ams/sandbox/api/v1/payments/pay"},
		{"sandbox go", apiSandboxClientID, sandboxPort, sdkStyleNamed("go"), nil, "/ams/sandbox/api/v1/payments/pay"},
		{"isv php", apiClientID, agentPort, sdkStyleNamed("php"), []string{"agent-token:AGENT_TOKEN_e2e_0001"}, "/ams/api/v1/payments/pay"},
	}
	for _, tc := range cases {
		c := sdkClient{gateway: fmt.Sprintf("127.0.0.1:%d", tc.port), clientID: tc.clientID, key: throwaway, antomPub: antomPub, style: tc.style, extra: tc.extra}
		n := len(gw.Requests())
		body := sdkPayBody(apiUnique("sdk-gw"))
		call := c.execute(t, "/ams/api/v1/payments/pay", body)
		if err := c.verify(call); err != nil {
			t.Errorf("%s: the SDK's verification failed: %v", tc.name, err)
		}
		reqs := gw.Requests()
		if len(reqs) != n+1 {
			t.Fatalf("%s: the gateway got %d requests, want 1", tc.name, len(reqs)-n)
		}
		req := reqs[n]
		apiCheckSignedRequest(t, req, tc.wantPath, tc.clientID)
		for name, values := range req.Header {
			for _, v := range values {
				if strings.Contains(v, call.signature) || strings.Contains(v, call.requestTime) {
					t.Errorf("%s: the app's signature or Request-Time reached the gateway in %s: %q", tc.name, name, v)
				}
			}
		}
		for _, name := range []string{"Key-Version", "Sdk-Version"} {
			if v := req.Header.Get(name); v != "" {
				t.Errorf("%s: the app's %s header reached the gateway: %q", tc.name, name, v)
			}
		}
		if ua := req.Header.Get("User-Agent"); strings.Contains(ua, "sdk") {
			t.Errorf("%s: the app's User-Agent reached the gateway: %q", tc.name, ua)
		}
		if tok := req.Header.Values("Agent-Token"); tc.extra != nil {
			if len(tok) != 1 || tok[0] != "AGENT_TOKEN_e2e_0001" {
				t.Errorf("%s: Agent-Token at the gateway %q, want the profile's, once", tc.name, tok)
			}
		} else if len(tok) != 0 {
			t.Errorf("%s: Agent-Token %q sent for a profile without agent_token", tc.name, tok)
		}
		if string(req.Body) != string(body) {
			t.Errorf("%s: the gateway got body %s, want the app's %s", tc.name, req.Body, body)
		}

		// The answer: Antom's bytes and headers, unchanged.
		want := apiSignedAnswer(t, req, []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentStatus":"SUCCESS"}`))
		if string(call.resp.Body) != string(want.Body) {
			t.Errorf("%s: the app got body %s, want the gateway's %s", tc.name, call.resp.Body, want.Body)
		}
		for _, name := range []string{"signature", "response-time", "client-id"} {
			if got, _ := call.resp.RawHeader(name); got != want.Header[name] {
				t.Errorf("%s: the app got %s %q, want Antom's %q", tc.name, name, got, want.Header[name])
			}
		}
	}
}

// A Client-Id other than the profile's, a sandbox path on a production profile, a production
// path on a sandbox profile, and an ISV app's Agent-Token that is not the profile's (which would
// make the call for another merchant than the app means) are refused with 400 and a message that
// says what to fix; none of them reaches the gateway.
func TestSDKRefusesMismatches(t *testing.T) {
	t.Parallel()
	gw := newAPIGateway(t, nil)
	prodPort, sandboxPort, agentPort := freePort(t), freePort(t), freePort(t)
	conf := apiConfig(
		apiProfile("", apiClientID, gw.URL, "")+
			apiProfile("sandbox", apiSandboxClientID, gw.URL, "")+
			apiProfile("agent", apiClientID, gw.URL, "\t\tagent_token      {env.AGENT_TOKEN}\n"),
		apiSite(prodPort, ""),
		apiSite(sandboxPort, "\t\tprofile sandbox\n"),
		apiSite(agentPort, "\t\tprofile agent\n"),
	)
	startCaddy(t, conf, apiEnv(t))
	antomPub := apiParsePublicKey(t, antomSimPublicKey(t))
	throwaway := sdkThrowawayKey(t)
	prod, sandbox, agent := fmt.Sprintf("127.0.0.1:%d", prodPort), fmt.Sprintf("127.0.0.1:%d", sandboxPort), fmt.Sprintf("127.0.0.1:%d", agentPort)

	cases := []struct {
		name, gateway, clientID string
		style                   sdkStyle
		extra                   []string
		code                    string
		mention                 []string
	}{
		{"other client id", prod, "TEST_OTHER0000000000", sdkStyleNamed("java"), nil, "CLIENT_ID_MISMATCH", []string{"TEST_OTHER0000000000", "profile"}},
		{"other client id, lower-case header", prod, "TEST_OTHER0000000000", sdkStyleNamed("python"), nil, "CLIENT_ID_MISMATCH", []string{"TEST_OTHER0000000000", "profile"}},
		{"sandbox client on a production profile", prod, apiSandboxClientID, sdkStyleNamed("go"), nil, "ENVIRONMENT_MISMATCH", []string{"sandbox", "production", "profile"}},
		{"production client on a sandbox profile", sandbox, apiClientID, sdkStyleNamed("php"), nil, "ENVIRONMENT_MISMATCH", []string{"sandbox", "production", "profile"}},
		{"agent token on a profile without agent_token", prod, apiClientID, sdkStyleNamed("php"), []string{"agent-token:AGENT_TOKEN_e2e_0001"}, "AGENT_TOKEN_MISMATCH", []string{"agent_token", "profile"}},
		{"another agent token", agent, apiClientID, sdkStyleNamed("python"), []string{"Agent-Token: AGENT_TOKEN_e2e_0002"}, "AGENT_TOKEN_MISMATCH", []string{"agent_token", "profile"}},
	}
	for _, tc := range cases {
		c := sdkClient{gateway: tc.gateway, clientID: tc.clientID, key: throwaway, antomPub: antomPub, style: tc.style, extra: tc.extra}
		call := c.execute(t, "/ams/api/v1/payments/pay", sdkPayBody(apiUnique("sdk-mismatch")))
		h := call.resp.Header
		r := apiWantProxyError(t, tc.name, call.resp.StatusCode, h, call.resp.Body, http.StatusBadRequest, tc.code, "F")
		for _, m := range tc.mention {
			if !strings.Contains(r.ResultMessage, m) {
				t.Errorf("%s: message %q does not mention %q", tc.name, r.ResultMessage, m)
			}
		}
		if strings.Contains(r.ResultMessage, "AGENT_TOKEN_e2e") {
			t.Errorf("%s: message %q repeats an agent token", tc.name, r.ResultMessage)
		}
		if c.verify(call) == nil {
			t.Errorf("%s: a refusal verified as an Antom answer", tc.name)
		}
	}
	if n := len(gw.Requests()); n != 0 {
		t.Fatalf("refused calls reached the gateway: %d requests", n)
	}
}

// The HTTPS loopback listener that docs/sdk-migration.md gives SDKs that only speak HTTPS (the
// Python SDK, some Java versions): `tls internal` on 127.0.0.1, reached with an IP (no SNI),
// certificate checks off and an absolute-form request target, as the Python SDK does. The call
// goes through to the simulator and verifies.
func TestSDKOverLoopbackHTTPS(t *testing.T) {
	t.Parallel()
	simPort, apiPort := freePort(t), freePort(t)
	sim := fmt.Sprintf("http://127.0.0.1:%d", simPort)
	site := fmt.Sprintf("https://127.0.0.1:%d {\n\tbind 127.0.0.1\n\ttls internal\n\tantom_api {\n\t\tallow pay inquiryPayment\n\t}\n}\n", apiPort)
	conf := apiConfig("\tauto_https disable_redirects\n"+apiProfile("", apiSandboxClientID, sim, ""), apiSimSite(simPort), site)
	startCaddy(t, conf, apiEnv(t))
	c := sdkClient{
		gateway:  fmt.Sprintf("127.0.0.1:%d", apiPort),
		clientID: apiSandboxClientID,
		key:      sdkThrowawayKey(t),
		antomPub: apiParsePublicKey(t, antomSimPublicKey(t)),
		style:    sdkStyleNamed("python"),
		https:    true,
	}
	ref := apiUnique("sdk-https")
	// The first TLS handshake may come while caddy is still issuing its internal certificate.
	waitFor(t, 60*time.Second, "a TLS handshake with the loopback listener", func() bool {
		conn, err := tls.Dial("tcp", c.gateway, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	pay := c.execute(t, "/ams/api/v1/payments/pay", sdkPayBody(ref))
	if err := c.verify(pay); err != nil {
		t.Fatalf("pay over HTTPS: %v", err)
	}
	if r := apiResult(t, pay.resp.Body); r.ResultCode != "PAYMENT_IN_PROCESS" {
		t.Fatalf("pay over HTTPS: %+v", r)
	}
}
