package antom

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// reason returns the VerifyError reason of err, "" for nil, "?" for other errors.
func reason(err error) string {
	if err == nil {
		return ""
	}
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return "?"
}

func TestGoldenVectorsVerify(t *testing.T) {
	vf := loadVectors(t)
	keys := loadTestKeys(t)
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			kr := NewKeyring(keys.pubFor(t, v.VerifyWith))
			body := []byte(v.Body)
			headers := map[string]string{
				"upper hex":         v.SignatureHeaderValue,
				"lower hex":         "algorithm=RSA256,keyVersion=1,signature=" + v.SignatureURLEncodedLowerHex,
				"raw base64":        "algorithm=RSA256,keyVersion=1,signature=" + v.SignatureBase64,
				"spaces":            "algorithm=RSA256, keyVersion=1, signature=" + v.SignatureURLEncoded,
				"reordered":         "signature=" + v.SignatureURLEncoded + ",keyVersion=1,algorithm=RSA256",
				"no keyVersion":     "algorithm=RSA256,signature=" + v.SignatureURLEncoded,
				"no algorithm":      "keyVersion=1,signature=" + v.SignatureURLEncoded,
				"unpadded":          "algorithm=RSA256,keyVersion=1,signature=" + strings.TrimRight(v.SignatureBase64, "="),
				"form-decoded +":    "algorithm=RSA256,keyVersion=1,signature=" + strings.ReplaceAll(v.SignatureBase64, "+", " "),
				"file lowerhex":     "algorithm=RSA256,keyVersion=1,signature=" + strings.TrimSpace(readVectorFile(t, v.Name+"/signature.urlenc.lowerhex")),
				"file header value": strings.TrimSpace(readVectorFile(t, v.Name+"/signature_header_value.txt")),
			}
			if !strings.Contains(v.SignatureBase64, "+") || !strings.Contains(v.SignatureURLEncodedLowerHex, "%2b") {
				t.Fatal("vector should exercise '+' and lower-case hex")
			}
			for name, h := range headers {
				ver, err := kr.Verify(v.Method, v.Path, v.ClientID, v.Time, body, h)
				if err != nil || ver != "1" {
					t.Errorf("%s: Verify = %q, %v", name, ver, err)
				}
			}
		})
	}
}

