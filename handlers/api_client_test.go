package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// antom_api signs whatever it receives, so by default only loopback clients reach it: public
// traffic often arrives from private addresses (Docker's userland proxy, load balancers,
// Kubernetes ingress). Everything else is refused before the request is read.
func TestAPIDefaultTrustsLoopbackOnly(t *testing.T) {
	h, _ := apiWithSimulator(t, nil)
	for addr, want := range map[string]int{
		"127.0.0.1:5000":        http.StatusOK,
		"127.9.8.7:5000":        http.StatusOK,
		"[::1]:5000":            http.StatusOK,
		"[::ffff:127.0.0.1]:80": http.StatusOK,
		"10.1.2.3:80":           http.StatusForbidden,
		"172.17.0.1:80":         http.StatusForbidden, // Docker's bridge gateway
		"192.168.1.20:443":      http.StatusForbidden,
		"100.64.0.1:443":        http.StatusForbidden,
		"[fd00::1]:80":          http.StatusForbidden,
		"[fe80::1]:80":          http.StatusForbidden,
		"203.0.113.7:5000":      http.StatusForbidden,
		"[::ffff:10.0.0.1]:80":  http.StatusForbidden,
		"not an address":        http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodPost, "/antom/v1/payments/inquiryPayment", strings.NewReader(`{"paymentRequestId":"x"}`))
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		if w.Code != want {
			t.Errorf("client %s: HTTP %d %s, want %d", addr, w.Code, w.Body, want)
		}
		if want == http.StatusForbidden && !strings.Contains(w.Body.String(), "CLIENT_NOT_ALLOWED") {
			t.Errorf("client %s: %s, want CLIENT_NOT_ALLOWED", addr, w.Body)
		}
	}
}

// trusted_clients replaces the loopback default with exactly the listed addresses and ranges,
// judged by the TCP peer (IPv4-mapped and zoned forms included).
func TestAPITrustedClientsList(t *testing.T) {
	trusted, err := parseTrustedClients([]string{"10.0.0.0/8", "192.168.1.20", "fd00::/8", "::ffff:172.16.0.0/108", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	h := &API{trusted: trusted}
	for addr, want := range map[string]bool{
		"10.200.0.1:80":           true,
		"[::ffff:10.0.0.1]:80":    true,
		"192.168.1.20:443":        true,
		"192.168.1.21:443":        false,
		"[fd12::1]:80":            true,
		"[fd12::1%eth0]:80":       true,
		"172.16.5.5:80":           true,
		"172.32.0.1:80":           false,
		"127.0.0.1:5000":          false, // not listed: the list replaces the default
		"[::1]:5000":              false,
		"203.0.113.7:5000":        false,
		"not an address":          false,
		"@":                       false,
		"[2001:db8::1]:80":        false,
		"[::ffff:192.168.1.20]:1": true,
	} {
		if got := h.trustedClient(addr); got != want {
			t.Errorf("trustedClient(%q) = %v, want %v", addr, got, want)
		}
	}
}
