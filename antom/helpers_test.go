package antom

import (
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// vectorsDir holds the golden vectors, testdata/antom-vectors at the repository root.
var vectorsDir = filepath.Join("..", "testdata", "antom-vectors")

type vector struct {
	Name                        string `json:"name"`
	Method                      string `json:"method"`
	Path                        string `json:"path"`
	ClientID                    string `json:"client_id"`
	Time                        string `json:"time"`
	Body                        string `json:"body"`
	ContentToSign               string `json:"content_to_sign"`
	ContentSHA256               string `json:"content_to_sign_sha256_hex"`
	SignatureBase64             string `json:"signature_base64"`
	SignatureURLEncoded         string `json:"signature_urlencoded"`
	SignatureURLEncodedLowerHex string `json:"signature_urlencoded_lowerhex"`
	SignatureHeaderValue        string `json:"signature_header_value"`
	SignedWith                  string `json:"signed_with"`
	VerifyWith                  string `json:"verify_with"`
}

type vectorFile struct {
	Keys                map[string]string `json:"keys"`
	Vectors             []vector          `json:"vectors"`
	NotificationAckBody string            `json:"notification_ack_body"`
}

var (
	vecOnce sync.Once
	vecFile *vectorFile
	vecErr  error
)

// loadVectors reads the golden vectors; a missing file fails the test.
func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	vecOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(vectorsDir, "vectors.json"))
		if err != nil {
			vecErr = err
			return
		}
		vecFile = new(vectorFile)
		vecErr = json.Unmarshal(b, vecFile)
	})
	if vecErr != nil {
		t.Fatalf("loading vectors: %v", vecErr)
	}
	return vecFile
}

func vectorByName(t testing.TB, name string) vector {
	t.Helper()
	for _, v := range loadVectors(t).Vectors {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("vector %q not in vectors.json", name)
	return vector{}
}

// readVectorFile reads one file of the vector folder, e.g. "keys/merchant_private_pkcs1.pem".
func readVectorFile(t testing.TB, rel string) string {
	t.Helper()
	loadVectors(t)
	b, err := os.ReadFile(filepath.Join(vectorsDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustPriv(t testing.TB, s string) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(s)
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	return k
}

func mustPub(t testing.TB, s string) *rsa.PublicKey {
	t.Helper()
	k, err := ParsePublicKey(s)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	return k
}

// testKeys are the vector key pairs: the merchant's and the simulated Antom's.
type testKeys struct {
	merchantPriv *rsa.PrivateKey
	merchantPub  *rsa.PublicKey
	antomPriv    *rsa.PrivateKey
	antomPub     *rsa.PublicKey
}

func loadTestKeys(t testing.TB) testKeys {
	t.Helper()
	k := loadVectors(t).Keys
	return testKeys{
		merchantPriv: mustPriv(t, k["merchant_private_pkcs8"]),
		merchantPub:  mustPub(t, k["merchant_public_spki"]),
		antomPriv:    mustPriv(t, k["antom_sim_private_pkcs8"]),
		antomPub:     mustPub(t, k["antom_sim_public_spki"]),
	}
}

// keyFor maps a vector's signed_with/verify_with file name to a parsed key.
func (k testKeys) privFor(t testing.TB, file string) *rsa.PrivateKey {
	t.Helper()
	switch filepath.Base(file) {
	case "merchant_private_pkcs8.pem":
		return k.merchantPriv
	case "antom_sim_private_pkcs8.pem":
		return k.antomPriv
	}
	t.Fatalf("unknown signing key %q", file)
	return nil
}

func (k testKeys) pubFor(t testing.TB, file string) *rsa.PublicKey {
	t.Helper()
	switch filepath.Base(file) {
	case "merchant_public_spki.b64":
		return k.merchantPub
	case "antom_sim_public_spki.b64":
		return k.antomPub
	}
	t.Fatalf("unknown verify key %q", file)
	return nil
}
