package antom

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinKeyBits is the smallest RSA modulus accepted. Antom issues and expects
// RSA-2048 keys; anything smaller is a mistake or a weak key.
const MinKeyBits = 2048

// What the user is told to paste; kept in one place so every error agrees.
const (
	wantPrivate = "expected the merchant private key (PKCS#8 base64 starting MIIEv, or PEM)"
	wantPublic  = "expected Antom's public key from the dashboard (base64 SPKI, starts MIIBI)"
)

// parsedKey is what a blob of key text turned out to be, before checking
// whether that is what the caller wanted.
type parsedKey struct {
	priv      *rsa.PrivateKey
	pub       *rsa.PublicKey
	otherAlgo string // "EC", "Ed25519", ... when the key is not RSA
	isPrivate bool   // otherAlgo key that is private
	encrypted bool
}

// ParsePrivateKey parses the merchant's RSA private key. It accepts PKCS#8 or
// PKCS#1, either as one-line base64 DER (the Antom dashboard format; whitespace
// and line breaks are ignored) or as PEM. The error never contains key
// material: it says what was expected and what was seen.
func ParsePrivateKey(s string) (*rsa.PrivateKey, error) {
	k, err := parseAnyKey(s)
	if err != nil {
		return nil, fmt.Errorf("%v; %s", err, wantPrivate)
	}
	switch {
	case k.encrypted:
		return nil, errors.New("got an encrypted private key; decrypt it first (openssl pkcs8 -topk8 -nocrypt) and paste the unencrypted merchant private key")
	case k.otherAlgo != "":
		return nil, fmt.Errorf("got an %s key; Antom uses RSA keys: %s", k.otherAlgo, wantPrivate)
	case k.priv == nil:
		return nil, errors.New("got a public key; " + wantPrivate)
	}
	if err := checkSize(k.priv.N.BitLen()); err != nil {
		return nil, err
	}
	return k.priv, nil
}

// ParsePublicKey parses Antom's RSA public key: X.509 SubjectPublicKeyInfo
// (PKCS#1 RSAPublicKey and X.509 certificates are tolerated), as one-line
// base64 DER or PEM. The error never contains key material.
func ParsePublicKey(s string) (*rsa.PublicKey, error) {
	k, err := parseAnyKey(s)
	if err != nil {
		return nil, fmt.Errorf("%v; %s", err, wantPublic)
	}
	switch {
	case k.encrypted || k.priv != nil || k.isPrivate:
		return nil, errors.New("got a private key; paste Antom's public key from the dashboard (base64 SPKI, starts MIIBI)")
	case k.otherAlgo != "":
		return nil, fmt.Errorf("got an %s key; Antom uses RSA keys: %s", k.otherAlgo, wantPublic)
	case k.pub == nil:
		return nil, errors.New("no public key found; " + wantPublic)
	}
	if err := checkSize(k.pub.N.BitLen()); err != nil {
		return nil, err
	}
	return k.pub, nil
}

// EncodePrivateKey returns k as one-line base64 PKCS#8 DER, the format the
// Antom dashboard and the official SDKs use for the merchant private key.
func EncodePrivateKey(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		// Only fails for unsupported key types; an *rsa.PrivateKey always works.
		panic("antom: EncodePrivateKey: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(der)
}

// EncodePublicKey returns k as one-line base64 SubjectPublicKeyInfo DER, the
// format to paste into the Antom dashboard.
func EncodePublicKey(k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic("antom: EncodePublicKey: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(der)
}

func checkSize(bits int) error {
	if bits < MinKeyBits {
		return fmt.Errorf("RSA key is %d bits; Antom requires at least %d-bit RSA keys", bits, MinKeyBits)
	}
	return nil
}

// parseAnyKey detects PEM or base64 DER and the key encoding inside. Its
// errors describe the input only by shape (length, PEM type), never by content.
func parseAnyKey(s string) (parsedKey, error) {
	s = strings.TrimSpace(s)
	// Keys pasted from JSON or env files often carry quotes and literal "\n".
	s = strings.Trim(s, "\"'")
	s = strings.ReplaceAll(s, `\n`, "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return parsedKey{}, errors.New("key is empty")
	}
	if strings.Contains(s, "-----BEGIN") {
		return parsePEMKey(s)
	}
	der, err := decodeBase64Loose(s)
	if err != nil {
		return parsedKey{}, fmt.Errorf("key text (%d characters) is neither PEM nor base64", len(s))
	}
	k, ok := parseDER(der)
	if !ok {
		return parsedKey{}, fmt.Errorf("key text decodes from base64 to %d bytes that are not a PKCS#8, PKCS#1 or SPKI key", len(der))
	}
	return k, nil
}

func parsePEMKey(s string) (parsedKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return parsedKey{}, errors.New("key text looks like PEM but has no complete BEGIN/END block")
	}
	var (
		k  parsedKey
		ok bool
	)
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		return parsedKey{encrypted: true}, nil
	case "PRIVATE KEY", "RSA PRIVATE KEY", "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		if block.Headers["Proc-Type"] != "" {
			// Legacy OpenSSL encryption ("Proc-Type: 4,ENCRYPTED").
			return parsedKey{encrypted: true}, nil
		}
		// The block type is a hint only; the DER decides (some tools mislabel).
		k, ok = parseDER(block.Bytes)
	case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return parsedKey{otherAlgo: strings.TrimSuffix(block.Type, " PRIVATE KEY"), isPrivate: true}, nil
	default:
		return parsedKey{}, errors.New("PEM block is of an unsupported type")
	}
	if !ok {
		return parsedKey{}, fmt.Errorf("PEM block %q holds %d bytes that are not a valid key", block.Type, len(block.Bytes))
	}
	return k, nil
}

// parseDER tries every encoding Antom users hand us. Order matters only for
// speed: the dashboard formats come first.
func parseDER(der []byte) (parsedKey, bool) {
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return classify(key, true), true
	}
	if key, err := x509.ParsePKIXPublicKey(der); err == nil {
		return classify(key, false), true
	}
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return parsedKey{priv: key, pub: &key.PublicKey}, true
	}
	if key, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return parsedKey{pub: key}, true
	}
	if cert, err := x509.ParseCertificate(der); err == nil {
		return classify(cert.PublicKey, false), true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return parsedKey{otherAlgo: "EC", isPrivate: true}, true
	}
	return parsedKey{}, false
}

func classify(key any, private bool) parsedKey {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return parsedKey{priv: k, pub: &k.PublicKey}
	case *rsa.PublicKey:
		return parsedKey{pub: k}
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return parsedKey{otherAlgo: "EC", isPrivate: private}
	case ed25519.PrivateKey, ed25519.PublicKey:
		return parsedKey{otherAlgo: "Ed25519", isPrivate: private}
	default:
		return parsedKey{otherAlgo: "unsupported non-RSA", isPrivate: private}
	}
}

// decodeBase64Loose drops all whitespace (dashboard keys get wrapped when
// pasted) and accepts padded or unpadded, standard or URL-safe base64.
func decodeBase64Loose(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil && len(b) > 0 {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = errors.New("empty")
	}
	return nil, firstErr
}
