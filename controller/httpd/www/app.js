// The station's status page: polls the read-only JSON API (the control protocol's read
// replies) and follows the event stream. No framework, nothing loaded from elsewhere.
'use strict';

const REFRESH_MS = 1000;
const MAX_EVENTS = 40;
const MAX_ONPAD = 30;
const $ = (id) => document.getElementById(id);

let paused = false;
let onpad = [];          // on-pad times (s) of the last swaps, oldest first
let lastSeq = 0;
let bound = 0;
let refreshTimer = null;
let inFlight = false;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

async function api(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  const j = await r.json();
  if (!j.ok) throw new Error(path + ': ' + (j.error && j.error.message));
  return j.result;
}

const fmt = {
  pct: (v) => (v === null || v === undefined ? '—' : v.toFixed(0) + ' %'),
  pct1: (v) => (v === null || v === undefined ? '—' : v.toFixed(1) + ' %'),
  s: (v) => (v === null || v === undefined ? '—' : v.toFixed(1) + ' s'),
  deg: (v) => (v === null || v === undefined ? '—' : v.toFixed(1) + ' °C'),
  time: (ms) => new Date(ms).toLocaleTimeString([], { hour12: false }),
};

function stateClass(s) {
  if (['Execute', 'Idle', 'Starting', 'Completing', 'Complete', 'Resetting'].includes(s)) return 'state run';
  if (['Held', 'Holding', 'Suspended', 'Suspending', 'Unholding', 'Unsuspending'].includes(s)) return 'state hold';
  if (['Aborted', 'Aborting', 'Stopped', 'Stopping', 'Clearing'].includes(s)) return 'state stop';
  return 'state';
}

function renderStatus(st) {
  const state = $('state');
  state.textContent = st.state;
  state.className = stateClass(st.state);
  $('mode').textContent = st.mode;
  $('plant').textContent = st.plant_link;
  $('step').textContent = st.step || 'none';
  $('step-of').textContent = st.step ? `(${st.step_index} of ${st.step_count})` : '';
  const p = $('progress');
  const pct = st.step ? Math.round(st.progress_pct) : 0;
  p.value = pct;
  p.textContent = pct + ' %';
  p.setAttribute('aria-valuetext', st.step ? `${st.step}, ${pct} % of the swap` : 'no swap running');
  $('serving').textContent = st.drone ? 'drone ' + st.drone : '—';
  $('eta').textContent = fmt.s(st.eta_s);
  $('swaps').textContent = st.swaps;
  $('onpad').textContent = st.swaps ? fmt.s(st.last_onpad_s) : '—';
  bound = st.onpad_lower_bound_s || 0;
  $('bound').textContent = fmt.s(st.onpad_lower_bound_s);
  $('late').textContent = st.scan ? (st.scan.late_p99_us / 1000).toFixed(2) + ' ms' : '—';
}

function meter(v) {
  const m = el('span', 'meter' + (v !== null && v < 30 ? ' low' : ''));
  const f = el('span');
  f.style.width = Math.max(0, Math.min(100, v || 0)) + '%';
  m.appendChild(f);
  m.setAttribute('aria-hidden', 'true');
  return m;
}

function renderSlots(res) {
  const body = $('slots').tBodies[0];
  const rows = res.slots.map((s) => {
    const tr = el('tr');
    tr.dataset.slot = s.slot;
    tr.appendChild(el('th', null, s.slot)).setAttribute('scope', 'row');
    tr.appendChild(el('td', 'pack', s.battery || (s.charge === 'empty' ? 'empty' : 'unknown')));
    const soc = el('td', 'soc');
    if (s.soc_pct !== null) soc.appendChild(meter(s.soc_pct));
    soc.appendChild(el('span', 'soc-value', fmt.pct1(s.soc_pct)));
    tr.appendChild(soc);
    tr.appendChild(el('td', 'soh', fmt.pct(s.soh_pct)));
    tr.appendChild(el('td', 'temp', fmt.deg(s.temp_degC)));
    tr.appendChild(el('td', s.charge === 'fault' ? 'charge charge-fault' : 'charge', s.charge));
    return tr;
  });
  body.replaceChildren(...rows);
}

