package command

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/internal/vectors"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/internal/teststore"
	"github.com/caddy-antom/caddy-antom/outbox"
)

// runAntom runs `caddy antom <args>` on a fresh command tree and returns stdout and stderr.
func runAntom(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "antom"}
	setupAntomCommand(root)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestCommandRegistered(t *testing.T) {
	c, ok := caddycmd.Commands()["antom"]
	if !ok {
		t.Fatal("caddy antom is not registered")
	}
	if c.CobraFunc == nil || c.Short == "" {
		t.Fatalf("command incomplete: %+v", c)
	}
	cmd := &cobra.Command{Use: "antom"}
	c.CobraFunc(cmd)
	var names []string
	for _, sub := range cmd.Commands() {
		names = append(names, sub.Name())
	}
	if got := strings.Join(names, " "); got != "copy-store events keygen pause redrive replay resume secret timeline verify" {
		t.Errorf("subcommands = %q", got)
	}
}

// keygenPublicKey is the one-line base64 public key keygen prints.
var keygenPublicKey = regexp.MustCompile(`(?m)^MIIB[A-Za-z0-9+/=]+$`)

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "antom")
	out, _, err := runAntom(t, "keygen", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}

	// The private key: PKCS#8 PEM, 0600, parses with the antom package.
	pemPath := filepath.Join(dir, "merchant_private_key.pem")
	pemText, err := os.ReadFile(pemPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemText)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("not a PKCS#8 PEM file:\n%s", pemText)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("PEM does not hold PKCS#8: %v", err)
	}
	priv, err := antom.ParsePrivateKey(string(pemText))
	if err != nil {
		t.Fatal(err)
	}
	if priv.N.BitLen() != 2048 {
		t.Errorf("key is %d bits, want 2048", priv.N.BitLen())
	}
	for name, want := range map[string]os.FileMode{"merchant_private_key.pem": 0o600, "merchant_private_key.b64": 0o600, "merchant_public_key.b64": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&^want != 0 {
			t.Errorf("%s mode %v, want at most %v", name, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("--out directory mode %v, want 0700", fi.Mode().Perm())
	}

	// The printed public key is the dashboard line and the public half of the private key.
	lines := keygenPublicKey.FindAllString(out, -1)
	if len(lines) != 1 {
		t.Fatalf("want exactly one public key line in the output, got %d:\n%s", len(lines), out)
	}
	pub, err := antom.ParsePublicKey(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("the printed public key is not the public half of the written private key")
	}
	if lines[0] != antom.EncodePublicKey(pub) {
		t.Error("the printed public key is not in the dashboard's one-line base64 SPKI form")
	}

	// The .b64 files hold the same pair in the dashboard's one-line form.
	b64Priv, _ := os.ReadFile(filepath.Join(dir, "merchant_private_key.b64"))
	if k, err := antom.ParsePrivateKey(string(b64Priv)); err != nil || !k.Equal(priv) {
		t.Errorf("merchant_private_key.b64 is not the same key: %v", err)
	}
	if !strings.HasPrefix(string(b64Priv), "MIIEv") || strings.Count(strings.TrimSpace(string(b64Priv)), "\n") != 0 {
		t.Errorf("merchant_private_key.b64 is not one-line PKCS#8 base64")
	}
	b64Pub, _ := os.ReadFile(filepath.Join(dir, "merchant_public_key.b64"))
	if strings.TrimSpace(string(b64Pub)) != lines[0] {
		t.Error("merchant_public_key.b64 differs from the printed line")
	}

	// The output tells where the key is and how to configure it, and the line it gives works.
	abs, _ := filepath.Abs(pemPath)
	wantLine := "private_key {file." + abs + "}"
	if !strings.Contains(out, wantLine) || !strings.Contains(out, "Antom Dashboard") {
		t.Errorf("output lacks %q or the dashboard hint:\n%s", wantLine, out)
	}
	// The placeholder resolves as the antom option's private_key does.
	keyText, err := caddy.NewReplacer().ReplaceOrErr("{file."+abs+"}", true, true)
	if err != nil {
		t.Fatalf("the configuration keygen prints does not resolve: %v", err)
	}
	key, err := antom.ParsePrivateKey(keyText)
	if err != nil {
		t.Fatalf("the configuration keygen prints does not give a private key: %v", err)
	}
	signer := antom.Signer{ClientID: "TEST_5X00000000000000", Key: key}
	header, err := signer.SignRequest("POST", "/ams/api/v1/payments/pay", "1704067200000", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := antom.NewKeyring(pub).Verify("POST", "/ams/api/v1/payments/pay", "TEST_5X00000000000000", "1704067200000", []byte(`{}`), header); err != nil {
		t.Errorf("a request signed with the new private key does not verify with the printed public key: %v", err)
	}
	if strings.Contains(out, strings.TrimSpace(string(b64Priv))[100:140]) {
		t.Error("keygen printed private key material")
	}

	// A second run refuses to overwrite and leaves the files alone.
	_, _, err = runAntom(t, "keygen", "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second keygen: %v, want a refusal", err)
	}
	if again, _ := os.ReadFile(pemPath); !bytes.Equal(again, pemText) {
		t.Error("the private key file changed")
	}
}

func TestKeygenRefusesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "merchant_public_key.b64"), []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runAntom(t, "keygen", "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "merchant_public_key.b64 already exists") {
		t.Fatalf("err = %v, want a refusal naming merchant_public_key.b64", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "merchant_private_key.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Error("keygen wrote the private key although it refused")
	}
}

func TestKeygenCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out, _, err := runAntom(t, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	// The same files as with --out: docs/sdk-migration.md relies on the .b64 forms.
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "merchant_private_key.b64 merchant_private_key.pem merchant_public_key.b64"; got != want {
		t.Errorf("keygen without --out wrote %q, want %q", got, want)
	}
	if len(keygenPublicKey.FindAllString(out, -1)) != 1 {
		t.Errorf("no public key line:\n%s", out)
	}
}

func TestSecretCommand(t *testing.T) {
	out1, hint, err := runAntom(t, "secret")
	if err != nil {
		t.Fatal(err)
	}
	out2, _, _ := runAntom(t, "secret")
	for _, out := range []string{out1, out2} {
		if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "whsec_") {
			t.Fatalf("stdout must be exactly the secret and a newline, got %q", out)
		}
		if _, err := delivery.ParseSecret(strings.TrimSpace(out)); err != nil {
			t.Errorf("the printed secret does not parse: %v", err)
		}
	}
	if out1 == out2 {
		t.Error("two runs printed the same secret")
	}
	if !strings.Contains(hint, "forward_secret {env.ANTOM_FORWARD_SECRET}") || strings.Contains(hint, strings.TrimSpace(out1)) {
		t.Errorf("stderr hint = %q", hint)
	}
}

