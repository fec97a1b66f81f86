package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// acmeDomain is the shop's domain in the ACME tests. It exists only in pebble's test DNS, which
// resolves every name to 127.0.0.1. Caddy never resolves it (only the CA does, to validate);
// senders dial 127.0.0.1 and present it as SNI (domainClient).
const acmeDomain = "shop.example.test"

// productionCaddyfile is the README's "Production Caddyfile", adapted for a test on loopback: the
// domain, the ports, the app's address and the key directory are swapped, and the global block
// gets the ACME CA (pebble) and where caddy listens. Every swap must find its text, so the test
// fails if the README's Caddyfile changes shape.
func productionCaddyfile(t testing.TB, globals string, swaps ...string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Production Caddyfile\n")
	if !ok {
		t.Fatal(`README.md has no "## Production Caddyfile" section`)
	}
	_, block, ok := strings.Cut(section, "```caddyfile\n")
	if !ok {
		t.Fatal("README.md's production section has no ```caddyfile block")
	}
	caddyfile, _, _ := strings.Cut(block, "\n```")
	swaps = append(swaps, "{\n\tantom {", "{\n"+globals+"\tantom {")
	for i := 0; i < len(swaps); i += 2 {
		if !strings.Contains(caddyfile, swaps[i]) {
			t.Fatalf("README.md's production Caddyfile no longer contains %q; update this test:\n%s", swaps[i], caddyfile)
		}
		caddyfile = strings.ReplaceAll(caddyfile, swaps[i], swaps[i+1])
	}
	return caddyfile
}

// acmeShop is the README's production Caddyfile running against pebble.
type acmeShop struct {
	p                   *caddyProc
	ca                  *pebbleCA
	app                 *fakeApp // the shop behind antom_webhook and reverse_proxy
	httpPort, httpsPort int      // caddy's http_port and https_port: the shop's ports 80 and 443
}

// startACMEShop starts pebble issuing one-minute certificates and the README's production
// Caddyfile, and waits until caddy has obtained its certificate. With tlsALPN false, the CA
// cannot reach the HTTPS port, so HTTP-01 is the only challenge that can succeed.
func startACMEShop(t *testing.T, tlsALPN bool) *acmeShop {
	t.Helper()
	caddyBinary(t)
	s := &acmeShop{app: newFakeApp(t), httpPort: freePort(t), httpsPort: freePort(t)}
	validateTLS := s.httpsPort
	if !tlsALPN {
		validateTLS = freePort(t) // nothing listens there
	}
	s.ca = startPebble(t, pebbleOpts{HTTPPort: s.httpPort, TLSPort: validateTLS, Validity: time.Minute})

	keys := t.TempDir()
	for name, key := range map[string]string{
		"merchant_private_key.pem": merchantPrivateKey(t),
		"antom_public_key.pem":     antomSimPublicKey(t),
	} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Caddy checks whether a certificate needs renewal every 10 minutes by default; with
	// one-minute certificates it must look every second.
	globals := fmt.Sprintf("\thttp_port %d\n\thttps_port %d\n\tacme_ca %s\n\tacme_ca_root %s\n\trenew_interval 1s\n",
		s.httpPort, s.httpsPort, s.ca.Directory, s.ca.ServerRoot)
	caddyfile := productionCaddyfile(t, globals,
		"shop.example.com", acmeDomain,
		"/etc/caddy/antom", keys,
		"127.0.0.1:8081", s.app.Addr,
		"127.0.0.1:8700", freeAddr(t),
	)
	s.p = startCaddy(t, caddyfile, map[string]string{
		"ANTOM_CLIENT_ID":      whClientID,
		"ANTOM_FORWARD_SECRET": whSecret(),
	})
	s.p.WaitLog(`"msg":"certificate obtained successfully"`, 3*time.Minute)
	if !strings.Contains(s.ca.Logs(), "set VALID by completed challenge") {
		t.Fatalf("caddy has a certificate but pebble validated no challenge:\n%s", s.ca.Logs())
	}
	return s
}

// TestACMEHTTPChallengeBeforeShopRoutes: the production Caddyfile's catch-all reverse_proxy and
// HTTP-to-HTTPS redirect do not swallow the CA's HTTP-01 requests on port 80. The CA cannot
// reach port 443 here, so the certificate can only come from an HTTP-01 validation.
func TestACMEHTTPChallengeBeforeShopRoutes(t *testing.T) {
	shop := startACMEShop(t, false)
	validated := false
	for _, e := range shop.p.LogEntries() {
		validated = validated || (e["msg"] == "trying to solve challenge" && e["challenge_type"] == "http-01")
	}
	if !validated {
		t.Fatal("caddy has a certificate but never tried the http-01 challenge")
	}
	body := whBody("0000")
	resp, answer, err := sendSigned(domainClient(shop.ca.Roots, shop.httpPort, shop.httpsPort, false),
		"https://"+acmeDomain+"/antom/notify", signNotification(t, whNotifyPath, whClientID, "", body), body)
	if err != nil {
		t.Fatal(err)
	}
	whRequireAck(t, "a notification over HTTPS", resp.StatusCode, resp.Header, answer)
	// Any ACME request that reached the shop came before the certificate, so before this delivery.
	if reqs := shop.app.WaitRequests(1, whWait); len(reqs) != 1 || reqs[0].Path != "/antom-events" {
		t.Fatalf("the shop got %d request(s), want only the delivery to /antom-events:\n%s", len(reqs), shop.app.dump())
	}
}

