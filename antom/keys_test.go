package antom

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// assertNoKeyMaterial fails if err's message contains the input or any
// 16-character run of it (key material must never reach logs).
func assertNoKeyMaterial(t *testing.T, name, input string, err error) {
	t.Helper()
	msg := err.Error()
	compact := strings.Join(strings.Fields(input), "")
	for _, s := range []string{strings.TrimSpace(input), compact} {
		if len(s) >= 16 && strings.Contains(msg, s) {
			t.Fatalf("%s: error contains the input: %q", name, msg)
		}
	}
	const run = 16
	for i := 0; i+run <= len(compact); i += 4 {
		if strings.Contains(msg, compact[i:i+run]) {
			t.Fatalf("%s: error contains key material %q: %q", name, compact[i:i+run], msg)
		}
	}
}

func wrap64(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParsePrivateKeyFormats(t *testing.T) {
	vf := loadVectors(t)
	want := mustPriv(t, vf.Keys["merchant_private_pkcs8"])
	pkcs8 := vf.Keys["merchant_private_pkcs8"]
	pkcs8PEM := readVectorFile(t, "keys/merchant_private_pkcs8.pem")
	inputs := map[string]string{
		"pkcs8 b64":                  pkcs8,
		"pkcs8 b64 file":             readVectorFile(t, "keys/merchant_private_pkcs8.b64"),
		"pkcs8 b64 wrapped + spaces": "\n  " + wrap64(pkcs8) + "\r\n\t ",
		"pkcs8 b64 quoted":           `"` + pkcs8 + `"`,
		"pkcs8 b64 unpadded":         strings.TrimRight(pkcs8, "="),
		"pkcs1 b64":                  vf.Keys["merchant_private_pkcs1"],
		"pkcs1 b64 file":             readVectorFile(t, "keys/merchant_private_pkcs1.b64"),
		"pkcs8 pem":                  pkcs8PEM,
		"pkcs8 pem CRLF":             strings.ReplaceAll(pkcs8PEM, "\n", "\r\n"),
		"pkcs8 pem literal \\n":      strings.ReplaceAll(strings.TrimSpace(pkcs8PEM), "\n", `\n`),
		"pkcs1 pem":                  readVectorFile(t, "keys/merchant_private_pkcs1.pem"),
	}
	if !strings.HasPrefix(pkcs8, "MIIEv") || !strings.HasPrefix(vf.Keys["merchant_private_pkcs1"], "MIIEo") {
		t.Fatal("vector keys do not have the documented prefixes")
	}
	for name, in := range inputs {
		k, err := ParsePrivateKey(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !k.Equal(want) {
			t.Errorf("%s: parsed a different key", name)
		}
	}
}

func TestParsePublicKeyFormats(t *testing.T) {
	vf := loadVectors(t)
	priv := mustPriv(t, vf.Keys["antom_sim_private_pkcs8"])
	spki := vf.Keys["antom_sim_public_spki"]
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "antom test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0),
	}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "antom test"}}, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{
		"spki b64":          spki,
		"spki b64 file":     readVectorFile(t, "keys/antom_sim_public_spki.b64"),
		"spki b64 wrapped":  wrap64(spki) + "\n",
		"spki pem":          readVectorFile(t, "keys/antom_sim_public_spki.pem"),
		"pkcs1 public pem":  pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey)),
		"pkcs1 public b64":  base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&priv.PublicKey)),
		"certificate pem":   pemOf("CERTIFICATE", certDER),
		"mislabelled pem":   pemOf("RSA PUBLIC KEY", mustDecode(t, spki)),
		"pem with preamble": "Antom public key:\n" + readVectorFile(t, "keys/antom_sim_public_spki.pem"),
	}
	if !strings.HasPrefix(spki, "MIIBI") {
		t.Fatal("vector SPKI should start MIIBI")
	}
	for name, in := range inputs {
		k, err := ParsePublicKey(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !k.Equal(&priv.PublicKey) {
			t.Errorf("%s: parsed a different key", name)
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeyErrors(t *testing.T) {
	vf := loadVectors(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPKCS8, _ := x509.MarshalPKCS8PrivateKey(small)
	smallSPKI, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecSPKI, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecSEC1, _ := x509.MarshalECPrivateKey(ec)
	encPEM := "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + wrap64(vf.Keys["merchant_private_pkcs8"]) + "\n-----END ENCRYPTED PRIVATE KEY-----\n"
	truncated := vf.Keys["merchant_private_pkcs8"][:800]

	type tc struct {
		name, in, want string
	}
	priv := []tc{
		{"public key given", vf.Keys["merchant_public_spki"], "got a public key; expected the merchant private key (PKCS#8 base64 starting MIIEv, or PEM)"},
		{"public pem given", readVectorFile(t, "keys/antom_sim_public_spki.pem"), "got a public key"},
		{"empty", "  \n", "key is empty"},
		{"garbage", "this is not a key at all, sorry!", "neither PEM nor base64"},
		{"base64 garbage", base64.StdEncoding.EncodeToString([]byte("hello world, not DER at all")), "not a PKCS#8, PKCS#1 or SPKI key"},
		{"truncated", truncated, "not a PKCS#8, PKCS#1 or SPKI key"},
		{"broken pem", "-----BEGIN PRIVATE KEY-----\n" + truncated, "no complete BEGIN/END block"},
		{"pem of bad bytes", pemOf("PRIVATE KEY", []byte("0123456789abcdef0123")), "not a valid key"},
		{"pem of unknown type", pemOf("SOMETHING ELSE", []byte("x")), "unsupported type"},
		{"encrypted", encPEM, "encrypted private key"},
		{"small key", base64.StdEncoding.EncodeToString(smallPKCS8), "1024 bits"},
		{"small key pem", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), "at least 2048"},
		{"ec pkcs8", base64.StdEncoding.EncodeToString(ecPKCS8), "got an EC key"},
		{"ec sec1 pem", pemOf("EC PRIVATE KEY", ecSEC1), "got an EC key"},
	}
	for _, c := range priv {
		k, err := ParsePrivateKey(c.in)
		if err == nil || k != nil {
			t.Errorf("ParsePrivateKey(%s): want error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePrivateKey(%s): %q does not say %q", c.name, err, c.want)
		}
		if !strings.Contains(err.Error(), "expected") && !strings.Contains(err.Error(), "requires") && !strings.Contains(err.Error(), "decrypt") {
			t.Errorf("ParsePrivateKey(%s): %q does not say what was expected", c.name, err)
		}
		assertNoKeyMaterial(t, "ParsePrivateKey("+c.name+")", c.in, err)
	}
	pub := []tc{
		{"pkcs8 private given", vf.Keys["merchant_private_pkcs8"], "got a private key; paste Antom's public key from the dashboard (base64 SPKI, starts MIIBI)"},
		{"pkcs1 private given", vf.Keys["antom_sim_private_pkcs1"], "got a private key"},
		{"private pem given", readVectorFile(t, "keys/merchant_private_pkcs1.pem"), "got a private key"},
		{"encrypted private given", encPEM, "got a private key"},
		{"ec private given", base64.StdEncoding.EncodeToString(ecPKCS8), "got a private key"},
		{"empty", "", "key is empty"},
		{"garbage", "-----not a key-----!!", "neither PEM nor base64"},
		{"truncated", vf.Keys["antom_sim_public_spki"][:200], "not a PKCS#8, PKCS#1 or SPKI key"},
		{"small key", base64.StdEncoding.EncodeToString(smallSPKI), "1024 bits"},
		{"ec public", base64.StdEncoding.EncodeToString(ecSPKI), "got an EC key"},
	}
	for _, c := range pub {
		k, err := ParsePublicKey(c.in)
		if err == nil || k != nil {
			t.Errorf("ParsePublicKey(%s): want error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePublicKey(%s): %q does not say %q", c.name, err, c.want)
		}
		assertNoKeyMaterial(t, "ParsePublicKey("+c.name+")", c.in, err)
	}
}

func TestEncodeKeysRoundTrip(t *testing.T) {
	vf := loadVectors(t)
	priv := mustPriv(t, vf.Keys["merchant_private_pkcs1"])
	// From PKCS#1 to the dashboard's PKCS#8: byte-identical to OpenSSL's output.
	if got := EncodePrivateKey(priv); got != vf.Keys["merchant_private_pkcs8"] {
		t.Fatalf("EncodePrivateKey differs from the PKCS#8 vector")
	}
	if got := EncodePublicKey(&priv.PublicKey); got != vf.Keys["merchant_public_spki"] {
		t.Fatalf("EncodePublicKey differs from the SPKI vector")
	}
	if strings.ContainsAny(EncodePrivateKey(priv), "\n ") {
		t.Fatal("encoding must be one line")
	}
	back, err := ParsePrivateKey(EncodePrivateKey(priv))
	if err != nil || !back.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}
}
