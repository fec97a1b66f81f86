package caddyantom

import (
	"context"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-antom/caddy-antom/internal/vectors"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/delivery"
	"github.com/caddy-antom/caddy-antom/handlers"
)

// assertNoSecret fails if msg contains any 20-character slice of a secret: its start (after a
// PEM header line), its middle, or its end. Secrets shorter than 20 characters are checked whole.
func assertNoSecret(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		body := s
		if i := strings.Index(body, "-----\n"); strings.HasPrefix(body, "-----BEGIN") && i > 0 {
			body = body[i+len("-----\n"):]
		}
		body = strings.TrimSpace(body)
		var windows []string
		if len(body) <= 20 {
			windows = []string{body}
		} else {
			mid := len(body)/2 - 10
			windows = []string{body[:20], body[mid : mid+20], body[len(body)-20:]}
		}
		for _, w := range windows {
			if w != "" && strings.Contains(msg, w) {
				t.Errorf("error message leaks secret material %q: %s", w, msg)
			}
		}
	}
}

// antomPublicKey is the vector key standing in for Antom's key.
func antomPublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	pub, err := antom.ParsePublicKey(vectors.Key(t, "antom_sim_public_spki.b64"))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestProfileProvisionKeyFormats(t *testing.T) {
	merchant, err := antom.ParsePrivateKey(vectors.Key(t, "merchant_private_pkcs8.b64"))
	if err != nil {
		t.Fatal(err)
	}
	antomPub := antomPublicKey(t)

	privateFormats := []string{"merchant_private_pkcs8.b64", "merchant_private_pkcs8.pem", "merchant_private_pkcs1.b64", "merchant_private_pkcs1.pem"}
	publicFormats := []string{"antom_sim_public_spki.b64", "antom_sim_public_spki.pem"}

	for _, privName := range privateFormats {
		for _, pubName := range publicFormats {
			for _, via := range []string{"env", "file", "literal"} {
				t.Run(via+"/"+privName+"+"+pubName, func(t *testing.T) {
					var priv, pub string
					switch via {
					case "env":
						t.Setenv("ANTOM_TEST_PRIVATE_KEY", vectors.Key(t, privName))
						t.Setenv("ANTOM_TEST_PUBLIC_KEY", vectors.Key(t, pubName))
						priv, pub = "{env.ANTOM_TEST_PRIVATE_KEY}", "{env.ANTOM_TEST_PUBLIC_KEY}"
					case "file":
						priv = "{file." + vectors.KeyPath(t, privName) + "}"
						pub = "{file." + vectors.KeyPath(t, pubName) + "}"
					case "literal":
						priv, pub = vectors.Key(t, privName), vectors.Key(t, pubName)
					}
					t.Setenv("ANTOM_TEST_CLIENT_ID", "TEST_5X00000000000000")
					p := &Profile{
						ClientID:        "{env.ANTOM_TEST_CLIENT_ID}",
						PrivateKey:      priv,
						AntomPublicKeys: []AntomPublicKey{{Key: pub}},
					}
					if err := p.provision("shop"); err != nil {
						t.Fatalf("provision: %v", err)
					}
					c := p.client
					if c.Signer.ClientID != "TEST_5X00000000000000" {
						t.Errorf("client id = %q", c.Signer.ClientID)
					}
					if c.Signer.Key == nil || !c.Signer.Key.Equal(merchant) {
						t.Errorf("private key did not load as the merchant vector key")
					}
					got, ok := c.AntomKeys.Get("1")
					if !ok || !got.Equal(antomPub) {
						t.Errorf("Antom public key version 1 did not load as the vector key")
					}
					// The placeholders stay in the config; only the parsed keys are kept.
					if p.PrivateKey != priv || p.AntomPublicKeys[0].Key != pub {
						t.Errorf("provision rewrote the configured fields")
					}
				})
			}
		}
	}
}

