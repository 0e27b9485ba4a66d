'use strict';
// An independent drone for conformance tests of the swap station, written ONLY from
// docs/drone-protocol.md (the contract; sections cited as §N) and docs/swapsim.md (the
// plant simulator's "pad interface": drone_land / drone_battery / drone_takeoff).
//
// Framing, CRC and message layouts come from the npm package node-mavlink (independent
// of the station's codec). Signing (§10) is done here by hand from docs/reference-mavlink.md
// so that the timestamps are strictly increasing per stream (node-mavlink signs with
// millisecond timestamps only).
//
// Used as a library by run.js (Link, Drone, Plant) and as a small CLI:
//   node drone.js --link /dev/pts/N [--sysid 10] [--swapsim-control PATH] [--key HEX]
//                 [--hot-swap] [--critical] [--request-after-s 1] [--log]

const fs = require('fs');
const net = require('net');
const tty = require('tty');
const crypto = require('crypto');
const { EventEmitter } = require('events');
const mav = require('node-mavlink');
const { MavLinkProtocolV1, MavLinkProtocolV2, MavLinkPacketSplitter, MavLinkPacketParser,
  minimal, common } = mav;

// Silence node-mavlink's own logging (CRC warnings on deliberately corrupted frames).
try { mav.Logger.on('log', () => {}); } catch (_) { /* older API: ignore */ }

const REGISTRY = { ...minimal.REGISTRY, ...common.REGISTRY };

// ---- protocol constants (§4, §5, §6, §3) -----------------------------------------
const CMD = { SWAP_REQUEST: 31010, CLEARED_TO_LAND: 31011, SWAP_PROGRESS: 31012,
  CLEARED_TAKEOFF: 31013, CANCEL: 31014 };
const CMD_NAME = Object.fromEntries(Object.entries(CMD).map(([k, v]) => [v, k]));
const RESULT = { ACCEPTED: 0, TEMPORARILY_REJECTED: 1, DENIED: 2, UNSUPPORTED: 3, FAILED: 4,
  IN_PROGRESS: 5 };
const REASON = { none: 0, not_allowed: 1, not_ready: 2, no_battery: 3, weather: 4,
  queue_full: 5, maintenance: 6, bad_request: 7, pad_blocked: 8, operator: 9, timeout: 10,
  pack_mismatch: 11 };
const FINAL_REASONS = new Set([REASON.not_allowed, REASON.bad_request]); // §6 "Final? yes"
const LANDED = { UNDEFINED: 0, ON_GROUND: 1, IN_AIR: 2, TAKEOFF: 3, LANDING: 4 };
const MAV_STATE = { STANDBY: 3, ACTIVE: 4, CRITICAL: 5 };
const PACKML = { 1: 'Clearing', 2: 'Stopped', 3: 'Starting', 4: 'Idle', 5: 'Suspended',
  6: 'Execute', 7: 'Stopping', 8: 'Aborting', 9: 'Aborted', 10: 'Holding', 11: 'Held',
  12: 'Unholding', 13: 'Suspending', 14: 'Unsuspending', 15: 'Resetting', 16: 'Completing',
  17: 'Complete' };
const PACKML_CODE = Object.fromEntries(Object.entries(PACKML).map(([k, v]) => [v, +k]));
// §8: retransmit after 500 ms, 1 s, 2 s, 4 s, then every 4 s.
function retryDelayMs(n) { return [500, 1000, 2000, 4000][n] ?? 4000; }
const HEARTBEAT_STALE_MS = 1500;   // §8 [pad] drone_heartbeat_timeout_ms, 1.5 s shipped
const LINK_LOST_MS = 5000;         // §8 DPROTO_LINK_LOST_MS
const SIGN_EPOCH_MS = Date.UTC(2015, 0, 1);

/** Decode the station heartbeat custom_mode (§3). */
function decodeCustomMode(cm) {
  const flags = (cm >>> 16) & 0xff;
  return { state: cm & 0xff, stateName: PACKML[cm & 0xff] || `?${cm & 0xff}`,
    unitMode: (cm >>> 8) & 0xff, flags, accepting: !!(flags & 1), padOccupied: !!(flags & 2),
    weatherHold: !!(flags & 4), alarm: !!(flags & 8), queueLen: (cm >>> 24) & 0xff };
}
function tagSerial(tag) { return 'SWP-' + (tag >>> 0).toString(16).toUpperCase().padStart(8, '0'); }
function nowSignUnits() { return Math.floor((Date.now() - SIGN_EPOCH_MS) * 100); }

