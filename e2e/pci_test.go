package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The card of the PCI test: a magic-free Visa test number, and a CVV and expiry to look for.
const (
	pciCardNo = "4111111111111111"
	pciCVV    = "737"
	pciMonth  = "07"
	pciYear   = "2031"
)

// pciLeak finds card data: the number anywhere; the CVV and the expiry as values of their
// fields (three digits and a year also occur by chance in ids, times and signatures), in JSON
// or in JSON escaped into a log line, and as a printed expiry.
var pciLeak = regexp.MustCompile(pciCardNo + `|(?i)cvv\W{0,8}` + pciCVV + `|(?i)expiry(year|month)?\W{0,8}(` + pciYear + `|` + pciMonth + `)|` + pciMonth + `/(20)?31`)

// TestCardDataNeverStored: a server-to-server card payment through antom_api, with Caddy at
// debug level and metrics on. The payment goes all the way (Antom's answer, PAYMENT_RESULT and
// CAPTURE_RESULT verified, stored and delivered to the app), and no card number, CVV or expiry
// appears in any log line, Caddy event, file of the event store (Caddy's data dir), admin API
// answer, metric or the adapted config.
func TestCardDataNeverStored(t *testing.T) {
	t.Parallel()
	app := newFakeApp(t)
	simPort, whPort, apiPort := freePort(t), freePort(t), freePort(t)
	conf := fmt.Sprintf(`{
	skip_install_trust
	debug
	metrics
%s}

http://127.0.0.1:%d {
	antom_simulator {
		private_key         {env.SIM_KEY}
		merchant_public_key {env.MERCHANT_PUBLIC_KEY} %s
	}
}

http://127.0.0.1:%d {
	antom_webhook /antom/notify {
		forward        %s/events
		forward_secret {env.ANTOM_FORWARD_SECRET}
	}
}

http://127.0.0.1:%d {
	antom_api {
		notify_url http://127.0.0.1:%d/antom/notify
		reconcile
	}
}
`, apiProfile("", apiClientID, fmt.Sprintf("http://127.0.0.1:%d", simPort), ""), simPort, apiClientID, whPort, app.URL, apiPort, whPort)
	env := apiEnv(t)
	env["ANTOM_FORWARD_SECRET"] = rcSecret()
	p := startCaddyWith(t, caddyOpts{Caddyfile: conf, Env: env, Name: "caddy (PCI)"})

	ref := apiUnique("pci")
	pay, err := json.Marshal(map[string]any{
		"productCode":      "CASHIER_PAYMENT",
		"paymentRequestId": ref,
		"paymentAmount":    map[string]string{"currency": "USD", "value": "3000"},
		"paymentMethod": map[string]any{
			"paymentMethodType": "CARD",
			"paymentMethodMetaData": map[string]any{
				"cardNo": pciCardNo, "cvv": pciCVV, "expiryMonth": pciMonth, "expiryYear": pciYear,
				"cardholderName":      map[string]string{"firstName": "Tom", "lastName": "Jay"},
				"billingAddress":      map[string]string{"region": "US", "zipCode": "94107"},
				"is3DSAuthentication": false,
			},
		},
		"paymentFactor":      map[string]any{"isAuthorization": true},
		"paymentRedirectUrl": "https://shop.example/return",
		"order":              map[string]any{"referenceOrderId": "order-" + ref, "orderDescription": "PCI check"},
		"env":                map[string]any{"terminalType": "WEB", "clientIp": "203.0.113.7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := apiCall(t, fmt.Sprintf("http://127.0.0.1:%d/antom/v1/payments/pay", apiPort), pay)
	if status != http.StatusOK || h.Get("signature") == "" || apiResult(t, body).ResultStatus != "S" || !strings.Contains(string(body), "411111******1111") {
		t.Fatalf("card pay: HTTP %d, signature %q: %s", status, h.Get("signature"), body)
	}
	// The notifications went all the way: PAYMENT_RESULT and the automatic CAPTURE_RESULT.
	got := map[string]bool{}
	for _, r := range app.WaitRequests(2, 60*time.Second) {
		got[r.Header.Get("Antom-Event-Type")] = true
	}
	if !got["PAYMENT_RESULT"] || !got["CAPTURE_RESULT"] {
		t.Fatalf("the app got %v, want PAYMENT_RESULT and CAPTURE_RESULT", got)
	}
	// The store marks an event delivered after the app's answer: wait for both.
	var events []struct{ ID string }
	waitFor(t, 30*time.Second, "two delivered events in the admin API", func() bool {
		p.AdminGetJSON("/antom/events?state=delivered", &events)
		return len(events) >= 2
	})

	// Everything Caddy wrote or shows.
	places := map[string]string{"logs (and the Caddy events logged at debug)": p.Logs()}
	for _, path := range []string{
		"/config/", "/metrics",
		"/antom/events?state=delivered", "/antom/events?state=pending", "/antom/events?state=dead",
		"/antom/payments?state=pending", "/antom/payments?state=done",
	} {
		places["admin "+path] = string(p.AdminGet(path))
	}
	for _, e := range events {
		places["admin /antom/events/"+e.ID] = string(p.AdminGet("/antom/events/" + e.ID))
	}
	files := 0
	err = filepath.WalkDir(p.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(path, string(filepath.Separator)+"antom"+string(filepath.Separator)) {
			files++
		}
		places["file "+path] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	adapted, err := runCaddy(t, env, "adapt", "--config", p.ConfigPath, "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, adapted)
	}
	places["caddy adapt"] = adapted

	// The checks look where card data would be: the debug log has the request it was in, the
	// store has the events, the admin API lists them.
	if !strings.Contains(p.Logs(), `"msg":"calling Antom"`) || files < 3 || !strings.Contains(places["admin /metrics"], "caddy_antom_") {
		t.Fatalf("nothing to check: debug log of the call %v, %d files in the antom store, antom metrics %v",
			strings.Contains(p.Logs(), `"msg":"calling Antom"`), files, strings.Contains(places["admin /metrics"], "caddy_antom_"))
	}
	for where, text := range places {
		if m := pciLeak.FindString(text); m != "" {
			i := strings.Index(text, m)
			t.Errorf("card data %q in %s: …%s…", m, where, text[max(0, i-120):min(len(text), i+len(m)+40)])
		}
	}
}