func TestVerifyNegative(t *testing.T) {
	keys := loadTestKeys(t)
	n := vectorByName(t, "notification")
	antom := NewKeyring(keys.antomPub)
	body := []byte(n.Body)
	tampered := func(s string) string { return strings.Replace(s, "1000", "1001", 1) }
	sigB64 := n.SignatureBase64
	flipped := []byte(sigB64)
	flipped[10] ^= 1 // still base64, different signature
	cases := []struct {
		name                      string
		kr                        *Keyring
		method, path, cid, tm, hd string
		body                      []byte
		want                      string
	}{
		{"ok", antom, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, body, ""},
		{"changed body", antom, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, []byte(tampered(n.Body)), ReasonBadSignature},
		{"body with trailing newline", antom, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, append(append([]byte{}, body...), '\n'), ReasonBadSignature},
		{"changed path", antom, "POST", "/notify", n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonBadSignature},
		{"path with query", antom, "POST", n.Path + "?x=1", n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonBadSignature},
		{"changed method", antom, "GET", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonBadSignature},
		{"changed time", antom, "POST", n.Path, n.ClientID, "2024-01-01T00:01:12-08:00", n.SignatureHeaderValue, body, ReasonBadSignature},
		{"reformatted time", antom, "POST", n.Path, n.ClientID, "2024-01-01T08:01:11Z", n.SignatureHeaderValue, body, ReasonBadSignature},
		{"changed client id", antom, "POST", n.Path, "TEST_5X00000000000001", n.Time, n.SignatureHeaderValue, body, ReasonBadSignature},
		{"merchant's own public key", NewKeyring(keys.merchantPub), "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonBadSignature},
		{"flipped signature", antom, "POST", n.Path, n.ClientID, n.Time, "signature=" + string(flipped), body, ReasonBadSignature},
		{"truncated header", antom, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue[:len(n.SignatureHeaderValue)-40], body, ReasonBadSignature},
		{"truncated mid-escape", antom, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue[:len(n.SignatureHeaderValue)-2], body, ReasonMalformedSignature},
		{"missing header", antom, "POST", n.Path, n.ClientID, n.Time, "", body, ReasonMissingSignature},
		{"blank header", antom, "POST", n.Path, n.ClientID, n.Time, "  ", body, ReasonMissingSignature},
		{"no signature param", antom, "POST", n.Path, n.ClientID, n.Time, "algorithm=RSA256,keyVersion=1", body, ReasonMalformedSignature},
		{"wrong algorithm", antom, "POST", n.Path, n.ClientID, n.Time, strings.Replace(n.SignatureHeaderValue, "RSA256", "RSA", 1), body, ReasonMalformedSignature},
		{"unknown key version", antom, "POST", n.Path, n.ClientID, n.Time, strings.Replace(n.SignatureHeaderValue, "keyVersion=1", "keyVersion=2", 1), body, ReasonUnknownKeyVersion},
		{"empty keyring", &Keyring{}, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonUnknownKeyVersion},
		{"nil keyring", nil, "POST", n.Path, n.ClientID, n.Time, n.SignatureHeaderValue, body, ReasonUnknownKeyVersion},
	}
	for _, c := range cases {
		_, err := c.kr.Verify(c.method, c.path, c.cid, c.tm, c.body, c.hd)
		if got := reason(err); got != c.want {
			t.Errorf("%s: reason %q (%v), want %q", c.name, got, err, c.want)
		}
	}
}

func TestVerifyErrorMessages(t *testing.T) {
	keys := loadTestKeys(t)
	n := vectorByName(t, "notification")
	_, err := NewKeyring(keys.merchantPub).Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), n.SignatureHeaderValue)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.KeyVersion != "1" {
		t.Fatalf("want *VerifyError with key version 1, got %#v", err)
	}
	want := "signature does not verify with Antom public key version 1: the body, path, client-id or request-time changed, or antom_public_key is not Antom's key for this client id"
	if ve.Error() != want {
		t.Fatalf("message:\n got %q\nwant %q", ve.Error(), want)
	}
	kr := NewKeyring(keys.antomPub)
	kr.Add("3", keys.antomPub)
	_, err = kr.Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), strings.Replace(n.SignatureHeaderValue, "keyVersion=1", "keyVersion=2", 1))
	if !errors.As(err, &ve) || ve.KeyVersion != "2" || !strings.Contains(ve.Msg, "version 2") || !strings.Contains(ve.Msg, "1, 3") {
		t.Fatalf("unknown version message should name wanted and configured versions: %v", err)
	}
	_, err = kr.Verify("POST", n.Path, n.ClientID, "", []byte(n.Body), n.SignatureHeaderValue)
	if !strings.Contains(err.Error(), "time header is empty") {
		t.Fatalf("empty time should be pointed out: %v", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	keys := loadTestKeys(t)
	n := vectorByName(t, "notification")
	kr := &Keyring{}
	kr.Add("1", keys.merchantPub) // old key under version 1 is wrong for this message
	kr.Add("2", keys.antomPub)
	if kr.Len() != 2 {
		t.Fatalf("Len = %d", kr.Len())
	}
	h2 := strings.Replace(n.SignatureHeaderValue, "keyVersion=1", "keyVersion=2", 1)
	if v, err := kr.Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), h2); err != nil || v != "2" {
		t.Fatalf("version 2: %q %v", v, err)
	}
	if _, err := kr.Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), n.SignatureHeaderValue); reason(err) != ReasonBadSignature {
		t.Fatalf("version 1 must be checked with key 1 only: %v", err)
	}
	kr.Add("", keys.antomPub) // "" means version 1, replacing
	if kr.Len() != 2 {
		t.Fatalf("Add(\"\") must replace version 1, Len = %d", kr.Len())
	}
	if _, err := kr.Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), n.SignatureHeaderValue); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kr.Versions(), ","); got != "1,2" {
		t.Fatalf("Versions = %s", got)
	}
}