// ---- the link: one byte stream shared by several drones (§1, §2) --------------------
class Link extends EventEmitter {
  /**
   * @param {string} path pty path (or any character device)
   * @param {object} o { key: hex|null (verify station frames), linkId }
   */
  constructor(path, o = {}) {
    super();
    this.path = path;
    this.key = o.key ? Buffer.from(o.key, 'hex') : null;
    this.streams = new Map(); // signed stream (sysid/compid/linkid) -> last timestamp (§10)
    this.counters = { frames: 0, unsigned: 0, bad_signature: 0, replay: 0, stale: 0, v1: 0 };
    this.rfd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    this.wfd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    this.rs = new tty.ReadStream(this.rfd);
    this.rs.setRawMode && this.rs.setRawMode(true);
    this.ws = new tty.WriteStream(this.wfd);
    this.splitter = new MavLinkPacketSplitter();
    this.parser = new MavLinkPacketParser();
    this.rs.pipe(this.splitter).pipe(this.parser);
    this.rs.on('error', (e) => this.emit('link-error', e));
    this.ws.on('error', (e) => this.emit('link-error', e));
    this.parser.on('data', (p) => this._onPacket(p));
    this.closed = false;
  }

  /** Raw bytes onto the wire (used for garbage, replays, hand-made frames). */
  writeRaw(buf) { if (!this.closed) this.ws.write(buf); }

  _onPacket(p) {
    const h = p.header;
    const v1 = p.buffer[0] === 0xfe;
    const signed = !v1 && (h.incompatibilityFlags & 1) === 1;
    let sig = null;
    if (signed) {
      const b = p.buffer;
      sig = { linkId: b[b.length - 13], timestamp: b.readUIntLE(b.length - 12, 6) };
    }
    // §10: on a signed link both ends drop unsigned frames, bad signatures, replays and
    // frames more than a minute old; they are counted, never answered.
    if (this.key) {
      if (!signed) { this.counters[v1 ? 'v1' : 'unsigned']++; this.emit('dropped', { why: v1 ? 'v1' : 'unsigned', header: h }); return; }
      const b = p.buffer;
      const want = crypto.createHash('sha256').update(this.key).update(b.subarray(0, b.length - 6))
        .digest().subarray(0, 6);
      if (!want.equals(b.subarray(b.length - 6))) { this.counters.bad_signature++; this.emit('dropped', { why: 'bad_signature', header: h }); return; }
      const sk = `${h.sysid}/${h.compid}/${sig.linkId}`;
      const last = this.streams.get(sk);
      if (last !== undefined && sig.timestamp <= last) { this.counters.replay++; this.emit('dropped', { why: 'replay', header: h }); return; }
      if (sig.timestamp < nowSignUnits() - 6000000) { this.counters.stale++; this.emit('dropped', { why: 'stale', header: h }); return; }
      this.streams.set(sk, sig.timestamp);
    }
    const clazz = REGISTRY[h.msgid];
    if (!clazz) return;
    let data;
    try { data = p.protocol.data(p.payload, clazz); } catch (e) { return; }
    this.counters.frames++;
    const f = { t: Date.now(), sysid: h.sysid, compid: h.compid, msgid: h.msgid,
      name: clazz.MSG_NAME, data, signed, sig, v1, raw: p.buffer };
    this.emit('frame', f);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this.rs.destroy(); } catch (_) {}
    try { this.ws.destroy(); } catch (_) {}
  }
}

/**
 * Encode one message as a frame.
 * @param {object} o { sysid, compid, seq, key(Buffer)|null, linkId, v1, lastTs (object with .ts) }
 */
function encodeFrame(msg, o) {
  if (o.v1) return new MavLinkProtocolV1(o.sysid, o.compid).serialize(msg, o.seq & 0xff);
  const signed = !!o.key;
  const buf = new MavLinkProtocolV2(o.sysid, o.compid, signed ? 1 : 0, 0).serialize(msg, o.seq & 0xff);
  if (!signed) return buf;
  // §10 / reference-mavlink.md: link id, 48-bit timestamp (10 µs since 2015-01-01,
  // strictly increasing per stream), first 6 bytes of SHA-256(key + frame + link id + ts).
  let ts = o.timestamp !== undefined ? o.timestamp : Math.max(nowSignUnits(), (o.clock.ts || 0) + 1);
  if (o.clock && o.timestamp === undefined) o.clock.ts = ts;
  const tail = Buffer.alloc(7);
  tail[0] = o.linkId & 0xff;
  tail.writeUIntLE(ts, 1, 6);
  const sig = crypto.createHash('sha256').update(o.key).update(buf).update(tail).digest().subarray(0, 6);
  return Buffer.concat([buf, tail, sig]);
}

// ---- the plant side: swapsim's control socket (docs/swapsim.md, "pad interface") -----
class Plant {
  constructor(sockPath) { this.path = sockPath; this.q = []; this.buf = ''; this.sock = null; }
  _connect() {
    if (this.sock) return;
    this.sock = net.createConnection(this.path);
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1);
        const w = this.q.shift();
        if (w) { try { w.resolve(JSON.parse(line)); } catch (e) { w.reject(e); } }
      }
    });
    const fail = (e) => { const q = this.q; this.q = []; this.sock = null; q.forEach((w) => w.reject(e || new Error('swapsim control closed'))); };
    this.sock.on('error', fail);
    this.sock.on('close', () => fail());
  }
  /** One request, one reply line (docs/swapsim.md "The control socket"). */
  request(obj) {
    this._connect();
    return new Promise((resolve, reject) => {
      this.q.push({ resolve, reject });
      this.sock.write(JSON.stringify(obj) + '\n');
    });
  }
  close() { if (this.sock) { this.sock.destroy(); this.sock = null; } }
}

