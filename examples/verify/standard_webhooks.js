// Verify an event forwarded by Caddy (Standard Webhooks). Node 12+, `crypto` only.
//
//   const { verifyEvent } = require('./standard_webhooks.js');
//   // body must be the raw bytes (Buffer), e.g. express.raw({ type: '*/*' }); never JSON.stringify(req.body)
//   const v = verifyEvent(process.env.ANTOM_FORWARD_SECRET, req.headers, body);
//   if (!v.ok) return res.status(v.status).send(v.reason);
//   const event = JSON.parse(body);  // trusted; v.id is the webhook-id (use it to deduplicate)
//
// secret may be an array of secrets while you rotate them (the event is authentic if it is
// signed with any): verifyEvent([newSecret, oldSecret], ...).
//
// Returns { ok: true, id, timestamp } or { ok: false, status: 400|401|500, reason }.
'use strict';
const crypto = require('crypto');

function verifyEvent(secret, headers, body, toleranceSec = 300, nowSec = Math.floor(Date.now() / 1000)) {
  const h = {};
  for (const [k, v] of Object.entries(headers || {})) h[k.toLowerCase()] = Array.isArray(v) ? v.join(' ') : String(v);
  const fail = (status, reason) => ({ ok: false, status, reason });

  const keys = [];
  for (const one of Array.isArray(secret) ? secret : [secret]) {
    const b64 = String(one || '').replace(/^whsec_/, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return fail(500, 'secret is empty or not base64 (expected whsec_<base64>)');
    keys.push(Buffer.from(b64, 'base64'));
  }
  if (keys.length === 0) return fail(500, 'no secret given');

  for (const need of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    if (!h[need] || !h[need].trim()) return fail(400, `missing header ${need}`);
  }
  const id = h['webhook-id'];
  const ts = h['webhook-timestamp'].trim();
  if (!/^[0-9]{1,12}$/.test(ts)) return fail(400, 'webhook-timestamp is not unix seconds');

  const signed = Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8');
  const valid = keys.some((key) => {
    const expected = Buffer.from(crypto.createHmac('sha256', key).update(`${id}.${ts}.`).update(signed).digest('base64'));
    return h['webhook-signature'].trim().split(/\s+/).some((entry) => {
      const comma = entry.indexOf(',');
      if (comma < 0 || entry.slice(0, comma) !== 'v1') return false;
      const got = Buffer.from(entry.slice(comma + 1));
      return got.length === expected.length && crypto.timingSafeEqual(got, expected);
    });
  });
  if (!valid) return fail(401, 'no valid v1 signature (wrong secret, or body/id/timestamp changed)');

  if (Number(ts) < nowSec - toleranceSec) return fail(400, 'timestamp too old');
  if (Number(ts) > nowSec + toleranceSec) return fail(400, 'timestamp too new (check the clocks)');
  return { ok: true, id, timestamp: Number(ts) };
}

module.exports = { verifyEvent };
