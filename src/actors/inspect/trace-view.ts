// Draws a transaction trace on its statecharts: the states it passed highlighted with their
// step numbers, the transitions it took marked, the state it ended in outlined; as a standalone
// SVG, or an HTML page with the diagrams and the timeline of every event (RPCs, backoffs, locks).

import { esc } from "../../statecharts/index.js";
import type { TxnEvent, TxnLockEvent } from "../observe/events.js";
import { type TxnTrace, tracePath } from "../observe/trace.js";
import { type DrawnChart, edgeOf, stateIds } from "./charts.js";

/** CSS of a highlighted trace (embedded in the SVG, so the file stands alone). */
const TRACE_CSS =
  ".visited>rect{fill:#ffe9a8;stroke:#b8860b;stroke-width:2}.ancestor>rect{stroke:#b8860b;stroke-width:2}" +
  ".current>rect{fill:#ffc04d;stroke:#c05800;stroke-width:3}" +
  ".taken polyline{stroke:#c05800;stroke-width:2.5}.taken text{fill:#c05800;font-weight:bold}" +
  ".step{fill:#c05800;font-size:10px;font-weight:bold}";

/** What a path looks like on one chart. */
interface PathMarks {
  /** Leaf state id (XState id) → the steps (1-based) at which the path was there. */
  visited: Map<string, number[]>;
  /** Ancestors of visited states. */
  ancestors: Set<string>;
  /** The state ids the path ended in. */
  current: Set<string>;
  /** Drawn edge id → the steps that took it. */
  taken: Map<string, number[]>;
}

function push<K>(m: Map<K, number[]>, k: K, v: number): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/** The marks of `trace`'s path on `drawn`'s chart. */
function pathMarks(trace: TxnTrace, drawn: DrawnChart): PathMarks {
  const { states, events } = tracePath(trace, drawn.machine);
  const marks: PathMarks = { visited: new Map(), ancestors: new Set(), current: new Set(), taken: new Map() };
  states.forEach((st, i) => {
    const ids = stateIds(drawn.machine, st);
    for (const leaf of ids.leaves) push(marks.visited, leaf, i + 1);
    for (const a of ids.all) if (!ids.leaves.includes(a)) marks.ancestors.add(a);
    if (i === 0) return;
    for (const from of stateIds(drawn.machine, states[i - 1] as string).leaves)
      for (const to of ids.leaves) {
        const e = edgeOf(drawn, from, to, events[i - 1] ?? "");
        if (e !== undefined) push(marks.taken, e, i);
      }
  });
  const last = states.at(-1);
  if (last !== undefined) for (const leaf of stateIds(drawn.machine, last).leaves) marks.current.add(leaf);
  return marks;
}

/** `drawn`'s SVG with `marks` drawn on it (standalone: the highlight CSS is embedded). */
function highlightSvg(drawn: DrawnChart, marks: PathMarks): string {
  let svg = drawn.svg.replace(/<g class="node" data-state="([^"]+)"/g, (m, id: string) => {
    const cls = marks.current.has(id)
      ? "current"
      : marks.visited.has(id)
        ? "visited"
        : marks.ancestors.has(id)
          ? "ancestor"
          : "";
    return cls ? `<g class="node ${cls}" data-state="${id}"` : m;
  });
  svg = svg.replace(/<g class="edge" data-edge="([^"]+)"/g, (m, id: string) =>
    marks.taken.has(id) ? `<g class="edge taken" data-edge="${id}"` : m,
  );
  // step numbers at the top right of each visited state
  const badges: string[] = [];
  for (const n of drawn.layout.nodes) {
    const steps = n.stateId === undefined ? undefined : marks.visited.get(n.stateId);
    if (!steps) continue;
    badges.push(
      `<text x="${n.x + n.width - 2}" y="${n.y - 2}" text-anchor="end" class="step">${steps.join("·")}</text>`,
    );
  }
  return svg
    .replace("<style>", `<style>${TRACE_CSS}`)
    .replace(/<\/svg>\s*$/, `${badges.join("\n")}\n</svg>\n`);
}

/** The SVG of the first chart the trace passes (the committer's for a transaction). */
export function renderTraceSvg(trace: TxnTrace, charts: DrawnChart[]): string {
  const drawn = chartsOf(trace, charts)[0];
  if (!drawn) return emptySvg(`trace of txn ${trace.txn}: no statechart states recorded`);
  return highlightSvg(drawn, pathMarks(trace, drawn));
}