func TestProfileProvisionSettings(t *testing.T) {
	t.Setenv("ANTOM_TEST_AGENT", "agent-token-value")
	p := &Profile{
		ClientID:   "SANDBOX_5X00000000000000",
		KeyVersion: "4",
		Gateway:    "eu",
		AgentToken: "{env.ANTOM_TEST_AGENT}",
		AntomPublicKeys: []AntomPublicKey{
			{Key: vectors.Key(t, "antom_sim_public_spki.b64"), KeyVersion: "1"},
			{Key: vectors.Key(t, "merchant_public_spki.pem"), KeyVersion: "2"},
		},
	}
	if err := p.provision("default"); err != nil {
		t.Fatal(err)
	}
	c := p.client
	if c.Gateway != "https://open-de-global.alipay.com" {
		t.Errorf("gateway = %q", c.Gateway)
	}
	if c.AgentToken != "agent-token-value" {
		t.Errorf("agent token = %q", c.AgentToken)
	}
	if c.Signer.KeyVersion != "4" {
		t.Errorf("key version = %q", c.Signer.KeyVersion)
	}
	if c.Signer.Key != nil {
		t.Errorf("no private_key configured, but the signer has a key")
	}
	if got := c.AntomKeys.Versions(); strings.Join(got, ",") != "1,2" {
		t.Errorf("Antom key versions = %v, want 1,2", got)
	}
	if _, err := c.AntomKeys.Verify("POST", "/antom/notify", "x", "t", nil, "algorithm=RSA256,keyVersion=3,signature=AAAA"); err == nil ||
		!strings.Contains(err.Error(), "only version(s) 1, 2 are configured") {
		t.Errorf("unknown key version error = %v", err)
	}
}

// TestProfileProvisionVerifiesNotificationVector checks that a provisioned profile verifies the
// golden notification with the key version given in the Caddyfile.
func TestProfileProvisionVerifiesNotificationVector(t *testing.T) {
	p := &Profile{
		ClientID:        "TEST_5X00000000000000",
		AntomPublicKeys: []AntomPublicKey{{Key: "{file." + vectors.KeyPath(t, "antom_sim_public_spki.pem") + "}"}},
	}
	if err := p.provision("default"); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(vectors.Dir, "notification", "body.json"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(vectors.Dir, "notification", "signature_header_value.txt"))
	if err != nil {
		t.Fatal(err)
	}
	header := strings.TrimSpace(string(sig))
	if v, err := p.client.AntomKeys.Verify("POST", "/antom/notify", "TEST_5X00000000000000", "2024-01-01T00:01:11-08:00", body, header); err != nil || v != "1" {
		t.Fatalf("vector does not verify: version %q, %v", v, err)
	}
	if _, err := p.client.AntomKeys.Verify("POST", "/notify", "TEST_5X00000000000000", "2024-01-01T00:01:11-08:00", body, header); err == nil {
		t.Fatal("vector verified on the wrong path")
	}
}

