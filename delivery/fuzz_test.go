package delivery

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
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
