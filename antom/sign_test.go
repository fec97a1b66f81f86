package antom

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGoldenVectorsSign(t *testing.T) {
	vf := loadVectors(t)
	keys := loadTestKeys(t)
	if len(vf.Vectors) != 3 {
		t.Fatalf("expected 3 vectors, got %d", len(vf.Vectors))
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			content := ContentToSign(v.Method, v.Path, v.ClientID, v.Time, []byte(v.Body))
			if string(content) != v.ContentToSign {
				t.Fatalf("content differs:\n got %q\nwant %q", content, v.ContentToSign)
			}
			// Also byte-compare with the file on disk (vectors.json is derived from it).
			onDisk, err := os.ReadFile(filepath.Join(vectorsDir, v.Name, "content_to_sign.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if string(onDisk) != string(content) {
				t.Fatal("content differs from content_to_sign.txt")
			}
			sum := sha256.Sum256(content)
			if hex.EncodeToString(sum[:]) != v.ContentSHA256 {
				t.Fatalf("sha256 = %x, want %s", sum, v.ContentSHA256)
			}
			sig, err := Sign(keys.privFor(t, v.SignedWith), content)
			if err != nil {
				t.Fatal(err)
			}
			if sig != v.SignatureBase64 {
				t.Fatalf("signature differs:\n got %s\nwant %s", sig, v.SignatureBase64)
			}
			if h := SignatureHeader("1", sig); h != v.SignatureHeaderValue {
				t.Fatalf("header differs:\n got %s\nwant %s", h, v.SignatureHeaderValue)
			}
			if h := SignatureHeader("", sig); h != v.SignatureHeaderValue {
				t.Fatal("empty key version must mean 1")
			}
			if !strings.HasSuffix(v.SignatureHeaderValue, v.SignatureURLEncoded) {
				t.Fatal("vector header does not end with the urlencoded signature")
			}
		})
	}
}

func TestGoldenSignerMatchesVectors(t *testing.T) {
	keys := loadTestKeys(t)
	for _, name := range []string{"request", "request_sandbox"} {
		v := vectorByName(t, name)
		s := Signer{ClientID: v.ClientID, Key: keys.merchantPriv}
		path := GatewayPath(v.ClientID, "v1/payments/createPaymentSession")
		if path != v.Path {
			t.Fatalf("%s: GatewayPath = %q, want %q", name, path, v.Path)
		}
		h, err := s.SignRequest(v.Method, path, v.Time, []byte(v.Body))
		if err != nil {
			t.Fatal(err)
		}
		if h != v.SignatureHeaderValue {
			t.Fatalf("%s: SignRequest header differs", name)
		}
	}
}

func TestSandboxSignatureDiffers(t *testing.T) {
	prod, sb := vectorByName(t, "request"), vectorByName(t, "request_sandbox")
	if prod.SignatureBase64 == sb.SignatureBase64 {
		t.Fatal("sandbox and production vectors must have different signatures")
	}
	keys := loadTestKeys(t)
	kr := NewKeyring(keys.merchantPub)
	// Signing the un-rewritten path for a sandbox id is the classic mistake.
	if _, err := kr.Verify("POST", prod.Path, sb.ClientID, sb.Time, []byte(sb.Body), sb.SignatureHeaderValue); reason(err) != ReasonBadSignature {
		t.Fatalf("sandbox signature verified over production path: %v", err)
	}
}