function emptySvg(text: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="40"><text x="10" y="24" font-family="sans-serif" font-size="13">${esc(text)}</text></svg>\n`;
}

function chartsOf(trace: TxnTrace, charts: DrawnChart[]): DrawnChart[] {
  return trace.machines
    .map((m) => charts.find((c) => c.machine === m))
    .filter((c): c is DrawnChart => c !== undefined);
}

/** A lock resolution: who met which locks (a read or a write), and what came of it. */
function describeLocks(e: TxnLockEvent): string {
  const met = e.locks?.length
    ? e.locks
        .map((l) => `${l.key} (${l.kind} of txn ${l.startTs}, primary ${l.primary}, ttl ${l.ttlMs} ms)`)
        .join(", ")
    : e.keys.join(", ");
  const learned = [
    e.ignored?.length ? `skipped from now on: txn ${e.ignored.join(", ")}` : "",
    e.readThrough?.length ? `read through (committed): txn ${e.readThrough.join(", ")}` : "",
  ].filter((x) => x !== "");
  return `${e.forRead ? "a read met" : "met"} locks of txn ${e.owners.join(", ")} on ${met}: ${e.outcome}${e.msBeforeExpired ? ` (expires in ${e.msBeforeExpired} ms)` : ""}${learned.length ? `; ${learned.join("; ")}` : ""}`;
}

/** One line of the timeline: what happened at `e`. */
function describeEvent(e: TxnEvent): string {
  switch (e.type) {
    case "begin":
      return `${e.kind} transaction began${e.asyncCommit ? ", async commit asked" : ""}${e.onePC ? ", 1PC asked" : ""}`;
    case "commitStart":
      return `commit of ${e.keys} key(s), primary ${e.primary}`;
    case "state":
      return `${e.machine}: ${e.from || "(start)"} → ${e.to}${e.event ? ` on ${e.event}` : ""}`;
    case "rpc":
      return `${e.command} to region ${e.regionId} on store ${e.storeId} (${e.address}), attempt ${e.attempt}: ${e.outcome}${e.detail ? ` (${e.detail})` : ""}, ${e.durationMs} ms`;
    case "backoff":
      return `backoff ${e.kind} ${e.sleepMs} ms: ${e.reason}`;
    case "lockResolve":
      return describeLocks(e);
    case "commit":
      return `committed at ${e.commitTs} (${e.mode ?? "nothing written"}${e.asyncCommitFallback ? ", async commit fell back" : ""}${e.onePCFallback ? ", 1PC fell back" : ""})`;
    case "rollback":
      return `${e.reason === "user" ? "rolled back" : e.reason === "undetermined" ? "outcome undetermined" : "commit failed"}${e.mode ? ` (${e.mode}${e.asyncCommitFallback ? ", async commit fell back" : ""}${e.onePCFallback ? ", 1PC fell back" : ""})` : ""}${e.error ? `: ${e.error.name}: ${e.error.message}` : ""}`;
  }
}

/** An HTML page: the highlighted charts and the timeline of every event. */
export function renderTraceHtml(trace: TxnTrace, charts: DrawnChart[]): string {
  const drawn = chartsOf(trace, charts);
  const t0 = trace.startedAt;
  const rows = trace.events
    .map(
      (e) =>
        `<tr class="ev-${e.type}"><td>+${e.at - t0} ms</td><td>${e.type}</td><td>${esc(describeEvent(e))}</td></tr>`,
    )
    .join("\n");
  const sections = drawn.length
    ? drawn
        .map(
          (d) =>
            `<section><h2>${esc(d.chart.name)}</h2><div class="chart">${highlightSvg(d, pathMarks(trace, d))}</div></section>`,
        )
        .join("\n")
    : "<p>No statechart states were recorded for this transaction.</p>";
  const took = trace.endedAt !== undefined ? `, ${trace.endedAt - trace.startedAt} ms` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tikv-ts trace of txn ${esc(trace.txn)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em}
.chart svg{max-width:100%;height:auto;border:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td{padding:.2em .7em;border-bottom:1px solid #eee;vertical-align:top}
td:first-child{font-family:ui-monospace,monospace;text-align:right;color:#666}
tr.ev-state td:nth-child(2){color:#c05800}tr.ev-rpc td:nth-child(2){color:#1565c0}
tr.ev-backoff td:nth-child(2),tr.ev-lockResolve td:nth-child(2){color:#6a1b9a}
.outcome-committed{color:#2e7d32}.outcome-failed,.outcome-undetermined{color:#c62828}
</style></head><body data-outcome="${trace.outcome}">
<h1>Transaction ${esc(trace.txn)} — <span class="outcome-${trace.outcome}">${trace.outcome}</span></h1>
<p>${trace.kind}, began ${new Date(trace.startedAt).toISOString()}${took}; ${trace.events.length} events. Highlighted: the states passed (step numbers in order), the transitions taken, the state it ended in.</p>
${sections}
<h2>Timeline</h2>
<table><tbody>
${rows}
</tbody></table>
</body></html>
`;
}
