// Package simulator is an offline stand-in for the Antom (Alipay Global "AMS") payment gateway,
// in the spirit of stripe-mock and net/http/httptest: the payment APIs with real request
// verification and signed responses, a hosted cashier page with Pay / Fail / Cancel buttons,
// signed notifications with Antom's retry schedule, and magic amounts that force the hard cases
// (final failure, unknown result, timeout, unsigned answer, broken signature).
//
// All state (payments, refunds, captures, tokens, notifications) is kept in memory and is lost
// when the Simulator is dropped. It is a development and test tool: it moves no money, and its
// control endpoints (/simulator/...) have no authentication, so never expose it publicly.
//
// In a Go test:
//
//	srv := simulator.NewServer(simulator.Config{
//		Merchants: []simulator.Merchant{{ClientID: "TEST_CLIENT", PublicKey: &merchantKey.PublicKey}},
//	})
//	defer srv.Close()
//	client := &antom.Client{Gateway: srv.URL, Signer: ..., AntomKeys: antom.NewKeyring(srv.PublicKey())}
//
// See README.md in this directory for the endpoints, the magic amounts and the retry schedule.
package simulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-antom/caddy-antom/antom"
)

// Config configures a Simulator. The zero value is usable except that no request will verify
// until at least one Merchant is configured.
type Config struct {
	// Key is the simulator's Antom private key: it signs responses and notifications. The
	// merchant verifies them with the matching public key (PublicKey). nil generates an RSA-2048
	// pair at start.
	Key *rsa.PrivateKey
	// KeyVersion is announced in the keyVersion of the simulator's signatures. Default "1".
	KeyVersion string
	// Merchants are the merchant public keys request signatures are checked with.
	Merchants []Merchant
	// BaseURL is the public base URL of the simulator, used for cashier links (normalUrl),
	// e.g. "https://localhost:8443". Empty derives it from each request's scheme and Host,
	// which is right unless a proxy in front changes the host or strips a path prefix.
	BaseURL string
	// RetryScale multiplies Antom's notification retry schedule (0s, 2m, 10m, 10m, 1h, 2h, 6h,
	// 15h between attempts). 0 means 1; 0.001 runs the whole 24 h schedule in about 90 s.
	RetryScale float64
	// DropNotifications makes the simulator record but never send notifications, to exercise
	// reconciliation by inquiry. It can be toggled at run time (SetDropNotifications, or
	// POST /simulator/drop_notifications).
	DropNotifications bool
	// DropTypes limits the drop switch to the notifications of these notifyTypes (e.g.
	// REFUND_RESULT, CAPTURE_RESULT), to exercise the reconciliation of refunds and captures
	// while payment results still arrive. Empty: every notification. Settable at run time
	// (SetDropTypes, or POST /simulator/drop_notifications with "types").
	DropTypes []string
	// NotifyClient sends notifications. nil means a client with a 10 s timeout that verifies
	// TLS against the system roots and does not follow redirects.
	NotifyClient *http.Client
	// Logger receives the startup line and notification outcomes. nil means no logging.
	Logger *zap.Logger
	// Now is the clock used for timestamps and expiry. nil means time.Now.
	Now func() time.Time
	// SlowResponseDelay is how long the answer to a request carrying the magic "slow" amount
	// (value ending in 4003) is held back. 0 means 30 s, longer than any sane client timeout.
	SlowResponseDelay time.Duration
	// EasySafePayNotification picks the notifyAuthorization an EasySafePay first payment sends,
	// one of the two variants Antom documents: AuthCodeCreated ("AUTHCODE_CREATED", the
	// default: an authCode the merchant exchanges with applyToken) or TokenCreated
	// ("TOKEN_CREATED": the accessToken itself, as Antom's current documentation describes).
	EasySafePayNotification string
}

// Merchant is a merchant the simulator accepts requests from.
type Merchant struct {
	// ClientID is the merchant's Antom client id (SANDBOX_ prefix for sandbox ids). Empty
	// matches any client id.
	ClientID string
	// PublicKey is the merchant public key that verifies the merchant's request signatures.
	PublicKey *rsa.PublicKey
}

