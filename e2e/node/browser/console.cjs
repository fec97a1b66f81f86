#!/usr/bin/env node
// console.cjs — an operator in a real browser (Debian's headless Chromium driven by
// playwright-core) on the antom_console behind basic_auth: find a payment by its order number,
// open its timeline, open its dead event and replay it, and wait (reloading) until the event
// page says delivered. Then pause the forward on the health page, have the test send a
// notification (helperUrl/notify), find it pending, report how many deliveries of it the app has
// got (helperUrl/deliveries), resume, and wait until it is delivered. Last, a page on another
// site submits a replay form and a pause form to the console, as a cross-site forgery would, and
// the answers are reported.
//
// stdin: JSON {
//   "consoleUrl": "http://127.0.0.1:1234/ops/",
//   "user": "ops", "password": "...",      // basic_auth credentials
//   "order": "PAYREQ_X",                    // the order number (paymentRequestId)
//   "forgeryUrl": "http://localhost:5678/", // a page on another site with forms #forge (replay) and #forge-pause posting to the console
//   "pausedOrder": "PAYREQ_Y",              // the order number of the notification helperUrl/notify sends
//   "helperUrl": "http://127.0.0.1:5678",   // the test's POST /notify and GET /deliveries
//   "shotDir": "/tmp/x",                    // PNG screenshots go here
//   "executablePath": "/usr/bin/chromium",
//   "timeoutMs": 30000
// }
// stdout: JSON {"ok": bool, "error", "failedAt", "steps": [{"name", "ms", "url"}], "screenshots": [paths],
//               "timeline": "text of the timeline table", "pausedDeliveries": n,
//               "forgeryStatus": n, "forgeryBody": "...", "forgeryPauseStatus": n, "console": [...]}
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const { CHROMIUM_ARGS, sleep, readInput } = require('./common.cjs');

// waitForState reloads the event page until it shows the event in state.
async function waitForState(page, state, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (await page.locator(`#event td.${state}`).count() === 0) {
    if (Date.now() > deadline) throw new Error(`the event page never said ${state}`);
    await sleep(250);
    await page.reload();
  }
}

async function main() {
  const input = readInput();
  const timeoutMs = input.timeoutMs || 30000;
  const out = { ok: false, steps: [], screenshots: [], console: [] };
  const t0 = Date.now();
  let page = null;
  let at = 'launch';
  const step = (name) => { at = name; out.steps.push({ name, ms: Date.now() - t0, url: page ? page.url() : '' }); };
  const shot = async (name) => {
    const file = path.join(input.shotDir, `console-${name}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
    out.screenshots.push(file);
  };
  const browser = await chromium.launch({ executablePath: input.executablePath, args: CHROMIUM_ARGS, timeout: timeoutMs });
  try {
    const context = await browser.newContext({ httpCredentials: { username: input.user, password: input.password } });
    context.setDefaultTimeout(timeoutMs);
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.console.push(m.text()); });

    step('health');
    await page.goto(input.consoleUrl);
    await page.locator('#health').waitFor();

    step('search');
    await page.click('text=Events');
    await page.fill('input[name=requestId]', input.order);
    await page.click('button:has-text("Search")');
    await page.locator('#events').getByText(input.order).first().waitFor();
    await shot('search');

    step('timeline');
    await page.locator('#events').getByRole('link', { name: input.order }).first().click();
    await page.locator('#timeline').waitFor();
    out.timeline = (await page.locator('#timeline').innerText()).replace(/\s+/g, ' ');
    await shot('timeline');

    step('event');
    await page.locator('#timeline a[href*="view=event"]').first().click();
    await page.locator('#event td.dead').waitFor();

    step('replay');
    await page.click('#replay');
    await page.locator('#notice').waitFor();

    step('delivered');
    await waitForState(page, 'delivered', timeoutMs);
    await shot('delivered');

    step('pause');
    await page.goto(input.consoleUrl);
    await page.click('#health button.pause');
    await page.locator('#notice').waitFor();
    await page.locator('#health .paused').waitFor();

    step('notify while paused');
    const sent = await fetch(input.helperUrl + '/notify', { method: 'POST' });
    if (await sent.text() !== '200') throw new Error('the notification sent while paused was not acknowledged');

    step('pending while paused');
    await page.click('text=Events');
    await page.fill('input[name=requestId]', input.pausedOrder);
    await page.click('button:has-text("Search")');
    await page.locator('#events a:has-text("details")').first().click();
    await page.locator('#event td.pending').waitFor();
    const pausedEvent = page.url();
    out.pausedDeliveries = Number(await (await fetch(input.helperUrl + '/deliveries')).text());
    await page.goto(input.consoleUrl);
    await shot('paused');

    step('resume');
    await page.click('#health button.resume');
    await page.locator('#notice').waitFor();
    await page.locator('#health .delivering').waitFor();

    step('delivered after resume');
    await page.goto(pausedEvent);
    await waitForState(page, 'delivered', timeoutMs);

    step('forgery');
    await page.goto(input.forgeryUrl);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.click('#forge'),
    ]);
    out.forgeryStatus = resp.status();
    out.forgeryBody = (await resp.text()).slice(0, 500);
    await page.goto(input.forgeryUrl);
    const [pauseResp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.click('#forge-pause'),
    ]);
    out.forgeryPauseStatus = pauseResp.status();
    step('done');
    out.ok = true;
  } catch (e) {
    out.error = e.message;
    out.failedAt = at;
    try { await shot('failure'); } catch (_) { /* the page may be gone */ }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(out.ok ? 0 : 1);
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
});
