package antom

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultKeyVersion is the key version Antom assumes when none is given.
const DefaultKeyVersion = "1"

// SandboxPrefix marks sandbox client ids; their API paths live under
// /ams/sandbox/api instead of /ams/api.
const SandboxPrefix = "SANDBOX_"

// ContentToSign builds the exact bytes Antom signs:
//
//	METHOD + " " + PATH + "\n" + CLIENT_ID + "." + TIME + "." + BODY
//
// timestamp is used verbatim (it is an opaque string on the wire) and body
// must be the exact bytes sent or received, never re-serialised JSON.
func ContentToSign(method, path, clientID, timestamp string, body []byte) []byte {
	b := make([]byte, 0, len(method)+len(path)+len(clientID)+len(timestamp)+len(body)+4)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, '\n')
	b = append(b, clientID...)
	b = append(b, '.')
	b = append(b, timestamp...)
	b = append(b, '.')
	b = append(b, body...)
	return b
}

// Sign signs content with RSASSA-PKCS1-v1_5 over SHA-256 and returns the
// signature as padded standard base64 (not yet URL-encoded).
func Sign(key *rsa.PrivateKey, content []byte) (string, error) {
	if key == nil {
		return "", errors.New("antom: no merchant private key to sign with")
	}
	sum := sha256.Sum256(content)
	// PKCS#1 v1.5 is deterministic; no randomness source is needed.
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// SignatureHeader builds the Signature header value
// "algorithm=RSA256,keyVersion=<v>,signature=<urlenc>" from a base64
// signature. The base64 is form-URL-encoded (+ -> %2B, / -> %2F, = -> %3D) as
// every official SDK does. An empty keyVersion means DefaultKeyVersion.
func SignatureHeader(keyVersion, b64sig string) string {
	if keyVersion == "" {
		keyVersion = DefaultKeyVersion
	}
	return "algorithm=RSA256,keyVersion=" + keyVersion + ",signature=" + url.QueryEscape(b64sig)
}

// RequestTime formats t as the Request-Time header value: milliseconds since
// the Unix epoch.
func RequestTime(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// IsSandbox reports whether clientID is an Antom sandbox client id.
func IsSandbox(clientID string) bool {
	return strings.HasPrefix(clientID, SandboxPrefix)
}

// GatewayPath turns an API name into the request path to send and sign.
// api is either relative ("v1/payments/pay") or a full path
// ("/ams/api/v1/payments/pay"). For sandbox client ids the first "/ams/api"
// becomes "/ams/sandbox/api", as all SDKs do before signing: signing one path
// and sending the other gives INVALID_SIGNATURE.
func GatewayPath(clientID, api string) string {
	p := strings.TrimPrefix(api, "/")
	if strings.HasPrefix(p, "ams/") {
		p = "/" + p
	} else {
		p = "/ams/api/" + p
	}
	if IsSandbox(clientID) {
		p = strings.Replace(p, "/ams/api", "/ams/sandbox/api", 1)
	}
	return p
}

// Signer signs API requests as a merchant.
type Signer struct {
	ClientID   string          // the merchant's Antom client id
	KeyVersion string          // key version announced in the header; "" means "1"
	Key        *rsa.PrivateKey // the merchant private key
}

// SignRequest returns the Signature header value for a request. path is
// signed verbatim, so pass what GatewayPath returned and send exactly that
// path; timestamp must be the Request-Time header value sent with it.
func (s Signer) SignRequest(method, path, timestamp string, body []byte) (header string, err error) {
	if s.ClientID == "" {
		return "", errors.New("antom: signer has no client id")
	}
	sig, err := Sign(s.Key, ContentToSign(method, path, s.ClientID, timestamp, body))
	if err != nil {
		return "", err
	}
	return SignatureHeader(s.KeyVersion, sig), nil
}

// ParseRequestTime reads a request-time or response-time header: milliseconds since the epoch
// (what requests carry) or ISO-8601 with an offset, with or without fractions of a second
// (what notifications carry, e.g. 2019-07-12T12:08:56.253+05:30; +0530 is accepted too). A time
// without an offset is ambiguous and refused.
func ParseRequestTime(v string) (time.Time, error) {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("request-time %q is out of range", v)
		}
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("request-time %q is neither milliseconds since the epoch nor ISO-8601 with an offset (2019-07-12T12:08:56+05:30)", v)
}
