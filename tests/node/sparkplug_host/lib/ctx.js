'use strict';
const { Station, sleep } = require('./harness');
const { Host } = require('./host');

// A scenario's context: its own station, its own host, a list of failed checks.
class Ctx {
  constructor(name) { this.name = name; this.failures = []; this.notes = []; }
  check(cond, msg, evidence) {
    if (!cond) this.failures.push(msg + (evidence !== undefined ? ' — evidence: ' + JSON.stringify(evidence).slice(0, 600) : ''));
    return !!cond;
  }
  note(msg) { this.notes.push(msg); }

  async setup({ drones = false, fleet = {}, hostState = true, startSwapd = true, brokerExtra, hostId = 'peerhost', hostAuth = {}, beforeBroker } = {}) {
    this.st = new Station(this.name);
    if (beforeBroker) beforeBroker(this.st);
    if (brokerExtra) this.st.brokerExtra = brokerExtra;
    await this.st.startBroker();
    await this.st.startPlant();
    if (drones) await this.st.startDrones(typeof drones === 'object' ? drones : {});
    this.host = new Host({ url: 'mqtt://127.0.0.1:' + this.st.mqttPort, group: this.st.group, hostId });
    await this.host.connect(Object.assign({ stateOnConnect: hostState ? true : null }, hostAuth));
    this.st.writeIni(fleet);
    if (startSwapd) this.st.startSwapd();
    this.node = this.st.node;
  }

  n() { return this.host.node(this.node); }
  v(name) { return this.n().values[name]; }

  waitBirth(from = 0, ms = 30000) {
    return this.host.waitFor((r) => r.type === 'NBIRTH' && r.node === this.node, ms, from, 'NBIRTH');
  }
  waitDeath(from = 0, ms = 30000) {
    return this.host.waitFor((r) => r.type === 'NDEATH' && r.node === this.node, ms, from, 'NDEATH');
  }
  async waitValue(name, pred, ms, what) {
    const end = Date.now() + ms;
    while (Date.now() < end) { if (pred(this.v(name))) return this.v(name); await sleep(100); }
    throw new Error('timeout waiting for ' + (what || name) + ' (last ' + JSON.stringify(this.v(name)) + ')');
  }

  // Send a command and wait for the Command/Last ... answer echoing our request id.
  async command(kind, metricName, value, type, device, reqId, ms = 15000) {
    const metrics = [{ name: metricName, type: type || 'Boolean', value: value === undefined ? true : value }];
    if (reqId) metrics.push({ name: 'Command/Request Id', type: 'String', value: reqId });
    const from = this.host.mark();
    if (kind === 'NCMD') await this.host.ncmd(this.node, metrics); else await this.host.dcmd(this.node, device, metrics);
    if (!reqId) return null;
    const rec = await this.host.waitFor((r) => r.type === 'NDATA' && r.node === this.node && r.payload &&
      r.payload.metrics.some((m) => m.resolvedName === 'Command/Last Request Id' && m.value === reqId), ms, from, 'answer to ' + reqId);
    const ans = {};
    for (const m of rec.payload.metrics) ans[m.resolvedName] = m.value;
    return ans;
  }

  async teardown(keep) {
    if (this.host) await this.host.end();
    if (this.st) { await this.st.stopAll(); this.st.cleanup(keep); }
  }
}

module.exports = { Ctx, sleep };
