'use strict';
const { sleep } = require('../lib/ctx');
module.exports = {
  name: 'garbage',
  section: 'fleet.md "Commands" (only Node Control/<Command> = true acts; DCMD to an unknown device ignored); Sparkplug 3.0 payload encoding',
  async run(c) {
    await c.setup();
    await c.waitBirth(0, 30000);
    await c.waitValue('Station/State', (s) => s === 'Suspended' || s === 'Execute', 30000, 'running');
    await sleep(1000);
    const state0 = c.v('Station/State');
    const seq0 = c.v('Command/Last Seq');
    const mk = c.host.mark();
    const tStart = Date.now();
    const t = (x) => `spBv1.0/${c.st.group}/${x}/${c.node}`;
    const junk = [
      [t('NCMD'), Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02])],
      [t('NCMD'), Buffer.alloc(0)],
      [t('NCMD'), Buffer.from('{"metrics":[{"name":"Node Control/Stop","value":true}]}')],
      [t('NCMD'), require('crypto').randomBytes(300)],
      [t('NCMD'), c.host.encode([{ name: 'Node Control/Self Destruct', type: 'Boolean', value: true }])],
      [t('NCMD'), c.host.encode([{ name: 'Node Control/Stop', type: 'Boolean', value: false }])],
      [t('NCMD'), c.host.encode([{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }])],
      [t('NCMD'), c.host.encode([{ alias: 999, type: 'Boolean', value: true }])],
      [t('NCMD'), c.host.encode([{ name: 'x'.repeat(5000), type: 'String', value: 'y'.repeat(20000) }])],
      [t('NCMD'), c.host.encode([])],
      [t('DCMD') + '/robot', require('crypto').randomBytes(64)],
      [t('DCMD') + '/robot', c.host.encode([{ name: 'Device Control/Stop', type: 'Boolean', value: false }])],
      [t('DCMD') + '/toaster', c.host.encode([{ name: 'Device Control/Stop', type: 'Boolean', value: true }])],
      [t('DCMD') + '/robot/extra', c.host.encode([{ name: 'Device Control/Stop', type: 'Boolean', value: true }])],
    ];
    for (const [topic, buf] of junk) { await c.host.publishRaw(topic, buf); await sleep(100); }
    await sleep(4000);
    c.check(c.st.alive('swapd'), 'swapd is still running', c.st.procs.swapd.exitCode_);
    const deaths = c.host.since(mk, (r) => r.node === c.node && r.type === 'NDEATH');
    c.check(deaths.length === 0, 'no NDEATH', deaths.length);
    const births = c.host.since(mk, (r) => r.node === c.node && r.type === 'NBIRTH');
    c.check(births.length === 0, 'no NBIRTH (Rebirth = false is not a rebirth request)', births.length);
    c.check(c.v('Station/State') === state0 || ['Execute', 'Suspended', 'Suspending', 'Unsuspending'].includes(c.v('Station/State')), 'the station did not act (state unchanged, not stopped)', [state0, c.v('Station/State')]);
    const states = c.n().events.filter((e) => e.t >= tStart && /Stop|Abort|Hold/.test(e.text || ''));
    c.check(states.length === 0, 'no Stop/Hold/Abort transition among the events', states.map((e) => e.text));
    const answers = c.host.since(mk, (r) => r.type === 'NDATA' && r.node === c.node && r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Ok'));
    const oks = answers.filter((r) => r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Ok' && m.value === true));
    c.check(oks.length === 0, 'no command accepted', oks.map((r) => r.payload.metrics.map((m) => [m.resolvedName, m.value])));
    c.note('answers to the garbage: ' + answers.map((r) => JSON.stringify(r.payload.metrics.filter((m) => /Command|Result/.test(m.resolvedName)).map((m) => m.value))).join(' | ').slice(0, 600));
    c.check(c.n().gaps.length === 0, 'seq unbroken', c.n().gaps);
    // still responsive: a Rebirth works, and a real command is answered
    const mk2 = c.host.mark();
    await c.host.ncmd(c.node, [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
    await c.waitBirth(mk2, 10000).then(() => c.check(true, ''), () => c.check(false, 'the node still answers a Rebirth after the garbage'));
    const a = await c.command('NCMD', 'Node Control/Unhold', true, 'Boolean', null, 'peer-after-garbage').catch(() => null);
    c.check(a && a['Command/Last Ok'] === false, 'the node still answers commands after the garbage (unhold refused)', a);
  },
};
