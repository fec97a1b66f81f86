#!/usr/bin/env node
// checkout.cjs — one buyer in a real browser (Debian's headless Chromium driven by playwright-core):
// open the shop, pay with one of its payment flows on the Antom simulator's pages, come back to
// the shop's result page and wait (the page refreshes itself) until #order-state shows the
// expected state, which only a verified notification forwarded by Caddy can set.
//
// Flows:
//   wallet     #buy-<sku>, the cashier page: #pay / #fail / #cancel (action)
//   legacy     #legacy-<sku>: as wallet, notified at the shop's Antom-format notify handler
//   easysafepay  #esp-<sku>, the cashier page, where the buyer also links the wallet: action
//   linked     #linked-<sku>: paid with the linked wallet's token, no Antom page
//   card       #card-<sku>, the simulator's card form: the card, #pay; 3-D Secure if the card needs it
//   direct     #direct-<sku>, the shop's own card form (server to server): the card, #threeds, #card-pay
//   entrycode  /store (the page the entry code opens): #amount, #store-pay, the wallet page: #pay
// On a 3-D Secure challenge page the buyer clicks action ("pass" or "fail"; "pay" means pass).
//
// stdin: JSON {
//   "shopUrl": "https://localhost:8443",      // the public shop (Caddy's local CA: certificate errors ignored)
//   "flow": "wallet",                         // see above (default wallet)
//   "sku": "tea",                             // the item (not for entrycode)
//   "action": "pay" | "fail" | "cancel" | "pass",
//   "card": {"number", "expiry", "cvv"},      // card and direct flows
//   "threeDS": true,                          // direct flow: ask for 3-D Secure
//   "amount": "12.50",                        // entrycode flow
//   "expect": "paid",                         // the final #order-state
//   "shotDir": "/tmp/x",                      // PNG screenshots go here
//   "executablePath": "/usr/bin/chromium",
//   "timeoutMs": 30000                        // per wait; the final state gets this long too
// }
// stdout: JSON {"ok": bool, "error": "...", "orderId", "cashierUrl", "challengeUrl", "resultUrl",
//               "cashier": {...}, "firstState", "state", "steps": [{"name", "ms", "url"}], "screenshots": [paths],
//               "console": [browser console errors and failed requests]}
// exit: 0 the order reached the expected state, 1 it did not (or the browser failed), 2 bad input.
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const { CHROMIUM_ARGS, sleep, readInput } = require('./common.cjs');

async function main() {
  const input = readInput();
  const shopUrl = String(input.shopUrl || '').replace(/\/+$/, '');
  const flow = input.flow || 'wallet';
  const sku = input.sku || 'tea';
  const action = input.action || 'pay';
  const card = input.card || {};
  const expect = input.expect || 'paid';
  const shotDir = input.shotDir || '.';
  const timeoutMs = input.timeoutMs || 30000;
  const out = { ok: false, flow, action, expect, steps: [], screenshots: [], console: [] };
  const t0 = Date.now();
  let page = null;
  const step = (name) => out.steps.push({ name, ms: Date.now() - t0, url: page ? page.url() : '' });
  const shot = async (name) => {
    if (!page) return;
    const file = path.join(shotDir, `${flow}-${action}-${name}.png`);
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
      args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'], // the shop's local CA
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

    const text = async (sel) => ((await page.locator(sel).textContent()) || '').trim();
    const onSimulator = (u) => u.pathname.startsWith('/cashier/');
    const onResult = (u) => u.pathname === '/result';
    // clickTo clicks and waits for the navigation to a page matching want.
    const clickTo = (sel, want) => Promise.all([page.waitForURL(want, { waitUntil: 'load' }), page.locator(sel).click()]);
    const fillCard = async () => {
      await page.locator('#card-number').fill(String(card.number || ''));
      await page.locator('#expiry').fill(String(card.expiry || ''));
      await page.locator('#cvv').fill(String(card.cvv || ''));
    };

    // 1. the catalogue (or, in store, the page the entry code opens)
    const start = flow === 'entrycode' ? '/store' : '/';
    const resp = await page.goto(shopUrl + start, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${shopUrl}${start} answered ${resp ? resp.status() : 'nothing'}`);
    step('shop');
    await shot('1-shop');

    // 2. to Antom: the shop creates the order, calls Antom through antom_api and sends the
    // browser to Antom's page (normalUrl): the cashier, the card form or the wallet.
    const button = { wallet: '#buy-', legacy: '#legacy-', easysafepay: '#esp-', linked: '#linked-', card: '#card-', direct: '#direct-' }[flow];
    if (flow === 'entrycode') {
      await page.locator('#amount').fill(String(input.amount || '12.50'));
      await clickTo('#store-pay', onSimulator);
    } else if (flow === 'direct') {
      // The shop's own card form: the card goes through the shop (PCI scope) to Antom.
      await clickTo(button + sku, (u) => u.pathname === '/card');
      step('shop-card-form');
      await fillCard();
      if (input.threeDS) await page.locator('#threeds').check();
      await shot('2-shop-card-form');
      await clickTo('#card-pay', (u) => onSimulator(u) || onResult(u));
    } else if (flow === 'linked') {
      await clickTo(button + sku, onResult);
    } else if (button) {
      await clickTo(button + sku, onSimulator);
    } else {
      throw new Error(`unknown flow ${flow}`);
    }
    if (onSimulator(new URL(page.url())) && !page.url().endsWith('/3ds')) {
      out.cashierUrl = page.url();
      out.cashier = {
        title: await page.title(),
        amount: await text('#amount'),
        order: (await page.locator('#order').count()) ? await text('#order') : '',
        paymentId: await text('#payment-id'),
        paymentRequestId: await text('#payment-request-id'),
        status: await text('#status'),
      };
      step('antom');
      await shot('2-antom');
      // 3. the buyer acts: Pay / Fail / Cancel, or types the card into the hosted form.
      const submit = flow === 'card' ? '#pay' : '#' + action;
      if (flow === 'card') await fillCard();
      await clickTo(submit, (u) => onResult(u) || u.pathname.endsWith('/3ds'));
    }
    // 3-D Secure: the issuer's challenge page.
    if (page.url().endsWith('/3ds')) {
      out.challengeUrl = page.url();
      step('3ds');
      await shot('3-3ds');
      await clickTo(action === 'fail' ? '#fail' : '#pass', onResult);
    }
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