func TestKeyringConcurrentReads(t *testing.T) {
	keys := loadTestKeys(t)
	n := vectorByName(t, "notification")
	kr := NewKeyring(keys.antomPub)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				kr.Add("9", keys.merchantPub) // a concurrent writer, for the race detector
			}
			for range 5 {
				if _, err := kr.Verify("POST", n.Path, n.ClientID, n.Time, []byte(n.Body), n.SignatureHeaderValue); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestParseSignatureHeader(t *testing.T) {
	sig := base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0x01}) // "+//+AQ=="
	if sig != "+//+AQ==" {
		t.Fatalf("fixture: %s", sig)
	}
	good := []struct{ in, ver, alg string }{
		{"algorithm=RSA256,keyVersion=1,signature=%2B%2F%2F%2BAQ%3D%3D", "1", "RSA256"},
		{"algorithm=RSA256,keyVersion=1,signature=%2b%2f%2f%2bAQ%3d%3d", "1", "RSA256"},
		{"algorithm=RSA256, keyVersion=7, signature=+//+AQ==", "7", "RSA256"},
		{"signature=+//+AQ", "1", ""},
		{" keyversion=2 ,Signature=%2B//%2BAQ==,ALGORITHM=rsa256 ", "2", "rsa256"},
		{"algorithm=RSA256,keyVersion=,signature=+//+AQ==", "1", "RSA256"},
		{"algorithm=RSA256,keyVersion=1,signature=+//+AQ==,extra=zzz", "1", "RSA256"},
	}
	for _, g := range good {
		p, err := ParseSignatureHeader(g.in)
		if err != nil {
			t.Errorf("%q: %v", g.in, err)
			continue
		}
		if p.KeyVersion != g.ver || p.Algorithm != g.alg || string(p.Signature) != "\xfb\xff\xfe\x01" {
			t.Errorf("%q: got %+v", g.in, p)
		}
	}
	bad := map[string]string{
		"":                              ReasonMissingSignature,
		"algorithm=RSA256,keyVersion=1": ReasonMalformedSignature,
		"algorithm=RSA256,keyVersion=1,signature=": ReasonMalformedSignature,
		"algorithm=SHA1,signature=AQ==":            ReasonMalformedSignature,
		"signature=%zz":                            ReasonMalformedSignature,
		"signature=AQ%3":                           ReasonMalformedSignature,
		"signature=not*base64":                     ReasonMalformedSignature,
		"signature=AQ==,signature=AQ==":            ReasonMalformedSignature,
		"justtext":                                 ReasonMalformedSignature,
		"keyVersion=a b,signature=AQ==":            ReasonMalformedSignature,
	}
	for in, want := range bad {
		if _, err := ParseSignatureHeader(in); reason(err) != want {
			t.Errorf("%q: reason %q (%v), want %q", in, reason(err), err, want)
		}
	}
}

