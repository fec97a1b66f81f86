#!/usr/bin/env node
// checkout.cjs — one buyer in a real browser (Debian's headless Chromium driven by playwright-core):
// open the shop, click Buy, land on the Antom simulator's cashier page, click Pay / Fail / Cancel,
// come back to the shop's result page and wait (the page refreshes itself) until #order-state
// shows the expected state, which only a verified notification forwarded by Caddy can set.
//
// stdin: JSON {
//   "shopUrl": "https://localhost:8443",      // the public shop (Caddy's local CA: certificate errors ignored)
//   "sku": "tea",                             // the #buy-<sku> button
//   "action": "pay" | "fail" | "cancel",      // the cashier button (#pay, #fail, #cancel)
//   "expect": "paid",                         // the final #order-state
//   "shotDir": "/tmp/x",                      // PNG screenshots go here
//   "executablePath": "/usr/bin/chromium",
//   "timeoutMs": 30000                        // per wait; the final state gets this long too
// }
// stdout: JSON {"ok": bool, "error": "...", "orderId", "cashierUrl", "resultUrl", "cashier": {...},
//               "firstState", "state", "steps": [{"name", "ms", "url"}], "screenshots": [paths],
//               "console": [browser console errors and failed requests]}
// exit: 0 the order reached the expected state, 1 it did not (or the browser failed), 2 bad input.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage', '--no-proxy-server', '--ignore-certificate-errors',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  let input;
  try {
    input = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: 'bad input: ' + e.message }) + '\n');
    process.exit(2);
  }
  const shopUrl = String(input.shopUrl || '').replace(/\/+$/, '');
  const sku = input.sku || 'tea';
  const action = input.action || 'pay';
  const expect = input.expect || 'paid';
  const shotDir = input.shotDir || '.';
  const timeoutMs = input.timeoutMs || 30000;
  const out = { ok: false, action, expect, steps: [], screenshots: [], console: [] };
  const t0 = Date.now();
  let page = null;
  const step = (name) => out.steps.push({ name, ms: Date.now() - t0, url: page ? page.url() : '' });
  const shot = async (name) => {
    if (!page) return;
    const file = path.join(shotDir, `${action}-${name}.png`);
    try {
      await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
      out.screenshots.push(file);
    } catch (e) {
      out.console.push(`screenshot ${name} failed: ${e.message}`);
    }
  };
  // The order state on the current page; "" while a (meta refresh) navigation is under way.
  const orderState = async () => {
    try {
      return ((await page.locator('#order-state').textContent({ timeout: 2000 })) || '').trim();
    } catch (e) {
      return '';
    }
  };

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: input.executablePath || '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      timeout: 60000,
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 760 } });
    page = await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    page.setDefaultNavigationTimeout(timeoutMs);
    page.on('console', (m) => { if (m.type() === 'error') out.console.push('console: ' + m.text()); });
    page.on('pageerror', (e) => out.console.push('page error: ' + e.message));
    page.on('requestfailed', (r) => {
      const f = r.failure();
      // A meta refresh may abort the previous load; that is not an error.
      if (f && !/ERR_ABORTED/.test(f.errorText)) out.console.push(`request failed: ${r.method()} ${r.url()}: ${f.errorText}`);
    });

    // 1. the catalogue
    const resp = await page.goto(shopUrl + '/', { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${shopUrl}/ answered ${resp ? resp.status() : 'nothing'}`);
    await page.locator('#buy-' + sku).waitFor({ state: 'visible' });
    step('catalogue');
    await shot('1-catalogue');

    // 2. Buy: the shop creates the order, calls createPaymentSession through antom_api and
    // sends the browser to Antom's cashier page (normalUrl).
    await Promise.all([
      page.waitForURL((u) => u.pathname.startsWith('/cashier/'), { waitUntil: 'load' }),
      page.locator('#buy-' + sku).click(),
    ]);
    out.cashierUrl = page.url();
    await page.locator('#' + action).waitFor({ state: 'visible' });
    out.cashier = {
      title: await page.title(),
      amount: ((await page.locator('#amount').textContent()) || '').trim(),
      order: ((await page.locator('#order').textContent()) || '').trim(),
      paymentId: ((await page.locator('#payment-id').textContent()) || '').trim(),
      paymentRequestId: ((await page.locator('#payment-request-id').textContent()) || '').trim(),
      status: ((await page.locator('#status').textContent()) || '').trim(),
    };
    step('cashier');
    await shot('2-cashier');

    // 3. Pay / Fail / Cancel: the simulator settles the payment, notifies Caddy, and sends the
    // buyer back to the shop's paymentRedirectUrl.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/result', { waitUntil: 'load' }),
      page.locator('#' + action).click(),
    ]);
    out.resultUrl = page.url();
    out.orderId = new URL(out.resultUrl).searchParams.get('order') || '';
    out.firstState = await orderState();
    step('result');
    await shot('3-result-first');

    // 4. Wait for the verified notification: the result page refreshes itself while pending.
    const deadline = Date.now() + timeoutMs;
    let state = out.firstState;
    while (state !== expect && Date.now() < deadline) {
      await sleep(250);
      state = await orderState();
    }
    out.state = state;
    step('final');
    await shot('4-result-final');
    if (state !== expect) {
      throw new Error(`#order-state is "${state}" after ${timeoutMs} ms, want "${expect}"`);
    }
    out.ok = true;
  } catch (e) {
    out.error = String((e && e.message) || e);
    if (page) {
      out.failedAt = page.url();
      await shot('failure');
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  out.ms = Date.now() - t0;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(out.ok ? 0 : 1);
}

main();
