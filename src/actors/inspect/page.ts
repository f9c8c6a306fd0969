// The live view's web page. Diagrams: each recently active actor drawn as its statechart (the
// SVGs of /charts, the docs/statecharts layout) with the active state highlighted and the last
// transition marked; a transactions pane, one lane per transaction (start ts, mode, keys,
// regions, states passed with timings, RPC batches, backoffs, lock resolutions), filterable;
// and the table of every actor. Updates from a Server-Sent Events stream. Self-contained (no
// external scripts, fonts or hosted viewer).

/** The HTML page served at "/". */
export const LIVE_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tikv-ts live statecharts</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
  #status { color: #666; margin-bottom: 1em; }
  .bar { display: flex; gap: 1em; align-items: center; margin: .3em 0 .6em; font-size: 13px; }
  #diagrams { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: .8em; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: .4em .6em; background: #fff; }
  .card.done { opacity: .55; }
  .card .head { font-size: 12px; margin-bottom: .3em; } .card .head b { font-family: ui-monospace, monospace; }
  .card .svg svg { width: 100%; height: auto; max-height: 420px; }
  .card .ev { font-size: 11px; color: #c05800; font-family: ui-monospace, monospace; }
  svg .node.active > rect { fill: #ffe08a; stroke: #b8860b; stroke-width: 2.5; }
  svg .node.ancestor > rect { stroke: #b8860b; stroke-width: 2; }
  svg .node.prev > rect { stroke: #c05800; stroke-dasharray: 4 2; stroke-width: 2; }
  svg .edge.taken polyline { stroke: #d2691e; stroke-width: 3; }
  svg .edge.taken text { fill: #d2691e; font-weight: bold; }
  #lanes { display: flex; flex-direction: column; gap: .4em; }
  .lane { border-left: 4px solid #3a63b8; padding: .3em .6em; background: #f8f9fc; font-size: 12px; }
  .lane.committed { border-color: #2e7d32; } .lane.failed, .lane.undetermined { border-color: #c62828; }
  .lane.rolledBack { border-color: #888; }
  .lane .id { font-family: ui-monospace, monospace; font-weight: 600; }
  .lane .phases span { display: inline-block; margin: .15em .3em .15em 0; padding: 0 .4em; border-radius: 3px; background: #e3ebfa; font-family: ui-monospace, monospace; }
  .lane .phases span.last { background: #ffe08a; }
  .lane .rpcs { color: #555; font-family: ui-monospace, monospace; white-space: pre-wrap; }
  table { border-collapse: collapse; min-width: 48em; }
  th, td { text-align: left; padding: .3em .8em; border-bottom: 1px solid #ddd; }
  th { background: #f4f4f4; }
  td.state { font-family: ui-monospace, monospace; font-weight: 600; }
  tr.changed td { background: #fff3b0; transition: background .8s; }
  tr.done td { color: #888; }
  .machine-pd td.machine { color: #6a1b9a; } .machine-store td.machine { color: #1565c0; }
  .machine-region td.machine { color: #2e7d32; } .machine-retry td.machine { color: #c62828; }
  #log { margin-top: 1.5em; font-family: ui-monospace, monospace; font-size: 12px; color: #444; max-height: 18em; overflow: auto; }
</style>
</head>
<body>
<h1>tikv-ts — live statecharts</h1>
<div id="status">connecting…</div>
<h2>Actors</h2>
<div class="bar">
  <label>machine <select id="machineFilter"><option value="">all</option></select></label>
  <label>diagrams <input id="maxCards" type="number" min="1" max="60" value="9" style="width:4em"></label>
  <span id="chartsStatus"></span>
</div>
<div id="diagrams"></div>
<h2>Transactions</h2>
<div class="bar">
  <label>filter <input id="txnFilter" placeholder="start ts, mode, state, key, region, outcome" size="40"></label>
  <span id="txnCount"></span>
</div>
<div id="lanes"></div>
<h2>All actors</h2>
<table>
  <thead><tr><th>machine</th><th>actor</th><th>state</th><th>last event</th><th>transitions</th><th>status</th></tr></thead>
  <tbody id="actors"></tbody>
</table>
<div id="log"></div>
<script>
"use strict";
const rows = new Map();
let changes = 0;
const body = document.getElementById("actors");
const status = document.getElementById("status");
const log = document.getElementById("log");

// ---- diagrams ----
const charts = new Map(); // machine id -> svg text
const cards = new Map(); // session -> { el, view, prev }
const diagrams = document.getElementById("diagrams");
const machineFilter = document.getElementById("machineFilter");
const maxCards = document.getElementById("maxCards");
const chartId = (id) => id.replace(/[^A-Za-z0-9_]/g, "_");
function stateIds(machine, text) {
  const leaves = [], all = [];
  for (const path of String(text).split("|")) {
    if (!path) continue;
    const parts = path.split(".");
    for (let i = 1; i <= parts.length; i++) all.push(machine + "." + parts.slice(0, i).join("."));
    leaves.push(machine + "." + path);
  }
  return { leaves, all };
}
function chainOf(svg, stateId) {
  // the chart ids of stateId and its ancestors, innermost first
  const out = [];
  const parts = stateId.split(".");
  for (let i = parts.length; i >= 1; i--) out.push(chartId(parts.slice(0, i).join(".")));
  return out;
}
const asked = new Set();
let chartCount = 0;
function needChart(machine) {
  if (asked.has(machine)) return;
  asked.add(machine);
  fetch("charts?machines=" + encodeURIComponent(machine)).then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)))).then((list) => {
    for (const c of list) {
      charts.set(c.machine, c.svg);
      chartCount++;
      const o = document.createElement("option");
      o.value = c.machine;
      o.textContent = c.machine;
      machineFilter.appendChild(o);
    }
    document.getElementById("chartsStatus").textContent = chartCount + " statecharts";
    document.body.dataset.charts = String(chartCount);
    for (const c of cards.values()) if (c.view.machine === machine) paint(c);
  }, (e) => { document.getElementById("chartsStatus").textContent = "diagrams unavailable: " + e.message; });
}

function paint(card) {
  const v = card.view;
  const svgText = charts.get(v.machine);
  const head = card.el.querySelector(".head");
  head.innerHTML = "";
  const b = document.createElement("b");
  b.textContent = v.machine;
  head.append(b, " " + v.actorId + " — ", v.state + (v.status === "active" ? "" : " (" + v.status + ")"));
  card.el.querySelector(".ev").textContent = card.prev ? card.prev + " → " + v.state + (v.lastEvent ? "  on " + v.lastEvent : "") : "";
  card.el.classList.toggle("done", v.status !== "active");
  const holder = card.el.querySelector(".svg");
  if (!svgText) return;
  if (!holder.firstChild) holder.innerHTML = svgText;
  const svg = holder.querySelector("svg");
  if (!svg) return;
  for (const n of svg.querySelectorAll(".active,.ancestor,.prev,.taken")) n.classList.remove("active", "ancestor", "prev", "taken");
  const now = stateIds(v.machine, v.state);
  for (const id of now.all) {
    const g = svg.querySelector('[data-state="' + CSS.escape(id) + '"]');
    if (g) g.classList.add(now.leaves.includes(id) ? "active" : "ancestor");
  }
  if (!card.prev) return;
  const before = stateIds(v.machine, card.prev).leaves;
  for (const from of before) {
    const g = svg.querySelector('[data-state="' + CSS.escape(from) + '"]');
    if (g && !now.leaves.includes(from)) g.classList.add("prev");
    for (const to of now.leaves) {
      let edge = null;
      for (const f of chainOf(svg, from)) {
        for (const t of chainOf(svg, to)) {
          edge = svg.querySelector('.edge[data-from="' + f + '"][data-to="' + t + '"]');
          if (edge) break;
        }
        if (edge) break;
      }
      if (edge) edge.classList.add("taken");
    }
  }
}
function showCard(v) {
  needChart(v.machine);
  let card = cards.get(v.sessionId);
  if (!card) {
    const el = document.createElement("div");
    el.className = "card";
    el.dataset.session = v.sessionId;
    el.dataset.machine = v.machine;
    el.innerHTML = '<div class="head"></div><div class="ev"></div><div class="svg"></div>';
    card = { el, view: v, prev: "" };
    cards.set(v.sessionId, card);
  } else if (card.view.state !== v.state) {
    card.prev = card.view.state;
  }
  card.view = v;
  card.el.dataset.state = v.state;
  card.at = Date.now();
  paint(card);
  layoutCards();
}
function layoutCards() {
  const want = machineFilter.value;
  const max = Math.max(1, Number(maxCards.value) || 9);
  const list = [...cards.values()].filter((c) => !want || c.view.machine === want);
  // live actors first (newest change first), finished ones after
  list.sort((a, b) => (a.view.status === "active") === (b.view.status === "active") ? b.at - a.at : a.view.status === "active" ? -1 : 1);
  const shown = list.slice(0, max);
  for (const c of cards.values()) if (!shown.includes(c) && c.el.parentNode) c.el.remove();
  shown.forEach((c, i) => { if (diagrams.children[i] !== c.el) diagrams.insertBefore(c.el, diagrams.children[i] || null); });
  while (cards.size > 400) { const k = cards.keys().next().value; cards.get(k).el.remove(); cards.delete(k); }
}
machineFilter.addEventListener("change", layoutCards);
maxCards.addEventListener("change", layoutCards);

// ---- transactions pane ----
const lanes = new Map(); // txn -> lane
const lanesEl = document.getElementById("lanes");
const txnFilter = document.getElementById("txnFilter");
function newLane(txn, at) {
  return { txn, kind: "optimistic", startedAt: at, outcome: "active", keys: 0, sampleKeys: [], regions: [], states: [], rpcs: 0, backoffs: 0, locks: 0, events: [] };
}
function fold(lane, e) {
  lane.events.push(e);
  if (lane.events.length > 300) lane.events.shift();
  if (e.type === "begin") { lane.kind = e.kind; lane.startedAt = e.at; }
  else if (e.type === "commitStart") { lane.keys = e.keys; lane.sampleKeys = e.sampleKeys; }
  else if (e.type === "state") lane.states.push({ state: e.to, at: e.at });
  else if (e.type === "rpc") { lane.rpcs++; if (!lane.regions.includes(e.regionId)) lane.regions.push(e.regionId); }
  else if (e.type === "backoff") lane.backoffs++;
  else if (e.type === "lockResolve") lane.locks++;
  else if (e.type === "commit") { lane.mode = e.mode; lane.outcome = "committed"; lane.endedAt = e.at; }
  else if (e.type === "rollback") { if (e.mode) lane.mode = e.mode; lane.outcome = e.reason === "user" ? "rolledBack" : e.reason === "undetermined" ? "undetermined" : "failed"; lane.endedAt = e.at; }
}
function laneText(l) {
  return [l.txn, l.kind, l.mode || "", l.outcome, l.sampleKeys.join(" "), l.regions.map((r) => "region " + r).join(" "), l.states.map((s) => s.state).join(" ")].join(" ").toLowerCase();
}
function renderLane(l) {
  let el = l.el;
  if (!el) {
    el = document.createElement("div");
    el.dataset.txn = l.txn;
    l.el = el;
  }
  el.className = "lane " + l.outcome;
  el.dataset.outcome = l.outcome;
  el.dataset.states = l.states.map((s) => s.state).join(",");
  const took = (l.endedAt || Date.now()) - l.startedAt;
  const head = document.createElement("div");
  const id = document.createElement("span");
  id.className = "id";
  id.textContent = "txn " + l.txn;
  head.append(id, "  " + l.kind + (l.mode ? " · " + l.mode : "") + " · " + l.outcome + " · " + took + " ms · " + l.keys + " key(s)" +
    (l.sampleKeys.length ? " [" + l.sampleKeys.slice(0, 4).join(", ") + (l.sampleKeys.length > 4 ? ", …" : "") + "]" : "") +
    " · regions " + (l.regions.join(", ") || "-") + " · " + l.rpcs + " RPCs · " + l.backoffs + " backoffs · " + l.locks + " lock resolutions");
  const phases = document.createElement("div");
  phases.className = "phases";
  l.states.forEach((s, i) => {
    const span = document.createElement("span");
    const next = l.states[i + 1];
    span.textContent = s.state + " +" + (s.at - l.startedAt) + "ms" + (next ? " (" + (next.at - s.at) + "ms)" : "");
    if (i === l.states.length - 1) span.className = "last";
    phases.appendChild(span);
  });
  const rpcs = document.createElement("div");
  rpcs.className = "rpcs";
  rpcs.textContent = l.events.filter((e) => e.type === "rpc" || e.type === "backoff" || e.type === "lockResolve").slice(-8).map((e) =>
    e.type === "rpc" ? e.command + " region " + e.regionId + " store " + e.storeId + ": " + e.outcome + (e.detail ? " (" + e.detail + ")" : "") + " " + e.durationMs + "ms"
    : e.type === "backoff" ? "backoff " + e.kind + " " + e.sleepMs + "ms"
    : (e.forRead ? "read met locks of " : "locks of ") + e.owners.join(",") + (e.locks && e.locks.length ? " (" + e.locks.map((k) => k.kind + " " + k.key).join(", ") + ")" : "") + ": " + e.outcome).join("\\n");
  el.replaceChildren(head, phases, rpcs);
  el.hidden = !!txnFilter.value && !laneText(l).includes(txnFilter.value.toLowerCase());
  return el;
}
let keepFinished = 50;
function trimLanes() {
  const finished = [...lanes.values()].filter((l) => l.outcome !== "active");
  for (const l of finished.slice(0, Math.max(0, finished.length - keepFinished))) { l.el && l.el.remove(); lanes.delete(l.txn); }
  document.getElementById("txnCount").textContent = lanes.size + " transactions (" + [...lanes.values()].filter((l) => l.outcome === "active").length + " open)";
  document.body.dataset.txns = String(lanes.size);
}
function onTxn(e) {
  let l = lanes.get(e.txn);
  if (!l) { l = newLane(e.txn, e.at); lanes.set(e.txn, l); }
  fold(l, e);
  const el = renderLane(l);
  if (!el.parentNode) lanesEl.prepend(el);
  if (l.outcome !== "active") trimLanes();
  else document.body.dataset.txns = String(lanes.size);
}
txnFilter.addEventListener("input", () => { for (const l of lanes.values()) renderLane(l); });

// ---- table ----
function cell(tr, i, text, cls) { const td = tr.children[i]; td.textContent = text; if (cls) td.className = cls; }
function show(v) {
  let tr = rows.get(v.sessionId);
  if (!tr) {
    tr = document.createElement("tr");
    for (let i = 0; i < 6; i++) tr.appendChild(document.createElement("td"));
    tr.dataset.session = v.sessionId;
    rows.set(v.sessionId, tr);
    body.appendChild(tr);
  }
  tr.className = "machine-" + v.machine + (v.status === "active" ? "" : " done");
  cell(tr, 0, v.machine, "machine");
  cell(tr, 1, v.actorId);
  cell(tr, 2, v.state, "state");
  cell(tr, 3, v.lastEvent);
  cell(tr, 4, String(v.transitions));
  cell(tr, 5, v.status);
  tr.dataset.state = v.state;
  tr.classList.add("changed");
  setTimeout(() => tr.classList.remove("changed"), 600);
  changes++;
  document.body.dataset.changes = String(changes);
  const line = document.createElement("div");
  line.textContent = new Date(v.updatedAt).toISOString().slice(11, 23) + "  " + v.machine + " " + v.actorId + " → " + v.state;
  log.prepend(line);
  while (log.childElementCount > 200) log.lastChild.remove();
  showCard(v);
}
function drop(id) {
  const tr = rows.get(id); if (tr) { tr.remove(); rows.delete(id); }
  const c = cards.get(id); if (c) { c.el.remove(); cards.delete(id); }
}
const es = new EventSource("events");
es.addEventListener("open", () => { status.textContent = "live"; document.body.dataset.live = "1"; });
es.addEventListener("error", () => { status.textContent = "disconnected (retrying)"; });
es.addEventListener("snapshot", (e) => { for (const v of JSON.parse(e.data)) show(v); });
es.addEventListener("view", (e) => show(JSON.parse(e.data)));
es.addEventListener("gone", (e) => drop(JSON.parse(e.data)));
es.addEventListener("txns", (e) => {
  for (const lane of JSON.parse(e.data)) {
    const l = newLane(lane.txn, lane.startedAt);
    for (const ev of lane.events) fold(l, ev);
    const old = lanes.get(l.txn); if (old && old.el) old.el.remove();
    lanes.set(l.txn, l);
    lanesEl.prepend(renderLane(l));
  }
  trimLanes();
});
es.addEventListener("txn", (e) => onTxn(JSON.parse(e.data)));
es.addEventListener("config", (e) => { keepFinished = JSON.parse(e.data).keepFinishedTxns; });
</script>
</body>
</html>
`;
