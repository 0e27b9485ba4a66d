'use strict';
const { sleep } = require('../lib/ctx');
const bdOf = (r) => { const m = r.payload && r.payload.metrics.find((x) => x.name === 'bdSeq'); return m ? m.value : undefined; };
module.exports = {
  name: 'primary-host-state',
  section: 'fleet.md "Messages" (Primary host STATE); Sparkplug 3.0 STATE spBv1.0/STATE/<host_id>, edge node behaviour on offline STATE',
  async run(c) {
    await c.setup({ fleet: { primary_host_id: 'peerhost' }, hostState: false });
    const nodeMsgs = (from) => c.host.since(from, (r) => r.node === c.node && ['NBIRTH', 'DBIRTH', 'NDATA', 'DDATA'].includes(r.type));
    await sleep(6000);
    c.check(nodeMsgs(0).length === 0, 'no birth nor data while the primary host never said online', nodeMsgs(0).map((r) => r.topic).slice(0, 5));
    // a retained offline STATE before online: changes nothing
    await c.host.publishState(false, Date.now());
    await sleep(2000);
    c.check(c.host.msgs.filter((r) => r.node === c.node).length === 0, 'an offline STATE before online changes nothing (no NDEATH, no birth)', c.host.msgs.filter((r) => r.node === c.node).map((r) => r.topic));
    const T1 = Date.now();
    let mk = c.host.mark();
    await c.host.publishState(true, T1);
    const b1 = await c.waitBirth(mk, 15000);
    const bd1 = bdOf(b1);
    c.check(b1.payload.seq === 0, 'birth after STATE online, seq 0', b1.payload.seq);
    await sleep(2000);
    // stale offline (older timestamp than the accepted online): ignored
    mk = c.host.mark();
    await c.host.publishState(false, T1 - 60000);
    await sleep(4000);
    const d0 = c.host.since(mk, (r) => r.node === c.node && r.type === 'NDEATH');
    c.check(d0.length === 0, 'a STATE offline with an older timestamp is ignored', d0.length);
    // offline: NDEATH with the session's bdSeq, reconnect, silence
    mk = c.host.mark();
    await c.host.publishState(false, Date.now());
    const d1 = await c.waitDeath(mk, 10000);
    c.check(bdOf(d1) === bd1, 'offline STATE -> NDEATH with the session\'s bdSeq', { birth: bd1, death: bdOf(d1) });
    const i1 = c.host.msgs.indexOf(d1) + 1;
    // make events happen while the host is offline (stop the station from the console)
    const out = c.st.swapctl('stop');
    c.note('swapctl stop: ' + out.trim().slice(0, 120));
    await sleep(6000);
    const silent = nodeMsgs(i1);
    c.check(silent.length === 0, 'nothing published (no birth, no data, no events) while the host is offline', silent.map((r) => r.topic).slice(0, 5));
    const extraDeaths = c.host.since(i1, (r) => r.node === c.node && r.type === 'NDEATH');
    c.note('NDEATHs seen during the offline period: ' + extraDeaths.length);
    c.check(c.st.alive('swapd'), 'swapd keeps running', null);
    // a stale online (older than the offline accepted) is ignored, also across sessions
    mk = c.host.mark();
    await c.host.publishState(true, T1 - 30000);
    await sleep(4000);
    const staleOut = c.host.since(mk, (r) => r.node === c.node && ['NBIRTH', 'NDATA', 'DDATA', 'DBIRTH'].includes(r.type));
    c.check(staleOut.length === 0, 'a STATE online older than the last accepted one is ignored (timestamp kept across sessions)', staleOut.map((r) => r.topic).slice(0, 4));
    // online again: new birth, next bdSeq, seq 0, the kept events historical
    mk = c.host.mark();
    await c.host.publishState(true, Date.now());
    const b2 = await c.waitBirth(mk, 15000);
    c.check(bdOf(b2) === (bd1 + 1) % 256, 'online again -> NBIRTH with the next bdSeq', { before: bd1, after: bdOf(b2) });
    c.check(b2.payload.seq === 0, 'seq 0', b2.payload.seq);
    await sleep(4000);
    const evs = c.n().events.filter((e) => e.t >= b2.t);
    const stopEv = evs.filter((e) => /Stop/.test(e.text || ''));
    c.check(stopEv.length > 0, 'the events of the offline period arrive after the birth', evs.map((e) => e.text).slice(0, 5));
    c.check(stopEv.length > 0 && stopEv.every((e) => e.historical), 'and are marked is_historical', stopEv);
    c.check(c.n().duplicates === 0, 'no event twice', c.n().duplicates);
    c.check(c.v('Station/State') === 'Stopped' || c.v('Station/State') === 'Stopping', 'the new birth shows the current state (Stopped)', c.v('Station/State'));
  },
};