/** A battery JSON for swapsim's drone_land (fields as swapsim's drone_battery reports them). */
function makePack(tag, soc = 0.25) {
  return { tag: tag >>> 0, cells: 6, rated_ah: 5, capacity_new_ah: 5, capacity_ah: 4.9,
    r0_new_ohm: 0.066, r1_new_ohm: 0.03, r0_ohm: 0.07, r1_ohm: 0.031, tau_s: 30, soc,
    v1: 0, temp_degC: 28, ah_throughput: 50, efc: 10, peak_temp_degC: 35,
    heat_capacity_j_k: 540, cooling_w_k: 0.6, fade_k: 0.0135, fade_exp: 0.44, r_gamma: 1.5,
    cell_offset: [0, 0, 0, 0, 0, 0], tag_unreadable: false };
}

// ---- the drone ------------------------------------------------------------------------
/**
 * States follow §11's table: flying, requesting, queued, landing, landed, disarmed,
 * bay_empty, booting, wait_takeoff, taking_off, diverted (plus 'waiting_denied').
 *
 * Options (all optional):
 *   sysid (10), compid (1), stationSysid (null: follow the first CHARGING_STATION heartbeat, §1)
 *   key (hex, §10), linkId, plant (Plant), pack (battery JSON carried at touchdown)
 *   remaining (%), hotSwap, critical, version (param7, default 1), etaS (param5)
 *   landDelayMs (clearance ack -> touchdown, default 800), bootMs (cold 1500 / hot 200)
 *   cancelBehaviour: 'hover' (default: after a station CANCEL the drone hovers and does not
 *     ask again, so tests can observe) or 'rerequest' (§11 dronesim behaviour)
 *   retryAfterDenialMs: null (default: do not ask again after a non-final denial) or ms
 * Misbehaviour switches (may be changed at run time):
 *   silent      hear and say nothing (link_loss)
 *   dropAcks    { [command]: n } do not ack the first n receptions of that command
 *               (Infinity = never ack). The command is still acted on unless noAct.
 *   noActOnUnacked  with dropAcks: do not act on the receptions whose ack is dropped
 *   noLand      ack the clearance but never touch down
 *   rearm       report armed while on the pad
 *   unsigned    send unsigned frames even on a signed link
 *   v1          send MAVLink 1 frames
 *   garbage     1-24 random bytes before each frame
 *   wrongSysid  send with sysid ^ 0x80
 *   wrongKey    sign with another key
 *   noProgressAck  do not ack SWAP_PROGRESS
 */
class Drone extends EventEmitter {
  constructor(link, o = {}) {
    super();
    this.link = link;
    this.o = o;
    this.sysid = o.sysid ?? 10;
    this.compid = o.compid ?? 1;
    this.stationSysid = o.stationSysid ?? null;
    this.stationCompid = null;
    this.key = o.key ? Buffer.from(o.key, 'hex') : null;
    this.linkId = o.linkId ?? 1;
    this.plant = o.plant || null;
    this.pack = o.pack || makePack(0x5B000000 + this.sysid, 0.25);
    this.remaining = o.remaining ?? 25;
    this.state = 'flying';
    this.armed = true;
    this.seq = 0;
    this.clock = { ts: 0 };
    this.log = [];          // everything heard from the station and everything sent
    this.stateLog = [{ t: Date.now(), state: 'flying' }];
    this.pending = null;    // our own outstanding command {command, params, confirmation, timer}
    this.acted = new Map(); // duplicate detection for station commands (§8)
    this.dropCounts = {};
    this.lastStationHb = 0;
    this.stationHb = null;
    this.timers = new Set();
    this.consumedMah = 0;
    this.misbehave = Object.assign({ silent: false, dropAcks: {}, noActOnUnacked: false,
      noLand: false, rearm: false, ignoreAcks: {}, unsigned: false, v1: false, garbage: false,
      wrongSysid: false, wrongKey: false, noProgressAck: false }, o.misbehave || {});
    this.violations = [];   // station behaviour the drone found to break the document
    this.onFrame = (f) => this._rx(f);
    link.on('frame', this.onFrame);
    this._every(1000, () => this._telemetry());          // §3: 1 Hz telemetry
    this._every(1000, () => this._checkStationLost());   // §8 link-loss rules
    this._every(5000, () => this._smartBatteryPeriodic()); // §3: every 5 s on the pad
    this._telemetry();
  }

