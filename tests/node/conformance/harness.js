'use strict';
// Test harness for the conformance scenarios: starts swapsim, a socat pty pair and swapd
// in a scratch directory, gives the scenario a Link (the drones' end of the radio), the
// plant's control socket and the station's control socket, records what the station says,
// and stops exactly the processes it started.
//
// Binaries: env SWAP_BIN (default ../../../build/bin relative to this file);
// configs: env SWAP_CONFIGS (default ../../../configs). Scratch dirs under os.tmpdir().
// Waiting is done by probing (files appearing, replies), with a bound on every wait.

const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const D = require('./drone');

const BIN = path.resolve(process.env.SWAP_BIN || path.join(__dirname, '..', '..', '..', 'build', 'bin'));
const CONFIGS = path.resolve(process.env.SWAP_CONFIGS || path.join(__dirname, '..', '..', '..', 'configs'));

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
/** Probe pred() every pollMs until it is truthy or timeoutMs passed; returns its value or false. */
async function waitFor(pred, timeoutMs, pollMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try { v = await pred(); } catch (_) { v = false; }
    if (v) return v;
    if (Date.now() >= end) return false;
    await sleep(pollMs);
  }
}

/** Set key = value in [section] of an INI text (replacing or appending). */
function iniSet(text, section, key, value) {
  const lines = text.split('\n');
  let cur = null; let secEnd = -1; let found = false;
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^\s*\[([^\]]+)\]\s*$/);
    if (m) { cur = m[1].trim(); if (cur === section) secEnd = i; continue; }
    if (cur === section) {
      secEnd = i;
      const km = lines[i].match(/^\s*([A-Za-z0-9_]+)\s*=/);
      if (km && km[1] === key) { lines[i] = `${key} = ${value}`; found = true; }
    }
  }
  if (found) return lines.join('\n');
  if (secEnd >= 0) { lines.splice(secEnd + 1, 0, `${key} = ${value}`); return lines.join('\n'); }
  return lines.join('\n') + `\n[${section}]\n${key} = ${value}\n`;
}
/** All key/values of an INI text as [[section, key, value]]. */
function iniEntries(text) {
  const out = []; let cur = null;
  for (const l of text.split('\n')) {
    const m = l.match(/^\s*\[([^\]]+)\]\s*$/);
    if (m) { cur = m[1].trim(); continue; }
    const kv = l.match(/^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/);
    if (kv && cur && !l.trim().startsWith(';')) out.push([cur, kv[1], kv[2]]);
  }
  return out;
}