func TestGatewayPath(t *testing.T) {
	cases := []struct{ cid, api, want string }{
		{"TEST_1", "v1/payments/pay", "/ams/api/v1/payments/pay"},
		{"TEST_1", "/v1/payments/pay", "/ams/api/v1/payments/pay"},
		{"TEST_1", "/ams/api/v1/payments/pay", "/ams/api/v1/payments/pay"},
		{"TEST_1", "ams/api/v1/payments/pay", "/ams/api/v1/payments/pay"},
		{"SANDBOX_1", "v1/payments/pay", "/ams/sandbox/api/v1/payments/pay"},
		{"SANDBOX_1", "/ams/api/v1/payments/pay", "/ams/sandbox/api/v1/payments/pay"},
		{"SANDBOX_1", "/ams/sandbox/api/v1/payments/pay", "/ams/sandbox/api/v1/payments/pay"},
		// Only the first occurrence is rewritten, like the SDKs.
		{"SANDBOX_1", "/ams/api/v1/x/ams/api", "/ams/sandbox/api/v1/x/ams/api"},
		{"sandbox_1", "v1/payments/pay", "/ams/api/v1/payments/pay"}, // prefix is case-sensitive
	}
	for _, c := range cases {
		if got := GatewayPath(c.cid, c.api); got != c.want {
			t.Errorf("GatewayPath(%q, %q) = %q, want %q", c.cid, c.api, got, c.want)
		}
	}
}

func TestRequestTime(t *testing.T) {
	if got := RequestTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); got != "1704067200000" {
		t.Fatalf("RequestTime = %s", got)
	}
	if got := RequestTime(time.UnixMilli(1685599933871).Add(999 * time.Microsecond)); got != "1685599933871" {
		t.Fatalf("RequestTime must truncate to ms, got %s", got)
	}
}

func TestIsSandbox(t *testing.T) {
	if !IsSandbox("SANDBOX_5X00000000000000") || IsSandbox("TEST_5X00000000000000") || IsSandbox("") {
		t.Fatal("IsSandbox wrong")
	}
}

func TestSignErrors(t *testing.T) {
	if _, err := Sign(nil, []byte("x")); err == nil {
		t.Fatal("Sign with nil key must fail")
	}
	keys := loadTestKeys(t)
	if _, err := (Signer{Key: keys.merchantPriv}).SignRequest("POST", "/ams/api/v1/x", "1", nil); err == nil {
		t.Fatal("SignRequest without client id must fail")
	}
	if _, err := (Signer{ClientID: "X"}).SignRequest("POST", "/ams/api/v1/x", "1", nil); err == nil {
		t.Fatal("SignRequest without key must fail")
	}
}

func TestSignerKeyVersion(t *testing.T) {
	keys := loadTestKeys(t)
	h, err := Signer{ClientID: "C", KeyVersion: "3", Key: keys.merchantPriv}.SignRequest("POST", "/p", "1", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "algorithm=RSA256,keyVersion=3,signature=") {
		t.Fatalf("header %q", h)
	}
	kr := &Keyring{}
	kr.Add("3", keys.merchantPub)
	if v, err := kr.Verify("POST", "/p", "C", "1", []byte("{}"), h); err != nil || v != "3" {
		t.Fatalf("Verify = %q, %v", v, err)
	}
}

func BenchmarkSign(b *testing.B) {
	v := vectorByName(b, "request")
	s := Signer{ClientID: v.ClientID, Key: loadTestKeys(b).merchantPriv}
	body := []byte(v.Body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignRequest(v.Method, v.Path, v.Time, body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseRequestTime(t *testing.T) {
	want := time.Date(2019, 7, 12, 6, 38, 56, 253e6, time.UTC)
	for _, v := range []string{"1562913536253", "2019-07-12T12:08:56.253+05:30", "2019-07-12T06:38:56.253Z", "2019-07-12T12:08:56.253+0530"} {
		got, err := ParseRequestTime(v)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: got %v, %v; want %v", v, got, err, want)
		}
	}
	if got, err := ParseRequestTime("2019-07-12T12:08:56+05:30"); err != nil || !got.Equal(want.Truncate(time.Second)) {
		t.Errorf("without fraction: got %v, %v", got, err)
	}
	for _, v := range []string{"", "2019-07-12T12:08:56", "2019-07-12 12:08:56 +05:30", "yesterday", "99999999999999999999", "-1"} {
		if _, err := ParseRequestTime(v); err == nil {
			t.Errorf("%q: accepted", v)
		}
	}
}
