// Package delivery gets stored events into the merchant's app: Standard
// Webhooks signing (standardwebhooks.com), the Forwarder that makes one
// HTTP attempt, the backoff schedule, and the Dispatcher that retries
// pending events until they are delivered or dead.
package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretPrefix is the Standard Webhooks secret prefix.
const secretPrefix = "whsec_"

// minSecretLen is the minimum decoded secret length the Standard Webhooks
// spec recommends (24 to 64 bytes).
const minSecretLen = 24

// Secret is a Standard Webhooks signing secret. Its bytes never print:
// String, GoString, Format verbs and JSON all give "whsec_REDACTED".
type Secret struct {
	key []byte
}

const redacted = "whsec_REDACTED"

// ParseSecret parses "whsec_<base64>" (at least 24 bytes once decoded).
// Errors say what is wrong and how to fix it, and never contain the value.
func ParseSecret(s string) (Secret, error) {
	const fix = "; generate one with `caddy antom secret`"
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Secret{}, errors.New("forward_secret is empty; it must look like whsec_<base64>" + fix)
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		return Secret{}, errors.New("forward_secret is an unresolved placeholder; check the environment variable or file it names")
	case !strings.HasPrefix(s, secretPrefix):
		return Secret{}, errors.New("forward_secret must look like whsec_<base64> (Standard Webhooks format); the value given has no whsec_ prefix" + fix)
	}
	b64 := s[len(secretPrefix):]
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// Tolerate a secret whose padding was stripped.
		key, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	}
	if err != nil {
		return Secret{}, errors.New("forward_secret must look like whsec_<base64>; the part after whsec_ is not valid standard base64" + fix)
	}
	if len(key) < minSecretLen {
		return Secret{}, fmt.Errorf("forward_secret is too short: it decodes to %d bytes, Standard Webhooks needs at least %d%s", len(key), minSecretLen, fix)
	}
	return Secret{key: key}, nil
}

// GenerateSecret returns a new random secret in whsec_<base64> form
// (32 bytes), for `caddy antom secret`.
func GenerateSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String returns "whsec_REDACTED".
func (s Secret) String() string { return redacted }

// GoString returns "whsec_REDACTED" so %#v does not print the bytes.
func (s Secret) GoString() string { return redacted }

// Format makes every fmt verb print "whsec_REDACTED".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns "whsec_REDACTED" as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "whsec_REDACTED" (used by loggers and encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Sign returns the Standard Webhooks signature header value for one
// message: "v1," + base64(HMAC-SHA256(secret, msgID + "." + unix + "." + body)).
func Sign(secret Secret, msgID string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, msgID, strconv.FormatInt(ts.Unix(), 10), body))
}

// SignAll returns the webhook-signature header value signed with each of
// secrets: their "v1,<base64>" signatures separated by spaces, as Standard
// Webhooks allows, so a receiver holding any one of the secrets accepts it.
func SignAll(secrets []Secret, msgID string, ts time.Time, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Sign(s, msgID, ts, body)
	}
	return strings.Join(sigs, " ")
}

// Verify checks a webhook-signature header (one or more space-separated
// "v1,<base64>" entries) against msgID, the webhook-timestamp header value
// and body. It does not judge the timestamp's age; receivers should reject
// timestamps more than a few minutes off.
func Verify(secret Secret, msgID, timestamp string, body []byte, signatureHeader string) bool {
	if secret.IsZero() {
		return false
	}
	want := mac(secret, msgID, timestamp, body)
	for _, part := range strings.Fields(signatureHeader) {
		v, sig, ok := strings.Cut(part, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func mac(secret Secret, msgID, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret.key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
