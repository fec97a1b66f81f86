package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Vector from the Standard Webhooks reference libraries' test suite.
func TestSignStandardWebhooksVector(t *testing.T) {
	sec, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(sec, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestSignMatchesIndependentHMAC(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	sec, err := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("{\"a\" : 1}\r\n")
	ts := time.Unix(1700000000, 0)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("msg_1.1700000000." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := Sign(sec, "msg_1", ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify(sec, "msg_1", "1700000000", body, "v1,bm9wZQ== "+want) {
		t.Fatal("Verify rejected a good signature among several")
	}
	if Verify(sec, "msg_1", "1700000000", append(body, ' '), want) {
		t.Fatal("Verify accepted a changed body")
	}
	if Verify(Secret{}, "msg_1", "1700000000", body, want) {
		t.Fatal("zero secret verified")
	}
}

func TestParseSecretErrors(t *testing.T) {
	long := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	short := base64.StdEncoding.EncodeToString([]byte("tooshort-secret"))
	cases := []struct{ in, want string }{
		{"", "empty"},
		{"{env.ANTOM_FORWARD_SECRET}", "unresolved placeholder"},
		{long, "no whsec_ prefix"},
		{"whsec_!!!notbase64!!!", "not valid standard base64"},
		{"whsec_" + short, "decodes to 15 bytes"},
	}
	for _, c := range cases {
		_, err := ParseSecret(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSecret(%q) = %v; want error containing %q", c.in, err, c.want)
			continue
		}
		if c.in != "" && strings.Contains(err.Error(), strings.TrimPrefix(c.in, "whsec_")) {
			t.Errorf("error echoes the secret: %v", err)
		}
		if !strings.Contains(err.Error(), "forward_secret") {
			t.Errorf("error does not name the option: %v", err)
		}
	}
	if _, err := ParseSecret("whsec_" + long); err != nil {
		t.Fatal(err)
	}
	// Unpadded base64 is tolerated.
	if _, err := ParseSecret("whsec_" + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 25))), "=")); err != nil {
		t.Fatal(err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s, err := GenerateSecret()
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		t.Fatal(s, err)
	}
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	r := Route{ID: "rt_x", URL: "http://127.0.0.1/", Secrets: []Secret{sec}}
	j, _ := json.Marshal(r)
	outs := []string{
		fmt.Sprint(sec), fmt.Sprintf("%v %+v %#v %s %x %q %d", sec, sec, sec, sec, sec, sec, sec),
		fmt.Sprintf("%v %+v %#v", r, r, r), fmt.Sprintf("%v", &r), string(j),
	}
	raw := string(sec.key)
	b64 := strings.TrimPrefix(s, "whsec_")
	for _, o := range outs {
		if strings.Contains(o, b64) || strings.Contains(o, raw) || strings.Contains(o, fmt.Sprintf("%x", sec.key)) ||
			strings.Contains(o, fmt.Sprint(sec.key)) {
			t.Errorf("secret leaked: %s", o)
		}
		if !strings.Contains(o, "whsec_REDACTED") {
			t.Errorf("no redaction marker: %s", o)
		}
	}
}

// During a rotation every delivery carries one signature per secret; a receiver holding any one
// of them accepts it, one holding neither does not.
func TestSignAllVerifiesWithEither(t *testing.T) {
	parse := func() Secret {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		sec, err := ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	old, next, other := parse(), parse(), parse()
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"notifyType":"PAYMENT_RESULT"}`)
	header := SignAll([]Secret{old, next}, "msg_1", ts, body)
	if parts := strings.Fields(header); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("webhook-signature %q, want two space-separated v1 signatures", header)
	}
	for name, s := range map[string]Secret{"old": old, "new": next} {
		if !Verify(s, "msg_1", "1700000000", body, header) {
			t.Errorf("the %s secret does not verify %q", name, header)
		}
	}
	if Verify(other, "msg_1", "1700000000", body, header) {
		t.Error("an unrelated secret verifies")
	}
}

// BenchmarkSignAll signs a 2 KiB notification with two secrets (a rotation), as every delivery
// attempt does.
func BenchmarkSignAll(b *testing.B) {
	secrets := []Secret{testSecret(b), testSecret(b)}
	body := []byte(`{"notifyType":"PAYMENT_RESULT","padding":"` + strings.Repeat("x", 2000) + `"}`)
	ts := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		SignAll(secrets, "msg_0cc65c3f6f026e20ee8f9c4fbc753ae5", ts, body)
	}
}
