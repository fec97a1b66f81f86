// Verify a notification in Antom's own format: what Antom sends to your notify URL, or what Caddy
// (antom_webhook with `forward_format antom`) forwards to your app. Node 12+, `crypto` only.
//
//   const { verifyAntomSignature } = require('./antom_signature.js');
//   // body must be the raw bytes (Buffer), e.g. express.raw({ type: '*/*' }); never JSON.stringify(req.body)
//   const v = verifyAntomSignature(process.env.ANTOM_PUBLIC_KEY, req.originalUrl, req.headers, body);
//   if (!v.ok) return res.status(v.status).send(v.reason);       // it is sent again later
//   const n = JSON.parse(body);                                  // trusted: process it once, then ack:
//   res.json({ result: { resultCode: 'SUCCESS', resultStatus: 'S', resultMessage: 'success' } });
//
// publicKey: the key that signs these notifications, one-line base64 as the Antom dashboard shows
// it, or PEM. Behind Caddy that is Antom's public key when Caddy passes Antom's signature through,
// or the public half of `forward_key` when Caddy signs. While keys rotate, give an object
// keyVersion -> key: { 1: oldKey, 2: newKey }.
// path: the path (and query, if any) the sender posted to (req.originalUrl in express, req.url in
// node's http), unless a proxy in front of node rewrites the URL.
// request-time is not checked for freshness: Antom and Caddy resend a notification for hours.
// Deduplicate on the notification's ids instead.
//
// Returns { ok: true, keyVersion } or { ok: false, status: 400|401|500, reason }:
// 401 bad signature or unknown key version, 400 missing/malformed headers, 500 unusable key.
'use strict';
const crypto = require('crypto');

function verifyAntomSignature(publicKey, path, headers, body) {
  const h = {};
  for (const [k, v] of Object.entries(headers || {})) h[k.toLowerCase()] = (Array.isArray(v) ? v.join(',') : String(v)).trim();
  const fail = (status, reason) => ({ ok: false, status, reason });
  for (const need of ['client-id', 'request-time', 'signature']) {
    if (!h[need]) return fail(400, `missing header ${need}`);
  }

  // algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
  const params = {};
  for (const part of h.signature.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  if (params.algorithm !== undefined && params.algorithm.toUpperCase() !== 'RSA256') return fail(400, 'signature algorithm is not RSA256');
  const version = params.keyversion || '1';
  let b64;
  try {
    // Percent-decoding only (decodeURIComponent keeps a raw '+'); a space is a '+' a proxy form-decoded.
    b64 = decodeURIComponent(params.signature || '').replace(/ /g, '+');
  } catch (e) {
    b64 = '';
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return fail(400, 'signature header has no base64 signature= value');
  const sig = Buffer.from(b64, 'base64');

  let pem = typeof publicKey === 'object' && publicKey !== null ? publicKey[version] : publicKey;
  if (pem === undefined) return fail(401, `no public key configured for keyVersion ${version}`);
  pem = String(pem).trim();
  let key;
  try {
    key = pem.startsWith('-----BEGIN')
      ? crypto.createPublicKey(pem)
      : crypto.createPublicKey({ key: Buffer.from(pem.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  } catch (e) {
    key = null;
  }
  if (!key || key.asymmetricKeyType !== 'rsa') return fail(500, 'the configured public key is not an RSA public key (base64 or PEM)');

  const content = Buffer.concat([
    Buffer.from(`POST ${path}\n${h['client-id']}.${h['request-time']}.`, 'utf8'),
    Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8'),
  ]);
  if (!crypto.verify('sha256', content, key, sig)) {
    return fail(401, `bad signature for keyVersion ${version} (wrong public key, or path/client-id/request-time/body changed)`);
  }
  return { ok: true, keyVersion: version };
}

module.exports = { verifyAntomSignature };
