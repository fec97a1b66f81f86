package e2e

import (
	"crypto/rsa"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-antom/caddy-antom/antom"
)

// vectorsDir is the golden Antom vectors in the repository's testdata.
func vectorsDir() string {
	return filepath.Join(repoRoot, "testdata", "antom-vectors")
}

// readVector reads a file of the golden vectors, path relative to antom-vectors
// ("notification/body.json", "keys/antom_sim_public_spki.b64"); missing files fail the test.
func readVector(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir(), filepath.FromSlash(path)))
	if err != nil {
		t.Fatalf("readVector: %v (the golden vectors live in testdata/antom-vectors)", err)
	}
	return b
}

// Test keys of the golden vectors, as strings to put in a caddy env map. The "antom_sim" pair
// stands in for Antom's key (Antom signs notifications and responses); the "merchant" pair is
// the merchant's (antom_api signs requests with it).
func antomSimPrivateKey(t testing.TB) string {
	return string(readVector(t, "keys/antom_sim_private_pkcs8.pem"))
}
func antomSimPublicKey(t testing.TB) string {
	return string(readVector(t, "keys/antom_sim_public_spki.b64"))
}
func merchantPrivateKey(t testing.TB) string {
	return string(readVector(t, "keys/merchant_private_pkcs8.b64"))
}
func merchantPublicKey(t testing.TB) string {
	return string(readVector(t, "keys/merchant_public_spki.b64"))
}

// antomSigner is the golden antom_sim key, parsed with this module's antom package.
func antomSigner(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := antom.ParsePrivateKey(antomSimPrivateKey(t))
	if err != nil {
		t.Fatalf("parsing the antom_sim key: %v", err)
	}
	return k
}

// signNotification signs a notification as Antom does (POST, the path Antom addressed, the
// merchant's client id, an opaque request time) with the golden antom_sim key and returns the
// headers to send: Content-Type, client-id, request-time and signature. requestTime "" means
// now in milliseconds.
func signNotification(t testing.TB, path, clientID, requestTime string, body []byte) http.Header {
	t.Helper()
	if requestTime == "" {
		requestTime = antom.RequestTime(time.Now())
	}
	content := antom.ContentToSign(http.MethodPost, path, clientID, requestTime, body)
	sig, err := antom.Sign(antomSigner(t), content)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("client-id", clientID)
	h.Set("request-time", requestTime)
	h.Set("signature", antom.SignatureHeader("1", sig))
	return h
}

// postNotification POSTs a signed notification to a loopback URL (the path signed is the URL's
// path) and returns status, headers and body.
func postNotification(t testing.TB, rawURL, clientID string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	h := signNotification(t, u.EscapedPath(), clientID, "", body)
	return httpDo(t, http.MethodPost, rawURL, h, body)
}
