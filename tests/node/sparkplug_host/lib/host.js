'use strict';
// A small Sparkplug B host application (Sparkplug 3.0): STATE, subscription to the
// group, decoding with sparkplug-payload, per-node bdSeq/seq/alias tables and values.
const mqtt = require('mqtt');
const spb = require('sparkplug-payload').get('spBv1.0');

function num(v) {
  if (v === null || v === undefined) return v;
  if (typeof v === 'object' && 'low' in v && 'high' in v) {
    return v.high * 4294967296 + (v.low >>> 0);
  }
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function normMetric(m) {
  const o = Object.assign({}, m);
  if (o.alias !== undefined && o.alias !== null) o.alias = num(o.alias);
  if (o.timestamp !== undefined && o.timestamp !== null) o.timestamp = num(o.timestamp);
  if (['UInt64', 'Int64', 'UInt32', 'DateTime'].includes(o.type)) o.value = num(o.value);
  return o;
}

class Host {
  constructor({ url, group, hostId, log }) {
    this.url = url; this.group = group; this.hostId = hostId;
    this.log = log || (() => {});
    this.autoRebirth = true;
    this.msgs = [];          // every message received: {t, topic, type, node, device, payload, raw}
    this.nodes = {};         // node -> state
    this.waiters = [];
  }

  connect({ will = true, stateOnConnect = null, username, password, subscribe = true } = {}) {
    const opts = { clientId: 'peerhost-' + process.pid + '-' + Math.floor(Math.random() * 1e6),
      clean: true, reconnectPeriod: 300, connectTimeout: 3000, username, password };
    if (will && this.hostId) {
      opts.will = { topic: `spBv1.0/STATE/${this.hostId}`, qos: 1, retain: true,
        payload: JSON.stringify({ online: false, timestamp: Date.now() }) };
    }
    this.client = mqtt.connect(this.url, opts);
    this.client.on('message', (topic, buf, packet) => this._onMessage(topic, buf, packet));
    this.client.on('error', (e) => this.log('mqtt error ' + e.message));
    return new Promise((resolve, reject) => {
      const to = setTimeout(() => reject(new Error('host: no CONNACK')), 10000);
      this.client.once('connect', async () => {
        clearTimeout(to);
        if (subscribe) await this.client.subscribeAsync(`spBv1.0/${this.group}/#`, { qos: 1 });
        if (stateOnConnect !== null) await this.publishState(stateOnConnect);
        resolve();
      });
    });
  }

  publishState(online, timestamp) {
    const ts = timestamp !== undefined ? timestamp : Date.now();
    return this.client.publishAsync(`spBv1.0/STATE/${this.hostId}`,
      JSON.stringify({ online, timestamp: ts }), { qos: 1, retain: true });
  }

  publishRaw(topic, payload, opts) { return this.client.publishAsync(topic, payload, opts || { qos: 0 }); }

  encode(metrics, extra) {
    return spb.encodePayload(Object.assign({ timestamp: Date.now(), metrics }, extra || {}));
  }

  ncmd(node, metrics) {
    return this.publishRaw(`spBv1.0/${this.group}/NCMD/${node}`, this.encode(metrics));
  }

  dcmd(node, device, metrics) {
    return this.publishRaw(`spBv1.0/${this.group}/DCMD/${node}/${device}`, this.encode(metrics));
  }

  node(id) {
    if (!this.nodes[id]) {
      this.nodes[id] = { online: false, bdSeq: null, expectSeq: null, aliases: {}, values: {},
        births: [], deaths: [], gaps: [], events: [], eventIds: {}, duplicates: 0,
        aliasOnlyViolations: [], unknownAliases: [], typeMismatch: [] };
    }
    return this.nodes[id];
  }

  _onMessage(topic, buf, packet) {
    const parts = topic.split('/');
    const rec = { t: Date.now(), topic, retain: packet.retain, qos: packet.qos };
    if (parts[1] === 'STATE') {
      rec.type = 'STATE'; rec.hostId = parts[2];
      try { rec.json = JSON.parse(buf.toString()); } catch (e) { rec.json = null; }
    } else {
      rec.type = parts[2]; rec.node = parts[3]; rec.device = parts[4] || null;
      try {
        const p = spb.decodePayload(buf);
        rec.payload = { timestamp: num(p.timestamp), seq: num(p.seq), metrics: (p.metrics || []).map(normMetric) };
      } catch (e) { rec.decodeError = e.message; }
      if (!['NCMD', 'DCMD'].includes(rec.type) && rec.payload) this._track(rec);
    }
    this.msgs.push(rec);
    for (const w of this.waiters.slice()) {
      if (w.pred(rec)) { this.waiters.splice(this.waiters.indexOf(w), 1); clearTimeout(w.to); w.resolve(rec); }
    }
  }

  _track(rec) {
    const n = this.node(rec.node);
    const p = rec.payload;
    const dev = rec.device;
    const key = (name) => (dev ? dev + '/' : '') + name;
    if (rec.type === 'NDEATH') {
      const bd = p.metrics.find((m) => m.name === 'bdSeq');
      rec.bdSeq = bd ? bd.value : undefined;
      n.deaths.push({ t: rec.t, bdSeq: rec.bdSeq, matches: rec.bdSeq === n.bdSeq });
      if (rec.bdSeq === n.bdSeq) n.online = false;
      return;
    }
    // seq check for NBIRTH/DBIRTH/NDATA/DDATA
    if (rec.type === 'NBIRTH') {
      n.expectSeq = p.seq; // a birth restarts the count (must be 0; checked by scenarios)
      const bd = p.metrics.find((m) => m.name === 'bdSeq');
      n.bdSeq = bd ? bd.value : null;
      n.online = true;
      n.births.push({ t: rec.t, bdSeq: n.bdSeq, seq: p.seq });
    } else if (n.expectSeq === null) {
      // data from a node we have no birth for: ask it to rebirth (Sparkplug 3.0, host
      // application behaviour), at most once a second
      if (this.autoRebirth && (!n.lastRebirthAsk || rec.t - n.lastRebirthAsk > 1000)) {
        n.lastRebirthAsk = rec.t;
        this.ncmd(rec.node, [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]).catch(() => {});
      }
      return;
    } else {
      const want = (n.expectSeq + 1) % 256;
      if (p.seq !== want) n.gaps.push({ t: rec.t, topic: rec.topic, want, got: p.seq });
      n.expectSeq = p.seq;
    }
    if (rec.type === 'NBIRTH' || rec.type === 'DBIRTH') {
      for (const m of p.metrics) {
        if (m.alias !== undefined && m.alias !== null) n.aliases[m.alias] = { name: m.name, type: m.type, device: dev };
        n.values[key(m.name)] = m.value;
      }
      return;
    }
    for (const m of p.metrics) {
      if (m.name) n.aliasOnlyViolations.push({ topic: rec.topic, name: m.name });
      const a = n.aliases[m.alias];
      if (!a) { n.unknownAliases.push({ topic: rec.topic, alias: m.alias }); continue; }
      if (a.device !== dev) n.unknownAliases.push({ topic: rec.topic, alias: m.alias, note: 'alias of device ' + a.device });
      if (m.type && m.type !== a.type) n.typeMismatch.push({ topic: rec.topic, alias: m.alias, birth: a.type, data: m.type });
      m.resolvedName = a.name;
      if (!m.isHistorical) n.values[key(a.name)] = m.value;
    }
    // events: one NDATA per event (fleet.md "Events")
    const byName = {};
    for (const m of p.metrics) byName[m.resolvedName] = m;
    if (rec.type === 'NDATA' && byName['Event/Id']) {
      const id = byName['Event/Id'].value;
      const ev = { id, type: byName['Event/Type'] && byName['Event/Type'].value,
        text: byName['Event/Text'] && byName['Event/Text'].value,
        historical: !!byName['Event/Id'].isHistorical, ts: byName['Event/Id'].timestamp, t: rec.t };
      if (n.eventIds[id]) n.duplicates++;
      n.eventIds[id] = (n.eventIds[id] || 0) + 1;
      n.events.push(ev);
    }
  }

  // Wait for a message satisfying pred, looking from index `from` of the log.
  waitFor(pred, timeoutMs, from = 0, what = 'message') {
    for (let i = from; i < this.msgs.length; i++) if (pred(this.msgs[i])) return Promise.resolve(this.msgs[i]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.to = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error('timeout waiting for ' + what)); }, timeoutMs);
      this.waiters.push(w);
    });
  }

  mark() { return this.msgs.length; }

  since(i, pred) { return this.msgs.slice(i).filter(pred || (() => true)); }

  value(node, name) { return this.node(node).values[name]; }

  async end() {
    if (this.client) await this.client.endAsync(true).catch(() => {});
  }
}

module.exports = { Host, num, spb };