  // -- helpers
  _after(ms, fn) { const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms); this.timers.add(t); return t; }
  _every(ms, fn) { const t = setInterval(fn, ms); this.timers.add(t); return t; }
  _cancelTimer(t) { if (t) { clearTimeout(t); this.timers.delete(t); } }
  setState(s) {
    if (this.state === s) return;
    this.state = s; this.stateLog.push({ t: Date.now(), state: s }); this.emit('state', s);
  }
  stateSince(s) { for (let i = this.stateLog.length - 1; i >= 0; i--) if (this.stateLog[i].state === s) return this.stateLog[i].t; return null; }
  violation(sec, text) { this.violations.push({ t: Date.now(), sec, text }); this.emit('violation', { sec, text }); }

  send(msg) {
    if (this.misbehave.silent || this.state === 'diverted' && !(msg instanceof common.CommandAck)) return;
    const o = { sysid: this.misbehave.wrongSysid ? (this.sysid ^ 0x80) : this.sysid,
      compid: this.compid, seq: this.seq++, linkId: this.linkId, clock: this.clock,
      key: this.key && !this.misbehave.unsigned && !this.misbehave.v1 ? (this.misbehave.wrongKey ? crypto.createHash('sha256').update('wrong').digest() : this.key) : null,
      v1: this.misbehave.v1 };
    let buf = encodeFrame(msg, o);
    if (this.misbehave.garbage) {
      const n = 1 + crypto.randomInt(24);
      const g = crypto.randomBytes(n);
      for (let i = 0; i < n; i++) if (g[i] === 0xfd || g[i] === 0xfe) g[i] = 0x55;
      buf = Buffer.concat([g, buf]);
    }
    this.link.writeRaw(buf);
    this.log.push({ t: Date.now(), dir: 'tx', name: msg.constructor.MSG_NAME, data: msg, raw: buf });
  }

  // -- telemetry (§3)
  _landedState() {
    switch (this.state) {
      case 'landing': return LANDED.LANDING;
      case 'landed': case 'disarmed': case 'bay_empty': case 'booting': case 'wait_takeoff': return LANDED.ON_GROUND;
      case 'taking_off': return LANDED.TAKEOFF;
      default: return LANDED.IN_AIR;
    }
  }
  /** Powered? A cold-swapped drone is dark from pack out until it has booted (§7, §11). */
  _powered() {
    if (this.state === 'diverted') return false;
    if (!this.o.hotSwap && (this.state === 'bay_empty' || this.state === 'booting')) return false;
    return true;
  }
  _isArmed() { return this.armed || (this.misbehave.rearm && this._onPad()); }
  _onPad() { return ['landed', 'disarmed', 'bay_empty', 'booting', 'wait_takeoff'].includes(this.state); }

  _telemetry() {
    if (!this._powered()) return;
    const armed = this._isArmed();
    const hb = new minimal.Heartbeat();
    hb.type = 2; hb.autopilot = 12; // QUADROTOR, PX4 (any airframe will do, §1)
    hb.baseMode = (armed ? 0x80 : 0) | 0x01;
    hb.customMode = 0;
    hb.systemStatus = armed ? MAV_STATE.ACTIVE : MAV_STATE.STANDBY; // §3
    hb.mavlinkVersion = 3;
    this.send(hb);
    const es = new common.ExtendedSysState();
    es.vtolState = 0; es.landedState = this._landedState();
    this.send(es);
    this.send(this._batteryStatus());
  }
  _bayEmpty() { return this.state === 'bay_empty' || this.state === 'booting' && this.o.hotSwap && !this.pack; }
  _batteryStatus() {
    const bs = new common.BatteryStatus();
    bs.id = 0; bs.batteryFunction = 1; bs.type = 1;
    bs.energyConsumed = -1; bs.timeRemaining = 0; bs.chargeState = 0; bs.mode = 0; bs.faultBitmask = 0;
    bs.voltagesExt = [0, 0, 0, 0];
    if (this.state === 'bay_empty' || !this.pack) {
      // §3: remaining -1 and voltages unused when on backup with the bay empty
      bs.voltages = new Array(10).fill(65535); bs.batteryRemaining = -1; bs.currentBattery = -1;
      bs.temperature = 32767; bs.currentConsumed = -1;
      return bs;
    }
    const soc = this.pack.soc;
    const cellMv = Math.round(3300 + 880 * soc); // a sane LiPo cell voltage for the SoC
    const cells = this.pack.cells || 6;
    bs.voltages = Array.from({ length: 10 }, (_, i) => (i < cells ? cellMv : 65535));
    bs.currentBattery = this._landedState() === LANDED.IN_AIR ? 1800 : 50; // cA (18 A hover)
    bs.temperature = Math.round((this.pack.temp_degC ?? 25) * 100);
    bs.batteryRemaining = Math.round(soc * 100);
    bs.currentConsumed = Math.round(this.consumedMah);
    return bs;
  }
  _smartBatteryInfo() {
    if (!this.pack) return;
    const sb = new common.SmartBatteryInfo();
    sb.id = 0; sb.batteryFunction = 1; sb.type = 1;
    sb.capacityFullSpecification = Math.round((this.pack.rated_ah || 5) * 1000);
    sb.capacityFull = Math.round((this.pack.capacity_ah || 5) * 1000);
    sb.cycleCount = Math.round(this.pack.efc || 0);
    sb.serialNumber = tagSerial(this.pack.tag);   // §3: SWP-%08X of the RFID tag
    sb.deviceName = 'conformance-peer pack';
    sb.weight = 650; sb.dischargeMinimumVoltage = 19800; sb.chargingMinimumVoltage = 19800;
    sb.restingMinimumVoltage = 19800; sb.chargingMaximumVoltage = 25200;
    sb.cellsInSeries = this.pack.cells || 6; sb.dischargeMaximumCurrent = 100000;
    sb.dischargeMaximumBurstCurrent = 150000; sb.manufactureDate = '01/01/2026';
    this.send(sb);
  }
  _smartBatteryPeriodic() { if (this.state === 'wait_takeoff' || this.state === 'disarmed' && this.pack) this._smartBatteryInfo(); }

  // -- commands we send, with the retransmission schedule (§8)
  _commandLong(command, params, confirmation) {
    const m = new common.CommandLong();
    m.targetSystem = this.stationSysid ?? 0;          // §1: broadcast until the station is known
    m.targetComponent = this.stationSysid == null ? 0 : (this.stationCompid ?? 25);
    if (this.o.targetSystem != null) m.targetSystem = this.o.targetSystem; // misaddressed (tests)
    if (this.o.targetComponent != null) m.targetComponent = this.o.targetComponent;
    m.command = command; m.confirmation = confirmation;
    [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7] =
      [0, 1, 2, 3, 4, 5, 6].map((i) => params[i] ?? 0);
    return m;
  }
  _sendWithRetry(command, params) {
    this._stopRetry();
    const p = { command, params, confirmation: 0, timer: null, firstT: Date.now() };
    this.pending = p;
    const tx = () => {
      if (this.pending !== p) return;
      this.send(this._commandLong(command, params, p.confirmation));
      const d = retryDelayMs(p.confirmation);
      p.confirmation = Math.min(p.confirmation + 1, 255);
      p.timer = this._after(d, tx);
    };
    tx();
  }
  _stopRetry() { if (this.pending) { this._cancelTimer(this.pending.timer); this.pending = null; } }

  /** SWAP_REQUEST (§4), retried until acked (§7, §8). */
  requestSwap(over = {}) {
    const tag = this.pack ? this.pack.tag >>> 0 : 0;
    const volt = this.pack ? ((3.3 + 0.88 * this.pack.soc) * (this.pack.cells || 6)) : 0;
    const flags = (this.o.hotSwap ? 1 : 0) | (this.o.critical ? 2 : 0);
    const params = [this.remaining, tag & 0xffff, (tag >>> 16) & 0xffff, Math.round(volt * 10) / 10,
      this.o.etaS ?? 0, flags, this.o.version ?? 1];
    for (const [k, v] of Object.entries(over)) params[+k - 1] = v; // over: {7: 2} etc.
    this.requestParams = params;
    this.setState('requesting');
    this._sendWithRetry(CMD.SWAP_REQUEST, params);
  }
  /** CANCEL from the drone (§4): withdraw the request and leave the queue. */
  cancel(reason = REASON.operator) {
    this.cancelSent = Date.now();
    this._sendWithRetry(CMD.CANCEL, [reason]);
    if (['requesting', 'queued', 'landing'].includes(this.state)) this.setState('flying');
  }

  // -- reception
  _rx(f) {
    if (this.misbehave.silent || this.state === 'diverted') return;
    // §1: a drone without a configured station follows the first CHARGING_STATION heartbeat
    if (f.name === 'HEARTBEAT' && f.data.type === 31) {
      if (this.stationSysid == null) this.stationSysid = f.sysid;
      if (f.sysid === this.stationSysid) {
        if (this.stationCompid == null) this.stationCompid = f.compid;
        this.lastStationHb = f.t; this.stationHb = f;
      }
      return;
    }
    if (this.stationSysid == null || f.sysid !== this.stationSysid) return; // §1, §9
    if (f.name === 'COMMAND_ACK') {
      const d = f.data;
      if (d.targetSystem !== this.sysid && d.targetSystem !== 0) return; // §9: not ours
      const igMs = this.misbehave.ignoreAcksMs && this.misbehave.ignoreAcksMs[d.command];
      if (igMs && this.pending && this.pending.command === d.command && f.t - this.pending.firstT < igMs) {
        this.log.push({ t: f.t, dir: 'rx-lost', name: 'COMMAND_ACK', data: d, frame: f }); return;
      }
      const ig = this.misbehave.ignoreAcks && this.misbehave.ignoreAcks[d.command];
      if (ig) {
        this.ignored = this.ignored || {};
        this.ignored[d.command] = (this.ignored[d.command] || 0) + 1;
        if (this.ignored[d.command] <= ig) { this.log.push({ t: f.t, dir: 'rx-lost', name: 'COMMAND_ACK', data: d, frame: f }); return; }
      }
      this.log.push({ t: f.t, dir: 'rx', name: 'COMMAND_ACK', data: d, frame: f });
      this.emit('ack', d, f);
      this._onAck(d);
      return;
    }
    if (f.name === 'COMMAND_LONG') {
      const d = f.data;
      if (d.targetSystem !== this.sysid && d.targetSystem !== 0) return;
      if (d.targetComponent !== this.compid && d.targetComponent !== 0) return;
      this.log.push({ t: f.t, dir: 'rx', name: 'COMMAND_LONG', data: d, frame: f });
      this.emit('command', d, f);
      this._onCommand(d, f);
      return;
    }
    if (f.name === 'STATUSTEXT') this.log.push({ t: f.t, dir: 'rx', name: 'STATUSTEXT', data: f.data, frame: f });
  }

  _onAck(d) {
    const p = this.pending;
    if (d.command === CMD.SWAP_REQUEST) {
      // §5: queued (IN_PROGRESS, position, wait) or accepted: stop asking, hover, wait.
      if (p && p.command === CMD.SWAP_REQUEST) this._stopRetry();
      if (d.result === RESULT.IN_PROGRESS || d.result === RESULT.ACCEPTED) {
        if (this.state === 'requesting') this.setState('queued');
        if (d.result === RESULT.IN_PROGRESS) this.queuePos = d.progress;
      } else if (d.result === RESULT.DENIED || d.result === RESULT.TEMPORARILY_REJECTED) {
        if (p && p.command === CMD.SWAP_REQUEST || this.state === 'requesting') {
          this.denial = { result: d.result, reason: d.resultParam2 };
          if (d.result === RESULT.DENIED && FINAL_REASONS.has(d.resultParam2)) {
            this.setState('diverted'); // §6: after a final denial a drone must not ask again
          } else {
            this.setState('flying');
            if (this.o.retryAfterDenialMs != null) this._after(this.o.retryAfterDenialMs, () => this.state === 'flying' && this.requestSwap());
          }
        }
      } else if (p && p.command === CMD.SWAP_REQUEST) {
        this.denial = { result: d.result, reason: d.resultParam2 };
        this.setState('flying');
      }
      return;
    }
    if (p && d.command === p.command) this._stopRetry();
  }

  _ack(command, result, param2 = 0) {
    const a = new common.CommandAck();
    a.command = command; a.result = result; a.progress = 0; a.resultParam2 = param2;
    a.targetSystem = this.stationSysid; a.targetComponent = this.stationCompid ?? 25; // §5
    this.send(a);
  }

  /** Parameter ranges of the station's commands (§4). Returns a list of problems. */
  static checkParams(d) {
    const p = [d._param1, d._param2, d._param3, d._param4, d._param5, d._param6, d._param7];
    const bad = [];
    const int = (v) => Number.isInteger(v);
    switch (d.command) {
      case CMD.CLEARED_TO_LAND:
        if (!(int(p[0]) && p[0] >= 1 && p[0] <= 255)) bad.push(`param1 pad ${p[0]} not 1..255`);
        if (!(int(p[1]) && p[1] >= 0 && p[1] <= 65535)) bad.push(`param2 clearance id ${p[1]} not 0..65535`);
        if (!(p[2] >= 1 && p[2] <= 3600)) bad.push(`param3 window ${p[2]} not 1..3600 s`);
        break;
      case CMD.SWAP_PROGRESS:
        if (!(int(p[0]) && p[0] >= 0 && p[0] <= 255)) bad.push(`param1 step ${p[0]} not 0..255`);
        if (!(int(p[1]) && p[1] >= 0 && p[1] <= 255)) bad.push(`param2 steps ${p[1]} not 0..255`);
        if (p[1] > 0 && p[0] > p[1]) bad.push(`param1 step ${p[0]} > param2 steps ${p[1]}`);
        if (!(p[2] >= 0 && p[2] <= 86400)) bad.push(`param3 time on pad ${p[2]} not 0..86400`);
        if (!(p[3] === -1 || p[3] >= 0 && p[3] <= 86400)) bad.push(`param4 eta ${p[3]} not 0..86400 or -1`);
        break;
      case CMD.CLEARED_TAKEOFF:
        if (!(p[0] === 0 || p[0] === 1)) bad.push(`param1 outcome ${p[0]} not 0/1`);
        if (!(int(p[1]) && p[1] >= 0 && p[1] <= 65535)) bad.push(`param2 tag low ${p[1]} not 0..65535`);
        if (!(int(p[2]) && p[2] >= 0 && p[2] <= 65535)) bad.push(`param3 tag high ${p[2]} not 0..65535`);
        if (!(p[3] >= 1 && p[3] <= 3600)) bad.push(`param4 window ${p[3]} not 1..3600 s`);
        break;
      case CMD.CANCEL:
        if (!(int(p[0]) && p[0] >= 0 && p[0] <= 11)) bad.push(`param1 reason ${p[0]} not a §6 code`);
        break;
      default: break;
    }
    return bad;
  }

  _onCommand(d, f) {
    const c = d.command;
    const name = CMD_NAME[c];
    if (!name || c === CMD.SWAP_REQUEST) { this._ack(c, RESULT.UNSUPPORTED); return; } // §5
    if (c === CMD.SWAP_PROGRESS) { // §4: informative, not retransmitted; a drone that hears it acks it
      this.progress = this.progress || [];
      this.progress.push({ t: f.t, p: [d._param1, d._param2, d._param3, d._param4], confirmation: d.confirmation, state: this.state });
      const bad = Drone.checkParams(d);
      if (bad.length) this.violation('§4 SWAP_PROGRESS', bad.join('; '));
      if (!this.misbehave.noProgressAck) this._ack(c, bad.length ? RESULT.DENIED : RESULT.ACCEPTED, bad.length ? REASON.bad_request : 0);
      return;
    }
    // §8: a repeat of a command already acted on is a duplicate: ack again, nothing else.
    const key = `${c}:${d._param1}:${d._param2}:${d._param3}:${d._param4}`;
    if (this.acted.has(key)) {
      const r = this.acted.get(key);
      if (!this._dropAck(c)) this._ack(c, r.result, r.param2);
      return;
    }
    const bad = Drone.checkParams(d);
    if (bad.length) { // §4: out of range -> DENIED bad_request, change nothing
      this.violation(`§4 ${name}`, bad.join('; '));
      this._ack(c, RESULT.DENIED, REASON.bad_request);
      return;
    }
    const dropped = this._dropAck(c);
    if (dropped && this.misbehave.noActOnUnacked) return; // as if the frame had been lost
    let res = { result: RESULT.ACCEPTED, param2: 0 };
    switch (c) {
      case CMD.CLEARED_TO_LAND: res = this._onClearedToLand(d); break;
      case CMD.CLEARED_TAKEOFF: res = this._onClearedTakeoff(d); break;
      case CMD.CANCEL: res = this._onStationCancel(d); break;
      default: break;
    }
    this.acted.set(key, res);
    if (!dropped) this._ack(c, res.result, res.param2);
  }
  _dropAck(c) {
    const n = this.misbehave.dropAcks[c];
    if (!n) return false;
    this.dropCounts[c] = (this.dropCounts[c] || 0) + 1;
    return this.dropCounts[c] <= n;
  }

  _onClearedToLand(d) {
    if (!['queued', 'requesting'].includes(this.state)) {
      // A clearance that does not fit our state (e.g. we cancelled): not ready.
      return { result: RESULT.DENIED, param2: REASON.not_ready };
    }
    this._stopRetry();
    this.clearance = { t: Date.now(), pad: d._param1, id: d._param2, windowS: d._param3 };
    this.setState('landing');
    if (!this.misbehave.noLand) this._after(this.o.landDelayMs ?? 800, () => this._touchDown());
    return { result: RESULT.ACCEPTED, param2: 0 };
  }

  async _touchDown() {
    if (this.state !== 'landing') return;
    if (this.plant) {
      let r;
      try { r = await this.plant.request({ cmd: 'drone_land', battery: this.pack }); } catch (e) { r = { ok: false, error: String(e) }; }
      if (!r.ok) {
        // §8 last row: pad occupied at touchdown -> go around and ask again after a pause
        this.landError = r.error;
        this.setState('flying');
        this._after(2000, () => this.state === 'flying' && this.requestSwap());
        return;
      }
    }
    this.oldTag = this.pack ? this.pack.tag : null;
    this.setState('landed');           // ON_GROUND, still armed
    this._after(1000, () => {           // §11: 1 s spin-down -> disarmed
      if (this.state !== 'landed') return;
      this.armed = false;
      this.setState('disarmed');
      this._telemetry();
      this._pollBay();
    });
  }

  /** On the pad the drone feels its bay through swapsim (docs/swapsim.md drone_battery). */
  _pollBay() {
    if (!this.plant || !this._onPad()) return;
    this.plant.request({ cmd: 'drone_battery' }).then((r) => {
      if (!r.ok || !this._onPad()) return;
      const b = r.battery;
      if (!b && ['disarmed', 'wait_takeoff', 'booting'].includes(this.state)) {
        this.pack = null; this.setState('bay_empty'); // cold: dark from here (§7)
        if (this.o.hotSwap) this._telemetry();
      } else if (b && this.state === 'bay_empty') {
        this.pack = b; this.setState('booting');
        const boot = this.o.bootMs ?? (this.o.hotSwap ? 200 : 1500);
        this._after(boot, () => {
          if (this.state !== 'booting') return;
          this.setState('wait_takeoff');
          this.consumedMah = 0;
          this._telemetry(); this._smartBatteryInfo(); // §3: SMART_BATTERY_INFO at power-up
        });
      }
    }).catch(() => {}).finally(() => { if (this._onPad()) this._after(100, () => this._pollBay()); });
  }

  _onClearedTakeoff(d) {
    this.takeoffCmd = { t: Date.now(), p: [d._param1, d._param2, d._param3, d._param4], state: this.state };
    if (!this._onPad() && this.state !== 'taking_off' && this.state !== 'flying') return { result: RESULT.DENIED, param2: REASON.not_ready };
    if (!this._onPad()) return { result: RESULT.ACCEPTED, param2: 0 };
    this._leavePad();
    return { result: RESULT.ACCEPTED, param2: 0 };
  }
  async _leavePad() {
    this.setState('taking_off');
    this.armed = true;
    if (this.plant) {
      // The drone lifts off; swapsim refuses while clamped or centred ("it cannot leave").
      for (let i = 0; i < 100; i++) {
        let r;
        try { r = await this.plant.request({ cmd: 'drone_takeoff' }); } catch (e) { r = { ok: false, error: String(e) }; }
        if (r.ok) { if (r.battery) this.pack = r.battery; this.liftOff = { t: Date.now(), attempts: i + 1 }; break; }
        this.takeoffBlocked = this.takeoffBlocked || { t: Date.now(), error: r.error };
        await new Promise((res) => this._after(100, res));
      }
    }
    this._telemetry();
    this._after(3000, () => { if (this.state === 'taking_off') this.setState('flying'); });
  }

  _onStationCancel(d) {
    this.stationCancel = this.stationCancel || [];
    this.stationCancel.push({ t: Date.now(), reason: d._param1, state: this.state });
    if (['requesting', 'queued', 'landing'].includes(this.state)) {
      this._stopRetry();
      this.setState('flying'); // wave-off: a drone on approach climbs away
      if (this.o.cancelBehaviour === 'rerequest') this._after(2000, () => this.state === 'flying' && this.requestSwap());
    }
    return { result: RESULT.ACCEPTED, param2: 0 };
  }

  _checkStationLost() {
    if (!this.lastStationHb || this.misbehave.silent) return;
    if (Date.now() - this.lastStationHb < LINK_LOST_MS) return;
    // §8: queued -> keep hovering and ask again; on approach -> abort, climb away, ask again;
    // on the pad -> stay disarmed, never take off without CLEARED_TAKEOFF.
    if (this.state === 'queued' || this.state === 'landing') { this.lastStationHb = Date.now(); this.requestSwap(); }
  }

  lastHeard(filter) { for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i].dir === 'rx' && filter(this.log[i])) return this.log[i]; return null; }
  heard(filter) { return this.log.filter((e) => e.dir === 'rx' && filter(e)); }

  stop() {
    for (const t of this.timers) { clearTimeout(t); clearInterval(t); }
    this.timers.clear();
    this.link.off('frame', this.onFrame);
  }
}

