'use strict';
const { sleep } = require('../lib/ctx');
const bdOf = (r) => { const m = r.payload && r.payload.metrics.find((x) => x.name === 'bdSeq'); return m ? m.value : undefined; };
module.exports = {
  name: 'kill-restart',
  section: 'fleet.md "Messages" (NDEATH is the will; next bdSeq kept in the spool file; clean stop publishes NDEATH); Sparkplug 3.0 bdSeq',
  async run(c) {
    await c.setup();
    const b1 = await c.waitBirth(0, 30000);
    const bd1 = bdOf(b1);
    await sleep(2000);
    let mk = c.host.mark();
    await c.st.kill('swapd', 'SIGKILL');
    const d1 = await c.waitDeath(mk, 20000);
    c.check(bdOf(d1) === bd1, 'NDEATH after SIGKILL carries the bdSeq of the last birth', { birth: bd1, death: bdOf(d1) });
    c.check(c.n().online === false, 'the host marks the node offline (NDEATH bdSeq matches)', c.n().deaths);
    mk = c.host.mark();
    c.st.startSwapd({ start: false });
    const b2 = await c.waitBirth(mk, 30000);
    const bd2 = bdOf(b2);
    c.check(bd2 === (bd1 + 1) % 256, 'the restarted node is born with the next bdSeq', { before: bd1, after: bd2 });
    c.check(b2.payload.seq === 0, 'its NBIRTH has seq 0', b2.payload.seq);
    await sleep(2000);
    mk = c.host.mark();
    await c.st.kill('swapd', 'SIGTERM');
    c.check(c.st.procs.swapd.exitCode_ === 0, 'swapd exits 0 on SIGTERM', c.st.procs.swapd.exitCode_);
    let d2 = null;
    try { d2 = await c.waitDeath(mk, 5000); } catch (e) { /* none */ }
    c.check(d2 && bdOf(d2) === bd2, 'a clean stop publishes NDEATH with the session\'s bdSeq', d2 && bdOf(d2));
    const nds = c.host.since(mk, (r) => r.type === 'NDEATH' && r.node === c.node);
    c.note(`NDEATHs after clean stop: ${nds.length}`);
    mk = c.host.mark();
    c.st.startSwapd({ start: false });
    const b3 = await c.waitBirth(mk, 30000);
    c.check(bdOf(b3) === (bd2 + 1) % 256, 'after a clean stop the next start takes the next bdSeq', { before: bd2, after: bdOf(b3) });
  },
};
