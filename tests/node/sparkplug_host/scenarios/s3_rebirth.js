'use strict';
const { sleep } = require('../lib/ctx');
module.exports = {
  name: 'rebirth',
  section: 'fleet.md "Messages" (NBIRTH after Node Control/Rebirth); Sparkplug 3.0 Rebirth request (NCMD Node Control/Rebirth)',
  async run(c) {
    await c.setup();
    const b1 = await c.waitBirth(0, 30000);
    const bd1 = b1.payload.metrics.find((m) => m.name === 'bdSeq').value;
    await sleep(3000);
    const mk = c.host.mark();
    await c.host.ncmd(c.node, [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
    const b2 = await c.waitBirth(mk, 10000);
    const bd2 = b2.payload.metrics.find((m) => m.name === 'bdSeq');
    c.check(b2.payload.seq === 0, 'the rebirth NBIRTH has seq 0', b2.payload.seq);
    c.check(bd2 && bd2.value === bd1, 'the rebirth keeps the session\'s bdSeq', { before: bd1, after: bd2 && bd2.value });
    const i2 = c.host.msgs.indexOf(b2);
    await sleep(2000);
    const after = c.host.msgs.slice(i2 + 1).filter((r) => r.node === c.node && r.type !== 'NCMD');
    const db = after.slice(0, 3);
    c.check(db.every((r) => r.type === 'DBIRTH') && db.length === 3, 'three DBIRTHs follow the rebirth NBIRTH', db.map((r) => r.topic));
    c.check(JSON.stringify(db.map((r) => r.payload && r.payload.seq)) === '[1,2,3]', 'DBIRTH seq 1,2,3 after the rebirth', db.map((r) => r.payload && r.payload.seq));
    c.check(c.n().gaps.length === 0, 'no seq gap across the rebirth', c.n().gaps);
    const deaths = c.host.msgs.filter((r) => r.node === c.node && r.type === 'NDEATH');
    c.check(deaths.length === 0, 'no NDEATH for a rebirth', deaths.length);
    c.check(b2.payload.metrics.find((m) => m.name === 'Node Control/Rebirth').value === false, 'Node Control/Rebirth reads false in the birth', null);
  },
};