func TestProfileProvisionErrors(t *testing.T) {
	merchantPKCS8 := vectors.Key(t, "merchant_private_pkcs8.b64")
	merchantPEM := vectors.Key(t, "merchant_private_pkcs1.pem")
	merchantPub := vectors.Key(t, "merchant_public_spki.b64")
	antomPub := vectors.Key(t, "antom_sim_public_spki.b64")
	antomPubPEM := vectors.Key(t, "antom_sim_public_spki.pem")
	antomPriv := vectors.Key(t, "antom_sim_private_pkcs8.pem")
	garbage := "this-is-not-a-key-but-a-secret-looking-string-0123456789abcdefghijklmnopqrstuvwxyz"
	truncated := merchantPKCS8[:len(merchantPKCS8)/2]
	const agentSecret = "agent-token-SECRET-abcdefghijklmnop"

	tests := []struct {
		name    string
		env     map[string]string
		profile Profile
		want    []string
		secrets []string
	}{
		{
			name:    "missing client_id",
			profile: Profile{AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "client_id is required"},
		},
		{
			name:    "client_id env var unset",
			profile: Profile{ClientID: "{env.ANTOM_TEST_UNSET_CLIENT_ID}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "client_id", "{env.ANTOM_TEST_UNSET_CLIENT_ID}", "is empty"},
		},
		{
			name:    "private_key env var unset",
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_UNSET_KEY}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key", "{env.ANTOM_TEST_UNSET_KEY}"},
		},
		{
			name:    "private_key file missing",
			profile: Profile{ClientID: "A", PrivateKey: "{file./nonexistent/antom/merchant_private_key.pem}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key", "/nonexistent/antom/merchant_private_key.pem"},
		},
		{
			name:    "antom_public_key env var unset names the key version",
			profile: Profile{ClientID: "A", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}, {Key: "{env.ANTOM_TEST_UNSET_PUB}", KeyVersion: "2"}}},
			want:    []string{`antom profile "shop"`, "antom_public_key 2", "{env.ANTOM_TEST_UNSET_PUB}"},
		},
		{
			name:    "agent_token env var unset",
			profile: Profile{ClientID: "A", AgentToken: "{env.ANTOM_TEST_UNSET_AGENT}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "agent_token", "{env.ANTOM_TEST_UNSET_AGENT}"},
		},
		{
			name:    "no antom_public_key",
			env:     map[string]string{"ANTOM_TEST_KEY": merchantPKCS8},
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_KEY}"},
			want:    []string{`antom profile "shop"`, "antom_public_key is required"},
			secrets: []string{merchantPKCS8},
		},
		{
			name:    "Antom's public key given as private_key",
			env:     map[string]string{"ANTOM_TEST_KEY": antomPub},
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_KEY}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key", "got a public key"},
			secrets: []string{antomPub},
		},
		{
			name:    "merchant private key given as antom_public_key",
			env:     map[string]string{"ANTOM_TEST_KEY": merchantPEM},
			profile: Profile{ClientID: "A", AntomPublicKeys: []AntomPublicKey{{Key: "{env.ANTOM_TEST_KEY}"}}},
			want:    []string{`antom profile "shop"`, "antom_public_key 1", "got a private key"},
			secrets: []string{merchantPEM},
		},
		{
			name:    "Antom's private key given as antom_public_key (literal)",
			profile: Profile{ClientID: "A", AntomPublicKeys: []AntomPublicKey{{Key: antomPriv, KeyVersion: "2"}}},
			want:    []string{`antom profile "shop"`, "antom_public_key 2", "got a private key"},
			secrets: []string{antomPriv},
		},
		{
			name: "merchant's own public key where Antom's belongs",
			env:  map[string]string{"ANTOM_TEST_KEY": merchantPKCS8, "ANTOM_TEST_PUB": merchantPub},
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_KEY}",
				AntomPublicKeys: []AntomPublicKey{{Key: antomPubPEM}, {Key: "{env.ANTOM_TEST_PUB}", KeyVersion: "2"}}},
			want:    []string{`antom profile "shop"`, "antom_public_key 2 is the public half of your own private_key"},
			secrets: []string{merchantPKCS8, merchantPub},
		},
		{
			name: "Antom's key pair swapped in entirely",
			profile: Profile{ClientID: "A", PrivateKey: antomPriv,
				AntomPublicKeys: []AntomPublicKey{{Key: antomPubPEM}}},
			want:    []string{"antom_public_key 1 is the public half of your own private_key"},
			secrets: []string{antomPriv, antomPubPEM},
		},
		{
			name:    "garbage private_key via env",
			env:     map[string]string{"ANTOM_TEST_KEY": garbage},
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_KEY}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key"},
			secrets: []string{garbage},
		},
		{
			name:    "garbage private_key literal",
			profile: Profile{ClientID: "A", PrivateKey: garbage, AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key"},
			secrets: []string{garbage},
		},
		{
			name:    "truncated private_key (half a paste)",
			env:     map[string]string{"ANTOM_TEST_KEY": truncated},
			profile: Profile{ClientID: "A", PrivateKey: "{env.ANTOM_TEST_KEY}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "private_key"},
			secrets: []string{truncated},
		},
		{
			name:    "garbage antom_public_key file",
			env:     map[string]string{},
			profile: Profile{ClientID: "A", AntomPublicKeys: []AntomPublicKey{{Key: "{file.GARBAGE_FILE}"}}},
			want:    []string{`antom profile "shop"`, "antom_public_key 1"},
			secrets: []string{garbage},
		},
		{
			name:    "bad gateway next to a good secret",
			env:     map[string]string{"ANTOM_TEST_AGENT": agentSecret},
			profile: Profile{ClientID: "A", Gateway: "mars", AgentToken: "{env.ANTOM_TEST_AGENT}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{`antom profile "shop"`, "gateway", "mars"},
			secrets: []string{agentSecret},
		},
		{
			name:    "error after the agent token resolved",
			env:     map[string]string{"ANTOM_TEST_AGENT": agentSecret, "ANTOM_TEST_KEY": garbage},
			profile: Profile{ClientID: "A", AgentToken: "{env.ANTOM_TEST_AGENT}", PrivateKey: "{env.ANTOM_TEST_KEY}", AntomPublicKeys: []AntomPublicKey{{Key: antomPub}}},
			want:    []string{"private_key"},
			secrets: []string{agentSecret, garbage},
		},
	}
	garbageFile := filepath.Join(t.TempDir(), "antom_public_key.pem")
	if err := os.WriteFile(garbageFile, []byte(garbage+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p := tt.profile
			for i := range p.AntomPublicKeys {
				p.AntomPublicKeys[i].Key = strings.ReplaceAll(p.AntomPublicKeys[i].Key, "GARBAGE_FILE", garbageFile)
			}
			err := p.provision("shop")
			if err == nil {
				t.Fatalf("provision accepted the profile; want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			assertNoSecret(t, err.Error(), tt.secrets...)
			if p.client != nil {
				t.Errorf("a failed provision left a client behind")
			}
		})
	}
}

// TestWebhookForwardSecretErrors checks that a missing or malformed forward_secret fails
// antom_webhook's Provision with a message that says what is wrong but never echoes the value.
// Provision checks the secret before it looks up the antom app, so a bare Context is enough.
func TestWebhookForwardSecretErrors(t *testing.T) {
	const (
		noPrefix  = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
		notBase64 = "whsec_this*is*not*base64*but*is*secret*anyway"
		tooShort  = "whsec_c2hvcnQtc2VjcmV0LXg="
		spaced    = "whsec_not base64 either, with spaces and a secret"
	)
	tests := []struct {
		name   string
		env    string // value of ANTOM_TEST_FORWARD_SECRET; unset when empty
		secret string // forward_secret as configured
		want   string
		leak   string
	}{
		{"missing", "", "", "forward_secret is required", ""},
		{"env var unset", "", "{env.ANTOM_TEST_FORWARD_SECRET}", "{env.ANTOM_TEST_FORWARD_SECRET}", ""},
		{"file missing", "", "{file./nonexistent/forward_secret}", "/nonexistent/forward_secret", ""},
		{"no whsec_ prefix via env", noPrefix, "{env.ANTOM_TEST_FORWARD_SECRET}", "no whsec_ prefix", noPrefix},
		{"no whsec_ prefix literal", "", noPrefix, "no whsec_ prefix", noPrefix},
		{"not base64", notBase64, "{env.ANTOM_TEST_FORWARD_SECRET}", "not valid standard base64", notBase64},
		{"spaces", spaced, "{env.ANTOM_TEST_FORWARD_SECRET}", "not valid standard base64", spaced},
		{"too short", tooShort, "{env.ANTOM_TEST_FORWARD_SECRET}", "too short", tooShort},
		{"second of two bad", tooShort, "", "forward_secret #2 of 2", tooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("ANTOM_TEST_FORWARD_SECRET", tt.env)
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := &handlers.Webhook{Forward: "http://127.0.0.1:8080/antom-events", ForwardSecret: tt.secret}
			if strings.HasPrefix(tt.name, "second") {
				good, _ := delivery.GenerateSecret()
				h.ForwardSecret, h.ForwardSecrets = good, []string{"{env.ANTOM_TEST_FORWARD_SECRET}"}
			}
			err := h.Provision(ctx)
			if err == nil {
				t.Fatal("Provision accepted the secret")
			}
			if !strings.Contains(err.Error(), "antom_webhook: forward_secret") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name forward_secret and %q", err, tt.want)
			}
			if tt.leak != "" {
				assertNoSecret(t, err.Error(), tt.leak, strings.TrimPrefix(tt.leak, "whsec_"))
			}
		})
	}

	// The same checks through delivery.ParseSecret, and the good case for contrast.
	good, err := delivery.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := delivery.ParseSecret(good); err != nil {
		t.Fatalf("a generated secret does not parse: %v", err)
	}
	for _, bad := range []string{noPrefix, notBase64, tooShort, spaced, good[:len(good)-20], "{env.X}"} {
		_, err := delivery.ParseSecret(bad)
		if err == nil {
			t.Errorf("ParseSecret accepted a bad secret")
			continue
		}
		assertNoSecret(t, err.Error(), bad)
	}
}

