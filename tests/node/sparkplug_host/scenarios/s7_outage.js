'use strict';
const { sleep } = require('../lib/ctx');
const bdOf = (r) => { const m = r.payload && r.payload.metrics.find((x) => x.name === 'bdSeq'); return m ? m.value : undefined; };
module.exports = {
  name: 'broker-outage',
  section: 'fleet.md "Events: nothing lost while the broker is away" (spool, is_historical, oldest first); Sparkplug 3.0 is_historical',
  async run(c) {
    await c.setup({ drones: { flightS: 3 } });
    const b1 = await c.waitBirth(0, 30000);
    await c.waitValue('Station/Swaps', (v) => v >= 1, 90000, 'first swap');
    await sleep(1000);
    const before = c.n().events.length;
    const lastBefore = c.n().events[before - 1];
    const swapsBefore = c.v('Station/Swaps');
    const tKill = Date.now();
    await c.st.kill('mosquitto', 'SIGKILL');
    await sleep(8000);
    // an alarm during the outage: a charger fault injected into the plant (fleet.md "Tests")
    const inj = c.st.sim({ cmd: 'inject', fault: 'charger', a: 2 });
    c.note('inject charger fault: ' + JSON.stringify(inj));
    await sleep(22000);
    const tBack = Date.now();
    const mk = c.host.mark();
    await c.st.startBroker(c.st.mqttPort);
    const b2 = await c.waitBirth(mk, 30000);
    c.check(bdOf(b2) !== bdOf(b1), 'after the outage the node is born in a new session (another bdSeq)', [bdOf(b1), bdOf(b2)]);
    // Sparkplug 3.0 (NDEATH/will bdSeq): "incremented by one from the value in the previous
    // MQTT CONNECT packet"; while the broker is down no CONNECT packet can be sent (the TCP
    // connect is refused), and fleet.md says "each connection takes the next bdSeq".
    c.check(bdOf(b2) === (bdOf(b1) + 1) % 256, 'bdSeq after the outage is the previous CONNECT\'s + 1 (refused TCP connects send no CONNECT)', { before: bdOf(b1), after: bdOf(b2), outage_s: 30 });
    // wait until the spool drained
    await sleep(3000);
    await c.waitValue('Fleet/Spool Depth', (v) => v === 0, 60000, 'Fleet/Spool Depth 0');
    await sleep(2000);
    const evs = c.n().events;
    const after = evs.slice(before);
    const gap = after.filter((e) => e.ts > tKill + 200 && e.ts < tBack - 200);
    c.note(`events before ${before}, after ${after.length}, with a time inside the outage ${gap.length}; swaps ${swapsBefore} -> ${c.v('Station/Swaps')}`);
    c.check(gap.length > 0, 'events happened during the outage and arrived', gap.length);
    c.check(gap.every((e) => e.historical), 'events of the outage arrive with is_historical = true', gap.filter((e) => !e.historical).slice(0, 3));
    c.check(c.v('Station/Swaps') > swapsBefore, 'the station swapped during the outage', [swapsBefore, c.v('Station/Swaps')]);
    c.check(gap.some((e) => /swap/i.test(e.type || '')), 'a swap event is among the outage\'s events', [...new Set(gap.map((e) => e.type))]);
    c.check(gap.some((e) => /alarm/i.test(e.type || '') || /charger/i.test(e.text || '')), 'the alarm raised during the outage is among its events', gap.map((e) => e.type + ':' + (e.text || '').slice(0, 40)).filter((x) => !/^step|^state/.test(x)).slice(0, 12));
    const seqs = after.map((e) => +String(e.id).split('-')[1]);
    const lastSeq = +String(lastBefore.id).split('-')[1];
    c.check(seqs.every((s, i) => s === (i === 0 ? lastSeq + 1 : seqs[i - 1] + 1)), 'after the outage events continue with the next Event/Id, oldest first, none missing', { lastBefore: lastSeq, seqs: seqs.slice(0, 60) });
    c.check(c.n().duplicates === 0, 'no event arrives twice', c.n().duplicates);
    const ts = after.map((e) => e.ts);
    c.check(ts.every((t, i) => i === 0 || t >= ts[i - 1]), 'event timestamps non-decreasing (oldest first)', ts.slice(0, 20));
    const hist = after.filter((e) => e.historical);
    const live = after.filter((e) => !e.historical);
    c.check(!live.length || !hist.length || Math.max(...hist.map((e) => e.ts)) <= Math.min(...live.map((e) => e.ts)) + 1000, 'historical events precede the live ones', null);
    const sw = evs.filter((e) => /swap/i.test(e.type || '')).length;
    c.check(sw === c.v('Station/Swaps'), 'every swap arrived as an event (swap events == Station/Swaps)', { events: sw, metric: c.v('Station/Swaps') });
    c.check(c.v('Fleet/Spool Dropped') === 0, 'Fleet/Spool Dropped is 0', c.v('Fleet/Spool Dropped'));
    // the birth after the outage: current metrics, no historical flag
    c.check(b2.payload.metrics.every((m) => !m.isHistorical), 'the NBIRTH itself is not historical', null);
  },
};
