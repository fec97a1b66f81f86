'use strict';
// What the browser scripts share: how Chromium is started on a closed machine, and how the Go test
// hands them their input.
const fs = require('fs');

// Headless, as root, and without the background connections that a machine with no network
// refuses many at a time.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage', '--no-proxy-server',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// readInput returns the JSON object on stdin, or answers {ok:false} and exits 2.
function readInput() {
  try {
    return JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: 'bad input: ' + e.message }) + '\n');
    process.exit(2);
  }
}

module.exports = { CHROMIUM_ARGS, sleep, readInput };