// Simulator is an offline Antom gateway. It is an http.Handler; create it with New and stop
// its notification goroutines with Close. It is safe for concurrent use.
type Simulator struct {
	key        *rsa.PrivateKey
	keyVersion string
	merchants  []Merchant
	baseURL    string
	retryScale float64
	slowDelay  time.Duration
	// espNotification is Config.EasySafePayNotification, defaulted.
	espNotification string
	client          *http.Client
	log             *zap.Logger
	now             func() time.Time
	mux             *http.ServeMux

	drop      atomic.Bool
	dropTypes atomic.Pointer[[]string] // nil or empty: the drop switch drops every type

	// ctx is cancelled by Close; it bounds every notification goroutine and attempt.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex
	state    state
	isClosed bool // set by Close; no goroutine starts after it
	sweeping bool // the expiry sweeper runs
}

// New checks cfg and returns a ready Simulator. It logs one line with the simulator's public
// key. Close it when done.
func New(cfg Config) (*Simulator, error) {
	s := &Simulator{
		key:        cfg.Key,
		keyVersion: cfg.KeyVersion,
		retryScale: cfg.RetryScale,
		slowDelay:  cfg.SlowResponseDelay,
		client:     cfg.NotifyClient,

		espNotification: cfg.EasySafePayNotification,
		log:             cfg.Logger,
		now:             cfg.Now,
		state:           newState(),
	}
	if s.key != nil && s.key.N.BitLen() < antom.MinKeyBits {
		return nil, fmt.Errorf("simulator: Key is RSA-%d; Antom uses RSA-2048", s.key.N.BitLen())
	}
	if s.keyVersion == "" {
		s.keyVersion = antom.DefaultKeyVersion
	}
	if strings.ContainsAny(s.keyVersion, ", \t=") {
		return nil, fmt.Errorf("simulator: KeyVersion %q must not contain commas, '=' or spaces", s.keyVersion)
	}
	for i, m := range cfg.Merchants {
		if m.PublicKey == nil {
			return nil, fmt.Errorf("simulator: Merchants[%d] (client id %q) has no PublicKey", i, m.ClientID)
		}
		s.merchants = append(s.merchants, m)
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("simulator: BaseURL %q is not an absolute http(s) URL without query", cfg.BaseURL)
		}
		s.baseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	switch {
	case s.retryScale < 0:
		return nil, fmt.Errorf("simulator: RetryScale %v is negative", s.retryScale)
	case s.retryScale == 0:
		s.retryScale = 1
	}
	if s.slowDelay <= 0 {
		s.slowDelay = 30 * time.Second
	}
	switch s.espNotification {
	case "":
		s.espNotification = AuthCodeCreated
	case AuthCodeCreated, TokenCreated:
	default:
		return nil, fmt.Errorf("simulator: EasySafePayNotification %q is not %s or %s", s.espNotification, AuthCodeCreated, TokenCreated)
	}
	if s.key == nil { // last: the checks above are cheap, key generation is not
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("simulator: generating the Antom key pair: %v", err)
		}
		s.key = k
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: 10 * time.Second,
			// Antom does not follow a redirect from a notify URL; neither do we.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.drop.Store(cfg.DropNotifications)
	s.SetDropTypes(cfg.DropTypes...)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = s.routes()

	s.log.Info("antom simulator ready: an offline Antom gateway for development; state is in memory only and lost on restart",
		zap.String("antom_public_key", antom.EncodePublicKey(&s.key.PublicKey)),
		zap.String("key_version", s.keyVersion),
		zap.Int("merchant_keys", len(s.merchants)),
		zap.Float64("retry_scale", s.retryScale),
		zap.Bool("drop_notifications", cfg.DropNotifications))
	if len(s.merchants) == 0 {
		s.log.Warn("antom simulator: no merchant public key configured; every API call will be answered KEY_NOT_FOUND (configure merchant_public_key)")
	}
	return s, nil
}

