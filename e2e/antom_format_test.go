package e2e

// antom_webhook with forward_format antom, through the real binary: the app gets what Antom itself
// would send, re-signed with forward_key or with Antom's own signature passed through, checked by
// openssl as an independent verifier; only Antom's success ack counts as delivered.

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// afRefusal is what an Antom notify handler answers when it does not take a notification.
const afRefusal = `{"result":{"resultCode":"ORDER_LOCKED","resultStatus":"F","resultMessage":"order 42 is being edited"}}`

// afSignature is the raw signature in an Antom signature header, decoded without this module's
// antom package: keyVersion and the RSA signature bytes.
func afSignature(t testing.TB, header string) (keyVersion string, sig []byte) {
	t.Helper()
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "keyVersion":
			keyVersion = v
		case "signature":
			dec, err := url.PathUnescape(v)
			if err != nil {
				t.Fatalf("signature header %q: %v", header, err)
			}
			if sig, err = base64.StdEncoding.DecodeString(dec); err != nil {
				t.Fatalf("signature header %q: %v", header, err)
			}
		}
	}
	if !strings.HasPrefix(header, "algorithm=RSA256,") || sig == nil {
		t.Fatalf("signature header %q is not algorithm=RSA256,keyVersion=...,signature=...", header)
	}
	return keyVersion, sig
}

// afOpenSSLVerify reports whether openssl verifies sig over Antom's content to sign
// (POST path, client-id, request-time, body) with the public key (one-line base64 SPKI).
func afOpenSSLVerify(t testing.TB, publicKeyB64, path, clientID, requestTime string, body, sig []byte) bool {
	t.Helper()
	bin := requireTool(t, "openssl")
	dir := t.TempDir()
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(publicKeyB64))
	if err != nil {
		t.Fatal(err)
	}
	content := "POST " + path + "\n" + clientID + "." + requestTime + "." + string(body)
	files := map[string][]byte{
		"pub.pem":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"content.bin": []byte(content),
		"sig.bin":     sig,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig.bin"), filepath.Join(dir, "content.bin")).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Verification failure") {
		t.Fatalf("openssl dgst: %v\n%s", err, out)
	}
	return err == nil && strings.Contains(string(out), "Verified OK")
}

// afCheckAntomHeaders checks that a delivery carries Antom's own headers: its Content-Type,
// client-id, and a signature openssl verifies with publicKeyB64 over path; the body tampered
// with must not verify. It returns the request-time and signature headers.
func afCheckAntomHeaders(t testing.TB, r recordedRequest, publicKeyB64, path, keyVersion, id string) (requestTime, signature string) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type %q, want Antom's application/json; charset=UTF-8", ct)
	}
	if got := r.Header.Get("client-id"); got != whClientID {
		t.Errorf("client-id %q, want %q", got, whClientID)
	}
	if got := r.Header.Get("webhook-id"); got != id {
		t.Errorf("webhook-id %q, want %q", got, id)
	}
	if got := r.Header.Get("Antom-Event-Type"); got != "PAYMENT_RESULT" {
		t.Errorf("Antom-Event-Type %q, want PAYMENT_RESULT", got)
	}
	requestTime, signature = r.Header.Get("request-time"), r.Header.Get("signature")
	version, sig := afSignature(t, signature)
	if version != keyVersion {
		t.Errorf("signature keyVersion %q, want %q", version, keyVersion)
	}
	if !afOpenSSLVerify(t, publicKeyB64, path, whClientID, requestTime, r.Body, sig) {
		t.Errorf("openssl does not verify the delivery's signature over POST %s (request-time %s)", path, requestTime)
	}
	if afOpenSSLVerify(t, publicKeyB64, path, whClientID, requestTime, append([]byte(" "), r.Body...), sig) {
		t.Errorf("openssl verifies the signature over a changed body too: the check proves nothing")
	}
	return requestTime, signature
}

