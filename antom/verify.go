package antom

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Machine-readable reasons carried by *VerifyError.
const (
	ReasonMissingSignature   = "missing_signature"
	ReasonMalformedSignature = "malformed_signature"
	ReasonUnknownKeyVersion  = "unknown_key_version"
	ReasonBadSignature       = "bad_signature"
)

// VerifyError explains why a signature was not accepted. Reason is one of
// the Reason* constants (stable, for metrics and logs); Msg is for humans and
// names the key version and the likely fix.
type VerifyError struct {
	Reason     string
	KeyVersion string
	Msg        string
}

func (e *VerifyError) Error() string {
	if e.Msg == "" {
		return "antom: " + e.Reason
	}
	return e.Msg
}

// SignatureParams is a parsed Signature header.
type SignatureParams struct {
	Algorithm  string // "RSA256"; empty if the header did not name one
	KeyVersion string // defaults to "1"
	Signature  []byte // raw signature bytes
}

// ParseSignatureHeader parses "algorithm=RSA256,keyVersion=1,signature=...".
// It is deliberately tolerant of what real senders emit: spaces after commas,
// any key order, upper- or lower-case percent escapes, raw base64 (a literal
// '+' stays '+': only percent-decoding is applied), missing keyVersion
// (defaults to "1"). The algorithm, when present, must be RSA256. Errors are
// *VerifyError with Reason missing_signature or malformed_signature.
func ParseSignatureHeader(v string) (SignatureParams, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return SignatureParams{}, &VerifyError{Reason: ReasonMissingSignature, Msg: "no Signature header"}
	}
	malformed := func(why string) (SignatureParams, error) {
		return SignatureParams{}, &VerifyError{Reason: ReasonMalformedSignature, Msg: "malformed Signature header: " + why}
	}
	var p SignatureParams
	var sawAlg, sawVer, sawSig bool
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		// Split at the first '=': base64 padding also uses '='.
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return malformed("expected name=value pairs")
		}
		name = strings.TrimSpace(name)
		val = strings.TrimSpace(val)
		switch strings.ToLower(name) {
		case "algorithm":
			if sawAlg {
				return malformed("algorithm given twice")
			}
			sawAlg = true
			p.Algorithm = val
		case "keyversion":
			if sawVer {
				return malformed("keyVersion given twice")
			}
			sawVer = true
			p.KeyVersion = val
		case "signature":
			if sawSig {
				return malformed("signature given twice")
			}
			sawSig = true
			sig, err := decodeSignatureValue(val)
			if err != nil {
				return malformed(err.Error())
			}
			p.Signature = sig
		default:
			// Unknown parameters are ignored so a future field does not break us.
		}
	}
	if !sawSig || len(p.Signature) == 0 {
		return malformed("no signature= value")
	}
	if sawAlg && !strings.EqualFold(p.Algorithm, "RSA256") {
		return malformed("algorithm is not RSA256")
	}
	if p.KeyVersion == "" {
		p.KeyVersion = DefaultKeyVersion
	}
	if len(p.KeyVersion) > 32 || strings.ContainsFunc(p.KeyVersion, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return malformed("keyVersion is not a short printable token")
	}
	return p, nil
}

func decodeSignatureValue(val string) ([]byte, error) {
	// PathUnescape percent-decodes (any hex case) but keeps '+': a form decoder
	// would turn a raw base64 '+' into a space.
	s, err := url.PathUnescape(val)
	if err != nil {
		return nil, fmt.Errorf("bad percent-encoding in signature")
	}
	// A proxy that form-decoded the header already turned '+' into ' '.
	s = strings.ReplaceAll(s, " ", "+")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("signature is not base64")
}

// Keyring holds Antom public keys by key version, so notifications signed
// with an old or new key keep verifying during a key rotation. The zero value
// is ready to use; it is safe for concurrent use (Add is meant for setup).
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]*rsa.PublicKey
}

// NewKeyring returns a Keyring holding pub as key version "1", or an empty
// one when pub is nil.
func NewKeyring(pub *rsa.PublicKey) *Keyring {
	k := &Keyring{}
	if pub != nil {
		k.Add(DefaultKeyVersion, pub)
	}
	return k
}

// Add registers pub under version ("" means "1"), replacing any previous key.
func (k *Keyring) Add(version string, pub *rsa.PublicKey) {
	if version == "" {
		version = DefaultKeyVersion
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = make(map[string]*rsa.PublicKey)
	}
	k.keys[version] = pub
}

// Len returns the number of key versions held.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

