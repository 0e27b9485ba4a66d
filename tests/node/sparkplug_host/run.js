#!/usr/bin/env node
'use strict';
// node run.js [--only name[,name]] [--jobs N] [--keep] [--verbose]
// Needs SWAP_BIN (swapd, swapsim, dronesim, swapctl) and SWAP_CONFIGS (plant.ini).
const { Ctx } = require('./lib/ctx');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const only = opt('--only', null);
const jobs = Math.max(1, +opt('--jobs', 1));
const keep = args.includes('--keep');
const verbose = args.includes('--verbose');

const all = fs.readdirSync(path.join(__dirname, 'scenarios')).filter((f) => /^s\d+_.*\.js$/.test(f))
  .sort((a, b) => parseInt(a.slice(1), 10) - parseInt(b.slice(1), 10))
  .map((f) => require('./scenarios/' + f));
const want = only ? only.split(',') : null;
const list = all.filter((s) => !want || want.includes(s.name));
if (!list.length) { console.error('no scenario named ' + only + '; have: ' + all.map((s) => s.name).join(', ')); process.exit(2); }

async function runOne(s) {
  const c = new Ctx(s.name);
  const t0 = Date.now();
  try { await s.run(c); } catch (e) { c.failures.push('error: ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e)); }
  const dir = c.st && c.st.dir;
  await c.teardown(keep || (c.failures.length > 0 && verbose)).catch(() => {});
  const ok = c.failures.length === 0;
  const lines = [`${ok ? 'PASS' : 'FAIL'} ${s.name} — ${s.section} (${((Date.now() - t0) / 1000).toFixed(0)} s)`];
  for (const f of c.failures) lines.push('    ✗ ' + f);
  if (verbose || !ok) for (const n of c.notes) lines.push('    · ' + n);
  if ((keep || (!ok && verbose)) && dir) lines.push('    dir ' + dir);
  console.log(lines.join('\n'));
  return ok;
}

(async () => {
  let failed = 0;
  const queue = list.slice();
  const worker = async () => { while (queue.length) { const s = queue.shift(); if (!(await runOne(s))) failed++; } };
  await Promise.all(Array.from({ length: Math.min(jobs, list.length) }, worker));
  console.log(`${list.length - failed}/${list.length} passed`);
  process.exit(failed ? 1 : 0);
})();