// Re-signed with forward_key (made by `caddy antom keygen`): each attempt is signed afresh over the
// forward URL's path and query; a 200 without Antom's ack is retried, and the app's refusal shows
// in the event's history and the payment's timeline.
func TestAntomFormatResignedRetriesUntilAck(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	if out, err := runCaddy(t, nil, "antom", "keygen", "--out", keys); err != nil {
		t.Fatalf("caddy antom keygen: %v\n%s", err, out)
	}
	public, err := os.ReadFile(filepath.Join(keys, "merchant_public_key.b64"))
	if err != nil {
		t.Fatal(err)
	}
	const path = "/shop/notify.php?site=eu"
	s := whStart(t, whConf{
		ForwardPath: path,
		NoSecret:    true,
		Webhook: "forward_format antom\nforward_key {file." + filepath.Join(keys, "merchant_private_key.pem") +
			"}\nforward_key_version 3",
	})
	s.app.SetBody(string(whAck(t)))
	s.app.SetBodies(afRefusal)
	body := whBody("AFRESIGN01")
	id := whEventID(t, body)

	s.whNotify(body)
	reqs := s.app.WaitRequests(2, whWait)
	whWaitState(t, s.p, id, "delivered")
	if len(reqs) != 2 {
		t.Fatalf("the app got %d requests, want 2 (refused, then acked)\n%s", len(reqs), s.app.dump())
	}
	var times []string
	for _, r := range reqs {
		if string(r.Body) != string(body) {
			t.Errorf("delivered body %s, want Antom's exact body %s", r.Body, body)
		}
		if r.Path+"?"+r.Query != path {
			t.Errorf("delivered to %s?%s, want %s", r.Path, r.Query, path)
		}
		requestTime, _ := afCheckAntomHeaders(t, r, string(public), path, "3", id)
		times = append(times, requestTime)
		if r.Header.Get("webhook-signature") != "" {
			t.Errorf("webhook-signature sent without forward_secret: %q", r.Header.Get("webhook-signature"))
		}
	}
	if times[0] == times[1] {
		t.Errorf("both attempts carry request-time %s; each attempt is signed afresh", times[0])
	}

	var tl outbox.Timeline
	s.p.AdminGetJSON("/antom/timeline?paymentRequestId=PAYREQ_AFRESIGN01", &tl)
	var refusal, delivered bool
	for _, e := range tl.Entries {
		refusal = refusal || e.What == outbox.StepRetry && e.Status == http.StatusOK &&
			strings.Contains(e.Detail, "ORDER_LOCKED") && strings.Contains(e.Detail, "order 42 is being edited")
		delivered = delivered || e.What == outbox.StepDelivered
	}
	if !refusal || !delivered {
		t.Errorf("timeline lacks the app's refusal (resultCode and resultMessage, HTTP 200) or the delivery: %+v", tl.Entries)
	}
	logs := s.p.Logs()
	key, err := os.ReadFile(filepath.Join(keys, "merchant_private_key.b64"))
	if err != nil {
		t.Fatal(err)
	}
	// A run from the middle of the key: its start is the same for every 2048-bit PKCS#8 key.
	if strings.Contains(logs, strings.TrimSpace(string(key))[200:260]) {
		t.Errorf("the forward key appears in caddy's log")
	}
}

// Without forward_key, Antom's own request-time and signature reach the app unchanged, also on a
// retry read back from the store, and verify with Antom's public key over the notify path;
// forward_secret adds the Standard Webhooks headers.
func TestAntomFormatPassThrough(t *testing.T) {
	t.Parallel()
	s := whStart(t, whConf{
		ForwardPath: whNotifyPath,
		Webhook:     "forward_format antom\nnotify_path " + whNotifyPath,
	})
	s.app.SetBody(string(whAck(t)))
	s.app.SetBodies(afRefusal) // the retry reads the event back from the store
	body := whBody("AFPASS0001")
	id := whEventID(t, body)
	sent := signNotification(t, whNotifyPath, whClientID, "", body)
	status, h, resp := httpDo(t, http.MethodPost, s.Notify, sent, body)
	whRequireAck(t, "notification", status, h, resp)
	reqs := s.app.WaitRequests(2, whWait)
	whWaitState(t, s.p, id, "delivered")

	for i, r := range reqs {
		requestTime, signature := afCheckAntomHeaders(t, r, antomSimPublicKey(t), whNotifyPath, "1", id)
		if requestTime != sent.Get("request-time") || signature != sent.Get("signature") {
			t.Errorf("attempt %d: request-time %q, signature %q; want Antom's own, %q and %q", i+1, requestTime, signature, sent.Get("request-time"), sent.Get("signature"))
		}
		if r.Header.Get("webhook-signature") == "" {
			t.Errorf("attempt %d: forward_secret given, but no webhook-signature", i+1)
		} else if err := verifyStandardWebhook(t, whSecret(), r.Header, r.Body); err != nil {
			t.Errorf("attempt %d: forward_secret given, but the Standard Webhooks signature does not verify: %v", i+1, err)
		}
		if _, err := antom.ParseRequestTime(requestTime); err != nil {
			t.Errorf("request-time %q: %v", requestTime, err)
		}
	}
}

