package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/pgtest"
)

// The README's security model: every secret a config can hold (the merchant private_key, a
// re-signing forward_key, each forward_secret of a rotation, the PostgreSQL dsn with its
// password) is given as an {env.*} placeholder, stays that placeholder in `caddy adapt`'s JSON,
// GET /config/ and autosave.json, and its value appears there nowhere, nor in the logs (debug
// level, after a delivery) or the admin API's events and forwards.
func TestSecretsStayPlaceholders(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	if out, err := runCaddy(t, nil, "antom", "keygen", "--out", keys); err != nil {
		t.Fatalf("caddy antom keygen: %v\n%s", err, out)
	}
	forwardKey, err := os.ReadFile(filepath.Join(keys, "merchant_private_key.b64"))
	if err != nil {
		t.Fatal(err)
	}
	nextSecretKey := []byte("caddy-antom e2e next fwd secret!")
	nextSecret := "whsec_" + base64.StdEncoding.EncodeToString(nextSecretKey)
	const dbPassword = "e2e-dsn-password-3f9a"
	dsn := strings.Replace(pgtest.Start(t).DSN(), "postgres@", "postgres:"+dbPassword+"@", 1)

	conf := whConf{
		Global:  "\tdebug\n\tantom_store postgres {\n\t\tdsn {env.ANTOM_DATABASE_URL}\n\t}",
		Profile: "\t\tprivate_key      {env.ANTOM_MERCHANT_PRIVATE_KEY}",
		Site:    "\tlog",
		Webhook: "\t\tforward_format antom\n\t\tforward_key {env.ANTOM_FORWARD_KEY}\n\t\tforward_secret {env.ANTOM_FORWARD_SECRET_NEXT}",
	}
	env := map[string]string{
		"ANTOM_MERCHANT_PRIVATE_KEY": merchantPrivateKey(t),
		"ANTOM_FORWARD_KEY":          strings.TrimSpace(string(forwardKey)),
		"ANTOM_FORWARD_SECRET_NEXT":  nextSecret,
		"ANTOM_DATABASE_URL":         dsn,
	}
	placeholders := []string{"{env.ANTOM_MERCHANT_PRIVATE_KEY}", "{env.ANTOM_FORWARD_KEY}", "{env.ANTOM_FORWARD_SECRET}",
		"{env.ANTOM_FORWARD_SECRET_NEXT}", "{env.ANTOM_DATABASE_URL}", "{env.ANTOM_PUBLIC_KEY}"}
	secrets := map[string]string{
		"forward secret":            whSecret(),
		"forward secret key":        base64.StdEncoding.EncodeToString(whSecretKey),
		"next forward secret":       nextSecret,
		"next forward secret key":   base64.StdEncoding.EncodeToString(nextSecretKey),
		"next forward secret bytes": string(nextSecretKey),
		"DSN":                       dsn,
		"DSN password":              dbPassword,
	}
	for i, c := range whKeyChunks(merchantPrivateKey(t)) {
		secrets[fmt.Sprintf("merchant private key chunk %d", i)] = c
	}
	for i, c := range whKeyChunks(string(forwardKey)) {
		secrets[fmt.Sprintf("forward key chunk %d", i)] = c
	}
	if len(secrets) < 12 {
		t.Fatalf("only %d secret runs to look for; the key chunks are missing", len(secrets))
	}

	s := whStartWith(t, conf, caddyOpts{Env: env})
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(s.conf.caddyfile()), 0o600); err != nil {
		t.Fatal(err)
	}
	allEnv := whEnv(t)
	for k, v := range env {
		allEnv[k] = v
	}
	adapted, err := runCaddy(t, allEnv, "adapt", "--config", file, "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, adapted)
	}

	// A delivery re-signed with the forward key and the two secrets, so that the paths that
	// use them have run and logged.
	s.app.SetBody(string(whAck(t)))
	body := whBody("SECRETS01")
	id := whEventID(t, body)
	s.whNotify(body)
	r := s.app.WaitRequests(1, whWait)[0]
	if r.Header.Get("signature") == "" || len(strings.Fields(r.Header.Get("webhook-signature"))) != 2 {
		t.Fatalf("the delivery lacks the forward key's signature or the two secrets' signatures: %v", r.Header)
	}
	whWaitState(t, s.p, id, "delivered")

	cfg := s.p.AdminGet("/config/")
	admin := map[string][]byte{
		"GET /antom/events":      s.p.AdminGet("/antom/events?state=delivered"),
		"GET /antom/events/<id>": s.p.AdminGet("/antom/events/" + id),
		"GET /antom/forwards":    s.p.AdminGet("/antom/forwards"),
		"GET /antom/payments":    s.p.AdminGet("/antom/payments?state=pending"),
		"GET /antom/timeline":    s.p.AdminGet("/antom/timeline?paymentRequestId=PAYREQ_SECRETS01"),
	}
	autosave, err := os.ReadFile(filepath.Join(s.p.ConfigDir, "caddy", "autosave.json"))
	if err != nil {
		t.Fatalf("reading autosave.json: %v", err)
	}
	if err := s.p.Stop(); err != nil {
		t.Errorf("stopping caddy: %v", err)
	}
	logs := s.p.Logs()
	if !strings.Contains(logs, id) || !strings.Contains(logs, `"level":"debug"`) {
		t.Fatalf("the debug log does not show the delivery; the check would be vacuous:\n%s", logs)
	}

	for _, where := range []struct {
		name, text   string
		placeholders bool
	}{{"caddy adapt's JSON", adapted, true}, {"GET /config/", string(cfg), true}, {"autosave.json", string(autosave), true}, {"caddy's logs", logs, false}} {
		for what, secret := range secrets {
			if strings.Contains(where.text, secret) {
				t.Errorf("%s contains the %s", where.name, what)
			}
		}
		for _, ph := range placeholders {
			if where.placeholders && !strings.Contains(where.text, ph) {
				t.Errorf("%s lacks the placeholder %s", where.name, ph)
			}
		}
	}
	for name, b := range admin {
		for what, secret := range secrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s contains the %s", name, what)
			}
		}
	}
}