module.exports = { Link, Drone, Plant, encodeFrame, makePack, tagSerial, decodeCustomMode,
  CMD, CMD_NAME, RESULT, REASON, LANDED, MAV_STATE, PACKML, PACKML_CODE, REGISTRY,
  retryDelayMs, HEARTBEAT_STALE_MS, LINK_LOST_MS, nowSignUnits, common, minimal };

// ---- CLI ---------------------------------------------------------------------------------
if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
  const has = (n) => args.includes(n);
  if (has('--help') || !opt('--link')) {
    console.log('usage: node drone.js --link PTY [--sysid 10] [--station-sysid N] [--swapsim-control PATH]\n' +
      '       [--key HEX] [--hot-swap] [--critical] [--request-after-s S] [--log]');
    process.exit(has('--help') ? 0 : 2);
  }
  const key = opt('--key', null);
  const link = new Link(opt('--link'), { key });
  const plant = opt('--swapsim-control') ? new Plant(opt('--swapsim-control')) : null;
  const d = new Drone(link, { sysid: +opt('--sysid', 10), stationSysid: opt('--station-sysid') ? +opt('--station-sysid') : null,
    key, plant, hotSwap: has('--hot-swap'), critical: has('--critical'), cancelBehaviour: 'rerequest', retryAfterDenialMs: 10000 });
  d.on('state', (s) => console.log(new Date().toISOString(), 'state', s));
  if (has('--log')) d.on('command', (c) => console.log(new Date().toISOString(), 'command', CMD_NAME[c.command], c._param1, c._param2, c._param3, c._param4));
  d.on('violation', (v) => console.log('VIOLATION', v.sec, v.text));
  setTimeout(() => d.requestSwap(), 1000 * +opt('--request-after-s', 1));
  const bye = () => { d.stop(); link.close(); plant && plant.close(); process.exit(0); };
  process.on('SIGINT', bye); process.on('SIGTERM', bye);
}