// TestWebhookForwardKeyErrors checks antom_webhook's checks of forward_format antom at Provision:
// forward_key resolved and parsed without echoing it, the options that need each other, and the
// pass-through path Antom signs. They run before the antom app is looked up, so a bare Context
// is enough (the e2e tests provision good ones, without forward_secret).
func TestWebhookForwardKeyErrors(t *testing.T) {
	const garbage = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-not-really-a-key"
	key := vectors.Key(t, "merchant_private_pkcs8.b64")
	secret, err := delivery.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    handlers.Webhook
		want string
		leak string
	}{
		{"key without the antom format", handlers.Webhook{ForwardKey: key, ForwardSecret: secret},
			"forward_key and forward_key_version sign deliveries in Antom's format; add forward_format antom", ""},
		{"unknown format", handlers.Webhook{ForwardFormat: "svix"}, `forward_format must be standard_webhooks or antom, not "svix"`, ""},
		{"key version without key", handlers.Webhook{ForwardFormat: "antom", ForwardKeyVersion: "2", NotifyPath: "/antom-events"},
			"forward_key_version is given without forward_key", ""},
		{"key env unset", handlers.Webhook{ForwardFormat: "antom", ForwardKey: "{env.ANTOM_TEST_FORWARD_KEY}"},
			"antom_webhook: forward_key: evaluated placeholder {env.ANTOM_TEST_FORWARD_KEY} is empty", ""},
		{"not a key", handlers.Webhook{ForwardFormat: "antom", ForwardKey: garbage}, "antom_webhook: forward_key:", garbage},
		{"pass-through without notify_path", handlers.Webhook{ForwardFormat: "antom"},
			"set notify_path to that path (your notify URL's path, e.g. /antom-events)", ""},
		{"pass-through to another path", handlers.Webhook{ForwardFormat: "antom", NotifyPath: "/antom/notify"},
			"Antom signed the path /antom/notify (notify_path) and the forward URL's path is /antom-events", ""},
		{"pass-through, query differs", handlers.Webhook{ForwardFormat: "antom", NotifyPath: "/antom-events?shop=2"},
			"forward to a URL whose path is /antom-events?shop=2, or add forward_key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := tt.h
			h.Forward = "http://127.0.0.1:8080/antom-events"
			err := h.Provision(ctx)
			if err == nil {
				t.Fatal("Provision succeeded without an antom app")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if h.ForwardFormat == "antom" && strings.Contains(err.Error(), "forward_secret") {
				t.Errorf("error %q asks for forward_secret, which the antom format does not need", err)
			}
			assertNoSecret(t, err.Error(), key)
			if tt.leak != "" {
				assertNoSecret(t, err.Error(), tt.leak)
			}
		})
	}
}