// notificationVector is the golden notification of the shared vectors.
func notificationVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors.Dir, "notification", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyCommand(t *testing.T) {
	antomKey := vectors.KeyPath(t, "antom_sim_public_spki.pem")
	merchantPub := vectors.KeyPath(t, "merchant_public_spki.b64")
	capture := notificationVector(t, "http_request.txt")
	body := notificationVector(t, "body.json")
	sigHeader := strings.TrimSpace(string(notificationVector(t, "signature_header_value.txt")))
	const clientID, requestTime = "TEST_5X00000000000000", "2024-01-01T00:01:11-08:00"

	tamperedBody := bytes.Replace(capture, []byte(`"value":"1000"`), []byte(`"value":"9000"`), 1)
	if bytes.Equal(tamperedBody, capture) {
		t.Fatal("tampering did not change the capture")
	}
	lfCapture := "POST /antom/notify HTTP/1.1\nHost: merchant.example.com\nclient-id: " + clientID +
		"\nrequest-time: " + requestTime + "\nsignature: " + sigHeader + "\n\n" + string(body)
	noSig := regexp.MustCompile(`(?m)^signature: .*\r\n`).ReplaceAll(capture, nil)
	lowerHex := regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(string(capture), strings.ToLower)
	if lowerHex == string(capture) {
		t.Fatal("the capture has no percent escapes to lower")
	}

	tests := []struct {
		name   string
		args   []string
		ok     bool
		reason string   // VerifyError reason when !ok; "" for a usage error
		want   []string // in stdout (ok or VerifyError) or in the error
	}{
		{"vector capture", []string{"--request", writeTemp(t, "req", capture)}, true, "",
			[]string{"OK: the signature verifies with Antom public key version 1", "POST /antom/notify", "341 bytes"}},
		{"capture with LF line ends and no Content-Length", []string{"--request", writeTemp(t, "req", []byte(lfCapture))}, true, "", nil},
		{"capture with lower-case percent escapes", []string{"--request", writeTemp(t, "req", []byte(lowerHex))}, true, "", nil},
		{"capture with a trailing newline after the body", []string{"--request", writeTemp(t, "req", append(bytes.Clone(capture), '\n'))}, true, "",
			[]string{"note: 1 bytes after the 341-byte body were ignored"}},
		{"piece by piece", []string{"--path", "/antom/notify", "--client-id", clientID, "--request-time", requestTime,
			"--signature", sigHeader, "--body", writeTemp(t, "body", body)}, true, "", nil},
		{"tampered body", []string{"--request", writeTemp(t, "req", tamperedBody)}, false, antom.ReasonBadSignature,
			[]string{"NOT OK (bad_signature): signature does not verify with Antom public key version 1"}},
		{"path rewritten: the flag overrides the capture", []string{"--request", writeTemp(t, "req", capture), "--path", "/notify"}, false, antom.ReasonBadSignature,
			[]string{"POST /notify", "NOT OK (bad_signature)"}},
		{"merchant's own public key", []string{"--request", writeTemp(t, "req", capture)}, false, antom.ReasonBadSignature,
			[]string{"antom_public_key is not Antom's key"}},
		{"key configured under another version", []string{"--request", writeTemp(t, "req", capture), "--key-version", "2"}, false, antom.ReasonUnknownKeyVersion,
			[]string{"NOT OK (unknown_key_version)", "only version(s) 2 are configured"}},
		{"no signature header", []string{"--request", writeTemp(t, "req", noSig)}, false, antom.ReasonMissingSignature,
			[]string{"NOT OK (missing_signature): no Signature header"}},
		{"malformed signature", []string{"--request", writeTemp(t, "req", capture), "--signature", "algorithm=RSA256,keyVersion=1"}, false, antom.ReasonMalformedSignature,
			[]string{"NOT OK (malformed_signature)"}},
		{"missing pieces", []string{"--path", "/antom/notify", "--body", writeTemp(t, "body", body)}, false, "",
			[]string{"missing --client-id --request-time --signature"}},
		{"not an HTTP request", []string{"--request", writeTemp(t, "req", body)}, false, "",
			[]string{"not a raw HTTP request"}},
		{"body shorter than Content-Length", []string{"--request", writeTemp(t, "req", capture[:len(capture)-10])}, false, "",
			[]string{"reading the body", "Content-Length 341"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := antomKey
			if strings.HasPrefix(tt.name, "merchant's own") {
				key = merchantPub
			}
			out, stderr, err := runAntom(t, append([]string{"verify", "--antom-public-key", key}, tt.args...)...)
			if tt.ok {
				if err != nil || !strings.Contains(out, "OK: the signature verifies") {
					t.Fatalf("want OK, got err %v, output:\n%s", err, out)
				}
			} else if err == nil {
				t.Fatalf("want a failure, got OK:\n%s", out)
			}
			var verr *antom.VerifyError
			if errors.As(err, &verr) != (tt.reason != "") || (verr != nil && verr.Reason != tt.reason) {
				t.Errorf("error %v, want reason %q", err, tt.reason)
			}
			if verr != nil {
				// The verdict is printed once, on stdout; cobra does not repeat it on stderr.
				if strings.Contains(out, "OK: the signature verifies") || stderr != "" {
					t.Errorf("failed verification printed OK or stderr %q", stderr)
				}
			}
			text := out
			if err != nil && verr == nil {
				text = err.Error()
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q not in:\n%s", w, text)
				}
			}
		})
	}
}

func TestVerifyCommandKeyErrors(t *testing.T) {
	capture := writeTemp(t, "req", notificationVector(t, "http_request.txt"))
	privText := vectors.Key(t, "merchant_private_pkcs8.pem")
	_, _, err := runAntom(t, "verify", "--antom-public-key", writeTemp(t, "k", []byte(privText)), "--request", capture)
	if err == nil || !strings.Contains(err.Error(), "got a private key") {
		t.Fatalf("err = %v, want the private-key mix-up named", err)
	}
	for _, line := range strings.Split(privText, "\n") {
		if len(line) >= 20 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line[:20]) {
			t.Errorf("the error leaks private key material %q: %v", line[:20], err)
		}
	}

	_, _, err = runAntom(t, "verify", "--request", capture)
	if err == nil || !strings.Contains(err.Error(), "--antom-public-key FILE is required") {
		t.Fatalf("err = %v", err)
	}
}

