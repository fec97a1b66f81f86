// node harness.js <examples/verify> <cases>: see README.md.
'use strict';
const fs = require('fs');
const path = require('path');
const { verifyEvent } = require(path.resolve(process.argv[2], 'standard_webhooks.js'));
const { verifyAntomSignature } = require(path.resolve(process.argv[2], 'antom_signature.js'));
const d = (s) => Buffer.from(s, 'base64');
for (const line of fs.readFileSync(process.argv[3], 'utf8').split('\n').filter(Boolean)) {
  const [name, format, creds, p, now, headers, body] = line.split('\t');
  const h = {};
  for (const hl of d(headers).toString('utf8').split('\n').filter(Boolean)) {
    const i = hl.indexOf(': ');
    h[hl.slice(0, i).toLowerCase()] = hl.slice(i + 2); // node's req.headers are lower case
  }
  const list = {};
  for (const c of creds.split(',')) {
    const i = c.indexOf(':');
    list[c.slice(0, i)] = d(c.slice(i + 1)).toString('utf8');
  }
  const r = format === 'sw'
    ? verifyEvent(Object.values(list), h, d(body), 300, Number(now))
    : verifyAntomSignature('*' in list ? list['*'] : list, d(p).toString('utf8'), h, d(body));
  console.log([name, ...(r.ok ? ['ok', format === 'sw' ? r.id : r.keyVersion] : ['fail', r.status, r.reason])].join('\t'));
}