// TestACMENotifyURL runs the README's production Caddyfile against a real ACME CA (pebble, with
// real HTTP-01 / TLS-ALPN-01 validation through its test DNS): caddy gets its certificate by
// itself, Antom's notifications over HTTPS are verified, acknowledged and delivered, a POST to the
// plain-HTTP port is neither acknowledged nor delivered, and a certificate renewal in the middle of
// a stream of notifications loses or refuses none.
func TestACMENotifyURL(t *testing.T) {
	shop := startACMEShop(t, true)
	ca, app, p, httpPort, httpsPort := shop.ca, shop.app, shop.p, shop.httpPort, shop.httpsPort

	// The URLs Antom is given; the senders reach caddy's ports as ports 443 and 80.
	notifyURL, plainURL := "https://"+acmeDomain+"/antom/notify", "http://"+acmeDomain+"/antom/notify"
	sender := domainClient(ca.Roots, httpPort, httpsPort, false)
	want := map[string][]byte{} // webhook-id -> body of every notification Antom was told SUCCESS for
	notify := func(client *http.Client, rawURL string, body []byte) (*http.Response, []byte) {
		t.Helper()
		resp, answer, err := sendSigned(client, rawURL, signNotification(t, whNotifyPath, whClientID, "", body), body)
		if err != nil {
			t.Fatalf("POST %s: %v", rawURL, err)
		}
		return resp, answer
	}

	// Notifications over HTTPS: the certificate is pebble's, for the domain.
	body := whBody("0000")
	resp0, answer := notify(sender, notifyURL, body)
	whRequireAck(t, "a notification over HTTPS", resp0.StatusCode, resp0.Header, answer)
	want[whEventID(t, body)] = body
	if names := resp0.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != acmeDomain {
		t.Errorf("the served certificate is for %v, want [%s]", names, acmeDomain)
	}

	// The plain-HTTP port answers a notification with Caddy's redirect to HTTPS: not Antom's
	// SUCCESS, so Antom retries it, and nothing is stored or delivered.
	plainBody := whBody("0001")
	resp, answer := notify(sender, plainURL, plainBody)
	if resp.StatusCode != http.StatusPermanentRedirect || bytes.Contains(answer, []byte("SUCCESS")) {
		t.Fatalf("POST %s: HTTP %d %q, want Caddy's 308 redirect without Antom's SUCCESS ack", plainURL, resp.StatusCode, answer)
	}
	if loc := resp.Header.Get("Location"); loc != notifyURL {
		t.Errorf("the redirect points to %q, want %q", loc, notifyURL)
	}
	// A sender that follows the 308 (which keeps method and body) reaches the HTTPS site.
	followBody := whBody("0002")
	resp, answer = notify(domainClient(ca.Roots, httpPort, httpsPort, true), plainURL, followBody)
	whRequireAck(t, "a notification that followed the redirect", resp.StatusCode, resp.Header, answer)
	want[whEventID(t, followBody)] = followBody

	if status, _ := p.AdminDo(http.MethodGet, "/antom/events/"+whEventID(t, plainBody), "", nil); status != http.StatusNotFound {
		t.Errorf("the notification POSTed over plain HTTP is an event (admin API: HTTP %d), want none", status)
	}

	// A stream of notifications until a renewed certificate has served a few of them.
	first := resp0.TLS.PeerCertificates[0].SerialNumber.String()
	acked := notificationStream(t, sender, notifyURL, 3*time.Minute, func(acked []ackedNotification) bool {
		renewed := 0
		for _, a := range acked {
			if a.serial != first {
				renewed++
			}
		}
		return renewed >= 10
	})
	serials := map[string]int{}
	for _, a := range acked {
		want[whEventID(t, a.body)] = a.body
		serials[a.serial]++
	}
	t.Logf("%d notifications acknowledged during the stream, by certificate serial: %v", len(acked), serials)
	if len(serials) < 2 {
		t.Fatalf("the served certificate never changed during the stream (serial %s)", first)
	}

	// Every acknowledged notification is delivered, exactly once per webhook-id; the one sent over
	// plain HTTP never is.
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	whWaitDelivered(t, app, ids)
	whCheckDeliveries(t, app, want, true)
}

// ackedNotification is one notification of a stream that Antom would count as delivered.
type ackedNotification struct {
	body   []byte
	serial string // serial number of the certificate its connection was served
}