// fakeAdmin is an httptest server standing in for Caddy's admin API; it records requests.
type fakeAdmin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newFakeAdmin(t *testing.T, h http.HandlerFunc) *fakeAdmin {
	f := &fakeAdmin{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		if r.Header.Get("Origin") == "" {
			http.Error(w, `{"error":"missing Origin"}`, http.StatusForbidden)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) addr() string { return strings.TrimPrefix(f.URL, "http://") }

func (f *fakeAdmin) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

func TestEventsCommand(t *testing.T) {
	received := time.Date(2024, 1, 1, 8, 1, 11, 0, time.UTC)
	events := []map[string]any{
		{"id": "msg_0123456789abcdef0123456789abcdef", "profile": "default", "type": "PAYMENT_RESULT", "resultStatus": "S",
			"requestIdField": "paymentRequestId", "requestId": "PAYREQ_1", "receivedAt": received, "state": "dead", "attempts": 9,
			"deadAt": received.Add(72 * time.Hour), "lastError": "connection refused", "lastStatus": 0, "bodySize": 341},
		{"id": "msg_fedcba9876543210fedcba9876543210", "profile": "shop2", "type": "REFUND_RESULT", "resultStatus": "F",
			"requestId": "REFUND_7", "receivedAt": received, "state": "dead", "attempts": 3,
			"deadAt": received.Add(time.Hour), "lastError": "the app answered with a very long error page " + strings.Repeat("x", 200), "lastStatus": 500, "bodySize": 200},
	}
	admin := newFakeAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/antom/events" {
			http.Error(w, `{"error":"unexpected"}`, http.StatusNotFound)
			return
		}
		switch r.URL.Query().Get("state") {
		case "dead":
			_ = json.NewEncoder(w).Encode(events)
		case "pending":
			_, _ = w.Write([]byte("[]"))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"the antom app is not running in the current config"}`))
		}
	})

	out, _, err := runAntom(t, "events", "--state", "dead", "--admin", admin.addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ID", "DEAD SINCE", "LAST ERROR",
		"msg_0123456789abcdef0123456789abcdef", "PAYMENT_RESULT", "PAYREQ_1", "connection refused",
		"msg_fedcba9876543210fedcba9876543210", "shop2", "REFUND_RESULT", "HTTP 500 the app answered", "...",
		"2 dead events"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in the table:\n%s", want, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 {
		t.Errorf("want header, two rows and a summary, got %d lines:\n%s", len(lines), out)
	} else if strings.Index(lines[0], "TYPE") != strings.Index(lines[1], "PAYMENT_RESULT") {
		t.Errorf("columns are not aligned:\n%s", out)
	}
	if strings.Contains(out, strings.Repeat("x", 100)) {
		t.Error("long errors are not truncated")
	}

	out, _, err = runAntom(t, "events", "--admin", admin.addr())
	if err != nil || strings.TrimSpace(out) != "no pending events" {
		t.Errorf("empty list: %q, %v", out, err)
	}

	_, _, err = runAntom(t, "events", "--state", "delivered", "--limit", "5", "--admin", admin.addr())
	if err == nil || !strings.Contains(err.Error(), "HTTP 503: the antom app is not running in the current config") {
		t.Errorf("admin error not passed on readably: %v", err)
	}

	before := len(admin.requests())
	_, _, err = runAntom(t, "events", "--state", "gone", "--admin", admin.addr())
	if err == nil || !strings.Contains(err.Error(), "--state must be pending, delivered or dead") {
		t.Errorf("bad state: %v", err)
	}
	if len(admin.requests()) != before {
		t.Error("a bad --state still called the admin API")
	}

	got := admin.requests()
	want := []string{"GET /antom/events?state=dead&limit=100", "GET /antom/events?state=pending&limit=100", "GET /antom/events?state=delivered&limit=5"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestReplayCommand(t *testing.T) {
	const id = "msg_0123456789abcdef0123456789abcdef"
	admin := newFakeAdmin(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/antom/events/"+id+"/replay":
			_, _ = w.Write([]byte(`{"replayed":"` + id + `"}`))
		case r.Method == http.MethodPost && r.URL.Path == "/antom/events/replay-dead":
			_, _ = w.Write([]byte(`{"replayed":3}`))
		default:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":"event is pending already; nothing to replay"}`))
		}
	})

	out, _, err := runAntom(t, "replay", id, "--admin", admin.addr())
	if err != nil || !strings.Contains(out, "replayed "+id) {
		t.Errorf("replay id: %q, %v", out, err)
	}
	out, _, err = runAntom(t, "replay", "--dead", "--admin", admin.addr())
	if err != nil || !strings.Contains(out, "replayed 3 dead event(s)") {
		t.Errorf("replay --dead: %q, %v", out, err)
	}
	_, _, err = runAntom(t, "replay", "msg_ffffffffffffffffffffffffffffffff", "--admin", admin.addr())
	if err == nil || !strings.Contains(err.Error(), "HTTP 409: event is pending already; nothing to replay") {
		t.Errorf("conflict: %v", err)
	}

	calls := len(admin.requests())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "give the id of the event to replay"},
		{[]string{"replay", id, "--dead"}, "not both"},
		{[]string{"replay", "../../config"}, "is not an event id"},
		{[]string{"replay", id, "msg_other"}, "accepts at most 1 arg"},
	} {
		_, _, err := runAntom(t, append(tt.args, "--admin", admin.addr())...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
	if len(admin.requests()) != calls {
		t.Errorf("invalid invocations called the admin API: %v", admin.requests()[calls:])
	}
	if got := admin.requests(); len(got) != 3 || got[0] != "POST /antom/events/"+id+"/replay" || got[1] != "POST /antom/events/replay-dead" {
		t.Errorf("requests = %q", got)
	}
}

func TestAdminCommandsWithoutCaddy(t *testing.T) {
	// Nothing listens on the discard port of loopback.
	_, _, err := runAntom(t, "events", "--admin", "127.0.0.1:9")
	if err == nil || !strings.Contains(err.Error(), "is Caddy running with its admin API at 127.0.0.1:9?") {
		t.Errorf("err = %v", err)
	}
}

// TestEventsAndReplayAgainstAdminHandler runs the CLI against the real admin handler of
// adminapi over a real event store, so the two agree on paths and JSON.
func TestEventsAndReplayAgainstAdminHandler(t *testing.T) {
	ctx := context.Background()
	store := teststore.SQLite(t)

	ev := &outbox.Event{Profile: "default", Route: "r", Source: outbox.SourceNotification, Kind: "notifyType",
		Type: "PAYMENT_RESULT", ResultStatus: "S", RequestIDField: "paymentRequestId", RequestID: "PAYREQ_20240101_0001",
		DedupKey: "payment:202401011940108001001881234567890:PAYMENT_RESULT", Body: []byte(`{"card":"4111111111111111"}`)}
	if _, err := store.Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDead(ctx, ev, time.Now(), "HTTP 500 from the app"); err != nil {
		t.Fatal(err)
	}

	addr := realAdmin(t, adminApp{store})

	out, _, err := runAntom(t, "events", "--state", "dead", "--admin", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ev.ID, "PAYMENT_RESULT", "PAYREQ_20240101_0001", "HTTP 500 from the app", "1 dead event"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "4111") {
		t.Error("the event body reached the CLI output")
	}

	if out, _, err := runAntom(t, "replay", ev.ID, "--admin", addr); err != nil || !strings.Contains(out, "replayed "+ev.ID) {
		t.Fatalf("replay: %q, %v", out, err)
	}
	out, _, err = runAntom(t, "events", "--admin", addr)
	if err != nil || !strings.Contains(out, ev.ID) || !strings.Contains(out, "1 pending event") {
		t.Errorf("after replay the event should be pending: %q, %v", out, err)
	}
	if _, _, err := runAntom(t, "replay", ev.ID, "--admin", addr); err == nil || !strings.Contains(err.Error(), "HTTP 409") || !strings.Contains(err.Error(), "pending already") {
		t.Errorf("replaying a pending event: %v", err)
	}
	if out, _, err := runAntom(t, "replay", "--dead", "--admin", addr); err != nil || !strings.Contains(out, "replayed 0 dead event(s)") {
		t.Errorf("replay --dead with none dead: %q, %v", out, err)
	}
}