// routes maps every endpoint of the simulator; Owns must agree with it.
func (s *Simulator) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(prodPrefix, s.serveGateway)
	mux.HandleFunc(sandboxPrefix, s.serveGateway)
	mux.HandleFunc("GET /cashier/{paymentId}", s.serveCashier)
	mux.HandleFunc("POST /cashier/{paymentId}", s.serveCashierAction)
	mux.HandleFunc("GET /cashier/{paymentId}/3ds", s.serveChallenge)
	mux.HandleFunc("POST /cashier/{paymentId}/3ds", s.serveChallengeAction)
	mux.HandleFunc("GET /simulator/{$}", s.serveIndex)
	mux.HandleFunc("GET /simulator/public_key", s.servePublicKey)
	mux.HandleFunc("GET /simulator/notifications", s.serveNotifications)
	mux.HandleFunc("GET /simulator/drop_notifications", s.serveDrop)
	mux.HandleFunc("POST /simulator/drop_notifications", s.serveDrop)
	mux.HandleFunc("GET /simulator/payments", s.servePayments)
	mux.HandleFunc("GET /simulator/payments/{ref}", s.servePayment)
	mux.HandleFunc("POST /simulator/payments/{ref}/{action}", s.servePaymentAction)
	return mux
}

// ServeHTTP serves the gateway (/ams/api/..., /ams/sandbox/api/...), the cashier pages
// (/cashier/...) and the control endpoints (/simulator/...).
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Owns reports whether path is one the simulator serves, so that a host (such as the Caddy
// handler) can pass other requests on.
func (s *Simulator) Owns(path string) bool {
	for _, p := range []string{prodPrefix, sandboxPrefix, "/cashier/", "/simulator/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// PublicKey returns the simulator's Antom public key: the key merchants verify responses and
// notifications with (alipayPublicKey in the SDKs). antom.EncodePublicKey turns it into the
// one-line base64 form.
func (s *Simulator) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// KeyVersion returns the key version the simulator signs with.
func (s *Simulator) KeyVersion() string { return s.keyVersion }

// SetDropNotifications turns the drop switch on or off. While it is on, new notifications are
// recorded as "dropped" and pending retries stop at their next attempt.
func (s *Simulator) SetDropNotifications(drop bool) { s.drop.Store(drop) }

// DropNotifications reports the drop switch.
func (s *Simulator) DropNotifications() bool { return s.drop.Load() }

// SetDropTypes limits the drop switch to notifications of the given notifyTypes; none: it
// drops every notification.
func (s *Simulator) SetDropTypes(types ...string) {
	t := slices.Clone(types)
	s.dropTypes.Store(&t)
}

// DropTypes returns the notifyTypes the drop switch is limited to (none: every type).
func (s *Simulator) DropTypes() []string {
	if t := s.dropTypes.Load(); t != nil {
		return slices.Clone(*t)
	}
	return nil
}

// dropping reports whether a notification of notifyType typ is to be dropped now.
func (s *Simulator) dropping(typ string) bool {
	if !s.drop.Load() {
		return false
	}
	t := s.dropTypes.Load()
	return t == nil || len(*t) == 0 || slices.Contains(*t, typ)
}

// Close stops the notification goroutines and waits for them; notifications not yet
// acknowledged are marked "stopped". The handler keeps answering API calls after Close, but
// sends nothing. Close is idempotent.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.isClosed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
	})
}

// closed reports whether Close was called.
func (s *Simulator) closed() bool { return s.ctx.Err() != nil }

// goLocked runs f in a goroutine that Close waits for, unless the simulator is closed.
// Callers hold mu; Close sets isClosed under mu before waiting, so no goroutine starts after.
func (s *Simulator) goLocked(f func()) bool {
	if s.isClosed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// startSweeperLocked starts, on first use, the goroutine that closes expired payments so that
// their PAYMENT_RESULT goes out on time even if nobody looks at them. Starting it lazily keeps
// New free of goroutines (Caddy provisions configs it never runs, e.g. for `caddy validate`).
func (s *Simulator) startSweeperLocked() {
	if s.sweeping {
		return
	}
	s.sweeping = s.goLocked(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.mu.Lock()
				s.expireAllLocked()
				s.mu.Unlock()
			}
		}
	})
}

// baseFor returns the base URL for links in an answer to r.
func (s *Simulator) baseFor(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// errNotFound and errConflict classify control-endpoint failures.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)
