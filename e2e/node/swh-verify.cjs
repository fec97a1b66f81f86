#!/usr/bin/env node
// swh-verify.cjs — verify one Standard Webhooks delivery with the reference `standardwebhooks`
// npm package (a third-party verifier of our signatures).
//
// stdin: JSON {"secret": "whsec_...", "headers": {"webhook-id": "...", ...}, "body": "<raw body>",
//              "bodyBase64": "<raw body, base64; used instead of body when set>"}
// stdout: JSON {"ok": true, "payload": <parsed body>} or {"ok": false, "error": "..."}
// exit: 0 verified, 1 rejected, 2 bad input.
'use strict';
const { Webhook } = require('standardwebhooks');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  let req;
  try {
    req = JSON.parse(input);
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: 'bad input: ' + e.message }) + '\n');
    process.exit(2);
  }
  const body = req.bodyBase64 !== undefined ? Buffer.from(req.bodyBase64, 'base64').toString('utf8') : req.body;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers || {})) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  try {
    const payload = new Webhook(req.secret).verify(body, headers);
    process.stdout.write(JSON.stringify({ ok: true, payload }) + '\n');
    process.exit(0);
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + '\n');
    process.exit(1);
  }
});
