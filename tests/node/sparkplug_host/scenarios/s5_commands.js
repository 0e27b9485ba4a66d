'use strict';
const { sleep } = require('../lib/ctx');
module.exports = {
  name: 'commands',
  section: 'fleet.md "Commands" (NCMD/DCMD, Command/Last ..., refusals); operator-guide.md "Commands" (PackML table)',
  async run(c) {
    await c.setup({ drones: { flightS: 3 } });
    await c.waitBirth(0, 30000);
    const lastSeq0 = c.v('Command/Last Seq');
    // Hold during a swap (Execute), then Unhold
    await c.waitValue('Station/State', (s) => s === 'Execute', 60000, 'Execute');
    await c.waitValue('robot/Step', (s) => s && s !== '', 60000, 'a swap step');
    let a = await c.command('NCMD', 'Node Control/Hold', true, 'Boolean', null, 'peer-hold-1');
    c.check(a['Command/Last Ok'] === true, 'NCMD Hold in Execute is accepted', a);
    c.check(a['Command/Last Command'] === 'hold', 'Last Command = "hold"', a['Command/Last Command']);
    const keys = ['Command/Last Seq', 'Command/Last Command', 'Command/Last Request Id', 'Command/Last Ok', 'Command/Last Result'];
    c.check(keys.every((k) => k in a), 'the five Command/Last metrics are sent together in one NDATA', Object.keys(a));
    c.check(a['Command/Last Seq'] === lastSeq0 + 1, 'Command/Last Seq +1 per answer', { before: lastSeq0, after: a['Command/Last Seq'] });
    const seq1 = a['Command/Last Seq'];
    await c.waitValue('Station/State', (s) => s === 'Held', 20000, 'Held');
    a = await c.command('DCMD', 'Device Control/Unhold', true, 'Boolean', 'robot', 'peer-unhold-1');
    c.check(a['Command/Last Ok'] === true, 'DCMD robot Unhold in Held is accepted', a);
    c.check(a['Command/Last Command'] === 'robot/unhold', 'Last Command = "robot/unhold" for the DCMD', a['Command/Last Command']);
    c.check(a['Command/Last Seq'] === seq1 + 1, 'Command/Last Seq +1', a['Command/Last Seq']);
    await c.waitValue('Station/State', (s) => s !== 'Held' && s !== 'Unholding', 20000, 'left Held');
    // Stop, then the illegal unhold in Stopped, as NCMD and as DCMD
    a = await c.command('NCMD', 'Node Control/Stop', true, 'Boolean', null, 'peer-stop-1');
    c.check(a['Command/Last Ok'] === true, 'NCMD Stop accepted', a);
    await c.waitValue('Station/State', (s) => s === 'Stopped', 30000, 'Stopped');
    a = await c.command('NCMD', 'Node Control/Unhold', true, 'Boolean', null, 'peer-unhold-2');
    c.check(a['Command/Last Ok'] === false, 'NCMD Unhold in Stopped is refused', a);
    c.check(/^unhold is not possible in Stopped \(only in Held\)/.test(a['Command/Last Result'] || ''), 'refusal reason "unhold is not possible in Stopped (only in Held); ..."', a['Command/Last Result']);
    c.check(a['Command/Last Request Id'] === 'peer-unhold-2', 'Last Request Id echoes the request id', a['Command/Last Request Id']);
    a = await c.command('DCMD', 'Device Control/Unhold', true, 'Boolean', 'robot', 'peer-unhold-3');
    c.check(a['Command/Last Ok'] === false && /^unhold is not possible in Stopped/.test(a['Command/Last Result'] || ''), 'DCMD robot Unhold in Stopped refused with the reason', a);
    c.check(a['Command/Last Command'] === 'robot/unhold', 'Last Command "robot/unhold"', a['Command/Last Command']);
    // a DCMD metric the device lacks
    a = await c.command('DCMD', 'Device Control/Retire Pack', 'SWP-5A000003: test', 'String', 'robot', 'peer-wrongdev');
    c.check(a['Command/Last Ok'] === false, 'DCMD robot "Device Control/Retire Pack" refused', a);
    c.check(a['Command/Last Result'] === 'robot has no command "Device Control/Retire Pack"', 'reason: robot has no command "Device Control/Retire Pack"', a['Command/Last Result']);
    // Reset -> Idle, then Unhold while Idle (illegal)
    a = await c.command('NCMD', 'Node Control/Reset', true, 'Boolean', null, 'peer-reset-1');
    c.check(a['Command/Last Ok'] === true, 'NCMD Reset in Stopped accepted', a);
    await c.waitValue('Station/State', (s) => s === 'Idle', 20000, 'Idle');
    a = await c.command('NCMD', 'Node Control/Unhold', true, 'Boolean', null, 'peer-unhold-idle');
    c.check(a['Command/Last Ok'] === false && /^unhold is not possible in Idle \(only in Held\)/.test(a['Command/Last Result'] || ''), 'Unhold while Idle refused: "unhold is not possible in Idle (only in Held)..."', a);
    // no request id: "" echoed
    const mk = c.host.mark();
    await c.host.ncmd(c.node, [{ name: 'Node Control/Hold', type: 'Boolean', value: true }]);
    const rec = await c.host.waitFor((r) => r.type === 'NDATA' && r.node === c.node && r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Command'), 10000, mk, 'answer without id');
    const rid = rec.payload.metrics.find((m) => m.resolvedName === 'Command/Last Request Id');
    c.check(rid && rid.value === '', 'Last Request Id is "" when none was sent', rid && rid.value);
    // magazine retire accepted
    a = await c.command('DCMD', 'Device Control/Retire Pack', 'SWP-5A000008: peer test', 'String', 'magazine', 'peer-retire');
    c.check(a['Command/Last Ok'] === true, 'DCMD magazine Retire Pack "ID: reason" accepted', a);
    await sleep(1500);
    const packs = c.v('magazine/Packs');
    const row = packs && packs.rows && packs.rows.find((r) => r[0] === 'SWP-5A000008');
    c.check(row && /retire/i.test(row[2]), 'magazine/Packs shows the pack retired', row);
    // DCMD to an unknown device: ignored
    const mk2 = c.host.mark();
    await c.host.dcmd(c.node, 'toaster', [{ name: 'Device Control/Start', type: 'Boolean', value: true }, { name: 'Command/Request Id', type: 'String', value: 'peer-toaster' }]);
    await sleep(3000);
    const ans = c.host.since(mk2, (r) => r.type === 'NDATA' && r.node === c.node && r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Request Id'));
    c.check(ans.length === 0, 'a DCMD to an unknown device is ignored (no answer)', ans.map((r) => r.payload.metrics));
    c.check(c.v('Station/State') === 'Idle', 'and the station did not start', c.v('Station/State'));
  },
};
