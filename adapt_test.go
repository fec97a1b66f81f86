package caddyantom

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current adapter output")

// adaptCaddyfile adapts Caddyfile text to indented JSON through the registered caddyfile
// adapter, failing on errors and on warnings (an unformatted fixture is a warning too).
func adaptCaddyfile(t *testing.T, src []byte) []byte {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("no caddyfile adapter registered")
	}
	out, warnings, err := adapter.Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapter warning: %s", w.String())
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// compareGolden compares got with testdata/<name>.golden.json, or rewrites it with -update.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("adapted JSON differs from %s (go test -run %s -update rewrites it after review):\n%s", path, t.Name(), lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines that differ, for readable failures without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
		}
	}
	return b.String()
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAdaptGolden(t *testing.T) {
	// Secrets in the environment while adapting must not matter: {env.*} stays a placeholder.
	t.Setenv("ANTOM_CLIENT_ID", "SECRET_CLIENT_ID_FROM_ENV_0001")
	t.Setenv("ANTOM_FORWARD_SECRET", "whsec_U0VDUkVUX0ZPUldBUkRfU0VDUkVUX0ZST01fRU5W")
	t.Setenv("X", "SECRET_AGENT_TOKEN_FROM_ENV_0001")

	got := adaptCaddyfile(t, readFixture(t, "adapt_global.caddyfile"))
	compareGolden(t, "adapt_global", got)

	for _, placeholder := range []string{
		`"client_id": "{env.ANTOM_CLIENT_ID}"`,
		`"private_key": "{file./etc/caddy/antom/merchant_private_key.pem}"`,
		`"key": "{file./etc/caddy/antom/antom_public_key.pem}"`,
		`"key_version": "2"`,
		`"agent_token": "{env.X}"`,
		`"forward_secret": "{env.ANTOM_FORWARD_SECRET}"`,
		`"private_key": "{env.ANTOM_SANDBOX_PRIVATE_KEY}"`,
		`"forward_format": "antom"`,
		`"forward_key": "{file./etc/caddy/antom/forward_private_key.pem}"`,
		`"forward_key_version": "2"`,
	} {
		if !bytes.Contains(got, []byte(placeholder)) {
			t.Errorf("adapted JSON lacks %s verbatim", placeholder)
		}
	}
	for _, secret := range []string{"SECRET_CLIENT_ID_FROM_ENV", "U0VDUkVUX0ZPUldBUkRf", "SECRET_AGENT_TOKEN_FROM_ENV"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("adapted JSON contains the value of an environment variable (%s): {env.*} was substituted", secret)
		}
	}

	// The JSON is what Caddy loads: the antom app decodes with every profile.
	var cfg struct {
		Apps struct {
			Antom App `json:"antom"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps.Antom.Profiles) != 2 || cfg.Apps.Antom.Profiles["default"] == nil || cfg.Apps.Antom.Profiles["sandbox"] == nil {
		t.Errorf("profiles = %v, want default and sandbox", cfg.Apps.Antom.Profiles)
	}
}

// TestAdaptDollarVarLeaksSecret documents why the examples use {env.*} and never {$VAR}: the
// Caddyfile adapter substitutes {$VAR} while adapting, so the secret itself lands in the JSON
// config (and so in GET /config/ and autosave.json).
func TestAdaptDollarVarLeaksSecret(t *testing.T) {
	const secret = "whsec_RE9MTEFSX1ZBUl9TRUNSRVRfVkFMVUVfMDEyMzQ1"
	t.Setenv("ANTOM_TEST_DOLLAR_SECRET", secret)

	site := func(ref string) []byte {
		return []byte("{\n\tantom {\n\t\tclient_id A\n\t\tantom_public_key K\n\t}\n}\n\n:8443 {\n\tantom_webhook {\n\t\tforward http://127.0.0.1:8080/events\n\t\tforward_secret " + ref + "\n\t}\n}\n")
	}
	dollar := adaptCaddyfile(t, site("{$ANTOM_TEST_DOLLAR_SECRET}"))
	if !bytes.Contains(dollar, []byte(`"forward_secret": "`+secret+`"`)) {
		t.Errorf("expected {$VAR} to put the literal secret into the adapted JSON; got:\n%s", dollar)
	}
	env := adaptCaddyfile(t, site("{env.ANTOM_TEST_DOLLAR_SECRET}"))
	if bytes.Contains(env, []byte(secret)) || !bytes.Contains(env, []byte(`"forward_secret": "{env.ANTOM_TEST_DOLLAR_SECRET}"`)) {
		t.Errorf("{env.*} must stay a placeholder; got:\n%s", env)
	}
}

// TestAdaptNeedsNoOrder checks that antom_webhook and antom_api are ordered directives: a plain
// site block mixing them with respond and file_server adapts without an `order` line, and the
// antom handlers run before respond, reverse_proxy and file_server.
func TestAdaptNeedsNoOrder(t *testing.T) {
	got := adaptCaddyfile(t, readFixture(t, "adapt_no_order.caddyfile"))
	compareGolden(t, "adapt_no_order", got)

	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Handler string          `json:"handler"`
							Routes  json.RawMessage `json:"routes"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps.HTTP.Servers) != 1 {
		t.Fatalf("want one server, got %d", len(cfg.Apps.HTTP.Servers))
	}
	var order []string
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			for _, h := range r.Handle {
				order = append(order, h.Handler)
			}
		}
	}
	index := func(name string) int {
		for i, h := range order {
			if h == name {
				return i
			}
		}
		t.Fatalf("handler %s missing from routes %v", name, order)
		return -1
	}
	for _, antomHandler := range []string{"antom_webhook", "antom_api"} {
		for _, later := range []string{"static_response", "file_server"} {
			if index(antomHandler) > index(later) {
				t.Errorf("%s runs after %s: handler order %v", antomHandler, later, order)
			}
		}
	}

	// In the global fixture the webhook shares its site with reverse_proxy.
	global := string(adaptCaddyfile(t, readFixture(t, "adapt_global.caddyfile")))
	if w, rp := strings.Index(global, `"handler": "antom_webhook"`), strings.Index(global, `"handler": "reverse_proxy"`); w < 0 || rp < 0 || w > rp {
		t.Errorf("antom_webhook (at %d) should come before reverse_proxy (at %d)", w, rp)
	}
}
