package handlers

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddypki"
	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/simulator"
)

func init() {
	caddy.RegisterModule(Simulator{})
}

// Simulator serves an offline stand-in for the Antom gateway, for development, tests and
// demos without an Antom account or internet: the payment APIs under /ams/api/ and
// /ams/sandbox/api/ (requests verified, answers signed), a hosted cashier page under /cashier/
// with Pay / Fail / Cancel buttons, signed notifications on Antom's retry schedule, and control
// endpoints under /simulator/. Requests for other paths go to the next handler. State is kept
// in memory: it survives config reloads that leave this handler's configuration unchanged, and
// nothing else. Never expose it publicly: it moves no money and /simulator/ has no
// authentication. See simulator/README.md.
type Simulator struct {
	// PrivateKey is the simulator's Antom private key, which signs responses and notifications
	// (PKCS#8 or PKCS#1, one-line base64 or PEM). Accepts {env.*} and {file.*} placeholders.
	// Default: an RSA-2048 pair generated at start; its public key is logged and served at
	// /simulator/public_key.
	PrivateKey string `json:"private_key,omitempty"`

	// KeyVersion is the keyVersion the simulator announces in its signatures. Default: 1.
	KeyVersion string `json:"key_version,omitempty"`

	// Merchants are the merchant public keys that request signatures are verified with. Until
	// one is configured every API call is answered KEY_NOT_FOUND.
	Merchants []SimulatorMerchant `json:"merchants,omitempty"`

	// BaseURL is the public base URL of the simulator, used in cashier links (normalUrl), e.g.
	// https://localhost:8443. Default: the scheme and Host of each request; set it when a proxy
	// in front changes the host or a handle_path strips a prefix.
	BaseURL string `json:"base_url,omitempty"`

	// RetryScale multiplies Antom's notification retry schedule (0s, 2m, 10m, 10m, 1h, 2h, 6h,
	// 15h between attempts); 0.001 runs the whole 24 h schedule in about 90 s. Default: 1.
	RetryScale float64 `json:"retry_scale,omitempty"`

	// DropNotifications records notifications but never sends them, to exercise reconciliation
	// by inquiry. It can be toggled at run time with POST /simulator/drop_notifications.
	DropNotifications bool `json:"drop_notifications,omitempty"`

	// EasySafePayNotification is the notifyAuthorization an EasySafePay first payment sends,
	// one of the two variants Antom documents: AUTHCODE_CREATED (an authCode to exchange with
	// applyToken) or TOKEN_CREATED (the accessToken itself, as Antom's current documentation
	// describes). Default: AUTHCODE_CREATED.
	EasySafePayNotification string `json:"easysafepay_notification,omitempty"`

	sim     *simulator.Simulator
	poolKey string
}

// SimulatorMerchant is a merchant the simulator accepts requests from.
type SimulatorMerchant struct {
	// ClientID is the merchant's Antom client id (SANDBOX_... for the sandbox paths). Empty
	// matches any client id.
	ClientID string `json:"client_id,omitempty"`
	// PublicKey is the merchant public key (X.509 SubjectPublicKeyInfo, one-line base64 or PEM,
	// the key pasted into the Antom Dashboard). Accepts {env.*} and {file.*} placeholders.
	PublicKey string `json:"public_key"`
}

// simulators keeps a simulator, its key and its in-memory state across config reloads that do
// not change its configuration: on a reload the new handler finds the old instance, and the
// old handler's Cleanup only drops a reference. A simulator whose configuration changed is
// closed (its notification goroutines stop) when the last config using it is cleaned up.
var simulators = caddy.NewUsagePool()

type pooledSimulator struct{ *simulator.Simulator }

func (p pooledSimulator) Destruct() error {
	p.Close()
	return nil
}

// CaddyModule returns the Caddy module information.
func (Simulator) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.antom_simulator",
		New: func() caddy.Module { return new(Simulator) },
	}
}

