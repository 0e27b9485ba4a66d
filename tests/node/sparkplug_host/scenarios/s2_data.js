'use strict';
const { sleep } = require('../lib/ctx');
module.exports = {
  name: 'data',
  section: 'fleet.md "Device model" (aliases), "Messages" (NDATA/DDATA by exception, seq), "Events"; Sparkplug 3.0 §6.4.19 seq, aliases',
  async run(c) {
    await c.setup({ drones: true });
    await c.waitBirth(0, 30000);
    const swaps0 = c.v('Station/Swaps');
    c.check(swaps0 === 0, 'a fresh station reports Station/Swaps 0 in its birth', swaps0);
    const states = new Set();
    const servingSeen = new Set();
    const end = Date.now() + 120000;
    while (Date.now() < end && !(c.v('Station/Swaps') >= 2)) {
      states.add(c.v('Station/State')); servingSeen.add(c.v('robot/Serving Drone'));
      await sleep(100);
    }
    await sleep(1500);
    const n = c.n();
    c.check(c.v('Station/Swaps') >= 2, 'Station/Swaps counts the swaps done with dronesim (>= 2 within 120 s)', c.v('Station/Swaps'));
    c.check(states.has('Execute'), 'Station/State went through Execute', [...states]);
    c.check(servingSeen.has(10), 'robot/Serving Drone showed the dronesim drone (sysid 10)', [...servingSeen]);
    c.check(n.aliasOnlyViolations.length === 0, 'NDATA/DDATA metrics carry the alias only (no name)', n.aliasOnlyViolations.slice(0, 5));
    c.check(n.unknownAliases.length === 0, 'every NDATA/DDATA alias was born (in the same node/device)', n.unknownAliases.slice(0, 5));
    c.check(n.typeMismatch.length === 0, 'datatypes in NDATA/DDATA equal the birth', n.typeMismatch.slice(0, 5));
    c.check(n.gaps.length === 0, 'seq increments by one (mod 256) over NBIRTH/DBIRTH/NDATA/DDATA', n.gaps.slice(0, 5));
    const data = c.host.msgs.filter((r) => r.node === c.node && ['NDATA', 'DDATA'].includes(r.type) && r.payload);
    c.check(data.every((r) => r.payload.seq >= 0 && r.payload.seq <= 255), 'seq stays in 0..255', null);
    const wrapped = data.some((r, i) => i > 0 && r.payload.seq === 0);
    c.note(`${data.length} NDATA/DDATA messages; seq wrap observed: ${wrapped}`);
    // Station/Swaps never decreases and increases by one per swap event
    const sw = [];
    for (const r of data) for (const m of r.payload.metrics) if (m.resolvedName === 'Station/Swaps' && !m.isHistorical) sw.push(m.value);
    c.check(sw.every((v, i) => i === 0 || v === sw[i - 1] + 1), 'Station/Swaps NDATA values step by one', sw);
    // events: QoS 1, own timestamp, Event/Id <run start ms>-<seq> consecutive, none twice
    const evs = n.events;
    c.check(evs.length > 0, 'events arrive as NDATA with Event/Id, Type, Text', evs.length);
    const evRecs = data.filter((r) => r.payload.metrics.some((m) => m.resolvedName === 'Event/Id'));
    c.check(evRecs.every((r) => r.qos === 1), 'event NDATA published at QoS 1 (subscribed at QoS 1)', evRecs.map((r) => r.qos).slice(0, 10));
    const nonEv = data.filter((r) => !r.payload.metrics.some((m) => m.resolvedName === 'Event/Id'));
    c.check(nonEv.every((r) => r.qos === 0), 'report-by-exception NDATA/DDATA at QoS 0', [...new Set(nonEv.map((r) => r.qos))]);
    c.check(n.duplicates === 0, 'no event arrives twice', n.duplicates);
    const ids = evs.map((e) => e.id);
    const runs = new Set(ids.map((i) => String(i).split('-')[0]));
    c.check(ids.every((i) => /^\d+-\d+$/.test(i)), 'Event/Id is <run start ms>-<seq>', ids.slice(0, 3));
    const seqs = ids.map((i) => +String(i).split('-')[1]);
    c.check(runs.size === 1 && seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1), 'Event/Id seq consecutive, oldest first, in one run', seqs.slice(0, 50));
    const swapEvents = evs.filter((e) => /swap/i.test(e.type || ''));
    c.note('event types: ' + [...new Set(evs.map((e) => e.type))].join(','));
    c.check(swapEvents.length >= 1, 'swap events are among the events', [...new Set(evs.map((e) => e.type))]);
    const live = evs.filter((e) => !e.historical);
    c.check(live.every((e) => e.ts && e.ts <= e.t + 50), 'event timestamp is the event\'s own time (not later than its arrival)', live.slice(0, 2));
    c.check(swapEvents.length === c.v('Station/Swaps'), 'one swap event per counted swap (swap events == Station/Swaps)', { events: swapEvents.length, metric: c.v('Station/Swaps') });
    // report by exception with the documented deadbands: every value sent differs from the
    // previous value sent by more than the deadband (fleet.md "Device model", "Messages")
    const dead = { 'Station/Swaps per Hour': 0.5, 'Station/On Pad Mean s': 0.05, 'robot/Last On Pad s': 0.01,
      'magazine/Pool SoH Mean pct': 0.5, 'magazine/Pool SoH Min pct': 0.5 };
    const lastSent = {};
    const small = []; const repeats = [];
    for (const r of c.host.msgs.filter((x) => x.node === c.node && x.payload && ['NBIRTH', 'DBIRTH', 'NDATA', 'DDATA'].includes(x.type))) {
      for (const m of r.payload.metrics) {
        const nm = (r.device ? r.device + '/' : '') + (m.name || m.resolvedName);
        if (/^(Event|Command|Node Control|Device Control)\//.test(m.name || m.resolvedName || '') || m.isHistorical) continue;
        const isBirth = r.type.endsWith('BIRTH');
        if (!isBirth && nm in lastSent) {
          const prev = lastSent[nm];
          if (typeof m.value === 'number' && typeof prev === 'number' && dead[nm] !== undefined && Math.abs(m.value - prev) < dead[nm] - 1e-9) small.push({ nm, prev, now: m.value });
          else if (JSON.stringify(m.value) === JSON.stringify(prev)) repeats.push({ nm, v: m.value });
        }
        lastSent[nm] = m.value;
      }
    }
    c.check(small.length === 0, 'no NDATA/DDATA change smaller than the documented deadband', small.slice(0, 6));
    c.check(repeats.length === 0, 'no NDATA/DDATA repeats an unchanged value (report by exception)', repeats.slice(0, 6));
    // swapctl agrees with the metric
    const status = c.st.swapctl('--json', 'status');
    try {
      const j = JSON.parse(status);
      const s = j.swaps !== undefined ? j.swaps : (j.station && j.station.swaps);
      if (s !== undefined) c.check(+s === c.v('Station/Swaps'), 'Station/Swaps equals swapctl status swaps', { swapctl: s, metric: c.v('Station/Swaps') });
      else c.note('swapctl --json status has no swaps field: ' + status.slice(0, 200));
    } catch (e) { c.note('swapctl status not JSON: ' + status.slice(0, 200)); }
  },
};
