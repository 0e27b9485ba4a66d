'use strict';
// The conformance scenarios. Each names the section of docs/drone-protocol.md it checks
// (§N); every check records what the document requires and what the station did.
// Where the document is silent the scenario checks only what it states (see FINDINGS.md).

const D = require('./drone');
const { waitFor, sleep } = require('./harness');
const { CMD, RESULT, REASON, PACKML_CODE, decodeCustomMode } = D;

const scenarios = [];
function S(name, sec, title, fn, opts = {}) { scenarios.push({ name, sec, title, fn, opts }); }

// ---------------------------------------------------------------- shared helpers
const fmt = (x) => JSON.stringify(x);
const acksTo = (h, d, cmd) => h.toDrone(d.sysid, 'COMMAND_ACK', cmd);
const cmdsTo = (h, d, cmd) => h.toDrone(d.sysid, 'COMMAND_LONG', cmd);
const ackStr = (f) => `ACK(cmd ${f.data.command}, result ${f.data.result}, progress ${f.data.progress}, param2 ${f.data.resultParam2}, conf→${f.data.targetSystem}/${f.data.targetComponent})`;
const p4 = (f) => [f.data._param1, f.data._param2, f.data._param3, f.data._param4];
const rel = (h, t) => (t == null ? '-' : `${((t - h.t0) / 1000).toFixed(2)}s`);

/** Wait until the drone reaches one of the states; bounded. */
function reach(d, states, ms) { const set = [].concat(states); return waitFor(() => set.includes(d.state), ms, 20); }

/** §1 and §3: who the station says it is, and its heartbeat rate. */
function checkStationHeartbeat(h, t1 = 0, t2 = Date.now()) {
  const hbs = h.heartbeats(t1).filter((f) => f.t <= t2);
  const bad = hbs.filter((f) => f.compid !== 25 || f.data.type !== 31 || f.data.autopilot !== 8);
  h.check(hbs.length > 0 && bad.length === 0, '§1',
    'station HEARTBEAT from system 200 component 25, type 31 CHARGING_STATION, autopilot 8 INVALID',
    hbs.length ? `${hbs.length} heartbeats; e.g. sys ${hbs[0].sysid} comp ${hbs[0].compid} type ${hbs[0].data.type} autopilot ${hbs[0].data.autopilot}; ${bad.length} differ` : 'no heartbeat');
  const gaps = []; for (let i = 1; i < hbs.length; i++) gaps.push(hbs[i].t - hbs[i - 1].t);
  const badGaps = gaps.filter((g) => g < 600 || g > 1500);
  h.check(gaps.length >= 2 && badGaps.length === 0, '§3', 'station HEARTBEAT at 1 Hz (gaps 0.6..1.5 s tolerated)',
    `gaps ms: min ${Math.min(...gaps)}, max ${Math.max(...gaps)}, ${badGaps.length} outside`);
}

/** §5: every reply addressed back to the sender's system and component. */
function checkAcksAddressed(h, d) {
  const acks = acksTo(h, d);
  const bad = acks.filter((f) => f.data.targetComponent !== d.compid);
  h.check(acks.length > 0 && bad.length === 0, '§5', `every COMMAND_ACK to drone ${d.sysid} has target_system ${d.sysid}, target_component ${d.compid}`,
    `${acks.length} acks, ${bad.length} with another component (${bad.slice(0, 2).map(ackStr).join(', ')})`);
}

/** §4: the drone found no out-of-range parameter in what the station sent. */
function checkNoViolations(h, d) {
  h.check(d.violations.length === 0, '§4', 'station commands carry parameters within the ranges of §4',
    d.violations.length ? d.violations.map((v) => `${v.sec}: ${v.text}`).join('; ') : 'all in range');
}

/**
 * Wait for one complete swap of drone d (request already sent): clearance, touchdown,
 * swap, CLEARED_TAKEOFF, lift-off. Returns true if it got airborne again.
 */
async function awaitSwap(h, d, ms = 40000) {
  const ok = await waitFor(() => d.liftOff || d.state === 'diverted', ms, 50);
  return !!(ok && d.liftOff);
}

/** The checks of a complete normal swap (§7, §4, §5, §8). */
function checkSwapDetails(h, d, oldTag, full = true) {
  // full = false: scenarios about another rule leave out the two handshake details checked by
  // normal_swap, hot_swap and progress_and_takeoff_params (ACCEPTED before the clearance, the tag
  // in CLEARED_TAKEOFF), so that their verdict is about their own rule.
  const acks = acksTo(h, d, CMD.SWAP_REQUEST);
  const clr = cmdsTo(h, d, CMD.CLEARED_TO_LAND);
  const acc = acks.find((f) => f.data.result === RESULT.ACCEPTED);
  if (full) h.check(acc && clr.length && acc.t <= clr[0].t, '§5/§7', 'ACK ACCEPTED to the swap request, then CLEARED_TO_LAND',
    `acks: ${acks.map((f) => `${ackStr(f)}@${rel(h, f.t)}`).join(', ')}; first CLEARED_TO_LAND @${rel(h, clr[0]?.t)}`);
  if (clr.length) {
    const bad = D.Drone.checkParams(clr[0].data);
    h.check(bad.length === 0, '§4 CLEARED_TO_LAND', 'pad 1..255, clearance id 0..65535, window 1..3600 s', `params ${fmt(p4(clr[0]))} ${bad.join('; ')}`);
  }
  // §8: retransmitted until acked — after our ack no further transmissions
  const ackT = d.log.find((e) => e.dir === 'tx' && e.name === 'COMMAND_ACK' && e.data.command === CMD.CLEARED_TO_LAND && e.data.result === 0)?.t;
  const lateClr = clr.filter((f) => ackT && f.t > ackT + 700);
  h.check(ackT && lateClr.length === 0, '§8', 'no CLEARED_TO_LAND retransmission after the drone acked it',
    `${clr.length} transmissions, ${lateClr.length} more than 0.7 s after our ack`);
  // SWAP_PROGRESS (§4, §7)
  const prog = cmdsTo(h, d, CMD.SWAP_PROGRESS);
  h.check(prog.length > 0, '§7', 'SWAP_PROGRESS while the drone is on the pad', `${prog.length} SWAP_PROGRESS frames: ${prog.slice(0, 6).map((f) => fmt(p4(f))).join(' ')}`);
  const badProg = prog.filter((f) => D.Drone.checkParams(f.data).length);
  h.check(badProg.length === 0, '§4 SWAP_PROGRESS', 'step 0..255 ≤ steps (when known), steps 0..255, time on pad 0..86400, eta 0..86400 or -1',
    badProg.length ? badProg.slice(0, 3).map((f) => `${fmt(p4(f))}: ${D.Drone.checkParams(f.data).join('; ')}`).join(' | ') : `${prog.length} in range`);
  // CLEARED_TAKEOFF (§4, §7)
  const to = cmdsTo(h, d, CMD.CLEARED_TAKEOFF);
  const newTag = d.pack ? d.pack.tag >>> 0 : null;
  if (to.length) {
    const p = p4(to[0]);
    const tag = ((p[2] << 16) | p[1]) >>> 0;
    if (full) h.check(p[0] === 0 && tag === newTag && p[3] >= 1 && p[3] <= 3600, '§4 CLEARED_TAKEOFF',
      `outcome 0 (swapped), tag low/high = new pack ${D.tagSerial(newTag || 0)}, window 1..3600 s`,
      `params ${fmt(p)} → tag ${D.tagSerial(tag)}; old pack ${D.tagSerial(oldTag || 0)}`);
    const sbi = d.log.find((e) => e.dir === 'tx' && e.name === 'SMART_BATTERY_INFO' && e.t >= (d.stateSince('wait_takeoff') || Infinity));
    h.check(sbi && sbi.t <= to[0].t, '§7', 'CLEARED_TAKEOFF only after the power-up check (SMART_BATTERY_INFO of the new pack)',
      `SMART_BATTERY_INFO sent @${rel(h, sbi?.t)}, CLEARED_TAKEOFF @${rel(h, to[0].t)}`);
    h.check(d.liftOff && d.liftOff.attempts === 1, '§7', 'CLEARED_TAKEOFF after unclamp + centre open (the drone can leave at once)',
      d.takeoffBlocked ? `swapsim refused the take-off: ${d.takeoffBlocked.error}` : 'drone left at the first attempt');
    const toAckT = d.log.find((e) => e.dir === 'tx' && e.name === 'COMMAND_ACK' && e.data.command === CMD.CLEARED_TAKEOFF)?.t;
    const lateTo = to.filter((f) => toAckT && f.t > toAckT + 700);
    h.check(lateTo.length === 0, '§8', 'no CLEARED_TAKEOFF retransmission after the drone acked it', `${to.length} transmissions, ${lateTo.length} after our ack`);
  } else {
    h.check(false, '§7', 'CLEARED_TAKEOFF after the swap', 'none received');
  }
}

// ---------------------------------------------------------------- §7 the normal swap
S('normal_swap', '§7', 'one drone, cold swap, the whole handshake', async (h) => {
  const d = h.drone({ sysid: 10, stationSysid: null }); // §1: follows the first CHARGING_STATION heartbeat
  const oldTag = d.pack.tag;
  const tReq = Date.now();
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const first = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(first && first.t - tReq < 1000 && first.data.result === RESULT.IN_PROGRESS && first.data.progress === 1, '§5',
    'the swap request is answered at once: queued (IN_PROGRESS) with position 1 (= next, empty queue)',
    first ? `${ackStr(first)} after ${first.t - tReq} ms` : 'no ack within 3 s');
  await sleep(400);
  const reqTx = d.log.filter((e) => e.dir === 'tx' && e.name === 'COMMAND_LONG' && e.data.command === CMD.SWAP_REQUEST).length;
  const early = acksTo(h, d, CMD.SWAP_REQUEST).filter((f) => first && f.t <= first.t + 300 && f.data.result === first.data.result);
  h.check(first && reqTx === 1 && early.length === 1, '§5', 'exactly one ack answers the (single) request',
    `${reqTx} request transmission(s); ${early.length} identical acks within 0.3 s: ${early.map((f) => `${ackStr(f)}@${rel(h, f.t)}`).join(', ')}`);
  const ok = await awaitSwap(h, d);
  h.check(ok, '§7', 'the drone is cleared, swapped and cleared for take-off', `drone state ${d.state}; states ${d.stateLog.map((s) => s.state).join('>')}`);
  checkSwapDetails(h, d, oldTag);
  const clr0 = cmdsTo(h, d, CMD.CLEARED_TO_LAND)[0];
  h.check(clr0 && clr0.data._param3 === 120, '§4 CLEARED_TO_LAND', 'window param3 = [pad] landing_timeout_ms (shipped 120000 ms) = 120 s', clr0 ? `param3 ${clr0.data._param3}` : 'no clearance');
  const prog = cmdsTo(h, d, CMD.SWAP_PROGRESS);
  h.check(prog.length && prog.every((f) => f.data._param2 === 0 || f.data._param2 === 12) && prog.every((f) => f.data._param1 >= 1 || f.data._param2 === 0), '§4 SWAP_PROGRESS',
    'param2 = steps on the pad (12 in the pipelined chain, or 0 unknown); param1 counts from 1 after touchdown', prog.slice(0, 14).map((f) => fmt(p4(f))).join(' '));
  h.note('drone tx SWAP_REQUEST: ' + d.log.filter((e) => e.dir === 'tx' && e.name === 'COMMAND_LONG').map((e) => `${e.data.command}/c${e.data.confirmation}@${rel(h, e.t)}`).join(' '));
  h.note('progress: ' + (d.progress || []).map((p) => `${fmt(p.p)}c${p.confirmation}@${rel(h, p.t)}`).join(' '));
  checkAcksAddressed(h, d);
  checkNoViolations(h, d);
  checkStationHeartbeat(h);
}, { timeoutMs: 50000 });

// ---------------------------------------------------------------- more helpers
/** §3: expected system_status for a heartbeat's own custom_mode. */
function expectedSystemStatus(c) {
  // revised §3: CRITICAL in Held or Aborted or whenever the alarm flag is set, else ACTIVE in Execute, STANDBY otherwise
  if (c.state === PACKML_CODE.Held || c.state === PACKML_CODE.Aborted || c.alarm) return [5];
  return c.state === PACKML_CODE.Execute ? [4] : [3];
}
/** §3: every heartbeat in [t1,t2]: system_status consistent with its state / alarm flag, and
 * its PackML state equal to what the control socket reported around that time. */
