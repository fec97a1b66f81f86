package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-antom/caddy-antom/antom"
	"github.com/caddy-antom/caddy-antom/simulator"
)

var simVectors = filepath.Join("..", "testdata", "antom-vectors", "keys")

func simVector(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(simVectors, name))
	if err != nil {
		t.Fatalf("golden vector %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

func simContext(t *testing.T) caddy.Context {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

// provisioned provisions h and registers its Cleanup.
func provisioned(t *testing.T, h *Simulator) *Simulator {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := h.Provision(simContext(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return h
}

// vectorSimulator is configured like the demo: keys through {env.*} and {file.*}.
func vectorSimulator(t *testing.T) *Simulator {
	t.Setenv("ANTOM_SIM_TEST_KEY", simVector(t, "antom_sim_private_pkcs8.b64"))
	abs, err := filepath.Abs(filepath.Join(simVectors, "merchant_public_spki.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &Simulator{
		PrivateKey: "{env.ANTOM_SIM_TEST_KEY}",
		Merchants:  []SimulatorMerchant{{ClientID: "TEST_5X00000000000000", PublicKey: "{file." + abs + "}"}},
		RetryScale: 0.001,
	}
}

// serve wraps the handler in a test server whose next handler answers 418.
func serve(t *testing.T, h *Simulator, nextCalls *atomic.Int32) *httptest.Server {
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		nextCalls.Add(1)
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func merchantClient(t *testing.T, gateway string) *antom.Client {
	key, err := antom.ParsePrivateKey(simVector(t, "merchant_private_pkcs8.b64"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := antom.ParsePublicKey(simVector(t, "antom_sim_public_spki.b64"))
	if err != nil {
		t.Fatal(err)
	}
	return &antom.Client{Gateway: gateway, Signer: antom.Signer{ClientID: "TEST_5X00000000000000", Key: key}, AntomKeys: antom.NewKeyring(pub)}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSimulatorHandler(t *testing.T) {
	h := provisioned(t, vectorSimulator(t))
	var nextCalls atomic.Int32
	srv := serve(t, h, &nextCalls)

	// The configured key (from {env.*}) is the one served and used.
	if code, body := httpGet(t, srv.URL+"/simulator/public_key"); code != 200 || body != simVector(t, "antom_sim_public_spki.b64") {
		t.Fatalf("public_key: HTTP %d %q", code, body)
	}
	// Other paths belong to the next handler.
	if code, _ := httpGet(t, srv.URL+"/shop/checkout"); code != http.StatusTeapot || nextCalls.Load() != 1 {
		t.Fatalf("a foreign path was not passed on (HTTP %d)", code)
	}

	// A merchant signing with the vectors' key (verified with the {file.*} public key) gets
	// answers signed with the configured Antom key.
	client := merchantClient(t, srv.URL)
	resp, err := client.Call(t.Context(), "v1/payments/pay", []byte(`{"productCode":"CASHIER_PAYMENT","paymentRequestId":"H_1","paymentAmount":{"currency":"USD","value":"1000"},"paymentRedirectUrl":"https://shop.example/r"}`))
	if err != nil || !resp.Signed || resp.Result.ResultCode != "PAYMENT_IN_PROCESS" {
		t.Fatalf("pay through the handler: %+v %v", resp, err)
	}
	if !strings.Contains(string(resp.Body), `"normalUrl":"`+srv.URL+`/cashier/`) {
		t.Fatalf("normalUrl not derived from the request: %s", resp.Body)
	}
}

// TestSimulatorHandlerReload: an unchanged configuration keeps the simulator (key and state)
// across a reload; the old instance's Cleanup does not stop it; the last Cleanup does, and
// stops its notification goroutines.
func TestSimulatorHandlerReload(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError) // never acknowledge: retries stay pending
	}))
	defer receiver.Close()

	old := vectorSimulator(t)
	old.RetryScale = 1 // the second attempt is 2 minutes away
	if err := old.Provision(simContext(t)); err != nil {
		t.Fatal(err)
	}
	sim := old.sim
	resp, err := merchantClient(t, serve(t, old, new(atomic.Int32)).URL).Call(t.Context(), "v1/payments/pay",
		[]byte(`{"productCode":"CASHIER_PAYMENT","paymentRequestId":"RELOAD_1","paymentAmount":{"currency":"USD","value":"1000"},"paymentRedirectUrl":"https://shop.example/r","paymentNotifyUrl":"`+receiver.URL+`/notify"}`))
	if err != nil || resp.Result.ResultCode != "PAYMENT_IN_PROCESS" {
		t.Fatalf("pay: %+v %v", resp, err)
	}
	if _, err := sim.Act("RELOAD_1", simulator.BuyerPay); err != nil {
		t.Fatal(err)
	}

	// Reload with the same configuration: same simulator, same state.
	cur := vectorSimulator(t)
	cur.RetryScale = 1
	if err := cur.Provision(simContext(t)); err != nil {
		t.Fatal(err)
	}
	if cur.sim != sim {
		t.Fatal("an unchanged configuration got a new simulator")
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if p, ok := cur.sim.Payment("RELOAD_1"); !ok || p.Status != simulator.StatusSuccess {
		t.Fatal("the payment was lost across the reload")
	}

	// A changed configuration is another simulator.
	changed := vectorSimulator(t)
	changed.DropNotifications = true
	provisioned(t, changed)
	if changed.sim == sim {
		t.Fatal("a changed configuration shares the old simulator")
	}

	// The last Cleanup closes the simulator: its pending notification stops at once.
	waitUntil(t, func() bool { n := sim.Notifications(); return len(n) == 1 && len(n[0].Attempts) == 1 })
	start := time.Now()
	if err := cur.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Cleanup took %v", d)
	}
	if n := sim.Notifications(); n[0].State != simulator.NotifyStopped {
		t.Fatalf("notification state after the last Cleanup: %s", n[0].State)
	}
}

func TestSimulatorHandlerGeneratedKey(t *testing.T) {
	a := provisioned(t, &Simulator{})
	b := provisioned(t, &Simulator{})
	if !a.sim.PublicKey().Equal(b.sim.PublicKey()) {
		t.Fatal("the generated key changed across a reload of the same configuration")
	}
}

func TestSimulatorHandlerProvisionErrors(t *testing.T) {
	secret := simVector(t, "antom_sim_private_pkcs8.b64")
	for name, c := range map[string]struct {
		h    Simulator
		want string
	}{
		"missing env":         {Simulator{PrivateKey: "{env.ANTOM_SIM_TEST_UNSET_VAR}"}, "private_key"},
		"missing file":        {Simulator{PrivateKey: "{file./nonexistent/antom.pem}"}, "private_key"},
		"not a key":           {Simulator{PrivateKey: "not-a-key"}, "private_key"},
		"public key as key":   {Simulator{PrivateKey: simVector(t, "merchant_public_spki.b64")}, "private_key"},
		"bad merchant key":    {Simulator{Merchants: []SimulatorMerchant{{ClientID: "C1", PublicKey: "MIIB"}}}, `client id "C1"`},
		"private as merchant": {Simulator{Merchants: []SimulatorMerchant{{PublicKey: secret}}}, "public_key"},
		"relative base url":   {Simulator{BaseURL: "localhost"}, "BaseURL"},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.h.Provision(simContext(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret[20:60]) {
				t.Fatal("the error echoes key material")
			}
		})
	}
	if err := (&Simulator{RetryScale: -1}).Validate(); err == nil {
		t.Fatal("a negative retry_scale validated")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
