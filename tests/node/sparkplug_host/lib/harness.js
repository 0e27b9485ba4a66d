'use strict';
// Starts its own processes (mosquitto, swapsim, dronesim, swapd) in a temp dir, on free
// ports, remembers their pids and stops only those pids.
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');

const BIN = process.env.SWAP_BIN;
const CONFIGS = process.env.SWAP_CONFIGS;
const TIME_SCALE = 20;
const MOSQUITTO = process.env.MOSQUITTO || 'mosquitto';

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

async function waitFile(p, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { const s = fs.readFileSync(p, 'utf8').trim(); if (s) return s; } catch (e) { /* not yet */ }
    await sleep(50);
  }
  throw new Error('timeout waiting for ' + p);
}

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1'); s.on('connect', () => { s.destroy(); r(true); }); s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error('timeout waiting for port ' + port);
}

class Station {
  constructor(name) {
    if (!BIN || !CONFIGS) throw new Error('set SWAP_BIN and SWAP_CONFIGS');
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sppeer-' + name + '-'));
    this.procs = {};   // role -> child
    this.group = 'peergrp';
    this.node = 'st-' + name.replace(/[^a-z0-9]/gi, '').slice(0, 12);
  }

  _spawn(role, cmd, args) {
    const out = fs.openSync(path.join(this.dir, role + '.log'), 'a');
    const ch = spawn(cmd, args, { cwd: this.dir, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    ch.exited = false;
    ch.on('exit', (code, sig) => { ch.exited = true; ch.exitCode_ = code; ch.exitSig = sig; });
    this.procs[role] = ch;
    return ch;
  }

  log(role) { try { return fs.readFileSync(path.join(this.dir, role + '.log'), 'utf8'); } catch (e) { return ''; } }

  async startBroker(port) {
    this.mqttPort = port || this.mqttPort || await freePort();
    // Written from configs/fleet/mosquitto.conf (persistence, inflight/queue limits),
    // without TLS and passwords: a local test broker.
    const conf = path.join(this.dir, 'mosquitto.conf');
    fs.writeFileSync(conf, [
      `listener ${this.mqttPort} 127.0.0.1`,
      'allow_anonymous ' + (this.brokerAllowAnon === false ? 'false' : 'true'),
      'persistence false',
      'max_inflight_messages 64',
      'max_queued_messages 10000',
      ...(this.brokerExtra || []),
      '',
    ].join('\n'));
    this._spawn('mosquitto', MOSQUITTO, ['-c', conf]);
    await waitPort(this.mqttPort, 10000);
    return this.mqttPort;
  }

  async startPlant() {
    // plant.ini with a 3 s watchdog, as fleet.md "Tests" says its fleet tests run the
    // plant, so a loaded machine does not trip it.
    let plant = fs.readFileSync(path.join(CONFIGS, 'plant.ini'), 'utf8');
    plant = plant.replace(/^watchdog_ms\s*=.*$/m, 'watchdog_ms = 3000');
    this.plantIni = path.join(this.dir, 'plant.ini');
    fs.writeFileSync(this.plantIni, plant);
    this.simSock = path.join(this.dir, 'sim.sock');
    const pf = path.join(this.dir, 'sim.port');
    this._spawn('swapsim', path.join(BIN, 'swapsim'), ['--config', this.plantIni, '--port', '0', '--port-file', pf, '--control', this.simSock,
      '--battery-time-scale', String(TIME_SCALE)]);
    this.plantPort = +(await waitFile(pf, 10000));
    // a charged magazine, so the first drone is served at once (as configs/demo does)
    const truth = this.sim({ cmd: 'truth' });
    for (const b of (truth.batteries || [])) if (b.place === 'slot') this.sim({ cmd: 'set_battery', tag: b.tag, soc: 1.0 });
  }

  async startDrones(opts = {}) {
    const lf = path.join(this.dir, 'drone.link');
    const args = ['--link', 'pty:new', '--link-file', lf, '--swapsim-control', this.simSock,
      '--drones', String(opts.drones || 1), '--flight-s', String(opts.flightS || 4), '--return-s', '1',
      '--plant-config', this.plantIni];
    this._spawn('dronesim', path.join(BIN, 'dronesim'), args);
    this.pty = await waitFile(lf, 10000);
  }

  writeIni(fleet = {}) {
    const f = Object.assign({
      enabled: 'true', host: '127.0.0.1', port: this.mqttPort, group_id: this.group,
      edge_node_id: this.node, spool_path: path.join(this.dir, 'spool.db'),
      publish_period_ms: 100, backoff_min_ms: 100, backoff_max_ms: 1000, keepalive_s: 5,
    }, fleet);
    const lines = [
      '[eligibility]', 'min_rest_after_charge_s = 0',
      '[simulation]', 'time_scale = ' + TIME_SCALE,
      // a shared, loaded machine: generous link timeouts so the plant link holds
      '[plant_link]', 'timeout_ms = 1000',
      '[station]', 'comm_loss_ms = 3000', 'plant_echo_timeout_ms = 2500',
      '[fleet]',
    ];
    for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== null) lines.push(`${k} = ${v}`);
    this.ini = path.join(this.dir, 'swapd.ini');
    fs.writeFileSync(this.ini, lines.join('\n') + '\n');
  }

  startSwapd({ start = true } = {}) {
    const args = ['-c', this.ini, '-p', this.plantIni, '--db', path.join(this.dir, 'swapd.db'),
      '--control', path.join(this.dir, 'ctl.sock'), '--plant', '127.0.0.1:' + this.plantPort,
      '--link', this.pty ? 'pty:' + this.pty : 'udp:127.0.0.1:0'];
    if (start) args.push('--start');
    return this._spawn('swapd', path.join(BIN, 'swapd'), args);
  }

  swapctl(...a) {
    try {
      return execFileSync(path.join(BIN, 'swapctl'), ['--socket', path.join(this.dir, 'ctl.sock'), ...a], { encoding: 'utf8', timeout: 5000 });
    } catch (e) { return (e.stdout || '') + (e.stderr || ''); }
  }

  sim(req) {
    try {
      return JSON.parse(execFileSync(path.join(BIN, 'swapsim'), ['--control', this.simSock, '--send', JSON.stringify(req)], { encoding: 'utf8', timeout: 5000 }));
    } catch (e) { return { ok: false, error: String(e.stdout || e.message) }; }
  }

  async kill(role, sig = 'SIGTERM', waitMs = 8000) {
    const ch = this.procs[role];
    if (!ch || ch.exited) return;
    try { process.kill(ch.pid, sig); } catch (e) { return; }
    const end = Date.now() + waitMs;
    while (!ch.exited && Date.now() < end) await sleep(50);
    if (!ch.exited) { try { process.kill(ch.pid, 'SIGKILL'); } catch (e) { /* gone */ } while (!ch.exited) await sleep(50); }
  }

  alive(role) { const ch = this.procs[role]; return !!ch && !ch.exited; }

  async stopAll() {
    for (const role of ['dronesim', 'swapd', 'swapsim', 'mosquitto']) await this.kill(role, 'SIGTERM', 6000);
  }

  cleanup(keep) { if (!keep) fs.rmSync(this.dir, { recursive: true, force: true }); }
}

module.exports = { Station, sleep, freePort, CONFIGS };