function checkHeartbeatConsistency(h, t1 = 0, t2 = Date.now(), label = '') {
  const hbs = h.heartbeats(t1).filter((f) => f.t <= t2);
  const badSs = []; const badState = []; const badMode = [];
  for (const f of hbs) {
    const c = decodeCustomMode(f.data.customMode);
    if (!expectedSystemStatus(c).includes(f.data.systemStatus)) badSs.push(`${c.stateName}${c.alarm ? '+alarm' : ''}→${f.data.systemStatus}`);
    const near = h.statusLog.filter((s) => s.t >= f.t - 1500 && s.t <= f.t + 500);
    if (near.length && !near.some((s) => PACKML_CODE[s.state] === c.state)) badState.push(`hb ${c.stateName} vs status ${[...new Set(near.map((s) => s.state))].join('/')}`);
    const modeCode = { production: 1, maintenance: 2, manual: 3 };
    if (near.length && !near.some((s) => modeCode[s.mode] === c.unitMode)) badMode.push(`hb mode ${c.unitMode} vs ${near[0].mode}`);
  }
  h.check(hbs.length && !badSs.length, '§3', `${label}system_status CRITICAL(5) in Held/Aborted or whenever the alarm flag is set, else ACTIVE(4) in Execute, STANDBY(3)`,
    `${hbs.length} heartbeats; ${badSs.length} inconsistent ${[...new Set(badSs)].slice(0, 4).join(', ')}`);
  h.check(hbs.length && !badState.length, '§3', `${label}custom_mode bits 0-7 = PackML state (as the control socket reports it)`,
    `${hbs.length} heartbeats; ${badState.length} differ ${[...new Set(badState)].slice(0, 4).join(', ')}`);
  h.check(hbs.length && !badMode.length, '§3', `${label}custom_mode bits 8-15 = unit mode (1 Production)`,
    `${hbs.length} heartbeats; ${badMode.length} differ ${[...new Set(badMode)].slice(0, 3).join(', ')}`);
}
async function ctlQueue(h) { const r = await h.ctl.req('drones'); return r.ok ? r.result : null; }
/** Start drone A and wait until it is cleared to land; with noLand it then hovers and keeps the pad. */
async function hoverCleared(h, o = {}) {
  const a = h.drone({ sysid: 10, ...o, misbehave: { noLand: true, ...(o.misbehave || {}) } });
  a.requestSwap();
  const ok = await reach(a, 'landing', 8000);
  if (!ok) throw new Error(`drone ${a.sysid} was not cleared to land within 8 s (state ${a.state}; acks ${acksTo(h, a).map(ackStr).join(', ')})`);
  return a;
}
async function queued(h, o) {
  const b = h.drone(o);
  b.requestSwap();
  await reach(b, ['queued', 'landing', 'flying', 'diverted'], 4000);
  return b;
}
const lastAck = (h, d, cmd = CMD.SWAP_REQUEST) => { const a = acksTo(h, d, cmd); return a[a.length - 1]; };

// ---------------------------------------------------------------- §8 duplicates
S('request_retransmission', '§8', 'lost ack: the request is retransmitted (confirmation 1, 2); the station acks each the same and queues once', async (h) => {
  await hoverCleared(h);
  // every ack in the first 1.2 s is lost: transmissions at 0, 0.5 and 1.5 s (confirmation 0, 1, 2)
  const b = h.drone({ sysid: 11, misbehave: { ignoreAcksMs: { [CMD.SWAP_REQUEST]: 1200 } } });
  b.requestSwap();
  await reach(b, 'queued', 6000);
  await waitFor(() => acksTo(h, b, CMD.SWAP_REQUEST).length >= 3, 1000);
  const tx = b.log.filter((e) => e.dir === 'tx' && e.name === 'COMMAND_LONG' && e.data.command === CMD.SWAP_REQUEST);
  const acks = acksTo(h, b, CMD.SWAP_REQUEST);
  h.check(tx.length >= 3 && acks.length >= tx.length && tx.every((e) => acks.some((f) => f.t > e.t)), '§5/§8', 'each transmission of the request (confirmation 0, 1, 2) is answered',
    `${tx.length} transmissions (confirmation ${tx.map((e) => e.data.confirmation).join(',')}), ${acks.length} acks`);
  const first = acks[0];
  const same = acks.every((f) => f.data.result === first.data.result && f.data.progress === first.data.progress);
  h.check(first && same, '§8', 'a repeat is acked again with the same result (same queue position) and nothing else',
    acks.map(ackStr).join(', '));
  const q = await ctlQueue(h);
  const n = q ? q.queue.filter((x) => x === 11).length : -1;
  h.check(n === 1, '§8', 'the duplicate does not queue the drone twice', `control socket queue ${fmt(q && q.queue)}`);
  const hb = await freshHeartbeat(h);
  // revised §3: the drone cleared to land (10, hovering) is not counted
  h.check(hb && decodeCustomMode(hb.data.customMode).queueLen === 1, '§3/§8', 'heartbeat queue length unchanged by the duplicates: 1 (drone 11; the cleared drone 10 not counted)',
    `queue length ${hb && decodeCustomMode(hb.data.customMode).queueLen}`);
  h.check(first && first.data.progress === 1, '§5/§9', 'drone 11 is at position 1 (the cleared drone is not in the queue)', first ? ackStr(first) : 'no ack');
  h.check(hb && !decodeCustomMode(hb.data.customMode).padOccupied, '§3', 'pad occupied flag clear while the cleared drone has not touched down', hb ? fmt(decodeCustomMode(hb.data.customMode)) : 'no heartbeat');
}, { timeoutMs: 30000 });

S('request_sent_twice', '§8', 'the same request sent twice as a fresh request (confirmation 0 both times)', async (h) => {
  await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  const before = lastAck(h, b);
  const nb = acksTo(h, b, CMD.SWAP_REQUEST).length;
  b.requestSwap(); // the retry schedule restarts: confirmation 0 again (§8 link-loss row)
  await waitFor(() => acksTo(h, b, CMD.SWAP_REQUEST).length > nb, 3000);
  const after = lastAck(h, b);
  h.check(after && after !== before && after.data.result === before.data.result && after.data.progress === before.data.progress, '§8',
    'the repeated request is acked with the same result and position',
    `before ${before && ackStr(before)}, after ${after && ackStr(after)}`);
  const q = await ctlQueue(h);
  h.check(q && q.queue.filter((x) => x === 11).length === 1 && q.queue.indexOf(11) < q.queue.indexOf(12), '§8/§9', 'drone 11 queued once, still ahead of drone 12',
    `queue ${fmt(q && q.queue)}`);
  const cAcks = acksTo(h, c, CMD.SWAP_REQUEST);
  h.check(cAcks.every((f) => f.data.progress === cAcks[0].data.progress), '§5', 'drone 12 keeps its position (nothing changed)', cAcks.map(ackStr).join(', '));
}, { timeoutMs: 30000 });

S('clearance_ack_lost', '§8', 'the first ack of CLEARED_TO_LAND is lost: the station retransmits; the drone re-acks the duplicate', async (h) => {
  const d = h.drone({ sysid: 10, misbehave: { dropAcks: { [CMD.CLEARED_TO_LAND]: 1 } } });
  const oldTag = d.pack.tag;
  d.requestSwap();
  await waitFor(() => cmdsTo(h, d, CMD.CLEARED_TO_LAND).length >= 2, 8000);
  const clr = cmdsTo(h, d, CMD.CLEARED_TO_LAND);
  const gap = clr.length >= 2 ? clr[1].t - clr[0].t : null;
  h.check(clr.length >= 2 && gap >= 300 && gap <= 800 && clr[1].data.confirmation === clr[0].data.confirmation + 1, '§8',
    'retransmitted 500 ms later with confirmation incremented',
    `${clr.length} transmissions; gap ${gap} ms; confirmation ${clr.map((f) => f.data.confirmation).join(',')}`);
  h.check(clr.length >= 2 && fmt(p4(clr[0])) === fmt(p4(clr[1])), '§8', 'the retransmission is the same clearance', clr.slice(0, 2).map((f) => fmt(p4(f))).join(' vs '));
  const ok = await awaitSwap(h, d);
  h.check(ok, '§8', 'the swap goes on normally after the duplicate was acked', `state ${d.state}`);
  const later = clr.length ? cmdsTo(h, d, CMD.CLEARED_TO_LAND).filter((f) => f.t > clr[1].t + 700).length : 0;
  h.check(later === 0, '§8', 'no further CLEARED_TO_LAND after the ack of the duplicate', `${later} later transmissions`);
  checkSwapDetails(h, d, oldTag, false);
}, { timeoutMs: 50000 });

S('takeoff_ack_lost', '§8', 'the first ack of CLEARED_TAKEOFF is lost: the drone leaves, the station retransmits, the drone in the air acks it', async (h) => {
  const d = h.drone({ sysid: 10, misbehave: { dropAcks: { [CMD.CLEARED_TAKEOFF]: 1 } } });
  d.requestSwap();
  await waitFor(() => cmdsTo(h, d, CMD.CLEARED_TAKEOFF).length >= 2, 40000);
  const to = cmdsTo(h, d, CMD.CLEARED_TAKEOFF);
  const gap = to.length >= 2 ? to[1].t - to[0].t : null;
  h.check(to.length >= 2 && gap >= 300 && gap <= 800 && to[1].data.confirmation === to[0].data.confirmation + 1, '§8',
    'CLEARED_TAKEOFF retransmitted after 500 ms with confirmation incremented', `${to.length} transmissions, gap ${gap} ms, confirmation ${to.map((f) => f.data.confirmation).join(',')}`);
  await sleep(3000); // observation window: the station must stop and stay calm
  const n = cmdsTo(h, d, CMD.CLEARED_TAKEOFF).length;
  h.check(n === 2, '§8', 'after the ack of the repeat, no more retransmissions', `${n} transmissions in total`);
  const st = h.lastStatus();
  h.check(st && st.alarms_active === 0 && ['Execute', 'Suspended', 'Suspending'].includes(st.state), '§8', 'a lost ack is no error: the station keeps running, no alarm',
    `state ${st && st.state}, alarms ${st && st.alarms_active}`);
}, { timeoutMs: 55000 });

// ---------------------------------------------------------------- §8 the clearance never acked
S('clearance_never_acked', '§8', 'a cleared drone never acks: 6 transmissions, CANCEL timeout, the next drone is served', async (h) => {
  const a = h.drone({ sysid: 10, misbehave: { dropAcks: { [CMD.CLEARED_TO_LAND]: Infinity }, noActOnUnacked: true } });
  a.requestSwap();
  await reach(a, 'queued', 4000);
  const b = await queued(h, { sysid: 11 });
  const bound = 0.5 + 1 + 2 + 4 + 4 + 4 + 3; // six transmissions, then give up at the next retry slot, + 3 s margin
  await waitFor(() => cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, bound * 1000 + 2000);
  const clr = cmdsTo(h, a, CMD.CLEARED_TO_LAND);
  const gaps = clr.slice(1).map((f, i) => f.t - clr[i].t);
  h.check(clr.length === 6, '§8', 'exactly DPROTO_CLEARANCE_ATTEMPTS (6) transmissions of the clearance', `${clr.length} transmissions`);
  const want = [500, 1000, 2000, 4000, 4000];
  const badGap = gaps.filter((g, i) => Math.abs(g - (want[i] ?? 4000)) > 400);
  h.check(gaps.length && badGap.length === 0, '§8', 'retransmitted after 500 ms, 1 s, 2 s, 4 s, then every 4 s', `gaps ms ${gaps.join(', ')}`);
  h.check(clr.every((f, i) => f.data.confirmation === i), '§4/§8', 'confirmation counts the retransmissions 0,1,2,...', clr.map((f) => f.data.confirmation).join(','));
  const cancel = cmdsTo(h, a, CMD.CANCEL)[0];
  h.check(cancel && cancel.data._param1 === REASON.timeout, '§8', 'the station cancels the clearance with reason timeout (10)',
    cancel ? `CANCEL reason ${cancel.data._param1} @${rel(h, cancel.t)}` : 'no CANCEL to drone 10');
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0];
  const bAcc = acksTo(h, b, CMD.SWAP_REQUEST).find((f) => f.data.result === RESULT.ACCEPTED);
  h.check(bc && clr.length && bc.t - clr[0].t <= bound * 1000, '§8', `the next drone is served (cleared) within ${bound} s of the first clearance`,
    bc ? `drone 11 cleared ${((bc.t - clr[0].t) / 1000).toFixed(1)} s after drone 10's first clearance; ACCEPTED ack ${bAcc ? 'yes' : 'no'}` : 'drone 11 never cleared');
}, { timeoutMs: 40000 });

S('cleared_never_lands', '§4/§6', 'a cleared drone acks but never touches down: the clearance lapses after its window', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const clr = cmdsTo(h, a, CMD.CLEARED_TO_LAND)[0];
  const win = clr.data._param3;
  h.check(win === 8, '§4 CLEARED_TO_LAND', 'window param3 = [pad] landing_timeout_ms (8000 ms in this run) = 8 s', `param3 ${win}`);
  const limit = Math.min(win + 4, 40);
  await waitFor(() => cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, limit * 1000);
  if (cmdsTo(h, b, CMD.CLEARED_TO_LAND).length) await waitFor(() => cmdsTo(h, a, CMD.CANCEL).length, 2500); // a late CANCEL still counts
  const cancel = cmdsTo(h, a, CMD.CANCEL)[0];
  const ct = cancel ? (cancel.t - clr.t) / 1000 : null;
  h.check(cancel && cancel.data._param1 === REASON.timeout && ct >= win - 1 && ct <= win + 3, '§4 CLEARED_TO_LAND/§6',
    `the clearance lapses after its window (${win} s): CANCEL reason timeout (10) about ${win} s after the clearance`,
    cancel ? `CANCEL reason ${cancel.data._param1} after ${ct.toFixed(1)} s` : `no CANCEL to drone 10 (observed ${((Date.now() - clr.t) / 1000).toFixed(1)} s after its clearance)`);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0];
  h.check(bc && (bc.t - clr.t) / 1000 <= win + 5, '§8/§9', 'the queue does not jam: the next drone is cleared once the clearance lapsed',
    bc ? `drone 11 cleared ${((bc.t - clr.t) / 1000).toFixed(1)} s after drone 10's clearance` : `drone 11 not cleared within ${limit} s`);
  h.check(bc && cancel && cancel.t <= bc.t, '§9/§4', 'one drone at a time: drone 10\'s clearance is withdrawn (CANCEL) before drone 11 is cleared',
    `CANCEL to 10 @${rel(h, cancel?.t)}, clearance to 11 @${rel(h, bc?.t)}`);
  h.check(!bc || (bc.t - clr.t) / 1000 >= win - 1, '§4 CLEARED_TO_LAND', `drone 10 may touch down for its whole window (${win} s): the pad is not given away earlier`,
    bc ? `pad given to drone 11 after ${((bc.t - clr.t) / 1000).toFixed(1)} s` : 'not given away');
}, { ini: { pad: { landing_timeout_ms: 8000 } }, timeoutMs: 55000 });