// notificationStream sends signed notifications (whBody with consecutive ids) to rawURL from two
// concurrent senders until enough(acknowledged so far) is true, and returns the acknowledged ones.
// Each answer that is not Antom's SUCCESS ack, and each transport error, fails the test; so does
// reaching timeout before enough.
func notificationStream(t *testing.T, client *http.Client, rawURL string, timeout time.Duration, enough func([]ackedNotification) bool) []ackedNotification {
	t.Helper()
	type job struct {
		header http.Header
		body   []byte
	}
	type result struct {
		ackedNotification
		err error
	}
	ack := whAck(t)
	jobs, results := make(chan job), make(chan result, 2) // room for both senders: none blocks after a Fatalf
	for range 2 {
		go func() {
			for j := range jobs {
				r := result{ackedNotification: ackedNotification{body: j.body}}
				resp, answer, err := sendSigned(client, rawURL, j.header, j.body)
				switch {
				case err != nil:
					r.err = err
				case resp.StatusCode != http.StatusOK || !bytes.Equal(answer, ack):
					r.err = fmt.Errorf("HTTP %d %q, want 200 with the SUCCESS ack", resp.StatusCode, answer)
				default:
					r.serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
				}
				results <- r
				time.Sleep(100 * time.Millisecond) // a steady stream, not a load test
			}
		}()
	}
	next := func(n int) job {
		body := whBody(fmt.Sprintf("%06d", n))
		return job{signNotification(t, whNotifyPath, whClientID, "", body), body}
	}
	var acked []ackedNotification
	pending, n, inFlight := next(1), 1, 0
	deadline := time.Now().Add(timeout)
	for !enough(acked) {
		if time.Now().After(deadline) {
			close(jobs)
			t.Fatalf("after %s and %d notifications, the stream still is not done", timeout, n-1)
		}
		select {
		case jobs <- pending:
			n++
			inFlight++
			pending = next(n)
		case r := <-results:
			inFlight--
			if r.err != nil {
				t.Errorf("notification %s: %v", r.body, r.err)
				continue
			}
			acked = append(acked, r.ackedNotification)
		}
	}
	close(jobs)
	for ; inFlight > 0; inFlight-- {
		if r := <-results; r.err != nil {
			t.Errorf("notification %s: %v", r.body, r.err)
		} else {
			acked = append(acked, r.ackedNotification)
		}
	}
	return acked
}

// TestACMEChallengeUnreachable is a shop whose ports 80 and 443 the CA cannot reach: caddy logs
// the errors the README's troubleshooting table lists and keeps retrying, and the notify URL
// serves no certificate, so a notification fails at the TLS handshake (Antom retries it) instead
// of being acknowledged.
func TestACMEChallengeUnreachable(t *testing.T) {
	caddyBinary(t)
	httpPort, httpsPort := freePort(t), freePort(t)
	// The CA validates on two ports where nothing listens: a firewall, as the CA sees it.
	ca := startPebble(t, pebbleOpts{HTTPPort: freePort(t), TLSPort: freePort(t), Validity: time.Hour})
	p := startCaddy(t, fmt.Sprintf(`{
	http_port %d
	https_port %d
	acme_ca %s
	acme_ca_root %s
	antom {
		client_id        %s
		antom_public_key {env.ANTOM_PUBLIC_KEY}
	}
}
%s {
	antom_webhook /antom/notify {
		forward        %s
		forward_secret {env.ANTOM_FORWARD_SECRET}
	}
}`, httpPort, httpsPort, ca.Directory, ca.ServerRoot, whClientID, acmeDomain, newFakeApp(t).URL), whEnv(t))

	// The log lines of the README's troubleshooting table, as caddy writes them.
	p.WaitLog(`"msg":"will retry"`, 3*time.Minute)
	failed := map[string]string{} // challenge type -> the CA's problem type
	for _, e := range p.LogEntries() {
		switch e["msg"] {
		case "challenge failed":
			if e["identifier"] != acmeDomain {
				t.Errorf("challenge failed for %v, want %s", e["identifier"], acmeDomain)
			}
			problem, _ := e["problem"].(map[string]any)
			failed[fmt.Sprint(e["challenge_type"])] = fmt.Sprint(problem["type"])
		case "will retry":
			if msg := fmt.Sprint(e["error"]); !strings.Contains(msg, "["+acmeDomain+"] authorization failed: ") {
				t.Errorf("will retry: %q does not name the domain and the failed authorization", msg)
			}
		}
	}
	for challenge, problem := range failed {
		if !strings.HasPrefix(problem, "urn:ietf:params:acme:error:") {
			t.Errorf("challenge %s failed with problem type %q, want an ACME problem type", challenge, problem)
		}
	}
	if len(failed) == 0 || !strings.Contains(p.Logs(), `"msg":"could not get certificate from issuer"`) {
		t.Fatalf("caddy logged no failed challenge (%v) or no \"could not get certificate from issuer\"", failed)
	}
	t.Logf("failed challenges (type: problem): %v", failed)

	body := whBody("0000")
	notifyURL := "https://" + acmeDomain + "/antom/notify"
	resp, answer, err := sendSigned(domainClient(ca.Roots, httpPort, httpsPort, false), notifyURL, signNotification(t, whNotifyPath, whClientID, "", body), body)
	if err == nil {
		t.Fatalf("POST %s without a certificate: HTTP %d %q, want a failed TLS handshake", notifyURL, resp.StatusCode, answer)
	}
	t.Logf("the notification failed as it should: %v", err)
}