function renderDrones(res) {
  const body = $('drones').tBodies[0];
  const rows = res.drones.map((d) => {
    const tr = el('tr');
    tr.appendChild(el('th', null, d.sysid)).setAttribute('scope', 'row');
    tr.appendChild(el('td', null, d.state.replace('_', ' ')));
    tr.appendChild(el('td', null, d.queue_pos ? '#' + d.queue_pos : '—'));
    tr.appendChild(el('td', null, d.battery || '—'));
    tr.appendChild(el('td', null, fmt.pct(d.battery_pct)));
    return tr;
  });
  if (!rows.length) {
    const tr = el('tr');
    const td = el('td', 'none', 'No drone heard yet.');
    td.colSpan = 5;
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $('queue').textContent = res.queue ? res.queue.length : res.drones.filter((d) => d.queue_pos).length;
}

function renderAlarms(res) {
  const box = $('alarms');
  const list = res.alarms;
  $('alarm-count').textContent = list.length;
  $('alarms-box').classList.toggle('active', list.length > 0);
  const key = list.map((a) => a.code + (a.acked ? '+' : '')).join(',');
  if (box.dataset.key === key) return;   // unchanged: do not re-announce
  box.dataset.key = key;
  if (!list.length) {
    box.replaceChildren(el('p', 'none', 'No active alarms.'));
    return;
  }
  box.replaceChildren(...list.map((a) => {
    const d = el('div', 'alarm ' + a.severity);
    d.dataset.code = a.code;
    d.appendChild(el('span', 'sev', a.severity + (a.acked ? ', acknowledged' : '')));
    d.appendChild(el('strong', null, a.code));
    d.appendChild(el('span', 'text', a.text));
    return d;
  }));
}

function addEvent(e) {
  if (e.seq <= lastSeq) return;
  lastSeq = e.seq;
  if (e.type === 'swap') {
    const m = /cleared for take-off, on pad ([0-9.]+) s/.exec(e.text);
    if (m) {
      onpad.push(parseFloat(m[1]));
      if (onpad.length > MAX_ONPAD) onpad.shift();
      renderSpark();
    }
  }
  const list = $('events');
  const li = el('li', e.type === 'alarm' ? 'alarm-ev' : null);
  const t = el('time', null, fmt.time(e.time_ms));
  t.dateTime = new Date(e.time_ms).toISOString();
  li.appendChild(t);
  li.appendChild(el('span', 'type', e.type));
  li.appendChild(el('span', 'text', e.text));
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function renderSpark() {
  const svg = $('sparkline');
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  if (!onpad.length) return;
  const hi = Math.max(...onpad, bound) * 1.1;
  const lo = 0;
  const y = (v) => (60 - ((v - lo) / (hi - lo || 1)) * 56 - 2).toFixed(1);
  const step = onpad.length > 1 ? 300 / (onpad.length - 1) : 0;
  if (bound) {
    const l = document.createElementNS(ns, 'line');
    l.setAttribute('x1', '0'); l.setAttribute('x2', '300');
    l.setAttribute('y1', y(bound)); l.setAttribute('y2', y(bound));
    svg.appendChild(l);
  }
  const pl = document.createElementNS(ns, 'polyline');
  const pts = onpad.length > 1 ? onpad.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`)
    : [`0,${y(onpad[0])}`, `300,${y(onpad[0])}`];
  pl.setAttribute('points', pts.join(' '));
  svg.appendChild(pl);
  const last = onpad[onpad.length - 1];
  $('spark-range').textContent = `${onpad.length} swap${onpad.length === 1 ? '' : 's'}: last ${last.toFixed(1)} s, ` +
    `best ${Math.min(...onpad).toFixed(1)} s, worst ${Math.max(...onpad).toFixed(1)} s`;
  svg.setAttribute('aria-label', `On-pad time of the last ${onpad.length} swaps: last ${last.toFixed(1)} s, ` +
    `best ${Math.min(...onpad).toFixed(1)} s, lower bound ${bound.toFixed(1)} s`);
}

async function refresh() {
  if (paused || inFlight) return;
  inFlight = true;
  try {
    const [st, sl, dr, al] = await Promise.all([api('/api/v1/status'), api('/api/v1/slots'),
      api('/api/v1/drones'), api('/api/v1/alarms')]);
    renderStatus(st);
    renderSlots(sl);
    renderDrones(dr);
    renderAlarms(al);
    document.body.classList.remove('stale');
  } catch (err) {
    document.body.classList.add('stale');
    $('live').textContent = 'no answer: ' + err.message;
  } finally {
    inFlight = false;
  }
}

function soon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 100);
}

async function start() {
  try {
    const ev = await api('/api/v1/events?limit=256');
    ev.events.forEach(addEvent);
  } catch (err) { /* the stream fills in */ }
  await refresh();
  const es = new EventSource('/api/v1/events/stream' + (lastSeq ? '?last_id=' + lastSeq : ''));
  es.onopen = () => { $('live').textContent = paused ? 'paused' : 'live'; };
  es.onerror = () => { $('live').textContent = 'reconnecting'; };
  es.onmessage = (m) => {
    if (paused) return;
    addEvent(JSON.parse(m.data));
    soon();
  };
  setInterval(refresh, REFRESH_MS);
  $('pause').addEventListener('click', () => {
    paused = !paused;
    $('pause').setAttribute('aria-pressed', String(paused));
    $('pause').textContent = paused ? 'Resume updates' : 'Pause updates';
    $('live').textContent = paused ? 'paused' : 'live';
    if (!paused) refresh();
  });
}

document.addEventListener('DOMContentLoaded', start);
