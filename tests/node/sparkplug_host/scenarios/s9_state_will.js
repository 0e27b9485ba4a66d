'use strict';
const { sleep } = require('../lib/ctx');
const bdOf = (r) => { const m = r.payload && r.payload.metrics.find((x) => x.name === 'bdSeq'); return m ? m.value : undefined; };
module.exports = {
  name: 'state-silent-session-will',
  section: 'fleet.md "Messages" (offline STATE: NDEATH, DISCONNECT, new CONNECT with the next bdSeq in its will; silence)',
  async run(c) {
    await c.setup({ fleet: { primary_host_id: 'peerhost' }, hostState: true });
    const b1 = await c.waitBirth(0, 30000);
    const bd1 = bdOf(b1);
    await sleep(1500);
    let mk = c.host.mark();
    await c.host.publishState(false, Date.now());
    const d1 = await c.waitDeath(mk, 10000);
    c.check(bdOf(d1) === bd1, 'offline STATE -> NDEATH with the session bdSeq', [bd1, bdOf(d1)]);
    c.check(d1.qos === 1, 'that NDEATH is QoS 1', d1.qos);
    await sleep(4000);
    // the silent session's will must carry the next bdSeq: SIGKILL makes the broker send it
    mk = c.host.mark();
    await c.st.kill('swapd', 'SIGKILL');
    let d2 = null;
    try { d2 = await c.waitDeath(mk, 15000); } catch (e) { /* none */ }
    c.check(d2 && bdOf(d2) === (bd1 + 1) % 256, 'the reconnected (silent) session\'s will carries the next bdSeq', d2 ? bdOf(d2) : 'no NDEATH');
    // restart while the host is offline (retained offline STATE): no birth
    mk = c.host.mark();
    c.st.startSwapd({ start: false });
    await sleep(6000);
    const out = c.host.since(mk, (r) => r.node === c.node && ['NBIRTH', 'NDATA', 'DDATA', 'DBIRTH'].includes(r.type));
    c.check(out.length === 0, 'a restarted node sees the retained offline STATE and stays silent', out.map((r) => r.topic).slice(0, 4));
    mk = c.host.mark();
    await c.host.publishState(true, Date.now());
    const b3 = await c.waitBirth(mk, 15000);
    c.check(bdOf(b3) === (bdOf(d2 || d1) + 1) % 256, 'online -> birth with the next bdSeq after the restart', { lastWill: bdOf(d2 || d1), birth: bdOf(b3) });
  },
};
