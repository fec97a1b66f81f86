// Package antom speaks the Antom (Alipay Global "AMS") wire protocol: RSA key
// loading, request signing, signature verification, a gateway client and
// notification parsing. It has no Caddy imports; see docs/architecture.md for
// how the rest of caddy-antom uses it and docs/antom-protocol.md for the
// protocol itself.
//
// Fuzz the parsers with, e.g.:
//
//	go test ./antom -run='^$' -fuzz=FuzzParseSignatureHeader -fuzztime=30s
//
// (also FuzzParsePrivateKey, FuzzParsePublicKey, FuzzParseNotification).
package antom