// ---------------------------------------------------------------- §8 silence in every phase
S('silent_queued', '§8', 'a queued drone falls silent: it loses its place after 5 s (not much earlier)', async (h) => {
  await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  const lastTx = () => { const e = b.log.filter((x) => x.dir === 'tx' && x.name === 'HEARTBEAT'); return e[e.length - 1].t; };
  await waitFor(() => Date.now() - lastTx() < 100, 1500, 10); // go silent right after a heartbeat
  b.misbehave.silent = true;
  const t0 = lastTx();
  await waitFor(() => Date.now() >= t0 + 3500, 4000, 50);
  const q1 = await ctlQueue(h);
  h.check(q1 && q1.queue.includes(11), '§8', 'still queued 3.5 s after its last heartbeat (it loses its place at 5 s)', `queue ${fmt(q1 && q1.queue)}`);
  const gone = await waitFor(async () => { const q = await ctlQueue(h); return q && !q.queue.includes(11); }, 4500, 200);
  h.check(gone, '§8', 'a queued drone silent for 5 s loses its place (checked until 8 s)',
    `queue ${fmt((await ctlQueue(h))?.queue)} at ${((Date.now() - t0) / 1000).toFixed(1)} s after its last heartbeat`);
  await sleep(1200);
  const cAcks = acksTo(h, c, CMD.SWAP_REQUEST);
  const cl = cAcks[cAcks.length - 1];
  h.check(cAcks[0] && cAcks[0].data.progress === 2 && cl && cl.data.result === RESULT.IN_PROGRESS && cl.data.progress === 1, '§5/§8', 'drone 12 (position 2) moved up and got a fresh IN_PROGRESS ack with position 1',
    cAcks.map(ackStr).join(', '));
  const cn = cmdsTo(h, b, CMD.CANCEL)[0];
  h.check(cn && cn.data._param1 === REASON.timeout, '§8', 'the silent queued drone is sent CANCEL reason timeout (10)', cn ? `CANCEL reason ${cn.data._param1} ${((cn.t - t0) / 1000).toFixed(1)} s after its last heartbeat` : 'no CANCEL to drone 11');
  const hb = h.lastHeartbeat();
  h.check(hb && decodeCustomMode(hb.data.customMode).queueLen === 1, '§3', 'heartbeat queue length 1 (drone 12; the cleared drone 10 not counted)', `queue length ${hb && decodeCustomMode(hb.data.customMode).queueLen}`);
}, { timeoutMs: 35000 });

