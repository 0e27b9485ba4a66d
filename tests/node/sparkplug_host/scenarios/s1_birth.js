'use strict';
const model = require('./model');
module.exports = {
  name: 'birth',
  section: 'fleet.md "Device model", "Messages" (NBIRTH, DBIRTH, NDEATH); Sparkplug 3.0 §6.4.19 seq, §7 bdSeq/NDEATH will',
  async run(c) {
    await c.setup();
    const nb = await c.waitBirth(0, 30000);
    const p = nb.payload;
    c.check(p.seq === 0, 'NBIRTH seq is 0', p.seq);
    c.check(nb.qos === 0 && !nb.retain, 'NBIRTH published QoS 0, not retained (Sparkplug 3.0 NBIRTH)', { qos: nb.qos, retain: nb.retain });
    c.check(typeof p.timestamp === 'number' && p.timestamp > 0, 'NBIRTH has a payload timestamp', p.timestamp);
    const bd = p.metrics.find((m) => m.name === 'bdSeq');
    c.check(bd && bd.type === 'UInt64', 'NBIRTH carries bdSeq as UInt64', bd);
    // every metric has name, alias, datatype
    const all = [];
    for (const m of p.metrics) {
      c.check(m.name && m.alias !== undefined && m.alias !== null && m.type, 'NBIRTH metric has name, alias and datatype', m);
      all.push({ dev: null, m });
    }
    const byName = Object.fromEntries(p.metrics.map((m) => [m.name, m]));
    for (const [name, type, alias] of model.node) {
      const m = byName[name];
      if (!c.check(m, `NBIRTH has documented node metric "${name}"`, Object.keys(byName))) continue;
      c.check(m.type === type, `"${name}" datatype ${type}`, m.type);
      if (alias !== undefined) c.check(m.alias === alias, `"${name}" alias ${alias}`, m.alias);
    }
    const documented = new Set(model.node.map((x) => x[0]));
    const extra = p.metrics.map((m) => m.name).filter((n) => !documented.has(n));
    c.check(extra.length === 0, 'NBIRTH has no undocumented node metric', extra);
    // DBIRTHs: one per documented device, seq 1, 2, 3 after the NBIRTH
    const i0 = c.host.msgs.indexOf(nb);
    const dbs = [];
    for (let k = 0; k < 3; k++) {
      const r = await c.host.waitFor((x, ) => x.type === 'DBIRTH' && x.node === c.node && !dbs.includes(x) && c.host.msgs.indexOf(x) > i0, 10000, i0, 'DBIRTH ' + k);
      dbs.push(r);
    }
    c.check(JSON.stringify(dbs.map((d) => d.device).sort()) === JSON.stringify(Object.keys(model.devices).sort()),
      'a DBIRTH for each documented device (robot, magazine, dronelink)', dbs.map((d) => d.device));
    c.check(JSON.stringify(dbs.map((d) => d.payload.seq)) === '[1,2,3]', 'DBIRTH seq 1,2,3 right after NBIRTH seq 0', dbs.map((d) => d.payload.seq));
    const between = c.host.msgs.slice(i0 + 1, c.host.msgs.indexOf(dbs[2])).filter((x) => x.node === c.node && x.type !== 'DBIRTH');
    c.check(between.length === 0, 'DBIRTHs follow the NBIRTH with nothing in between', between.map((x) => x.topic));
    for (const d of dbs) {
      const bn = Object.fromEntries(d.payload.metrics.map((m) => [m.name, m]));
      for (const m of d.payload.metrics) {
        c.check(m.name && m.alias !== undefined && m.alias !== null && m.type, `DBIRTH ${d.device} metric has name, alias, datatype`, m);
        all.push({ dev: d.device, m });
      }
      for (const [name, type, alias] of (model.devices[d.device] || [])) {
        const m = bn[name];
        if (!c.check(m, `DBIRTH ${d.device} has documented metric "${name}"`, Object.keys(bn))) continue;
        c.check(m.type === type, `${d.device} "${name}" datatype ${type}`, m.type);
        if (alias !== undefined) c.check(m.alias === alias, `${d.device} "${name}" alias ${alias}`, m.alias);
      }
      const doc = new Set((model.devices[d.device] || []).map((x) => x[0]));
      const ex = d.payload.metrics.map((m) => m.name).filter((n) => !doc.has(n));
      c.check(ex.length === 0, `DBIRTH ${d.device} has no undocumented metric`, ex);
      if (d.device === 'magazine' && bn.Packs && bn.Packs.value) {
        c.check(JSON.stringify(bn.Packs.value.columns) === JSON.stringify(model.PACKS_COLUMNS), 'magazine/Packs columns as documented', bn.Packs.value.columns);
      }
    }
    // aliases unique across the node and its devices
    const seen = {};
    for (const { dev, m } of all) {
      const k = m.alias;
      c.check(!seen[k], `alias ${k} unique across node and devices`, [seen[k], (dev || 'node') + '/' + m.name]);
      seen[k] = (dev || 'node') + '/' + m.name;
    }
    // the NDEATH will (SIGKILL: the broker sends the will) carries the birth's bdSeq
    const mk = c.host.mark();
    await c.st.kill('swapd', 'SIGKILL');
    const nd = await c.waitDeath(mk, 20000);
    const ndb = nd.payload && nd.payload.metrics.find((m) => m.name === 'bdSeq');
    c.check(ndb && ndb.value === bd.value, 'NDEATH (will) bdSeq equals the NBIRTH bdSeq', { birth: bd && bd.value, death: ndb && ndb.value });
    c.check(ndb && ndb.type === 'UInt64', 'NDEATH bdSeq is UInt64', ndb && ndb.type);
    c.check(nd.qos === 1, 'NDEATH will delivered at QoS 1 (Sparkplug 3.0: will QoS 1)', nd.qos);
  },
};
