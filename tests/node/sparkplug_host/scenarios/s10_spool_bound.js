'use strict';
const { sleep } = require('../lib/ctx');
module.exports = {
  name: 'spool-bound',
  section: 'fleet.md "Events" (spool bounded by spool_max: oldest deleted and counted in Fleet/Spool Dropped); configuration.md [fleet] spool_max',
  async run(c) {
    await c.setup({ drones: { flightS: 3 }, fleet: { spool_max: 10 } });
    await c.waitBirth(0, 30000);
    await c.waitValue('Station/Swaps', (v) => v >= 1, 90000, 'first swap');
    await sleep(1000);
    const before = c.n().events.length;
    const lastSeq = +String(c.n().events[before - 1].id).split('-')[1];
    const dropped0 = c.v('Fleet/Spool Dropped');
    await c.st.kill('mosquitto', 'SIGKILL');
    await sleep(25000);
    const mk = c.host.mark();
    await c.st.startBroker(c.st.mqttPort);
    await c.waitBirth(mk, 30000);
    await sleep(3000);
    await c.waitValue('Fleet/Spool Depth', (v) => v === 0, 60000, 'Fleet/Spool Depth 0');
    await sleep(1500);
    const after = c.n().events.slice(before);
    const seqs = after.map((e) => +String(e.id).split('-')[1]);
    const dropped = c.v('Fleet/Spool Dropped') - dropped0;
    const missing = [];
    let expect = lastSeq + 1;
    for (const s of seqs) { while (expect < s) missing.push(expect++); expect = s + 1; }
    c.note(`after ${after.length} events, missing ${missing.length}, Spool Dropped ${dropped}`);
    c.check(dropped > 0, 'more events than spool_max in the outage: Fleet/Spool Dropped counts the deleted ones', dropped);
    c.check(missing.length === dropped, 'events missing at the host == Fleet/Spool Dropped', { missing: missing.length, dropped });
    const contiguous = missing.length === 0 || missing.every((m, i) => i === 0 || m === missing[i - 1] + 1);
    c.check(contiguous && (missing.length === 0 || missing[0] === lastSeq + 1), 'the oldest events were the ones deleted', missing.slice(0, 40));
    const hist = after.filter((e) => e.historical);
    c.check(hist.length <= 10 + 2, 'at most spool_max historical events delivered', hist.length);
    c.check(c.n().duplicates === 0, 'none twice', c.n().duplicates);
  },
};
