package antom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// Run a fuzzer with, e.g.:
//
//	go test ./antom -run='^$' -fuzz=FuzzParseSignatureHeader -fuzztime=30s
//
// In a normal `go test` the seeds below run as unit tests.

// vectorSeeds returns files of the golden vectors; a missing one fails the fuzz test.
func vectorSeeds(f *testing.F, rel ...string) []string {
	f.Helper()
	var out []string
	for _, r := range rel {
		b, err := os.ReadFile(filepath.Join(vectorsDir, r))
		if err != nil {
			f.Fatalf("golden vector missing: %v", err)
		}
		out = append(out, string(b))
	}
	return out
}

func FuzzParseSignatureHeader(f *testing.F) {
	for _, s := range []string{
		"algorithm=RSA256,keyVersion=1,signature=%2B%2F%2F%2BAQ%3D%3D",
		"algorithm=RSA256, keyVersion=1, signature=%2b%2f%2f%2bAQ%3d%3d",
		"signature=+//+AQ==,keyVersion=2",
		"algorithm=RSA256,keyVersion=1,signature=",
		"algorithm=RSA,signature=AQ==",
		"signature=%zz",
		"",
		",,,=,",
	} {
		f.Add(s)
	}
	for _, s := range vectorSeeds(f, "request/signature_header_value.txt", "notification/signature_header_value.txt") {
		f.Add(s)
		f.Add(strings.ToLower(s))
	}
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseSignatureHeader(h)
		if err != nil {
			if r := reason(err); r != ReasonMissingSignature && r != ReasonMalformedSignature {
				t.Fatalf("unexpected error reason %q: %v", r, err)
			}
			return
		}
		if p.KeyVersion == "" || len(p.Signature) == 0 {
			t.Fatalf("accepted header without key version or signature: %+v", p)
		}
		if p.Algorithm != "" && !strings.EqualFold(p.Algorithm, "RSA256") {
			t.Fatalf("accepted algorithm %q", p.Algorithm)
		}
		// What we accept, we can re-emit canonically and read back identically.
		again, err := ParseSignatureHeader(SignatureHeader(p.KeyVersion, base64.StdEncoding.EncodeToString(p.Signature)))
		if err != nil || again.KeyVersion != p.KeyVersion || !bytes.Equal(again.Signature, p.Signature) {
			t.Fatalf("canonical round trip failed: %+v %v", again, err)
		}
	})
}

// fuzzKeyInputs seeds the key fuzzers with every format we accept and some
// near misses.
func fuzzKeyInputs(f *testing.F) {
	for _, s := range []string{
		"", "MIIEv", "MIIBI", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
		"-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
		"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"MAA=", `"MIIBIjANBg"`, "not a key",
	} {
		f.Add(s)
	}
	for _, s := range vectorSeeds(f,
		"keys/merchant_private_pkcs8.b64", "keys/merchant_private_pkcs8.pem",
		"keys/merchant_private_pkcs1.b64", "keys/merchant_private_pkcs1.pem",
		"keys/merchant_public_spki.b64", "keys/merchant_public_spki.pem",
	) {
		f.Add(s)
	}
}

// checkKeyError enforces the no-key-material rule: an input long enough to be
// key material must not be echoed. (Inputs with whitespace are skipped: the
// messages are prose, so a short phrase could legitimately match.)
func checkKeyError(t *testing.T, in string, err error) {
	t.Helper()
	s := strings.TrimSpace(in)
	if len(s) >= 24 && !strings.ContainsFunc(s, unicode.IsSpace) && strings.Contains(err.Error(), s) {
		t.Fatalf("error echoes the input: %v", err)
	}
	if err.Error() == "" {
		t.Fatal("empty error message")
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	fuzzKeyInputs(f)
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParsePrivateKey(in)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			checkKeyError(t, in, err)
			return
		}
		if k.N.BitLen() < MinKeyBits {
			t.Fatalf("accepted a %d-bit key", k.N.BitLen())
		}
		back, err := ParsePrivateKey(EncodePrivateKey(k))
		if err != nil || !back.Equal(k) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	fuzzKeyInputs(f)
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParsePublicKey(in)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			checkKeyError(t, in, err)
			return
		}
		if k.N.BitLen() < MinKeyBits {
			t.Fatalf("accepted a %d-bit key", k.N.BitLen())
		}
		back, err := ParsePublicKey(EncodePublicKey(k))
		if err != nil || !back.Equal(k) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}

func FuzzParseNotification(f *testing.F) {
	for _, s := range []string{
		`{"notifyType":"PAYMENT_RESULT","paymentId":"p","paymentRequestId":"r","result":{"resultStatus":"S"}}`,
		`{"notifyType":"CAPTURE_RESULT","captureId":"c","captureRequestId":"cr"}`,
		`{"notifyType":"REFUND_RESULT","refundId":"rf","refundRequestId":"rr"}`,
		`{"authorizationNotifyType":"TOKEN_CREATED","accessToken":"t","authState":"s"}`,
		`{"disputeId":"d","disputeNotificationType":"DISPUTE_CREATED"}`,
		`{"subscriptionId":"s","subscriptionNotificationType":"CREATE"}`,
		`{"notifyType":"VAULTING_RESULT","vaultingRequestId":"v"}`,
		`{"paymentId":1e400}`, `[]`, `null`, `{`, ``, "\xff",
	} {
		f.Add([]byte(s))
	}
	for _, s := range vectorSeeds(f, "notification/body.json") {
		f.Add([]byte(s))
	}
	for _, c := range readCorpus(f) {
		f.Add(c.body)
	}
	kinds := map[string]bool{KindUnknown: true}
	for _, fam := range Catalogue {
		kinds[fam.Kind] = true
	}
	idKeyed := map[string]bool{KindPayment: true, KindCapture: true, KindRefund: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if valid := json.Valid(body); (err == nil) != valid {
			t.Fatalf("json.Valid=%v but err=%v", valid, err)
		}
		if err != nil {
			return
		}
		if !kinds[n.Kind] || n.DedupKey == "" {
			t.Fatalf("bad notification %+v", n)
		}
		if !idKeyed[n.Kind] && n.DedupKey != BodyDedupKey(body) {
			t.Fatalf("kind %s must use the body key, got %q", n.Kind, n.DedupKey)
		}
		if n.DedupKey != BodyDedupKey(body) && n.ResultStatus != StatusSuccess && n.ResultStatus != StatusFail {
			t.Fatalf("only final outcomes are keyed by id, got %q for %+v", n.DedupKey, n)
		}
		if (n.RequestID == "") != (n.RequestIDField == "") {
			t.Fatalf("RequestID and RequestIDField disagree: %+v", n)
		}
		if again, _ := ParseNotification(body); again != n {
			t.Fatal("not deterministic")
		}
	})
}