/** JSON-lines client for the station's control socket (docs/control-protocol.md). */
class Ctl {
  constructor(p) { this.p = p; this.q = []; this.buf = ''; this.sock = null; this.events = []; }
  connect() {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.p);
      s.setEncoding('utf8');
      s.once('connect', () => { this.sock = s; resolve(); });
      s.once('error', reject);
      s.on('data', (d) => {
        this.buf += d; let i;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1);
          let j; try { j = JSON.parse(line); } catch (_) { continue; }
          if (j.event) { this.events.push(j.event); continue; }
          const w = this.q.shift(); if (w) w.resolve(j);
        }
      });
      s.on('close', () => { const q = this.q; this.q = []; q.forEach((w) => w.reject(new Error('control socket closed'))); });
    });
  }
  req(cmd, args = {}) {
    if (!this.sock) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply to ${cmd}`)), 5000);
      this.q.push({ resolve: (j) => { clearTimeout(t); resolve(j); }, reject });
      this.sock.write(JSON.stringify({ v: 1, cmd, ...args }) + '\n');
    });
  }
  close() { if (this.sock) this.sock.destroy(); }
}

class Harness {
  /**
   * @param {object} o
   *   ini: { section: { key: value } } overrides for swapd.ini (documented keys only)
   *   start: true (swapd --start) | false (leave the station Stopped)
   *   key: signing key hex for [drone_link] key + require_signing = true
   *   charge: true (set the magazine's packs to 97 % through swapsim so packs are eligible)
   */
  constructor(name, o = {}) {
    this.name = name; this.o = o;
    this.procs = [];
    this.checks = [];
    this.notes = [];
    this.stationFrames = [];
    this.statusLog = [];
    this.truthLog = [];
    this.drones = [];
    this.stationSysid = +(o.ini?.drone_link?.station_sysid ?? 200);
  }

  log(...a) { if (process.env.VERBOSE) console.log(`[${((Date.now() - this.t0) / 1000).toFixed(2)}]`, ...a); }
  note(text) { this.notes.push(text); }
  /** Record one check: the section of the document, what it requires, what the station did. */
  check(ok, sec, expected, observed) {
    this.checks.push({ ok: !!ok, sec, expected, observed });
    this.log(ok ? 'PASS' : 'FAIL', sec, expected, '|', observed);
    return !!ok;
  }

  spawnProc(name, cmd, args) {
    const out = fs.openSync(path.join(this.dir, `${name}.out`), 'w');
    const err = fs.openSync(path.join(this.dir, `${name}.err`), 'w');
    const p = spawn(cmd, args, { stdio: ['ignore', out, err], detached: false });
    fs.closeSync(out); fs.closeSync(err);
    p.exited = new Promise((r) => p.on('exit', (code, sig) => { p.exitCode_ = code; p.exitSig = sig; r(); }));
    p.on('error', () => {});
    p.nameTag = name;
    this.procs.push(p);
    return p;
  }

  async up() {
    this.t0 = Date.now();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `swapconf-${this.name}-`));
    const dir = this.dir;
    // 1. the plant (docs/swapsim.md): ephemeral port, port file, control socket
    const plantIni = path.join(CONFIGS, 'plant.ini');
    this.sim = this.spawnProc('swapsim', path.join(BIN, 'swapsim'), ['--config', plantIni, '--port', '0',
      '--port-file', path.join(dir, 'plant.port'), '--control', path.join(dir, 'sim.sock'), '--seed', '7']);
    const port = await waitFor(() => { try { return fs.readFileSync(path.join(dir, 'plant.port'), 'utf8').trim(); } catch (_) { return false; } }, 10000);
    if (!port) throw new Error('swapsim did not write its port file');
    await waitFor(() => fs.existsSync(path.join(dir, 'sim.sock')), 5000);
    this.plant = new D.Plant(path.join(dir, 'sim.sock'));
    if (this.o.charge !== false) {
      // Charge the magazine so that a pack is eligible at once (test set-up via set_battery).
      const t = await this.plant.request({ cmd: 'truth' });
      for (const b of t.batteries) if (b.place === 'slot') await this.plant.request({ cmd: 'set_battery', tag: b.tag, soc: 0.97 });
    }
    // 2. the radio link: a socat pty pair (drone-protocol.md §2: pty transport)
    this.socat = this.spawnProc('socat', 'socat', [`pty,raw,echo=0,link=${dir}/station.pty`, `pty,raw,echo=0,link=${dir}/drone.pty`]);
    if (!await waitFor(() => fs.existsSync(`${dir}/station.pty`) && fs.existsSync(`${dir}/drone.pty`), 5000)) throw new Error('socat pty pair did not appear');
    // 3. swapd with a scratch configuration: shipped swapd.ini + demo overrides + scenario overrides
    let ini = fs.readFileSync(path.join(CONFIGS, 'swapd.ini'), 'utf8');
    const demo = path.join(CONFIGS, 'demo', 'swapd.ini');
    if (fs.existsSync(demo)) for (const [s, k, v] of iniEntries(fs.readFileSync(demo, 'utf8'))) ini = iniSet(ini, s, k, v);
    ini = iniSet(ini, 'drone_link', 'endpoint', `pty:${dir}/station.pty`);
    ini = iniSet(ini, 'database', 'path', `${dir}/swapd.db`);
    ini = iniSet(ini, 'control', 'path', `${dir}/ctl.sock`);
    if (this.o.key) { ini = iniSet(ini, 'drone_link', 'key', this.o.key); ini = iniSet(ini, 'drone_link', 'require_signing', 'true'); }
    for (const [s, kv] of Object.entries(this.o.ini || {})) for (const [k, v] of Object.entries(kv)) ini = iniSet(ini, s, k, v);
    fs.writeFileSync(path.join(dir, 'swapd.ini'), ini);
    // The drones' end of the link is opened before swapd so nothing it sends is lost.
    this.link = new D.Link(`${dir}/drone.pty`, { key: this.o.key });
    this.link.on('frame', (f) => { if (f.sysid === this.stationSysid || f.data?.type === 31) this.stationFrames.push(f); });
    const args = ['-c', path.join(dir, 'swapd.ini'), '-p', plantIni, '--db', `${dir}/swapd.db`,
      '--control', `${dir}/ctl.sock`, '--plant', `127.0.0.1:${port}`, '--link', `pty:${dir}/station.pty`];
    if (this.o.start !== false) args.push('--start');
    this.swapd = this.spawnProc('swapd', path.join(BIN, 'swapd'), args);
    if (!await waitFor(() => fs.existsSync(`${dir}/ctl.sock`), 10000)) throw new Error('swapd control socket did not appear: ' + this.tail('swapd.err'));
    this.ctl = new Ctl(`${dir}/ctl.sock`);
    await waitFor(async () => { try { await this.ctl.connect(); return true; } catch (_) { return false; } }, 5000);
    this.poller = true;
    this._pollStatus();
    // Wait until the station runs (Execute or Suspended) and the prestage fetch is done, and
    // its heartbeat is heard on the link.
    if (this.o.start !== false) {
      const ok = await waitFor(() => { const s = this.lastStatus(); return s && ['Execute', 'Suspended'].includes(s.state) && s.step == null; }, 30000, 100);
      if (!ok) throw new Error('station did not reach Execute/Suspended: ' + JSON.stringify(this.lastStatus()) + this.tail('swapd.err'));
    }
    if (!await waitFor(() => this.heartbeats().length > 0, 5000)) throw new Error('no station HEARTBEAT on the link');
    this.tUp = Date.now();
    this.log('up in', Date.now() - this.t0, 'ms');
  }

  tail(f) { try { return '\n' + fs.readFileSync(path.join(this.dir, f), 'utf8').split('\n').slice(-15).join('\n'); } catch (_) { return ''; } }

  async _pollStatus() {
    while (this.poller) {
      try {
        const r = await this.ctl.req('status');
        if (r.ok) this.statusLog.push({ t: Date.now(), ...r.result });
      } catch (_) { /* swapd gone */ }
      if (this.truthPolling) {
        try { const t = await this.plant.request({ cmd: 'truth' }); if (t.ok) { t.t = Date.now(); delete t.batteries; this.truthLog.push(t); } } catch (_) {}
      }
      await sleep(this.truthPolling ? 50 : 200);
    }
  }
  lastStatus() { return this.statusLog[this.statusLog.length - 1]; }
  /** State names the station reported over the control socket in [t1, t2]. */
  statesBetween(t1, t2) { return this.statusLog.filter((s) => s.t >= t1 && s.t <= t2).map((s) => s.state); }

  drone(o = {}) {
    const d = new D.Drone(this.link, { plant: this.plant, key: this.o.key, stationSysid: this.stationSysid, ...o });
    this.drones.push(d);
    return d;
  }

  heartbeats(since = 0) { return this.stationFrames.filter((f) => f.name === 'HEARTBEAT' && f.t >= since && f.sysid === this.stationSysid); }
  lastHeartbeat() { const h = this.heartbeats(); return h.length ? h[h.length - 1] : null; }
  /** Frames the station sent to system `sysid` of a given message / command. */
  toDrone(sysid, name, command) {
    return this.stationFrames.filter((f) => f.name === name && f.data.targetSystem === sysid && (command == null || f.data.command === command));
  }

  async down() {
    this.poller = false;
    for (const d of this.drones) d.stop();
    try { this.ctl && this.ctl.close(); } catch (_) {}
    try { this.plant && this.plant.close(); } catch (_) {}
    try { this.link && this.link.close(); } catch (_) {}
    // stop exactly the processes we started, newest first
    for (const p of this.procs.slice().reverse()) {
      if (p.exitCode_ === undefined) { try { process.kill(p.pid, 'SIGTERM'); } catch (_) {} }
      await Promise.race([p.exited, sleep(3000)]);
      if (p.exitCode_ === undefined) { try { process.kill(p.pid, 'SIGKILL'); } catch (_) {} await Promise.race([p.exited, sleep(1000)]); }
    }
    if (!process.env.KEEP) { try { fs.rmSync(this.dir, { recursive: true, force: true }); } catch (_) {} }
  }
}

module.exports = { Harness, waitFor, sleep, iniSet, BIN, CONFIGS };
