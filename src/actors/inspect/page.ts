// The live view's web page: a table of actors whose rows update from a Server-Sent Events
// stream. Self-contained (no external scripts, fonts or hosted viewer).

/** The HTML page served at "/". */
export const LIVE_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tikv-ts live statecharts</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  #status { color: #666; margin-bottom: 1em; }
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
<h1>tikv-ts — live actor states</h1>
<div id="status">connecting…</div>
<table>
  <thead><tr><th>machine</th><th>actor</th><th>state</th><th>last event</th><th>transitions</th><th>status</th></tr></thead>
  <tbody id="actors"></tbody>
</table>
<div id="log"></div>
<script>
const rows = new Map();
let changes = 0;
const body = document.getElementById("actors");
const status = document.getElementById("status");
const log = document.getElementById("log");
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
}
function drop(id) { const tr = rows.get(id); if (tr) { tr.remove(); rows.delete(id); } }
const es = new EventSource("events");
es.addEventListener("open", () => { status.textContent = "live"; document.body.dataset.live = "1"; });
es.addEventListener("error", () => { status.textContent = "disconnected (retrying)"; });
es.addEventListener("snapshot", (e) => { for (const v of JSON.parse(e.data)) show(v); });
es.addEventListener("view", (e) => show(JSON.parse(e.data)));
es.addEventListener("gone", (e) => drop(JSON.parse(e.data)));
</script>
</body>
</html>
`;