// Pass-through to a forward whose path is not the one Antom signs is refused when the config
// loads, with both paths and the fix; so is pass-through without notify_path.
func TestAntomFormatPassThroughPathRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, webhook string
		want          []string
	}{
		{"other path", "forward_format antom\nnotify_path /antom/notify",
			[]string{"/antom/notify", "/events", "forward_key", "forward to a URL whose path is /antom/notify"}},
		{"no notify_path", "forward_format antom",
			[]string{"set notify_path", "forward_key"}},
	} {
		conf := whConf{AppURL: "http://127.0.0.1:9", Webhook: c.webhook}
		conf.defaults(t)
		file := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(file, []byte(conf.caddyfile()), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runCaddy(t, whEnv(t), "validate", "--adapter", "caddyfile", "--config", file)
		if err == nil {
			t.Errorf("%s: caddy validate accepted the config:\n%s", c.name, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the error does not say %q:\n%s", c.name, w, out)
			}
		}
	}
}

// afStartShop starts the PHP shop (examples/php-shop) under php -S with its Antom-format notify
// handler verifying with publicKey (ANTOM_PUBLIC_KEY), and returns its base URL.
func afStartShop(t testing.TB, publicKey string) string {
	t.Helper()
	php := requireTool(t, "php")
	addr := freeAddr(t)
	startPHPShop(t, php, addr, "SHOP_DATA_DIR="+t.TempDir(), "ANTOM_PUBLIC_KEY="+publicKey)
	waitFor(t, 30*time.Second, "php -S on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "http://" + addr
}

// The PHP shop's notify handler, written as against Antom itself (openssl_verify, Antom's ack),
// takes both modes: Antom's signature passed through with Antom's public key, Caddy's with the
// forward key's public half. With the wrong key it answers SIGNATURE_INVALID, which Caddy retries
// and shows in the timeline.
func TestAntomFormatPHPShopHandler(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	if out, err := runCaddy(t, nil, "antom", "keygen", "--out", keys); err != nil {
		t.Fatalf("caddy antom keygen: %v\n%s", err, out)
	}
	forwardPublic, err := os.ReadFile(filepath.Join(keys, "merchant_public_key.b64"))
	if err != nil {
		t.Fatal(err)
	}
	antomShop := afStartShop(t, antomSimPublicKey(t))     // keeps Antom's public key
	resignedShop := afStartShop(t, string(forwardPublic)) // its key is now the forward key's
	forwardKey := "{file." + filepath.Join(keys, "merchant_private_key.pem") + "}"

	const handler = "/antom/notify.php"
	conf := whConf{
		AppURL: antomShop, ForwardPath: handler, NoSecret: true,
		Webhook: "forward_format antom\nnotify_path " + handler,
		Site: fmt.Sprintf(`	antom_webhook /resigned {
		forward        %s%s
		forward_format antom
		forward_key    %s
	}
	antom_webhook /wrong-key {
		forward        %s%s?via=wrong-key
		forward_format antom
		forward_key    %s
		max_age        2m
	}
`, resignedShop, handler, forwardKey, antomShop, handler, forwardKey),
	}
	conf.defaults(t)
	// The site's main antom_webhook answers on whNotifyPath; pass-through needs the handler's path.
	caddyfile := strings.Replace(conf.caddyfile(), "antom_webhook "+whNotifyPath+" {", "antom_webhook "+handler+" {", 1)
	p := startCaddy(t, caddyfile, whEnv(t))
	base := fmt.Sprintf("http://127.0.0.1:%d", conf.Port)

	// PAYMENT_PENDING: the shop takes it (nothing to change in an order) and acks.
	pending := func(id string) []byte {
		return []byte(`{"notifyType":"PAYMENT_PENDING","result":{"resultCode":"PAYMENT_IN_PROCESS","resultStatus":"U","resultMessage":"in process"},` +
			`"paymentRequestId":"pay_` + id + `","paymentId":"20240101194010800100188` + id + `"}`)
	}
	for _, c := range []struct{ path, id string }{{handler, "AFPHP01"}, {"/resigned", "AFPHP02"}} {
		body := pending(c.id)
		status, h, resp := postNotification(t, base+c.path, whClientID, body)
		whRequireAck(t, c.path, status, h, resp)
		ev := whWaitState(t, p, whEventID(t, body), "delivered")
		if ev.LastStatus != http.StatusOK {
			t.Errorf("%s: delivered with HTTP %d, want 200", c.path, ev.LastStatus)
		}
	}

	body := pending("AFPHP03")
	status, h, resp := postNotification(t, base+"/wrong-key", whClientID, body)
	whRequireAck(t, "/wrong-key", status, h, resp)
	id := whEventID(t, body)
	var tl outbox.Timeline
	waitFor(t, whWait, "the shop's SIGNATURE_INVALID in the timeline", func() bool {
		tl = outbox.Timeline{}
		p.AdminGetJSON("/antom/timeline?paymentRequestId=pay_AFPHP03", &tl)
		for _, e := range tl.Entries {
			if e.What == outbox.StepRetry && e.EventID == id && strings.Contains(e.Detail, `resultCode "SIGNATURE_INVALID"`) &&
				strings.Contains(e.Detail, "signature does not verify") {
				return true
			}
		}
		return false
	})
	if ev, _, _ := whGetEvent(t, p, id); ev.State != "pending" {
		t.Errorf("a notification the shop refused is %s, want pending (retried)", ev.State)
	}
}

// The README's migration Caddyfile loads as printed (pass-through), and in the re-signed form its
// text describes (forward_key instead of notify_path).
func TestAntomFormatREADMEMigrationCaddyfile(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Migrating an existing Antom integration\n")
	_, block, ok2 := strings.Cut(section, "```caddyfile\n")
	site, _, _ := strings.Cut(block, "\n```")
	if !ok || !ok2 || !strings.Contains(site, "shop.example.com {") || !strings.Contains(site, "notify_path") {
		t.Fatalf("README.md has no migration section with a shop.example.com Caddyfile using notify_path; update this test:\n%s", site)
	}
	keys := t.TempDir()
	if out, err := runCaddy(t, nil, "antom", "keygen", "--out", keys); err != nil {
		t.Fatalf("caddy antom keygen: %v\n%s", err, out)
	}
	resigned := regexp.MustCompile(`(?m)^\s*notify_path .*$`).ReplaceAllString(site,
		"\t\tforward_key {file."+filepath.Join(keys, "merchant_private_key.pem")+"}")
	if strings.Contains(resigned, "notify_path") || !strings.Contains(resigned, "forward_key") {
		t.Fatalf("the re-signed form still has notify_path or lacks forward_key:\n%s", resigned)
	}
	for name, s := range map[string]string{"pass-through": site, "re-signed": resigned} {
		conf := "{\n\tskip_install_trust\n\tantom {\n\t\tclient_id " + whClientID + "\n\t\tantom_public_key {env.ANTOM_PUBLIC_KEY}\n\t}\n}\n\n" +
			strings.Replace(s, "shop.example.com {", "http://127.0.0.1:9 {", 1)
		file := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runCaddy(t, whEnv(t), "validate", "--adapter", "caddyfile", "--config", file); err != nil {
			t.Errorf("the README's migration Caddyfile (%s) does not load: %v\n%s\n%s", name, err, conf, out)
		}
	}
}