// signedResponse builds headers for a response signed with the simulated Antom key.
func signedResponse(t testing.TB, k testKeys, path, cid, rt string, body []byte) http.Header {
	t.Helper()
	sig, err := Sign(k.antomPriv, ContentToSign("POST", path, cid, rt, body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Signature", SignatureHeader("1", sig))
	h.Set("Response-Time", rt)
	h.Set("Client-Id", cid)
	return h
}

func TestVerifyResponsePolicy(t *testing.T) {
	keys := loadTestKeys(t)
	kr := NewKeyring(keys.antomPub)
	const path, cid, rt = "/ams/api/v1/payments/pay", "TEST_5X00000000000000", "2024-01-01T00:00:01+08:00"
	bodyS := []byte(`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentId":"p1"}`)
	bodyF := ResultBody("INVALID_SIGNATURE", "F", "invalid signature")
	bodyU := ResultBody("UNKNOWN_EXCEPTION", "U", "unknown")
	signedS := signedResponse(t, keys, path, cid, rt, bodyS)
	noCID := signedS.Clone()
	noCID.Del("Client-Id")
	otherCID := signedS.Clone()
	otherCID.Set("Client-Id", "TEST_OTHER")
	lower := http.Header{}
	for k, v := range signedS {
		lower[strings.ToLower(k)] = v // as a hand-built map with the gateway's lower-case names
	}
	onlySig := signedS.Clone()
	onlySig.Del("Response-Time")
	onlyTime := signedS.Clone()
	onlyTime.Del("Signature")
	signedF := signedResponse(t, keys, path, cid, rt, bodyF)
	merchantSigned := signedS.Clone()
	msig, _ := Sign(keys.merchantPriv, ContentToSign("POST", path, cid, rt, bodyS))
	merchantSigned.Set("Signature", SignatureHeader("1", msig))

	cases := []struct {
		name       string
		h          http.Header
		body       []byte
		reqCID     string
		wantSigned bool
		wantReason string
	}{
		{"signed S", signedS, bodyS, cid, true, ""},
		{"signed S, lower-case header names", lower, bodyS, cid, true, ""},
		{"signed, client-id falls back to request's", noCID, bodyS, cid, true, ""},
		{"signed, fallback client-id wrong", noCID, bodyS, "TEST_OTHER", false, ReasonBadSignature},
		{"signed, response client-id wins", otherCID, bodyS, cid, false, ReasonBadSignature},
		{"signed F", signedF, bodyF, cid, true, ""},
		{"signed but tampered body", signedS, []byte(strings.Replace(string(bodyS), "p1", "p2", 1)), cid, false, ReasonBadSignature},
		{"signed by merchant key", merchantSigned, bodyS, cid, false, ReasonBadSignature},
		{"unsigned F", http.Header{}, bodyF, cid, false, ""},
		{"unsigned U", http.Header{}, bodyU, cid, false, ""},
		{"unsigned S", http.Header{}, bodyS, cid, false, ReasonMissingSignature},
		{"unsigned empty status", http.Header{}, []byte(`{"result":{}}`), cid, false, ReasonMissingSignature},
		{"unsigned no result", http.Header{}, []byte(`{"paymentId":"p"}`), cid, false, ReasonMissingSignature},
		{"unsigned not JSON", http.Header{}, []byte(`<html>502</html>`), cid, false, ReasonMissingSignature},
		{"only signature", onlySig, bodyS, cid, false, ReasonMalformedSignature},
		{"only response-time", onlyTime, bodyF, cid, false, ReasonMissingSignature},
	}
	for _, c := range cases {
		signed, err := VerifyResponse(kr, "POST", path, c.reqCID, c.h, c.body)
		if signed != c.wantSigned || reason(err) != c.wantReason {
			t.Errorf("%s: signed=%v reason=%q (%v); want signed=%v reason=%q", c.name, signed, reason(err), err, c.wantSigned, c.wantReason)
		}
	}
	// The HTTP status requirement.
	if _, err := VerifyHTTPResponse(kr, "POST", path, cid, 500, signedS, bodyS); err == nil {
		t.Fatal("non-200 must be refused even when signed")
	}
	if signed, err := VerifyHTTPResponse(kr, "POST", path, cid, 200, signedS, bodyS); err != nil || !signed {
		t.Fatalf("200 signed: %v %v", signed, err)
	}
}

func BenchmarkVerify(b *testing.B) {
	n := vectorByName(b, "notification")
	kr := NewKeyring(loadTestKeys(b).antomPub)
	body := []byte(n.Body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kr.Verify(n.Method, n.Path, n.ClientID, n.Time, body, n.SignatureHeaderValue); err != nil {
			b.Fatal(err)
		}
	}
}
