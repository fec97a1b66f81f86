package delivery

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// go test -fuzz FuzzParseSecret ./delivery/
func FuzzParseSecret(f *testing.F) {
	f.Add("whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	f.Add("whsec_")
	f.Add("{env.X}")
	f.Add("whsec_====")
	f.Fuzz(func(t *testing.T, in string) {
		sec, err := ParseSecret(in)
		if err != nil {
			if v := strings.TrimPrefix(strings.TrimSpace(in), "whsec_"); len(v) >= 8 && strings.Contains(err.Error(), v) {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		if len(sec.key) < minSecretLen {
			t.Fatalf("accepted a %d-byte secret", len(sec.key))
		}
	})
}

// go test -fuzz FuzzParseRetryAfter ./delivery/
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "99999999999999999999", "Thu, 01 Jan 2026 00:02:00 GMT"} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in string) {
		if d := parseRetryAfter(in, at); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", in, d)
		}
	})
}

// go test -fuzz FuzzHeaderValue ./delivery/
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"", "order-1", "a\nb", "100%", " x ", "ü", "\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, ok := headerValue(in)
		if !ok {
			if len(in) <= maxHeaderValue/3 {
				t.Fatalf("headerValue(%q) dropped a short value", in)
			}
			return
		}
		if !httpguts.ValidHeaderFieldValue(v) || strings.TrimSpace(v) != v || len(v) > maxHeaderValue {
			t.Fatalf("headerValue(%q) = %q: not a clean header value", in, v)
		}
		if back, err := url.PathUnescape(v); err != nil || back != in {
			t.Fatalf("headerValue(%q) = %q does not decode back (%q, %v)", in, v, back, err)
		}
	})
}
