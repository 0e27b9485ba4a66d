// The status page in a real browser (headless Chromium via puppeteer-core), against a
// running swapsim + dronesim + swapd: waits for a swap to complete, checks what the page
// shows (state, a slot's SoC changing, an alarm raised by fault injection, keyboard use),
// and saves screenshots at tablet and desktop sizes.
//
// usage: node statuspage.js URL_FILE OUT_DIR
// Starts the browser first and says {"browser":"ready"} (Chromium's start-up is heavy: the
// station starts after it), then waits for URL_FILE: two lines, the page's URL and
// swapsim's control socket. Prints one JSON line per check ({"check":...}), then
// {"done":true}, or {"fatal":...}.
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [urlFile, outDir] = process.argv.slice(2);
let url, simSock;
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function simRequest(req) {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(simSock);
    let buf = '';
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) { c.end(); resolve(JSON.parse(buf)); }
    });
    c.on('error', reject);
  });
}

async function apiStatus() {
  const r = await fetch(url + 'api/v1/status');
  return (await r.json()).result;
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: the test may run as root (Chromium's sandbox refuses root) and in
    // containers without user namespaces; it only ever opens the local test server.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-extensions', '--disable-background-networking', '--mute-audio'],
  });
  try {
    const page = await browser.newPage();
    say({ browser: 'ready' });
    for (let i = 0; !fs.existsSync(urlFile); i++) {
      if (i > 1200) throw new Error('no ' + urlFile + ' in 120 s');
      await sleep(100);
    }
    [url, simSock] = fs.readFileSync(urlFile, 'utf8').split('\n');
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.setViewport({ width: 1440, height: 900 });
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => document.querySelector('#state').textContent !== '…', { timeout: 20000 });
    await page.waitForFunction(() => document.querySelectorAll('#slots tbody tr').length > 0, { timeout: 10000 });
    say({ check: 'loaded', state: await page.$eval('#state', (e) => e.textContent) });

    // keyboard: the first Tab reaches the skip link, the pause button toggles with Space
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => document.activeElement.className);
    if (first !== 'skip') throw new Error('first Tab stop is "' + first + '", not the skip link');
    await page.focus('#pause');
    await page.keyboard.press('Space');
    const pressed = await page.$eval('#pause', (e) => e.getAttribute('aria-pressed'));
    await page.keyboard.press('Space');
    if (pressed !== 'true') throw new Error('Space on the pause button did not pause');
    say({ check: 'keyboard' });

    // a swap completes: the page's count rises and its state is the station's
    const swaps0 = Number(await page.$eval('#swaps', (e) => e.textContent));
    await page.waitForFunction((n) => Number(document.querySelector('#swaps').textContent) > n,
      { timeout: 90000 }, swaps0);
    let agree = false;
    for (let i = 0; i < 50 && !agree; i++) {
      const st = await apiStatus();
      const shown = await page.$eval('#state', (e) => e.textContent);
      const step = await page.$eval('#step', (e) => e.textContent);
      agree = shown === st.state && step === (st.step || 'none');
      if (!agree) await sleep(100);
    }
    if (!agree) throw new Error('the page does not show the station state after the swap');
    await page.waitForFunction(() => [...document.querySelectorAll('#events li .type')]
      .some((e) => e.textContent === 'swap'), { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('#sparkline polyline'), { timeout: 10000 });
    say({ check: 'swap', swaps: Number(await page.$eval('#swaps', (e) => e.textContent)) });

    // a slot's SoC rises: the pack taken out of the drone charges (each slot's first
    // reading is its baseline; an empty slot gets one when a pack arrives)
    const changed = await page.waitForFunction(() => {
      const base = (window.socBase = window.socBase || {});
      const now = [...document.querySelectorAll('#slots tbody tr .soc-value')].map((e) => parseFloat(e.textContent));
      for (let i = 0; i < now.length; i++) {
        if (Number.isNaN(now[i])) { delete base[i]; continue; }
        if (base[i] === undefined) { base[i] = now[i]; continue; }
        if (base[i] < 95 && now[i] > base[i]) return { slot: i + 1, before: base[i], now: now[i] };
      }
      return false;
    }, { timeout: 60000, polling: 200 });
    say({ check: 'soc', ...(await changed.jsonValue()) });

    // an alarm raised by fault injection shows, with its remedy, in the live region
    for (let s = 0; s < 8; s++)
      await simRequest({ cmd: 'inject', fault: 'charger', a: s });
    await page.waitForFunction(() => document.querySelector('#alarms .alarm[data-code="charger_fault"]'),
      { timeout: 30000 });
    const alarm = await page.$eval('#alarms .alarm[data-code="charger_fault"] .text', (e) => e.textContent);
    const live = await page.$eval('#alarms', (e) => e.getAttribute('aria-live'));
    if (live !== 'assertive') throw new Error('the alarm list is not an aria-live region');
    if (alarm.split('. ').length < 2) throw new Error('the alarm shows no remedy: ' + alarm);
    say({ check: 'alarm', text: alarm });

    await sleep(500);
    await page.screenshot({ path: path.join(outDir, 'desktop-1440x900.png') });
    await page.screenshot({ path: path.join(outDir, 'desktop-1440x900-full.png'), fullPage: true });
    await page.setViewport({ width: 768, height: 1024 });
    await sleep(500);
    await page.screenshot({ path: path.join(outDir, 'tablet-768x1024.png') });
    await page.screenshot({ path: path.join(outDir, 'tablet-768x1024-full.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    if (overflow) throw new Error('the page is wider than a tablet in portrait');
    say({ check: 'screenshots', dir: outDir });
    if (errors.length) throw new Error('errors in the page: ' + errors.join('; '));
    say({ done: true });
  } finally {
    await browser.close();
  }
}

main().catch((e) => { say({ fatal: String(e && e.stack || e) }); process.exit(1); });
