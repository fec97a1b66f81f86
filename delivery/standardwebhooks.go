// Package delivery gets stored events into the merchant's app: Standard
// Webhooks signing (standardwebhooks.com, with the specification's own Go
// library) or Antom's own format, the Forwarder that makes one HTTP attempt,
// the backoff schedule, and the Dispatcher that retries pending events until
// they are delivered or dead.
package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// secretPrefix is the Standard Webhooks secret prefix.
const secretPrefix = "whsec_"

// minSecretLen is the minimum decoded secret length the Standard Webhooks
// spec recommends (24 to 64 bytes).
const minSecretLen = 24

// Secret is a Standard Webhooks signing secret. Its bytes never print:
// String, GoString, Format verbs and JSON all give "whsec_REDACTED".
//
// Signing and verifying are the Standard Webhooks library's. Parsing is not:
// the library's NewWebhook takes any non-empty key, so it would accept a
// secret without the whsec_ prefix, a too short one or one whose padding was
// stripped without a word, and its errors could not name forward_secret and
// the fix.
type Secret struct {
	key []byte
	wh  *standardwebhooks.Webhook
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
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil { // only for an empty key, which the length check above excludes
		return Secret{}, errors.New("forward_secret: " + err.Error())
	}
	return Secret{key: key, wh: wh}, nil
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
	if secret.wh == nil {
		return ""
	}
	sig, _ := secret.wh.Sign(msgID, ts, body) // the library's signing cannot fail
	return sig
}

// SignAll returns the webhook-signature header value signed with each of
// secrets: their "v1,<base64>" signatures separated by spaces, as Standard
// Webhooks allows, so a receiver holding any one of the secrets accepts it.
// The library signs with one secret only; joining is all this adds.
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
// timestamps more than a few minutes off (the library's Verify does).
func Verify(secret Secret, msgID, timestamp string, body []byte, signatureHeader string) bool {
	if secret.wh == nil {
		return false
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, timestamp)
	h.Set(standardwebhooks.HeaderWebhookSignature, signatureHeader)
	return secret.wh.VerifyIgnoringTimestamp(body, h) == nil
}