// Get returns the key for version ("" means "1").
func (k *Keyring) Get(version string) (*rsa.PublicKey, bool) {
	if k == nil {
		return nil, false
	}
	if version == "" {
		version = DefaultKeyVersion
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok := k.keys[version]
	return pub, ok && pub != nil
}

// Versions returns the key versions held, sorted.
func (k *Keyring) Versions() []string {
	if k == nil {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	vs := make([]string, 0, len(k.keys))
	for v := range k.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// CheckHeader does what Verify does before looking at the body: it parses the
// Signature header and finds the public key it names. A server can refuse a
// request that fails it without reading the body. It returns the key version,
// or a *VerifyError.
func (k *Keyring) CheckHeader(signatureHeader string) (keyVersion string, err error) {
	p, _, err := k.lookup(signatureHeader)
	return p.KeyVersion, err
}

func (k *Keyring) lookup(signatureHeader string) (SignatureParams, *rsa.PublicKey, error) {
	p, err := ParseSignatureHeader(signatureHeader)
	if err != nil {
		return p, nil, err
	}
	pub, ok := k.Get(p.KeyVersion)
	if !ok {
		have := k.Versions()
		msg := fmt.Sprintf("signature names Antom public key version %s, but ", p.KeyVersion)
		if len(have) == 0 {
			msg += "no Antom public key is configured: set antom_public_key from the dashboard"
		} else {
			msg += fmt.Sprintf("only version(s) %s are configured: add Antom's public key version %s from the dashboard", strings.Join(have, ", "), p.KeyVersion)
		}
		return p, nil, &VerifyError{Reason: ReasonUnknownKeyVersion, KeyVersion: p.KeyVersion, Msg: msg}
	}
	return p, pub, nil
}

// Verify checks an Antom signature over the request-style content
// (METHOD PATH\nCLIENT_ID.TIMESTAMP.BODY). path must be the path Antom
// addressed (before any proxy rewrite, query included if there was one),
// timestamp the request-time header verbatim, body the exact bytes received.
// It returns the key version that verified, or a *VerifyError.
func (k *Keyring) Verify(method, path, clientID, timestamp string, body []byte, signatureHeader string) (keyVersion string, err error) {
	p, pub, err := k.lookup(signatureHeader)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(ContentToSign(method, path, clientID, timestamp, body))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], p.Signature); err != nil {
		msg := fmt.Sprintf("signature does not verify with Antom public key version %s: the body, path, client-id or request-time changed, or antom_public_key is not Antom's key for this client id", p.KeyVersion)
		switch {
		case timestamp == "":
			msg += " (the time header is empty)"
		case clientID == "":
			msg += " (the client-id is empty)"
		}
		return "", &VerifyError{Reason: ReasonBadSignature, KeyVersion: p.KeyVersion, Msg: msg}
	}
	return p.KeyVersion, nil
}

// VerifyResponse applies the strict response policy of the protocol notes §3
// to an Antom API response. The caller must already have required HTTP 200
// (VerifyHTTPResponse does both). method and path are those of the request as
// sent; the response's client-id header falls back to requestClientID.
//
//   - signature and response-time both present: the signature must verify
//     (signed=true);
//   - only one of them present: rejected;
//   - neither: accepted (signed=false) only if result.resultStatus is F or U,
//     which the caller must never treat as success.
func VerifyResponse(k *Keyring, method, path, requestClientID string, h http.Header, body []byte) (signed bool, err error) {
	sig := headerValue(h, "Signature")
	rt := headerValue(h, "Response-Time")
	switch {
	case sig != "" && rt != "":
		cid := headerValue(h, "Client-Id")
		if cid == "" {
			cid = requestClientID
		}
		if _, err := k.Verify(method, path, cid, rt, body, sig); err != nil {
			return false, err
		}
		return true, nil
	case sig != "":
		return false, &VerifyError{Reason: ReasonMalformedSignature, Msg: "response has a signature header but no response-time header: refusing it"}
	case rt != "":
		return false, &VerifyError{Reason: ReasonMissingSignature, Msg: "response has a response-time header but no signature header: refusing it"}
	}
	r, err := ParseResult(body)
	if err != nil {
		return false, &VerifyError{Reason: ReasonMissingSignature, Msg: "unsigned response without a readable result: refusing it"}
	}
	if r.ResultStatus == StatusFail || r.ResultStatus == StatusUnknown {
		return false, nil
	}
	return false, &VerifyError{Reason: ReasonMissingSignature, Msg: fmt.Sprintf("unsigned response with resultStatus %q: only F or U may be unsigned, refusing it", r.ResultStatus)}
}

// VerifyHTTPResponse is VerifyResponse preceded by the HTTP 200 requirement.
func VerifyHTTPResponse(k *Keyring, method, path, requestClientID string, statusCode int, h http.Header, body []byte) (signed bool, err error) {
	if statusCode != http.StatusOK {
		return false, fmt.Errorf("antom: gateway answered HTTP %d, want 200", statusCode)
	}
	return VerifyResponse(k, method, path, requestClientID, h, body)
}

// headerValue is http.Header.Get that also finds keys stored in non-canonical
// form (headers built by hand as map literals, e.g. in tests).
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
