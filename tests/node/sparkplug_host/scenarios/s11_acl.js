'use strict';
// The example ACL of configs/fleet/fleet.acl, used as is, with a password file (no TLS).
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { sleep } = require('../lib/ctx');
const { Host } = require('../lib/host');
const { CONFIGS } = require('../lib/harness');
module.exports = {
  name: 'acl',
  section: 'fleet.md "Broker ACL" (configs/fleet/fleet.acl: station publishes under its own id, only swapfleet commands, viewer reads)',
  async run(c) {
    const users = {};
    await c.setup({
      hostId: 'swapfleet',
      beforeBroker: (st) => {
        const pw = path.join(st.dir, 'fleet.passwd');
        const acl = path.join(st.dir, 'fleet.acl');
        fs.copyFileSync(path.join(CONFIGS, 'fleet', 'fleet.acl'), acl);
        for (const u of [st.node, 'swapfleet', 'viewer', 'st-other']) {
          users[u] = 'pw-' + u;
          const first = !fs.existsSync(pw);
          execFileSync(process.env.MOSQUITTO_PASSWD || 'mosquitto_passwd', [...(first ? ['-c'] : []), '-b', pw, u, users[u]]);
        }
        // mosquitto started as root drops to its own user: let it read the files
        fs.chmodSync(st.dir, 0o755); fs.chmodSync(pw, 0o644); fs.chmodSync(acl, 0o644);
        st.brokerExtra = [];
        st.brokerAllowAnon = false;
        st.brokerExtra.push('password_file ' + pw, 'acl_file ' + acl);
      },
      hostAuth: { username: 'swapfleet', password: 'pw-swapfleet' },
      fleet: { username: 'NODE', password: 'NODE' },
    }).catch((e) => { throw e; });
    // setup wrote [fleet] username/password = NODE: rewrite with the station's id and restart swapd
    await c.st.kill('swapd', 'SIGTERM');
    c.st.writeIni({ username: c.node, password: users[c.node] });
    const mk0 = c.host.mark();
    c.st.startSwapd();
    const b = await c.waitBirth(mk0, 30000).catch(() => null);
    c.check(b, 'with the example ACL the station (user = edge node id) is born and the host (swapfleet) sees it', null);
    if (!b) return;
    await sleep(1500);
    let a = await c.command('NCMD', 'Node Control/Unhold', true, 'Boolean', null, 'acl-host').catch(() => null);
    c.check(a && a['Command/Last Request Id'] === 'acl-host', 'a command from swapfleet reaches the station', a);
    for (const u of ['viewer', 'st-other', c.node]) {
      const h = new Host({ url: 'mqtt://127.0.0.1:' + c.st.mqttPort, group: c.st.group, hostId: null });
      await h.connect({ will: false, username: u, password: users[u], subscribe: false });
      const mk = c.host.mark();
      await h.ncmd(c.node, [{ name: 'Node Control/Unhold', type: 'Boolean', value: true }, { name: 'Command/Request Id', type: 'String', value: 'acl-' + u }]);
      await h.dcmd(c.node, 'robot', [{ name: 'Device Control/Unhold', type: 'Boolean', value: true }, { name: 'Command/Request Id', type: 'String', value: 'acl-d-' + u }]);
      await sleep(2500);
      const got = c.host.since(mk, (r) => r.type === 'NDATA' && r.node === c.node && r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Request Id' && /^acl-/.test(m.value)));
      c.check(got.length === 0, `commands from "${u}" never reach the station`, got.map((r) => r.payload.metrics.map((m) => m.value)));
      await h.end();
    }
    const deaths = c.host.since(0, (r) => r.type === 'NDEATH' && r.node === c.node).filter((r) => r.t > b.t);
    c.check(deaths.length === 0, 'the station stays online', deaths.length);
  },
};