S('silent_cleared', '§8', 'a cleared drone acks and then falls silent before touching down: CANCEL timeout after 5 s unheard, the next drone is cleared', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const lastTx = () => { const e = a.log.filter((x) => x.dir === 'tx'); return e[e.length - 1].t; };
  a.misbehave.silent = true; // hears and says nothing (a CANCEL to it is logged by the harness, not acked)
  const t0 = lastTx();
  const clr = cmdsTo(h, a, CMD.CLEARED_TO_LAND)[0];
  const win = clr.data._param3;
  h.note(`clearance window ${win} s (shipped landing_timeout_ms 120000): the 5 s silence rule is what must end it`);
  await waitFor(() => cmdsTo(h, a, CMD.CANCEL).length && cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, 12000);
  const cancel = cmdsTo(h, a, CMD.CANCEL)[0];
  const ct = cancel ? (cancel.t - t0) / 1000 : null;
  h.check(cancel && cancel.data._param1 === REASON.timeout && ct >= 4.5 && ct <= 7, '§8/§4', 'acked, but unheard for 5 s before touchdown: the clearance is cancelled with reason timeout (10) about 5 s after its last frame',
    cancel ? `CANCEL reason ${cancel.data._param1} ${ct.toFixed(1)} s after its last frame` : `no CANCEL within ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0];
  h.check(bc && cancel && cancel.t <= bc.t && bc.t - cancel.t <= 3000, '§8/§9', 'the pad is free at once: the next drone is cleared after the CANCEL (within 3 s)',
    `CANCEL to 10 @${rel(h, cancel?.t)}, clearance to 11 @${rel(h, bc?.t)}`);
  const n = cmdsTo(h, a, CMD.CANCEL).length;
  await sleep(1500);
  h.check(cmdsTo(h, a, CMD.CANCEL).length >= 2 || n >= 2, '§8', 'the CANCEL is retried like a clearance while unacked (the drone stays silent)', `${cmdsTo(h, a, CMD.CANCEL).length} CANCEL transmissions, confirmation ${cmdsTo(h, a, CMD.CANCEL).map((f) => f.data.confirmation).join(',')}`);
}, { timeoutMs: 30000 });

/** Track drone heartbeats (tx) and the robot's pad-zone entries (swapsim truth). */
function padZoneEntriesWhileStale(h, d) {
  const hbs = d.log.filter((e) => e.dir === 'tx' && e.name === 'HEARTBEAT').map((e) => e.t);
  const bad = [];
  for (let i = 1; i < h.truthLog.length; i++) {
    const p = h.truthLog[i - 1]; const c = h.truthLog[i];
    if (!p.head_in_pad_zone && c.head_in_pad_zone) {
      const last = hbs.filter((t) => t <= c.t).pop();
      const age = last ? c.t - last : Infinity;
      // the entry happened between p.t and c.t: stale if even at p.t the heartbeat was older than the staleness limit (§8)
      const ageAtPrev = last ? p.t - last : Infinity;
      if (ageAtPrev > D.HEARTBEAT_STALE_MS) bad.push(`entry @${rel(h, c.t)} heartbeat age ${age} ms`);
    }
  }
  return bad;
}

S('silent_on_pad_before_pull', '§8', 'the drone falls silent on the pad at touchdown (before the pull): stale = armed, the robot stays out', async (h) => {
  h.truthPolling = true;
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  // silent from touchdown, before it has reported 'disarmed' (so the station has no fresh disarmed)
  if (!await reach(d, 'landed', 12000)) throw new Error(`drone not on the pad: ${d.state}`);
  d.misbehave.silent = true;
  const ts = Date.now();
  await sleep(9000); // observation window: silent for 9 s
  d.misbehave.silent = false;
  const bad = padZoneEntriesWhileStale(h, d);
  const entries = h.truthLog.filter((t, i) => i && !h.truthLog[i - 1].head_in_pad_zone && t.head_in_pad_zone).map((t) => rel(h, t.t));
  h.check(bad.length === 0, '§8', 'a drone heartbeat older than 3 s counts as armed: the robot does not enter the pad zone',
    `silent from ${rel(h, ts)} for 9 s; pad-zone entries ${entries.join(', ') || 'none'}; while stale: ${bad.join(', ') || 'none'}`);
  const ok = await awaitSwap(h, d, 30000);
  const al = await h.ctl.req('alarms');
  h.note(`after the drone spoke again: ${ok ? 'the swap completed' : `no take-off clearance (state ${d.state}, station ${h.lastStatus()?.state})`}; alarms ${fmt(al.ok && al.result.alarms.map((x) => `${x.code}: ${x.text}`))} — the document does not say what happens next`);
}, { timeoutMs: 55000 });

S('silent_after_pull', '§8', 'cold swap, dark from the pull until 2.2 s after the new pack latched: expected, not an error', async (h) => {
  // boot 2.2 s: longer than dronesim's 1.5 s but inside boot_s (1.5) x margin (1.5) + extra_ms (0.3 s)
  const d = h.drone({ sysid: 10, bootMs: 2200 });
  const oldTag = d.pack.tag;
  d.requestSwap();
  if (!await reach(d, 'bay_empty', 20000)) throw new Error(`pack never pulled: ${d.state}`);
  const t1 = Date.now();
  const ok = await awaitSwap(h, d, 30000);
  const states = [...new Set(h.statesBetween(t1, Date.now()))];
  const alarms = h.statusLog.filter((s) => s.t >= t1 && s.alarms_active > 0).length;
  h.check(alarms === 0 && !states.some((s) => ['Held', 'Holding', 'Aborted', 'Aborting', 'Stopped', 'Stopping'].includes(s)), '§8',
    'drone silent after its pack was pulled: expected, not an error (no alarm, no hold or stop)', `states ${states.join(',')}; status samples with alarms: ${alarms}`);
  const al = await h.ctl.req('alarms');
  h.check(ok, '§7', 'the swap completes once the drone has booted', `state ${d.state}; alarms ${fmt(al.ok && al.result.alarms.map((x) => `${x.code}: ${x.text}`))}`);
  if (ok) checkSwapDetails(h, d, oldTag, false);
}, { timeoutMs: 50000 });

// ---------------------------------------------------------------- §8 re-arming on the pad
S('rearm_on_pad', '§8', 'the drone reports armed while clamped: controlled stop into Held with drone_armed, clamped, nothing sent, no resume; reset + unhold finishes the swap', async (h) => {
  h.truthPolling = true;
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  const clamped = await waitFor(() => { const t = h.truthLog[h.truthLog.length - 1]; return t && t.drone_clamped && d.state === 'disarmed'; }, 15000, 20);
  if (!clamped) throw new Error(`drone never clamped while disarmed (state ${d.state})`);
  const tArm = Date.now();
  d.misbehave.rearm = true; d._telemetry(); // reports armed at once
  await sleep(3000);
  d.misbehave.rearm = false; d._telemetry();
  const tOff = Date.now();
  const stopped = h.statesBetween(tArm, tOff);
  h.check(stopped.includes('Held') && !stopped.some((s) => ['Aborting', 'Aborted', 'Stopping', 'Stopped'].includes(s)), '§8',
    'controlled stop: the station goes Holding -> Held (not an abort, not a stop)', `states in the 3 s after arming: ${[...new Set(stopped)].join(',')}`);
  const al = await h.ctl.req('alarms');
  const alarmHb = h.heartbeats(tArm).some((f) => decodeCustomMode(f.data.customMode).alarm);
  h.check(al.ok && al.result.alarms.some((a) => a.code === 'drone_armed') && alarmHb, '§8/§3', 'alarm drone_armed (control socket) and the heartbeat alarm flag 0x08',
    `alarms ${fmt(al.ok ? al.result.alarms.map((a) => a.code) : al)}, heartbeat alarm flag ${alarmHb}`);
  const motion = h.truthLog.filter((t) => t.t > tArm + 1500 && t.t <= tOff && (Math.abs(t.x_vel_mm_s) > 1 || Math.abs(t.z_vel_mm_s) > 1)).length;
  h.check(motion === 0, '§8', 'the robot stops (no axis motion 1.5 s after the arming)', `${motion} truth samples with axis motion`);
  await sleep(5000); // observation window: no automatic resume
  const tObs = Date.now();
  const after = [...new Set(h.statesBetween(tOff, tObs))];
  h.check(after.length && after.every((s) => s === 'Held'), '§8', 'no automatic resume after the drone disarms again (stays Held, 5 s observed)', `states ${after.join(',')}`);
  const unclamped = h.truthLog.filter((t) => t.t >= tArm && t.t <= tObs && !t.drone_clamped).length;
  h.check(unclamped === 0, '§8', 'the drone is kept clamped', `${unclamped} truth samples unclamped`);
  const sent = h.stationFrames.filter((f) => f.name === 'COMMAND_LONG' && f.data.targetSystem === 10 && f.t > tArm + 300 && f.t <= tObs);
  h.check(sent.length === 0, '§8', 'the station sends the drone nothing while held (no CANCEL, no CLEARED_TAKEOFF, no progress)',
    sent.length ? sent.map((f) => `cmd ${f.data.command} ${fmt(p4(f))}@${rel(h, f.t)}`).join(', ') : 'nothing');
  checkHeartbeatConsistency(h, tArm + 1500, tObs, 'held: ');
  // operator: the drone is safe -> reset (acknowledge the alarm) and unhold; the swap finishes
  const acks = [];
  for (const a of (al.ok ? al.result.alarms : [])) acks.push((await h.ctl.req('ack', { alarm: a.id })).ok);
  let u = await h.ctl.req('unhold');
  if (!u.ok) { const r = await h.ctl.req('reset'); h.note(`reset: ${fmt(r.ok ? r.result : r.error)}`); u = await h.ctl.req('unhold'); }
  h.note(`alarm acks ${fmt(acks)}; unhold: ${fmt(u.ok ? u.result : u.error)}`);
  const ok = await awaitSwap(h, d, 25000);
  h.check(ok, '§8', 'after reset + unhold the swap finishes and the drone gets CLEARED_TAKEOFF',
    `drone ${d.state}; station ${h.lastStatus()?.state} step ${h.lastStatus()?.step}; CLEARED_TAKEOFF ${fmt(d.takeoffCmd?.p)}`);
  h.check(cmdsTo(h, d, CMD.CANCEL).length === 0, '§8', 'no CANCEL (only an Abort would send CANCEL operator)', `${cmdsTo(h, d, CMD.CANCEL).length} CANCEL`);
}, { timeoutMs: 55000 });

// ---------------------------------------------------------------- §9 critical priority
S('critical_priority', '§9/§5', 'a critical request jumps the queue; the others get fresh positions', async (h) => {
  const a = h.drone({ sysid: 10 });
  a.requestSwap();
  if (!await reach(a, 'disarmed', 12000)) throw new Error('drone 10 did not land');
  const b = await queued(h, { sysid: 11 });
  const bFirst = acksTo(h, b, CMD.SWAP_REQUEST)[0];
  const c = await queued(h, { sysid: 12, critical: true });
  const cFirst = acksTo(h, c, CMD.SWAP_REQUEST)[0];
  h.check(bFirst && bFirst.data.progress === 1, '§5/§3', 'drone 11 queued at position 1 = next (the drone on the pad is not in the queue)', bFirst ? ackStr(bFirst) : 'no ack');
  h.check(cFirst && cFirst.data.result === RESULT.IN_PROGRESS && cFirst.data.progress === 1, '§9', 'the critical drone 12 is queued first (position 1)', cFirst ? ackStr(cFirst) : 'no ack');
  // the fresh ack to 11 may come before or after 12's own ack (their order is not stated): count from 12's request;
  // the peer's clock has whole ms, so an answer within the same ms as the request counts (progress tells it from the first ack)
  const cReqT = c.log.find((e) => e.dir === 'tx' && e.name === 'COMMAND_LONG' && e.data.command === CMD.SWAP_REQUEST)?.t ?? Infinity;
  await waitFor(() => bFirst && acksTo(h, b, CMD.SWAP_REQUEST).some((f) => f.t >= cReqT && f.data.progress === bFirst.data.progress + 1), 2000);
  const bRefresh = bFirst && acksTo(h, b, CMD.SWAP_REQUEST).find((f) => f.t >= cReqT && f.data.progress === bFirst.data.progress + 1);
  h.check(bRefresh && bRefresh.t - cReqT <= 2000, '§5/§9', 'drone 11 is pushed back one place and gets a fresh IN_PROGRESS ack with it without asking (within 2 s of the critical request)',
    `12 asked @${rel(h, cReqT)}, 12 answered @${rel(h, cFirst?.t)}; acks to 11: ${acksTo(h, b, CMD.SWAP_REQUEST).map((f) => `${ackStr(f)}@${rel(h, f.t)}`).join(', ')}`);
  await waitFor(() => cmdsTo(h, b, CMD.CLEARED_TO_LAND).length || cmdsTo(h, c, CMD.CLEARED_TO_LAND).length, 30000);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0]; const cc = cmdsTo(h, c, CMD.CLEARED_TO_LAND)[0];
  h.check(cc && (!bc || cc.t < bc.t), '§9', 'the critical drone is cleared before the earlier normal one', `first clearance to ${cc && (!bc || cc.t < bc.t) ? 12 : bc ? 11 : 'nobody'}`);
  const nx = [bc, cc].filter(Boolean).sort((x, y) => x.t - y.t)[0];
  h.check(nx && a.liftOff && nx.t >= a.liftOff.t, '§9', 'one drone at a time: the next clearance comes after the previous drone left', `drone 10 left @${rel(h, a.liftOff?.t)}, next clearance @${rel(h, nx?.t)}`);
}, { timeoutMs: 50000 });

// ---------------------------------------------------------------- §4/§6 bad requests
S('wrong_protocol_version', '§4/§6', 'protocol version 2 in param7: DENIED bad_request (final), nothing changes', async (h) => {
  const d = h.drone({ sysid: 10, version: 2 });
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.bad_request, '§4/§6', 'DENIED (2) with reason bad_request (7)', a ? ackStr(a) : 'no ack within 3 s');
  const q = await ctlQueue(h);
  h.check(q && !q.queue.includes(10), '§4', 'the whole command is invalid: the drone is not queued', `queue ${fmt(q && q.queue)}`);
  await sleep(1500);
  h.check(cmdsTo(h, d, CMD.CLEARED_TO_LAND).length === 0, '§4', 'no clearance for the refused drone', `${cmdsTo(h, d, CMD.CLEARED_TO_LAND).length} clearances`);
}, { timeoutMs: 20000 });

S('bad_params', '§4/§6', 'parameters out of range (battery 150 %, tag half 70000, tag 1.5, voltage 150 V, time 4000 s): DENIED bad_request', async (h) => {
  const cases = [[11, { 1: 150 }, 'battery 150 %'], [12, { 3: 70000 }, 'tag high 70000'], [13, { 2: 1.5 }, 'tag low 1.5 (not an integer)'],
    [14, { 4: 150 }, 'voltage 150 V'], [15, { 5: 4000 }, 'time to pad 4000 s'], [16, { 1: -5 }, 'battery -5 %']];
  const ds = cases.map(([id, over]) => { const d = h.drone({ sysid: id }); d.requestSwap(over); return d; });
  await waitFor(() => ds.every((d) => acksTo(h, d, CMD.SWAP_REQUEST).length), 3000);
  cases.forEach(([id, , what], i) => {
    const a = acksTo(h, ds[i], CMD.SWAP_REQUEST)[0];
    h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.bad_request, '§4', `${what}: DENIED bad_request (7)`, a ? ackStr(a) : 'no ack');
  });
  const q = await ctlQueue(h);
  h.check(q && q.queue.length === 0, '§4', 'none of them is queued (changes nothing)', `queue ${fmt(q && q.queue)}`);
}, { timeoutMs: 20000 });

S('addressed_elsewhere', '§9/§1', 'a request addressed to another system is ignored; a broadcast request is answered', async (h) => {
  const x = h.drone({ sysid: 11, targetSystem: 201 });
  x.requestSwap();
  const y = h.drone({ sysid: 12, targetSystem: 0, targetComponent: 0 });
  y.requestSwap();
  await waitFor(() => acksTo(h, y, CMD.SWAP_REQUEST).length, 3000);
  await sleep(2000);
  h.check(acksTo(h, x, CMD.SWAP_REQUEST).length === 0, '§9', 'a command for another system (201) is ignored by the station', `${acksTo(h, x, CMD.SWAP_REQUEST).length} acks to drone 11`);
  const a = acksTo(h, y, CMD.SWAP_REQUEST)[0];
  h.check(a && [RESULT.IN_PROGRESS, RESULT.ACCEPTED].includes(a.data.result), '§1', 'target 0 is a broadcast, accepted by everyone: the request is answered', a ? ackStr(a) : 'no ack');
}, { timeoutMs: 20000 });

// ---------------------------------------------------------------- §9 allow-list
S('allow_list', '§9', 'allow = 10,12: drone 11 gets DENIED not_allowed and is otherwise ignored', async (h) => {
  const x = h.drone({ sysid: 11 });
  x.requestSwap();
  await waitFor(() => acksTo(h, x, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, x, CMD.SWAP_REQUEST)[0];
  h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.not_allowed, '§9/§6', 'DENIED (2) reason not_allowed (1)', a ? ackStr(a) : 'no ack');
  h.check(x.state === 'diverted', '§6', 'not_allowed is final: the drone diverts (never asks again)', `drone state ${x.state}`);
  const d = await queued(h, { sysid: 10 });
  const ad = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(ad && [RESULT.IN_PROGRESS, RESULT.ACCEPTED].includes(ad.data.result), '§9', 'drone 10 (allowed) is queued', ad ? ackStr(ad) : 'no ack');
  // drone 11 keeps sending telemetry (a fresh drone object that never asks)
  const y = h.drone({ sysid: 11 }); // telemetry only
  await sleep(2500);
  const q = await ctlQueue(h);
  h.check(q && !q.drones.some((e) => e.sysid === 11), '§9', 'its telemetry never reaches the station core (not among the control socket\'s drones)', `drones ${fmt(q && q.drones.map((e) => e.sysid))}`);
  const other = h.stationFrames.filter((f) => f.name === 'COMMAND_LONG' && f.data.targetSystem === 11).length;
  h.check(other === 0, '§9', 'no command is ever sent to drone 11', `${other} commands`);
  y.stop();
}, { ini: { drone_link: { allow: '10,12' } }, timeoutMs: 25000 });

// ---------------------------------------------------------------- §10 signing
const KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
S('signing_signed_swap', '§10', 'signed link: a signed drone swaps; every station frame is signed and verifies', async (h) => {
  const d = h.drone({ sysid: 10 });
  const oldTag = d.pack.tag;
  d.requestSwap();
  const ok = await awaitSwap(h, d, 40000);
  h.check(ok, '§10/§7', 'the signed drone is served normally', `state ${d.state}`);
  const c = h.link.counters;
  h.check(c.frames > 10 && c.unsigned === 0 && c.v1 === 0 && c.bad_signature === 0 && c.replay === 0 && c.stale === 0, '§10',
    'the station signs every frame (valid signature, strictly increasing timestamps, not stale)', fmt(c));
  if (ok) checkSwapDetails(h, d, oldTag, false);
}, { key: KEY, timeoutMs: 50000 });

S('signing_rejects_unsigned', '§10', 'signed link: unsigned, MAVLink 1, wrong-key, replayed and stale frames are dropped, never answered', async (h) => {
  const legit = h.drone({ sysid: 10, misbehave: { noLand: true } });
  const u = h.drone({ sysid: 11, misbehave: { unsigned: true } });
  const v = h.drone({ sysid: 12, misbehave: { v1: true } });
  const w = h.drone({ sysid: 13, misbehave: { wrongKey: true } });
  legit.requestSwap(); u.requestSwap(); v.requestSwap(); w.requestSwap();
  // §5: the station answers the legit request (queued), then sends ACCEPTED and CLEARED_TO_LAND.
  // Wait until that clearance has arrived and the acks have settled, so that any SWAP_REQUEST ack
  // after the replay below can only be an answer to the replayed frame.
  if (!await reach(legit, 'landing', 6000)) throw new Error(`legit drone not cleared: ${legit.state}; acks ${acksTo(h, legit, CMD.SWAP_REQUEST).map(ackStr).join(', ')}`);
  await sleep(700);
  // a stale frame: a correctly signed request from drone 14 with a timestamp two minutes old
  const msg = legit._commandLong(CMD.SWAP_REQUEST, [25, 14, 0x5B00, 21, 0, 0, 1], 0);
  h.link.writeRaw(D.encodeFrame(msg, { sysid: 14, compid: 1, seq: 0, key: Buffer.from(KEY, 'hex'), linkId: 1, timestamp: D.nowSignUnits() - 12000000 }));
  // a replay: the legit drone's first signed SWAP_REQUEST frame, byte for byte
  const nAck = acksTo(h, legit, CMD.SWAP_REQUEST).length;
  const first = legit.log.find((e) => e.dir === 'tx' && e.name === 'COMMAND_LONG');
  h.link.writeRaw(first.raw);
  // a spoofed, unsigned CANCEL in the legit drone's name
  const spoof = legit._commandLong(CMD.CANCEL, [9], 0);
  h.link.writeRaw(D.encodeFrame(spoof, { sysid: 10, compid: 1, seq: 1, key: null }));
  await sleep(4000); // observation window
  for (const [d, what] of [[u, 'unsigned (drone 11)'], [v, 'MAVLink 1 (drone 12)'], [w, 'wrong key (drone 13)']]) {
    const n = h.stationFrames.filter((f) => f.data.targetSystem === d.sysid).length;
    h.check(n === 0, '§10', `${what}: dropped, never answered`, `${n} frames addressed to it`);
  }
  h.check(h.stationFrames.filter((f) => f.data.targetSystem === 14).length === 0, '§10', 'frame more than a minute old (drone 14): dropped', `${h.stationFrames.filter((f) => f.data.targetSystem === 14).length} frames to 14`);
  const la = acksTo(h, legit, CMD.SWAP_REQUEST).length;
  const before = acksTo(h, legit, CMD.SWAP_REQUEST).map((f) => `${ackStr(f)}@${rel(h, f.t)}`).join(', ');
  h.check(la === nAck, '§10', 'replayed signed request (old timestamp): dropped, not acked (acks counted only after the legit drone\'s ACCEPTED + CLEARED_TO_LAND)',
    `${la - nAck} acks after the replay; all SWAP_REQUEST acks to 10: ${before}`);
  const cancelAck = acksTo(h, legit, CMD.CANCEL).length;
  const q = await ctlQueue(h);
  h.check(cancelAck === 0 && legit.state === 'landing' && cmdsTo(h, legit, CMD.CANCEL).length === 0, '§10', 'a spoofed unsigned CANCEL cannot withdraw the signed drone\'s clearance',
    `${cancelAck} CANCEL acks; drone 10 state ${legit.state}; drones ${fmt(q && q.drones.map((e) => e.sysid))}`);
  h.check(q && !q.drones.some((e) => [11, 12, 13, 14].includes(e.sysid)), '§10', 'none of the dropped senders reaches the station core', `drones ${fmt(q && q.drones.map((e) => e.sysid))}`);
}, { key: KEY, timeoutMs: 25000 });

// ---------------------------------------------------------------- §2/§8 garbage
S('garbage_on_link', '§2/§8', 'random bytes before every frame, noise bursts and corrupted frames: the swap still works', async (h) => {
  const d = h.drone({ sysid: 10, misbehave: { garbage: true } });
  const oldTag = d.pack.tag;
  const crypto = require('crypto');
  const noise = setInterval(() => {
    const g = crypto.randomBytes(1 + crypto.randomInt(40));
    h.link.writeRaw(g);
    // a corrupted copy of a valid frame (bad CRC) claiming to be drone 77
    const m = d._commandLong(CMD.SWAP_REQUEST, [20, 1, 2, 22, 0, 0, 1], 0);
    const f = D.encodeFrame(m, { sysid: 77, compid: 1, seq: 3 });
    f[12] ^= 0x40;
    h.link.writeRaw(f);
  }, 150);
  d.requestSwap();
  const ok = await awaitSwap(h, d, 40000);
  clearInterval(noise);
  h.check(ok, '§2', 'frames mixed with noise: the whole swap completes', `state ${d.state}`);
  const q = await ctlQueue(h);
  h.check(q && !q.drones.some((e) => e.sysid === 77), '§2', 'corrupted frames (bad CRC) are not taken as a drone', `drones ${fmt(q && q.drones.map((e) => e.sysid))}`);
  h.check(h.stationFrames.filter((f) => f.data.targetSystem === 77).length === 0, '§2', 'corrupted frames are never answered', `${h.stationFrames.filter((f) => f.data.targetSystem === 77).length} frames to 77`);
  if (ok) checkSwapDetails(h, d, oldTag, false);
}, { timeoutMs: 50000 });

// ---------------------------------------------------------------- §9 several drones
S('multi_drone', '§9', 'three drones ask at once: one landing queue in arrival order, one clearance at a time, fresh positions, all swapped', async (h) => {
  const ds = [];
  for (const id of [10, 11, 12]) { const d = h.drone({ sysid: id, pack: D.makePack(0x5B000000 + id, 0.2) }); d.requestSwap(); ds.push(d); await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 1000, 10); }
  const first = ds.map((d) => acksTo(h, d, CMD.SWAP_REQUEST)[0]);
  h.check(first.every((a) => a) && first[1].data.progress < first[2].data.progress, '§9', 'queued in the order the requests arrived (positions increase)',
    first.map((a) => a && ackStr(a)).join(', '));
  const ok = await waitFor(() => ds.every((d) => d.liftOff), 52000, 100);
  h.check(ok, '§9', 'all three are swapped', ds.map((d) => `${d.sysid}:${d.state}`).join(' '));
  const clrT = ds.map((d) => cmdsTo(h, d, CMD.CLEARED_TO_LAND)[0]?.t);
  const order = ds.slice().filter((d, i) => clrT[i]).sort((x, y) => clrT[ds.indexOf(x)] - clrT[ds.indexOf(y)]).map((d) => d.sysid);
  h.check(fmt(order) === fmt([10, 11, 12]), '§9', 'served in arrival order 10, 11, 12', `clearance order ${fmt(order)}`);
  const overlaps = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    if (i === j || !clrT[j] || !clrT[i]) continue;
    if (clrT[j] > clrT[i] && (!ds[i].liftOff || clrT[j] < ds[i].liftOff.t)) overlaps.push(`${ds[j].sysid} cleared while ${ds[i].sysid} not gone`);
  }
  h.check(overlaps.length === 0, '§9', 'one drone at a time is cleared to land', overlaps.join('; ') || 'no overlap');
  const last = acksTo(h, ds[2], CMD.SWAP_REQUEST);
  const pos = last.map((f) => f.data.progress);
  h.check(last.length >= 2 && pos.every((p, i) => i === 0 || p <= pos[i - 1]), '§5/§9', 'the last drone gets fresh IN_PROGRESS acks as the queue moves (positions decrease)', last.map(ackStr).join(', '));
  const ip = ds.map((d) => positions(h, d));
  h.check(fmt(ip) === fmt([[1], [2, 1], [3, 2, 1]]), '§5/§9', 'positions told: 10 [1], 11 [2,1], 12 [3,2,1] (one ack per request, one fresh ack per change, only then)', fmt(ip));
  const promise = ds.map((d, i) => { const c = cmdsTo(h, d, CMD.CLEARED_TO_LAND)[0]; return first[i] && c ? (c.t - first[i].t) / 1000 : null; });
  h.check(promise.every((w, i) => w != null && w <= first[i].data.progress * 180), '§9', 'position promise: each cleared within position x 180 s of being told it',
    ds.map((d, i) => `${d.sysid}: pos ${first[i]?.data.progress}, waited ${promise[i] == null ? 'never cleared' : promise[i].toFixed(1) + ' s'}`).join('; '));
  ds.forEach((d) => checkAcksAddressed(h, d));
}, { timeoutMs: 58000 });

// ---------------------------------------------------------------- §3 heartbeat content in each phase
S('heartbeat_phases', '§3', 'station heartbeat custom_mode and system_status before, during and after a swap', async (h) => {
  const tIdle = Date.now();
  await waitFor(() => h.heartbeats(tIdle).length >= 2, 3000);
  const idle = decodeCustomMode(h.lastHeartbeat().data.customMode);
  h.check(idle.accepting && !idle.padOccupied && idle.queueLen === 0 && idle.unitMode === 1, '§3', `running and idle (${idle.stateName}: Production, Execute or Suspended): accepting 0x01 set, pad occupied clear, queue 0`,
    fmt(idle));
  const acc = h.heartbeats(h.tUp).map((f) => decodeCustomMode(f.data.customMode));
  const badAcc = acc.filter((c) => c.accepting !== (c.unitMode === 1 && !c.weatherHold && [3, 6, 13, 5, 14].includes(c.state)));
  h.check(acc.length && badAcc.length === 0, '§3', 'accepting flag = Production and state Starting/Execute/Suspending/Suspended/Unsuspending and no weather hold (every heartbeat)',
    `${acc.length} heartbeats; ${badAcc.length} differ ${[...new Set(badAcc.map((c) => `${c.stateName} accepting ${c.accepting}`))].join(', ')}`);
  const a = h.drone({ sysid: 10, landDelayMs: 2500 });
  a.requestSwap();
  await reach(a, 'landing', 6000);
  const tCl = Date.now();
  await waitFor(() => a.state !== 'landing', 4000, 20);
  const tTd = a.stateSince('landed') || Date.now();
  const preTd = h.heartbeats(tCl + 100).filter((f) => f.t < tTd - 300).map((f) => decodeCustomMode(f.data.customMode));
  h.check(preTd.length && preTd.every((c) => !c.padOccupied && c.queueLen === 0), '§3', 'cleared, not yet down: pad occupied clear (never merely because cleared), queue 0 (the cleared drone not counted)',
    `${preTd.length} heartbeats between clearance and touchdown: ${fmt(preTd.map((c) => [c.padOccupied, c.queueLen]))}`);
  await reach(a, 'disarmed', 6000);
  const b = await queued(h, { sysid: 11 });
  const tq = Date.now();
  await waitFor(() => h.heartbeats(tq).length >= 2, 3000);
  const onPad = decodeCustomMode(h.lastHeartbeat().data.customMode);
  h.check(onPad.padOccupied, '§3', 'drone on the pad: flag 0x02 pad occupied', fmt(onPad));
  h.check(onPad.accepting, '§3', 'during a swap in Execute (Production, no weather hold): flag 0x01 accepting', fmt(onPad));
  h.check(onPad.queueLen === 1, '§3', 'queue length 1 (drone 11 waiting; the drone on the pad not counted)', `queue length ${onPad.queueLen}`);
  h.check(onPad.state === PACKML_CODE.Execute && h.lastHeartbeat().data.systemStatus === 4, '§3', 'during the swap: Execute (6) and system_status ACTIVE (4)',
    `state ${onPad.stateName}, system_status ${h.lastHeartbeat().data.systemStatus}`);
  await waitFor(() => a.liftOff, 30000);
  b.cancel(REASON.operator);
  await waitFor(() => a.state === 'flying' && acksTo(h, b, CMD.CANCEL).length, 6000);
  const tAfter = Date.now();
  await waitFor(() => h.heartbeats(tAfter).length >= 2 && !decodeCustomMode(h.lastHeartbeat().data.customMode).padOccupied, 6000);
  const after = decodeCustomMode(h.lastHeartbeat().data.customMode);
  h.check(!after.padOccupied && after.queueLen === 0, '§3', 'after take-off: pad occupied clear, queue 0', fmt(after));
  checkHeartbeatConsistency(h, h.tUp, Date.now()); // from the moment the station runs (start-up transitions excluded)
}, { timeoutMs: 55000 });

// ---------------------------------------------------------------- §6 not accepting
S('not_accepting_held', '§5/§6/§3', 'station Held (swapctl hold): a request is denied not_ready; heartbeat Held, not accepting, CRITICAL; a queued drone keeps its place', async (h) => {
  const a0 = await hoverCleared(h, { sysid: 12 });
  const b0 = await queued(h, { sysid: 13 });
  const r = await h.ctl.req('hold');
  h.note(`hold: ${fmt(r.ok ? r.result : r.error)}`);
  if (!await waitFor(() => h.lastStatus()?.state === 'Held', 8000)) throw new Error(`station not Held: ${h.lastStatus()?.state}`);
  const t = Date.now();
  await waitFor(() => h.heartbeats(t + 300).length >= 1, 3000);
  const hb = h.heartbeats(t + 300)[0];
  const c = decodeCustomMode(hb.data.customMode);
  h.check(c.state === PACKML_CODE.Held && !c.accepting && hb.data.systemStatus === 5, '§3', 'Held: state 11, accepting flag clear, system_status CRITICAL (5)',
    `${fmt(c)} system_status ${hb.data.systemStatus}`);
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.not_ready, '§6/§5', 'DENIED (2) reason not_ready (2): station held', a ? ackStr(a) : 'no ack');
  const qh = await ctlQueue(h);
  h.check(qh && qh.queue.includes(13) && !qh.queue.includes(10), '§5', 'drone 13, queued before the hold, keeps its place; the denied drone 10 is not queued', `queue in Held ${fmt(qh && qh.queue)}`);
  const c0 = cmdsTo(h, a0, CMD.CANCEL);
  h.check(c0.length === 0, '§5', 'drone 12, cleared before the hold, keeps its clearance: no CANCEL', `drone 12 ${a0.state}; CANCEL reasons ${fmt(c0.map((f) => p4(f)[0]))}`);
  const u = await h.ctl.req('unhold');
  h.note(`unhold: ${fmt(u.ok ? u.result : u.error)}`);
  await waitFor(() => ['Execute', 'Suspended'].includes(h.lastStatus()?.state), 10000);
  const e = h.drone({ sysid: 11 });
  e.requestSwap();
  await waitFor(() => acksTo(h, e, CMD.SWAP_REQUEST).length, 3000);
  const ea = acksTo(h, e, CMD.SWAP_REQUEST)[0];
  h.check(ea && ea.data.result === RESULT.IN_PROGRESS, '§6', 'not_ready is not final: after unhold a request is queued (IN_PROGRESS)', ea ? ackStr(ea) : 'no ack');
  if (a0.state === 'landing') a0.cancel(REASON.operator);
  await waitFor(() => cmdsTo(h, b0, CMD.CLEARED_TO_LAND).length, 8000);
  h.check(cmdsTo(h, b0, CMD.CLEARED_TO_LAND).length, '§5', 'the station clears the next one (drone 13) when it runs again', `${cmdsTo(h, b0, CMD.CLEARED_TO_LAND).length} clearances to 13`);
  checkHeartbeatConsistency(h, t, Date.now());
}, { timeoutMs: 30000 });

S('not_started', '§6/§3', 'station not started (Stopped): a request is denied not_ready; heartbeat Stopped, not accepting, STANDBY', async (h) => {
  await waitFor(() => h.lastStatus(), 5000);
  const t = Date.now();
  await waitFor(() => h.heartbeats(t).length >= 2, 3000);
  const hb = h.lastHeartbeat();
  const c = decodeCustomMode(hb.data.customMode);
  h.note(`station state ${h.lastStatus()?.state}`);
  h.check(PACKML_CODE[h.lastStatus()?.state] === c.state && !c.accepting && hb.data.systemStatus === 3, '§3', 'Stopped/Idle: state as the control socket says, accepting flag clear, STANDBY (3)',
    `${fmt(c)} system_status ${hb.data.systemStatus}`);
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.not_ready, '§6/§5', 'DENIED (2) reason not_ready (2): station stopped', a ? ackStr(a) : 'no ack');
  checkHeartbeatConsistency(h, t, Date.now());
}, { start: false, timeoutMs: 20000 });

// ---------------------------------------------------------------- §4 CANCEL
S('cancel_queued', '§4/§9', 'a queued drone cancels: acked, leaves the queue, the others move up; it is never cleared', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  const c0 = acksTo(h, c, CMD.SWAP_REQUEST)[0];
  b.cancel(REASON.operator);
  await waitFor(() => acksTo(h, b, CMD.CANCEL).length, 3000);
  const ca = acksTo(h, b, CMD.CANCEL)[0];
  h.check(ca && ca.data.result === RESULT.ACCEPTED, '§4/§5', 'the CANCEL is acked (ACCEPTED)', ca ? ackStr(ca) : 'no ack');
  await waitFor(() => acksTo(h, c, CMD.SWAP_REQUEST).length > 1, 2000);
  const q = await ctlQueue(h);
  h.check(q && !q.queue.includes(11) && q.queue.includes(12), '§4', 'drone 11 left the queue', `queue ${fmt(q && q.queue)}`);
  const cl = lastAck(h, c);
  h.check(cl && c0 && cl.data.progress === c0.data.progress - 1, '§5', 'drone 12 moves up and gets a fresh IN_PROGRESS with its new position', acksTo(h, c, CMD.SWAP_REQUEST).map(ackStr).join(', '));
  a.cancel(REASON.operator); // frees the pad
  await waitFor(() => cmdsTo(h, c, CMD.CLEARED_TO_LAND).length || cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, 15000);
  h.check(cmdsTo(h, b, CMD.CLEARED_TO_LAND).length === 0, '§4', 'the cancelled drone is never cleared', `${cmdsTo(h, b, CMD.CLEARED_TO_LAND).length} clearances to 11`);
}, { timeoutMs: 35000 });

S('cancel_cleared', '§4', 'a cleared drone cancels before touching down: acked, the clearance is withdrawn, the next drone is served', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const tc = Date.now();
  a.cancel(REASON.operator);
  await waitFor(() => acksTo(h, a, CMD.CANCEL).length, 3000);
  const ca = acksTo(h, a, CMD.CANCEL)[0];
  h.check(ca && ca.data.result === RESULT.ACCEPTED, '§4/§5', 'the CANCEL is acked (ACCEPTED)', ca ? ackStr(ca) : 'no ack');
  await waitFor(async () => { const q = await ctlQueue(h); return q && !q.queue.includes(10); }, 2000, 100);
  const q = await ctlQueue(h);
  h.check(q && !q.queue.includes(10), '§4', 'from a drone, CANCEL withdraws its request and it leaves the queue', `queue ${fmt(q && q.queue)}; drone 10 ${fmt(q && q.drones.find((e) => e.sysid === 10))}`);
  await waitFor(() => cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, 8000);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0];
  // "at once": the test allows 3 s on a loaded host
  h.check(bc && bc.t - tc <= 3000, '§4', 'the pad is free for the next drone at once: drone 11 cleared (ACCEPTED, then CLEARED_TO_LAND) within 3 s', bc ? `after ${((bc.t - tc) / 1000).toFixed(1)} s` : 'not within 8 s');
  const bAcc = acksTo(h, b, CMD.SWAP_REQUEST).find((f) => f.data.result === RESULT.ACCEPTED);
  h.check(bAcc && bc && bAcc.t <= bc.t, '§5', 'drone 11 gets ACCEPTED before its CLEARED_TO_LAND', acksTo(h, b, CMD.SWAP_REQUEST).map(ackStr).join(', '));
  const late = cmdsTo(h, a, CMD.CLEARED_TO_LAND).filter((f) => f.t > tc + 700).length;
  h.check(late === 0, '§4', 'no more clearance frames to the drone that cancelled', `${late}`);
  const stCancel = cmdsTo(h, a, CMD.CANCEL).length;
  h.note(`CANCEL frames from the station to drone 10 after its own cancel: ${stCancel} (not stated either way)`);
}, { timeoutMs: 30000 });

S('cancel_on_pad', '§4', 'a drone on the pad (touchdown seen) sends CANCEL: DENIED not_ready, the swap runs to the end, CLEARED_TAKEOFF', async (h) => {
  h.truthPolling = true;
  const d = h.drone({ sysid: 10 });
  const oldTag = d.pack.tag;
  d.requestSwap();
  if (!await reach(d, 'disarmed', 12000)) throw new Error('drone did not land');
  await waitFor(() => { const hb = h.lastHeartbeat(); return hb && decodeCustomMode(hb.data.customMode).padOccupied; }, 2000);
  const tc = Date.now();
  d.cancel(REASON.operator);
  await waitFor(() => acksTo(h, d, CMD.CANCEL).length, 3000);
  const ca = acksTo(h, d, CMD.CANCEL)[0];
  h.check(ca && ca.data.result === RESULT.DENIED && ca.data.resultParam2 === REASON.not_ready, '§4/§5', 'on the pad: the CANCEL is answered DENIED (2) reason not_ready (2)', ca ? ackStr(ca) : 'no ack within 3 s');
  const ok = await awaitSwap(h, d, 30000);
  h.check(ok && d.takeoffCmd && d.takeoffCmd.p[0] === 0, '§4', 'the swap runs to the end and the drone leaves on CLEARED_TAKEOFF (outcome 0)',
    ok ? `CLEARED_TAKEOFF ${fmt(d.takeoffCmd?.p)} ${((d.liftOff.t - tc) / 1000).toFixed(1)} s after the cancel` : `no take-off clearance (station ${h.lastStatus()?.state}, step ${h.lastStatus()?.step})`);
  h.check(cmdsTo(h, d, CMD.CANCEL).length === 0, '§4', 'the station does not withdraw anything (no CANCEL to the drone)', `${cmdsTo(h, d, CMD.CANCEL).length} CANCEL frames`);
  const states = [...new Set(h.statesBetween(tc, Date.now()))];
  h.check(!states.some((s) => ['Aborting', 'Aborted', 'Holding', 'Held', 'Stopping', 'Stopped'].includes(s)), '§4', 'no abort, hold or stop for the drone\'s word', `states ${states.join(',')}`);
  if (ok) checkSwapDetails(h, d, oldTag, false);
}, { timeoutMs: 50000 });

S('cancel_unknown', '§4', 'CANCEL from a drone unknown to the station, and from a known drone without a request: ACCEPTED, nothing happens', async (h) => {
  const x = h.drone({ sysid: 21 });
  x.cancel(REASON.operator); // first frame after its heartbeat: no request
  await waitFor(() => acksTo(h, x, CMD.CANCEL).length, 3000);
  const xa = acksTo(h, x, CMD.CANCEL)[0];
  h.check(xa && xa.data.result === RESULT.ACCEPTED, '§4', 'a drone without a request: CANCEL answered ACCEPTED', xa ? ackStr(xa) : 'no ack');
  // a frame in the name of a system never heard before: CANCEL only
  const m = x._commandLong(CMD.CANCEL, [REASON.operator], 0);
  const seen = h.stationFrames.length;
  h.link.writeRaw(D.encodeFrame(m, { sysid: 22, compid: 1, seq: 0 }));
  await waitFor(() => h.stationFrames.slice(seen).some((f) => f.name === 'COMMAND_ACK' && f.data.targetSystem === 22), 3000);
  const ya = h.stationFrames.find((f) => f.name === 'COMMAND_ACK' && f.data.targetSystem === 22 && f.data.command === CMD.CANCEL);
  h.check(ya && ya.data.result === RESULT.ACCEPTED, '§4', 'a drone unknown to the station: CANCEL answered ACCEPTED', ya ? ackStr(ya) : 'no ack');
  const q = await ctlQueue(h);
  const st = h.lastStatus();
  h.check(q && q.queue.length === 0 && !h.stationFrames.some((f) => f.name === 'COMMAND_LONG' && [21, 22].includes(f.data.targetSystem)) && st && ['Execute', 'Suspended', 'Suspending'].includes(st.state), '§4',
    'nothing happens (no queue entry, no command to them, the station keeps running)', `queue ${fmt(q && q.queue)}, state ${st && st.state}`);
}, { timeoutMs: 20000 });

// ---------------------------------------------------------------- §9 first come, first served, the position promise
/** The IN_PROGRESS positions a drone was told, in order. */
/** The first station heartbeat sent at least 100 ms after now (waits up to 2.5 s). */
async function freshHeartbeat(h) { const t = Date.now() + 100; await waitFor(() => h.heartbeats(t).length, 2500, 20); return h.heartbeats(t)[0] || null; }
const positions = (h, d) => acksTo(h, d, CMD.SWAP_REQUEST).filter((f) => f.data.result === RESULT.IN_PROGRESS).map((f) => f.data.progress);

S('fcfs_positions', '§9/§5', 'four drones queue behind a cleared drone: positions 1..4 in arrival order, one fresh ack per change, served in that order within n x 180 s', async (h) => {
  const a = await hoverCleared(h);
  const ds = [];
  for (const id of [11, 12, 13, 14]) { ds.push(await queued(h, { sysid: id, misbehave: { noLand: true } })); await sleep(150); }
  const told = ds.map((d) => ({ d, f: acksTo(h, d, CMD.SWAP_REQUEST)[0] }));
  h.check(told.every((x, i) => x.f && x.f.data.result === RESULT.IN_PROGRESS && x.f.data.progress === i + 1), '§9/§5', 'positions 1, 2, 3, 4 in the order the requests arrived (the cleared drone not in the queue)',
    told.map((x) => `${x.d.sysid}:${x.f ? ackStr(x.f) : 'no ack'}`).join(', '));
  const q = await ctlQueue(h);
  h.check(q && fmt(q.queue) === fmt([11, 12, 13, 14]), '§9', 'one landing queue in arrival order', `control socket queue ${fmt(q && q.queue)}`);
  const hb = await freshHeartbeat(h);
  h.check(hb && decodeCustomMode(hb.data.customMode).queueLen === 4, '§3', 'heartbeat queue length 4 (the cleared drone not counted)', `queue length ${hb && decodeCustomMode(hb.data.customMode).queueLen}`);
  // serve them one by one: the drone holding the pad withdraws (CANCEL while cleared frees the pad at once)
  let holder = a;
  const order = [];
  for (let k = 0; k < 4; k++) {
    holder.cancel(REASON.operator);
    const nx = await waitFor(() => ds.find((d) => !order.includes(d.sysid) && cmdsTo(h, d, CMD.CLEARED_TO_LAND).length), 6000, 20);
    await waitFor(() => acksTo(h, holder, CMD.CANCEL).length, 1000);
    h.note(`drone ${holder.sysid} (cleared, hovering) cancels: ${acksTo(h, holder, CMD.CANCEL).map(ackStr).join(', ') || 'no ack'}; station CANCEL to it ${fmt(cmdsTo(h, holder, CMD.CANCEL).map((f) => p4(f)[0]))}; next cleared ${nx ? nx.sysid : 'nobody within 6 s'}; control socket ${fmt(await ctlQueue(h))}`);
    if (!nx) break;
    order.push(nx.sysid);
    holder = nx;
  }
  h.check(fmt(order) === fmt([11, 12, 13, 14]), '§9', 'first come, first served: cleared in the order 11, 12, 13, 14', `clearance order ${fmt(order)}`);
  const late = told.filter((x) => { const c = cmdsTo(h, x.d, CMD.CLEARED_TO_LAND)[0]; return !c || !x.f || c.t - x.f.t > x.f.data.progress * 180000; });
  h.check(late.length === 0, '§9', 'position promise: a drone told position n is cleared within n x 180 s', told.map((x) => { const c = cmdsTo(h, x.d, CMD.CLEARED_TO_LAND)[0]; return `${x.d.sysid}: pos ${x.f?.data.progress}, cleared after ${c && x.f ? ((c.t - x.f.t) / 1000).toFixed(1) + ' s' : 'never'}`; }).join('; '));
  const want = { 11: [1], 12: [2, 1], 13: [3, 2, 1], 14: [4, 3, 2, 1] };
  const bad = ds.filter((d) => fmt(positions(h, d)) !== fmt(want[d.sysid]));
  h.check(bad.length === 0, '§5', 'exactly one ack per request, then one fresh IN_PROGRESS each time the position changes (and only then)',
    ds.map((d) => `${d.sysid}: ${fmt(positions(h, d))}`).join('; '));
  const acc = ds.filter((d) => { const ac = acksTo(h, d, CMD.SWAP_REQUEST).find((f) => f.data.result === RESULT.ACCEPTED); const c = cmdsTo(h, d, CMD.CLEARED_TO_LAND)[0]; return ac && c && ac.t <= c.t; });
  h.check(acc.length === ds.length, '§5', 'each gets ACCEPTED and then CLEARED_TO_LAND', `${acc.length}/${ds.length}`);
}, { timeoutMs: 45000 });

S('cancelled_rejoins_end', '§4/§8/§9', 'a queued drone cancels (ACCEPTED, the one behind moves up) and asks again: it joins the end of the queue', async (h) => {
  await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  b.cancel(REASON.operator);
  await waitFor(() => acksTo(h, b, CMD.CANCEL).length, 3000);
  const ca = acksTo(h, b, CMD.CANCEL)[0];
  h.check(ca && ca.data.result === RESULT.ACCEPTED, '§4', 'queued: CANCEL answered ACCEPTED', ca ? ackStr(ca) : 'no ack');
  await waitFor(() => positions(h, c).includes(1), 2000);
  h.check(fmt(positions(h, c)) === fmt([2, 1]), '§4/§5', 'the drone behind moves up: drone 12 told 2, then 1', fmt(positions(h, c)));
  const n = acksTo(h, b, CMD.SWAP_REQUEST).length;
  b.requestSwap();
  await waitFor(() => acksTo(h, b, CMD.SWAP_REQUEST).length > n, 3000);
  const again = acksTo(h, b, CMD.SWAP_REQUEST)[n];
  h.check(again && again.data.result === RESULT.IN_PROGRESS && again.data.progress === 2, '§8/§9', 'its new request joins the end of the queue: position 2, behind drone 12', again ? ackStr(again) : 'no ack');
  const q = await ctlQueue(h);
  h.check(q && fmt(q.queue) === fmt([12, 11]), '§9', 'queue order 12, 11', `queue ${fmt(q && q.queue)}`);
}, { timeoutMs: 25000 });

S('silent_queued_middle', '§8/§9', 'the middle one of three queued drones falls silent: it loses its place at 5 s, the one behind moves up, the one ahead is not disturbed; back, it joins the end', async (h) => {
  await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  const d = await queued(h, { sysid: 13 });
  const lastTx = () => { const e = c.log.filter((x) => x.dir === 'tx'); return e[e.length - 1].t; };
  await waitFor(() => Date.now() - lastTx() < 100, 1500, 10);
  c.misbehave.silent = true;
  const t0 = lastTx();
  const gone = await waitFor(async () => { const q = await ctlQueue(h); return q && !q.queue.includes(12) && Date.now(); }, 9000, 200);
  const goneS = gone ? (gone - t0) / 1000 : null;
  h.check(gone && goneS >= 4.5 && goneS <= 7.5, '§8', 'silent for 5 s (any frame counts): loses its place after about 5 s', gone ? `left the queue ${goneS.toFixed(1)} s after its last frame` : 'still queued 9 s later');
  await waitFor(() => positions(h, d).includes(2), 2000);
  h.check(fmt(positions(h, d)) === fmt([3, 2]), '§8/§5', 'the drone behind (13) moves up: told 3, then 2', fmt(positions(h, d)));
  h.check(fmt(positions(h, b)) === fmt([1]), '§5', 'the drone ahead (11) keeps position 1 and gets no fresh ack (its position did not change)', fmt(positions(h, b)));
  const cn = cmdsTo(h, c, CMD.CANCEL)[0];
  h.check(cn && cn.data._param1 === REASON.timeout, '§8', 'the silent drone is sent CANCEL reason timeout (10)', cn ? `CANCEL reason ${cn.data._param1}` : 'no CANCEL');
  // it comes back and asks again: the end of the queue
  c.misbehave.silent = false;
  const n = acksTo(h, c, CMD.SWAP_REQUEST).length;
  c.requestSwap();
  await waitFor(() => acksTo(h, c, CMD.SWAP_REQUEST).length > n, 3000);
  const again = acksTo(h, c, CMD.SWAP_REQUEST)[n];
  h.check(again && again.data.result === RESULT.IN_PROGRESS && again.data.progress === 3, '§8', 'a drone that was cancelled may ask again; its new request joins the end (position 3)', again ? ackStr(again) : 'no ack');
  const q = await ctlQueue(h);
  h.check(q && fmt(q.queue) === fmt([11, 13, 12]), '§9', 'queue order 11, 13, 12', `queue ${fmt(q && q.queue)}`);
}, { timeoutMs: 30000 });

S('repeat_with_critical', '§4/§9/§5', 'a queued drone repeats its request with the critical flag: it moves ahead, keeps one place; the drone passed gets a fresh position', async (h) => {
  await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const c = await queued(h, { sysid: 12 });
  const n = acksTo(h, c, CMD.SWAP_REQUEST).length;
  c.o.critical = true;
  c.requestSwap();
  await waitFor(() => acksTo(h, c, CMD.SWAP_REQUEST).length > n && positions(h, b).length >= 2, 3000);
  const again = acksTo(h, c, CMD.SWAP_REQUEST)[n];
  h.check(again && again.data.result === RESULT.IN_PROGRESS && again.data.progress === 1, '§4/§9', 'the repeat now carrying the critical flag moves drone 12 ahead: position 1', again ? ackStr(again) : 'no ack');
  h.check(fmt(positions(h, b)) === fmt([1, 2]), '§9/§5', 'drone 11 is pushed back one place and told (1, then 2)', fmt(positions(h, b)));
  const q = await ctlQueue(h);
  h.check(q && fmt(q.queue) === fmt([12, 11]), '§4', 'one place each (the repeat is a duplicate): queue 12, 11', `queue ${fmt(q && q.queue)}`);
  const hb = await freshHeartbeat(h);
  h.check(hb && decodeCustomMode(hb.data.customMode).queueLen === 2, '§3', 'heartbeat queue length 2', `queue length ${hb && decodeCustomMode(hb.data.customMode).queueLen}`);
}, { timeoutMs: 25000 });

S('forget_silent_drone', '§8', 'a drone with nothing open, unheard for 5 s, is forgotten (no longer listed by the control socket)', async (h) => {
  const x = h.drone({ sysid: 21 });
  const listed = await waitFor(async () => { const q = await ctlQueue(h); return q && q.drones.some((e) => e.sysid === 21); }, 4000, 200);
  h.check(listed, '§8', 'a drone heard (telemetry only) is known to the station', `listed ${!!listed}`);
  const lastTx = () => { const e = x.log.filter((y) => y.dir === 'tx'); return e[e.length - 1].t; };
  x.misbehave.silent = true;
  const t0 = lastTx();
  await waitFor(() => Date.now() >= t0 + 3500, 4000, 50);
  const q1 = await ctlQueue(h);
  const gone = await waitFor(async () => { const q = await ctlQueue(h); return q && !q.drones.some((e) => e.sysid === 21) && Date.now(); }, 6000, 200);
  h.note(`still listed 3.5 s after its last frame: ${!!(q1 && q1.drones.some((e) => e.sysid === 21))}`);
  h.check(gone && (gone - t0) / 1000 <= 8, '§8', 'forgotten after 5 s unheard (checked until 8 s)', gone ? `gone ${((gone - t0) / 1000).toFixed(1)} s after its last frame` : `still listed ${((Date.now() - t0) / 1000).toFixed(1)} s after`);
}, { timeoutMs: 20000 });

S('cancel_right_after_clearance', '§4', 'a drone acks its clearance and cancels in the same moment: ACCEPTED, the pad is free for the next drone at once', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11, misbehave: { noLand: true } });
  const c = await queued(h, { sysid: 12, misbehave: { noLand: true } });
  // drone 11 withdraws right after acking its CLEARED_TO_LAND (same event-loop turn as the ack)
  b.on('command', (d) => { if (d.command === CMD.CLEARED_TO_LAND && !b.cancelSent) setImmediate(() => b.cancel(REASON.operator)); });
  a.cancel(REASON.operator);
  await waitFor(() => b.cancelSent, 4000, 10);
  const tc = b.cancelSent;
  await waitFor(() => acksTo(h, b, CMD.CANCEL).length, 3000);
  const ca = acksTo(h, b, CMD.CANCEL)[0];
  h.check(ca && ca.data.result === RESULT.ACCEPTED, '§4', 'cleared, not yet down: CANCEL answered ACCEPTED', ca ? ackStr(ca) : 'no ack');
  await waitFor(() => cmdsTo(h, c, CMD.CLEARED_TO_LAND).length, 8000);
  const cc = cmdsTo(h, c, CMD.CLEARED_TO_LAND)[0];
  h.check(cc && cc.t - tc <= 3000, '§4', 'the pad is free for the next drone at once: drone 12 cleared within 3 s of 11\'s CANCEL',
    cc ? `after ${((cc.t - tc) / 1000).toFixed(2)} s` : `not within 8 s; 12 told ${fmt(positions(h, c))}; control socket ${fmt(await ctlQueue(h))}`);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND);
  h.note(`drone 11: clearance @${rel(h, bc[0]?.t)} (${bc.length} frames), its CANCEL @${rel(h, tc)}; station ${fmt(h.lastStatus() && [h.lastStatus().state, h.lastStatus().step])}; queue ${fmt((await ctlQueue(h))?.queue)}`);
  if (!cc) { // diagnostic only: does the queue recover later?
    await waitFor(() => cmdsTo(h, c, CMD.CLEARED_TO_LAND).length, 15000);
    const late = cmdsTo(h, c, CMD.CLEARED_TO_LAND)[0];
    h.note(`drone 12 ${late ? `cleared ${((late.t - tc) / 1000).toFixed(1)} s after the CANCEL` : 'still not cleared 23 s after the CANCEL'}; station CANCEL to 11: ${fmt(cmdsTo(h, b, CMD.CANCEL).map((f) => p4(f)[0]))}; station ${fmt(h.lastStatus() && [h.lastStatus().state, h.lastStatus().step])}`);
  }
}, { timeoutMs: 30000 });

// ---------------------------------------------------------------- §5 requests denied while not accepting
S('not_accepting_weather', '§5/§3', 'weather hold (wind 15 m/s > 12): flag 0x04, not accepting, a new request DENIED weather; a queued drone keeps its place and is cleared when it runs again', async (h) => {
  const a = await hoverCleared(h);
  const b = await queued(h, { sysid: 11 });
  const r = await h.plant.request({ cmd: 'inject', fault: 'weather', value: 15 });
  h.note(`inject weather: ${fmt(r)}`);
  const hbW = await waitFor(() => { const hb = h.lastHeartbeat(); return hb && decodeCustomMode(hb.data.customMode).weatherHold && hb; }, 10000);
  const cW = hbW && decodeCustomMode(hbW.data.customMode);
  h.check(cW && cW.weatherHold && !cW.accepting, '§3', 'weather hold: flag 0x04 set, accepting 0x01 clear', cW ? fmt(cW) : `no weather flag within 10 s (last ${fmt(h.lastHeartbeat() && decodeCustomMode(h.lastHeartbeat().data.customMode))})`);
  const c = h.drone({ sysid: 12 });
  c.requestSwap();
  await waitFor(() => acksTo(h, c, CMD.SWAP_REQUEST).length, 3000);
  const ca = acksTo(h, c, CMD.SWAP_REQUEST)[0];
  h.check(ca && ca.data.result === RESULT.DENIED && ca.data.resultParam2 === REASON.weather, '§5/§6', 'a new request is denied at once: DENIED (2) reason weather (4)', ca ? ackStr(ca) : 'no ack');
  const q = await ctlQueue(h);
  h.check(q && q.queue.includes(11) && !q.queue.includes(12), '§5', 'drone 11, already queued, keeps its place through the weather hold; 12 not queued', `queue ${fmt(q && q.queue)}`);
  const ac = cmdsTo(h, a, CMD.CANCEL);
  h.check(ac.length === 0, '§5', 'drone 10, cleared before the weather hold, keeps its clearance: no CANCEL', `drone 10 ${a.state}; CANCEL reasons ${fmt(ac.map((f) => p4(f)[0]))}`);
  await sleep(1500);
  const during = cmdsTo(h, b, CMD.CLEARED_TO_LAND).length;
  h.check(during === 0, '§3', 'weather hold: no landings (drone 11 not cleared while the hold lasts)', `${during} clearances to 11 during the hold`);
  await h.plant.request({ cmd: 'clear', fault: 'weather' });
  await waitFor(() => { const hb = h.lastHeartbeat(); return hb && !decodeCustomMode(hb.data.customMode).weatherHold; }, 12000);
  const tClear = Date.now();
  if (a.state === 'landing') a.cancel(REASON.operator);
  await waitFor(() => cmdsTo(h, b, CMD.CLEARED_TO_LAND).length, 10000);
  const bc = cmdsTo(h, b, CMD.CLEARED_TO_LAND)[0];
  h.check(bc, '§5', 'the station clears the next one (drone 11) when it runs again', bc ? `cleared ${((bc.t - tClear) / 1000).toFixed(1)} s after the weather flag dropped` : 'not cleared within 10 s');
}, { timeoutMs: 50000 });

/** §5: a drone cleared before a hold or a weather hold keeps its clearance and may land; its swap runs after the hold, or during the weather hold. */
async function clearedThroughStop(h, stop, stopped, resume, what) {
  h.truthPolling = true;
  const d = h.drone({ sysid: 10, landDelayMs: 4000 });
  const oldTag = d.pack.tag;
  d.requestSwap();
  if (!await reach(d, 'landing', 8000)) throw new Error(`drone 10 was not cleared to land within 8 s (state ${d.state})`);
  await stop();
  const tStop = Date.now();
  if (!await reach(d, 'disarmed', 12000)) throw new Error(`drone 10 did not land (state ${d.state})`);
  const tDown = Date.now();
  h.check(stopped(), '§5', `the ${what} still in force when the cleared drone touched down`,
    `station ${h.lastStatus()?.state}, touchdown ${((tDown - tStop) / 1000).toFixed(1)} s after the ${what} began`);
  h.check(cmdsTo(h, d, CMD.CANCEL).length === 0 && (!resume || cmdsTo(h, d, CMD.CLEARED_TAKEOFF).length === 0), '§5',
    `a drone cleared before the ${what} keeps its clearance and may land: no CANCEL${resume ? ', no take-off while stopped' : ''}`,
    `CANCEL ${cmdsTo(h, d, CMD.CANCEL).length}, CLEARED_TAKEOFF ${cmdsTo(h, d, CMD.CLEARED_TAKEOFF).length}`);
  // resume = null: the swap runs while the stop lasts (weather stops landings, not the robot)
  if (resume) await resume();
  const ok = await awaitSwap(h, d, 40000);
  h.check(ok && d.takeoffCmd && d.takeoffCmd.p[0] === 0, '§5', resume ? 'its swap runs when the station runs again: CLEARED_TAKEOFF (outcome 0)'
    : `its swap runs during the ${what}: CLEARED_TAKEOFF (outcome 0)`,
    ok ? `CLEARED_TAKEOFF ${fmt(d.takeoffCmd?.p)}` : `no take-off clearance (station ${h.lastStatus()?.state}, step ${h.lastStatus()?.step})`);
  if (!resume) h.check(stopped(), '§5', `the ${what} still in force when the drone left`, `station ${h.lastStatus()?.state}`);
  h.check(cmdsTo(h, d, CMD.CANCEL).length === 0, '§5', 'no CANCEL to the drone at any point', `${cmdsTo(h, d, CMD.CANCEL).length} CANCEL frames`);
  if (ok) checkSwapDetails(h, d, oldTag, false);
}

S('cleared_through_hold', '§5/§8', 'the station is held while a drone is cleared and on approach: no CANCEL, it lands, and after unhold its swap finishes', async (h) => {
  await clearedThroughStop(h, async () => {
    const r = await h.ctl.req('hold');
    h.note(`hold: ${fmt(r.ok ? r.result : r.error)}`);
    if (!await waitFor(() => h.lastStatus()?.state === 'Held', 8000)) throw new Error(`station not Held: ${h.lastStatus()?.state}`);
  }, () => h.lastStatus()?.state === 'Held', async () => {
    const u = await h.ctl.req('unhold');
    h.note(`unhold: ${fmt(u.ok ? u.result : u.error)}`);
  }, 'hold');
}, { timeoutMs: 55000 });

S('cleared_through_weather', '§5/§3', 'a weather hold begins while a drone is cleared and on approach: no CANCEL, it lands, and its swap runs and it leaves while the weather hold lasts', async (h) => {
  await clearedThroughStop(h, async () => {
    const r = await h.plant.request({ cmd: 'inject', fault: 'weather', value: 15 });
    h.note(`inject weather: ${fmt(r)}`);
    if (!await waitFor(() => { const hb = h.lastHeartbeat(); return hb && decodeCustomMode(hb.data.customMode).weatherHold; }, 8000)) throw new Error('no weather flag');
  }, () => { const hb = h.lastHeartbeat(); return !!hb && decodeCustomMode(hb.data.customMode).weatherHold; }, null, 'weather hold');
}, { timeoutMs: 55000 });

S('not_accepting_aborted', '§5/§3', 'station Aborted (swapctl abort): heartbeat Aborted, CRITICAL, not accepting; a request DENIED not_ready', async (h) => {
  const r = await h.ctl.req('abort');
  h.note(`abort: ${fmt(r.ok ? r.result : r.error)}`);
  if (!await waitFor(() => h.lastStatus()?.state === 'Aborted', 10000)) throw new Error(`station not Aborted: ${h.lastStatus()?.state}`);
  const t = Date.now();
  await waitFor(() => h.heartbeats(t + 300).length >= 1, 3000);
  const hb = h.heartbeats(t + 300)[0];
  const c = decodeCustomMode(hb.data.customMode);
  h.check(c.state === PACKML_CODE.Aborted && !c.accepting && hb.data.systemStatus === 5, '§3', 'Aborted: state 9, accepting clear, system_status CRITICAL (5)', `${fmt(c)} system_status ${hb.data.systemStatus}`);
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  h.check(a && a.data.result === RESULT.DENIED && a.data.resultParam2 === REASON.not_ready, '§5/§6', 'DENIED (2) reason not_ready (2): station aborted', a ? ackStr(a) : 'no ack');
  const q = await ctlQueue(h);
  h.check(q && !q.queue.includes(10), '§5', 'denied, and not queued', `queue ${fmt(q && q.queue)}`);
  checkHeartbeatConsistency(h, t, Date.now());
}, { timeoutMs: 25000 });

S('not_accepting_maintenance', '§5/§3', 'unit mode Maintenance: heartbeat mode 2, not accepting; a request DENIED maintenance', async (h) => {
  await waitFor(() => h.lastStatus(), 5000);
  const m = await h.ctl.req('mode', { mode: 'maintenance' });
  h.note(`mode maintenance in ${h.lastStatus()?.state}: ${fmt(m.ok ? m.result : m.error)}`);
  // try to run in Maintenance, so that only the mode explains a denial
  const rs = await h.ctl.req('reset'); await sleep(300);
  await waitFor(() => h.lastStatus()?.state === 'Idle', 5000);
  const st = await h.ctl.req('start');
  h.note(`reset: ${fmt(rs.ok ? rs.result : rs.error)}; start: ${fmt(st.ok ? st.result : st.error)}`);
  await waitFor(() => ['Execute', 'Suspended'].includes(h.lastStatus()?.state), 8000);
  const state = h.lastStatus()?.state;
  const t = Date.now();
  await waitFor(() => h.heartbeats(t + 200).length >= 1, 3000);
  const hb = h.heartbeats(t + 200)[0];
  const c = hb && decodeCustomMode(hb.data.customMode);
  h.check(c && c.unitMode === 2 && !c.accepting, '§3', 'Maintenance: unit mode 2, accepting clear', c ? `${fmt(c)} (control socket ${state}, ${h.lastStatus()?.mode})` : 'no heartbeat');
  const d = h.drone({ sysid: 10 });
  d.requestSwap();
  await waitFor(() => acksTo(h, d, CMD.SWAP_REQUEST).length, 3000);
  const a = acksTo(h, d, CMD.SWAP_REQUEST)[0];
  const running = ['Starting', 'Execute', 'Suspending', 'Suspended', 'Unsuspending'].includes(state);
  // when the station is also Stopped/Idle both rows of the §5 table apply (ambiguous): either reason
  const want = running ? [REASON.maintenance] : [REASON.maintenance, REASON.not_ready];
  h.check(a && a.data.result === RESULT.DENIED && want.includes(a.data.resultParam2), '§5/§6',
    running ? 'DENIED (2) reason maintenance (6): unit mode Maintenance while running' : `DENIED (2) reason maintenance (6) [or not_ready: the station is also ${state}]`, a ? `${ackStr(a)} (station ${state})` : 'no ack');
  checkHeartbeatConsistency(h, t, Date.now());
}, { start: false, timeoutMs: 30000 });

S('queue_full', '§9/§5', '64 drones with open requests (one cleared, 63 queued): the 65th is denied queue_full; once one leaves, it is queued', async (h) => {
  h.link.setMaxListeners(200);
  await hoverCleared(h);
  const ds = [];
  for (let id = 11; id <= 73; id++) { const d = h.drone({ sysid: id }); d.requestSwap(); ds.push(d); await sleep(40); }
  await waitFor(() => ds.every((d) => acksTo(h, d, CMD.SWAP_REQUEST).length), 8000, 100);
  const firsts = ds.map((d) => acksTo(h, d, CMD.SWAP_REQUEST)[0]);
  const badPos = ds.filter((d, i) => !firsts[i] || firsts[i].data.result !== RESULT.IN_PROGRESS || firsts[i].data.progress !== i + 1);
  h.check(badPos.length === 0, '§9', 'the queue has no limit of its own: drones 11..73 queued at positions 1..63 in arrival order',
    `${badPos.length} differ: ${badPos.slice(0, 4).map((d) => `${d.sysid}:${firsts[ds.indexOf(d)] ? ackStr(firsts[ds.indexOf(d)]) : 'no ack'}`).join(', ')}`);
  const hb = await freshHeartbeat(h);
  h.check(hb && decodeCustomMode(hb.data.customMode).queueLen === 63, '§3', 'heartbeat queue length 63', `queue length ${hb && decodeCustomMode(hb.data.customMode).queueLen}`);
  const x = h.drone({ sysid: 74 });
  x.requestSwap();
  await waitFor(() => acksTo(h, x, CMD.SWAP_REQUEST).length, 3000);
  const xa = acksTo(h, x, CMD.SWAP_REQUEST)[0];
  h.check(xa && xa.data.result === RESULT.DENIED && xa.data.resultParam2 === REASON.queue_full, '§5/§9', 'all 64 entries hold open requests: the 65th drone is DENIED (2) queue_full (5)', xa ? ackStr(xa) : 'no ack');
  // one queued drone withdraws; queue_full is not final: the 65th asks again and is queued at the end
  ds[62].cancel(REASON.operator);
  await waitFor(() => acksTo(h, ds[62], CMD.CANCEL).length, 3000);
  const n = acksTo(h, x, CMD.SWAP_REQUEST).length;
  await sleep(300);
  x.requestSwap();
  await waitFor(() => acksTo(h, x, CMD.SWAP_REQUEST).length > n, 3000);
  const xb = acksTo(h, x, CMD.SWAP_REQUEST)[n];
  h.check(xb && xb.data.result === RESULT.IN_PROGRESS && xb.data.progress === 63, '§9', 'an entry of a drone with nothing open is reused: drone 74 queued at position 63', xb ? ackStr(xb) : 'no ack');
}, { timeoutMs: 45000 });

// ---------------------------------------------------------------- §7 hot swap, §4 progress / take-off parameters
S('hot_swap', '§7/§3', 'hot swap (flag 0x01): the drone keeps sending (BATTERY_STATUS -1 while the bay is empty); swap completes', async (h) => {
  const d = h.drone({ sysid: 10, hotSwap: true });
  const oldTag = d.pack.tag;
  d.requestSwap();
  const ok = await awaitSwap(h, d, 40000);
  h.check(ok, '§7', 'a hot-swapped drone is swapped and cleared for take-off', `state ${d.state}; ${d.stateLog.map((s) => s.state).join('>')}`);
  if (ok) checkSwapDetails(h, d, oldTag);
}, { timeoutMs: 50000 });

S('progress_and_takeoff_params', '§4', 'SWAP_PROGRESS (not retransmitted, parameters as documented) and CLEARED_TAKEOFF parameters', async (h) => {
  const d = h.drone({ sysid: 10, misbehave: { noProgressAck: true } });
  const oldTag = d.pack.tag;
  d.requestSwap();
  const ok = await awaitSwap(h, d, 40000);
  h.check(ok, '§7', 'swap completes', `state ${d.state}`);
  const prog = cmdsTo(h, d, CMD.SWAP_PROGRESS);
  h.check(prog.length > 0 && prog.every((f) => f.data.confirmation === 0), '§4 SWAP_PROGRESS', 'not retransmitted even when not acked (confirmation always 0)',
    `${prog.length} frames, confirmations ${[...new Set(prog.map((f) => f.data.confirmation))].join(',')}`);
  const dup = prog.filter((f, i) => i && fmt(p4(f)) === fmt(p4(prog[i - 1])) && f.t - prog[i - 1].t < 700).length;
  h.check(dup === 0, '§4 SWAP_PROGRESS', 'no repeats of the same progress report (not retried)', `${dup} immediate repeats`);
  if (prog.length >= 2) {
    const f0 = prog[0]; const fl = prog[prog.length - 1];
    const elapsed = (fl.t - f0.t) / 1000; const dp = fl.data._param3 - f0.data._param3;
    h.check(Math.abs(dp - elapsed) <= 1.5, '§4 SWAP_PROGRESS', 'param3 = time on the pad so far: grows with the time on the pad',
      `param3 ${f0.data._param3} → ${fl.data._param3} over ${elapsed.toFixed(1)} s`);
    const steps = prog.map((f) => f.data._param1);
    h.check(steps.every((s, i) => i === 0 || s >= steps[i - 1]), '§4 SWAP_PROGRESS', 'param1 = step number in the chain (does not go backwards)', steps.join(','));
    const known = prog.filter((f) => f.data._param2 > 0);
    h.note(`steps in chain (param2): ${[...new Set(prog.map((f) => f.data._param2))].join(',')}; eta (param4): ${prog.map((f) => f.data._param4).join(',')}; control socket step_count ${h.statusLog.map((s) => s.step_count).filter(Boolean).pop()}`);
    if (known.length) h.check(known.every((f) => f.data._param1 <= f.data._param2), '§4', 'step ≤ steps', known.map((f) => fmt(p4(f))).join(' '));
  }
  if (ok) checkSwapDetails(h, d, oldTag);
  checkNoViolations(h, d);
}, { timeoutMs: 50000 });

module.exports = { scenarios };