// Provision resolves the keys and gets (or starts) the simulator for this configuration.
func (h *Simulator) Provision(ctx caddy.Context) error {
	log := ctx.Logger()
	repl := caddy.NewReplacer()
	cfg := simulator.Config{
		KeyVersion:        h.KeyVersion,
		BaseURL:           h.BaseURL,
		RetryScale:        h.RetryScale,
		DropNotifications: h.DropNotifications,
		Logger:            log,

		EasySafePayNotification: h.EasySafePayNotification,
	}
	// identity is what the pool key is derived from: the resolved configuration.
	identity := struct {
		PrivateKey, KeyVersion, BaseURL string
		Merchants                       []SimulatorMerchant
		RetryScale                      float64
		Drop                            bool
		CARoot                          string
		EasySafePayNotification         string
	}{KeyVersion: h.KeyVersion, BaseURL: h.BaseURL, RetryScale: h.RetryScale, Drop: h.DropNotifications, EasySafePayNotification: h.EasySafePayNotification}

	if h.PrivateKey != "" {
		text, err := repl.ReplaceOrErr(h.PrivateKey, true, true)
		if err != nil {
			return fmt.Errorf("antom_simulator: private_key: %v (check that the environment variable or file exists and is not empty)", err)
		}
		if cfg.Key, err = antom.ParsePrivateKey(text); err != nil {
			return fmt.Errorf("antom_simulator: private_key: %v", err)
		}
		identity.PrivateKey = antom.EncodePrivateKey(cfg.Key)
	}
	for i, m := range h.Merchants {
		text, err := repl.ReplaceOrErr(m.PublicKey, true, true)
		if err != nil {
			return fmt.Errorf("antom_simulator: merchants[%d] (client id %q): public_key: %v", i, m.ClientID, err)
		}
		pub, err := antom.ParsePublicKey(text)
		if err != nil {
			return fmt.Errorf("antom_simulator: merchants[%d] (client id %q): public_key: %v (expected the merchant's public key, as pasted into the Antom Dashboard)", i, m.ClientID, err)
		}
		cfg.Merchants = append(cfg.Merchants, simulator.Merchant{ClientID: m.ClientID, PublicKey: pub})
		identity.Merchants = append(identity.Merchants, SimulatorMerchant{ClientID: m.ClientID, PublicKey: antom.EncodePublicKey(pub)})
	}
	var root *x509.Certificate
	cfg.NotifyClient, root = notifyClient(ctx, log)
	if root != nil {
		sum := sha256.Sum256(root.Raw)
		identity.CARoot = hex.EncodeToString(sum[:])
	}

	raw, _ := json.Marshal(identity) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(raw)
	key := "antom_simulator:" + hex.EncodeToString(sum[:])
	val, loaded, err := simulators.LoadOrNew(key, func() (caddy.Destructor, error) {
		sim, err := simulator.New(cfg)
		if err != nil {
			return nil, err
		}
		return pooledSimulator{sim}, nil
	})
	if err != nil {
		return fmt.Errorf("antom_simulator: %v", err)
	}
	h.sim, h.poolKey = val.(pooledSimulator).Simulator, key
	if loaded {
		log.Info("antom simulator: configuration unchanged, keeping its key and in-memory state",
			zap.String("antom_public_key", antom.EncodePublicKey(h.sim.PublicKey())))
	}
	return nil
}

// notifyClient returns the HTTP client for notifications: the system roots plus, when the
// config uses Caddy's internal CA (e.g. for https://localhost), the root of the "local" CA, so
// that a notify URL served by this same Caddy verifies. AppIfConfigured rather than App: the
// pki app is loaded by then whenever a site uses internal certificates, and asking for it
// otherwise would create a CA and try to install it in the system trust store.
func notifyClient(ctx caddy.Context, log *zap.Logger) (*http.Client, *x509.Certificate) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	var root *x509.Certificate
	if app, err := ctx.AppIfConfigured("pki"); err == nil {
		if pki, ok := app.(*caddypki.PKI); ok {
			if ca, err := pki.GetCA(ctx, caddypki.DefaultCAID); err == nil {
				root = ca.RootCertificate()
			} else {
				log.Warn("antom simulator: Caddy's local CA is unavailable; notify URLs must have publicly trusted certificates", zap.Error(err))
			}
		}
	}
	if root != nil {
		roots.AddCert(root)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: transport,
		// Antom does not follow redirects from a notify URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, root
}

// Validate checks what Provision does not.
func (h *Simulator) Validate() error {
	if h.RetryScale < 0 {
		return fmt.Errorf("antom_simulator: retry_scale %v is negative", h.RetryScale)
	}
	switch h.EasySafePayNotification {
	case "", simulator.AuthCodeCreated, simulator.TokenCreated:
	default:
		return fmt.Errorf("antom_simulator: easysafepay_notification %q is not %s or %s", h.EasySafePayNotification, simulator.AuthCodeCreated, simulator.TokenCreated)
	}
	return nil
}

// ServeHTTP serves the simulator's paths and passes everything else to next.
func (h *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.sim.Owns(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	h.sim.ServeHTTP(w, r)
	return nil
}

// Cleanup releases this config's reference to the simulator; the last one closes it.
func (h *Simulator) Cleanup() error {
	if h.poolKey == "" {
		return nil
	}
	_, err := simulators.Delete(h.poolKey)
	h.poolKey = ""
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Simulator)(nil)
	_ caddy.Validator             = (*Simulator)(nil)
	_ caddy.CleanerUpper          = (*Simulator)(nil)
	_ caddyhttp.MiddlewareHandler = (*Simulator)(nil)
	_ caddyfile.Unmarshaler       = (*Simulator)(nil)
)
