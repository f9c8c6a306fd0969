// The statechart diagrams the live view and the trace renderer draw on: the same renderer and
// layout as docs/statecharts (src/statecharts), whose SVG tags every state `data-state="<xstate
// id>"` and every edge `data-edge/data-from/data-to`, so a page can highlight states and mark
// transitions by id. Drawn once per process, on first use (the layout takes a moment).
import type { AnyStateMachine } from "xstate";
import { committerMachine } from "../../machines/committer.js";
import { lockResolutionMachine, lockResolverMachine } from "../../machines/lock-resolution.js";
import { pdMachine } from "../../machines/pd.js";
import { pipelinedFlushMachine } from "../../machines/pipelined-flush.js";
import { regionMachine } from "../../machines/region.js";
import { retryMachine } from "../../machines/retry.js";
import { storeMachine } from "../../machines/store.js";
import { type Chart, type ChartState, type Layout, renderMachine } from "../../statecharts/index.js";

/** The machines the client runs as actors (what the live view can show). */
const MACHINES: readonly AnyStateMachine[] = [
  pdMachine,
  storeMachine,
  regionMachine,
  retryMachine,
  committerMachine,
  lockResolverMachine,
  lockResolutionMachine,
  pipelinedFlushMachine,
];

/** A drawn chart. */
export interface DrawnChart {
  /** The machine's id ("committer", "pd", ...): what inspection reports as the actor's kind. */
  machine: string;
  chart: Chart;
  layout: Layout;
  svg: string;
}

const cache = new Map<string, Promise<DrawnChart>>();

/** The charts of `machines` (default: every actor machine), drawn once per process each. */
export function drawnCharts(machines?: readonly string[]): Promise<DrawnChart[]> {
  const wanted = MACHINES.filter((m) => machines === undefined || machines.includes(m.id));
  return Promise.all(
    wanted.map((m) => {
      let p = cache.get(m.id);
      if (!p) {
        p = renderMachine(m).then((r) => ({ machine: m.id, chart: r.chart, layout: r.layout, svg: r.svg }));
        cache.set(m.id, p);
      }
      return p;
    }),
  );
}

/**
 * The XState ids of the states a state text names ("a.b|c" → leaves `m.a.b`, `m.c`, and with
 * their ancestors `m.a`), leaves first.
 */
export function stateIds(machine: string, stateText: string): { leaves: string[]; all: string[] } {
  const leaves: string[] = [];
  const all = new Set<string>();
  for (const path of stateText.split("|")) {
    if (path === "") continue;
    const parts = path.split(".");
    for (let i = 1; i <= parts.length; i++) all.add(`${machine}.${parts.slice(0, i).join(".")}`);
    leaves.push(`${machine}.${path}`);
  }
  return { leaves, all: [...all] };
}

function chainTo(root: ChartState, stateId: string): Set<string> {
  const path: string[] = [];
  const walk = (s: ChartState): boolean => {
    path.push(s.id);
    if (s.stateId === stateId) return true;
    for (const c of s.children) if (walk(c)) return true;
    path.pop();
    return false;
  };
  return walk(root) ? new Set(path) : new Set();
}

/**
 * The id of the drawn edge a transition took: a transition of `event` from (an ancestor of)
 * `fromStateId` to (an ancestor of) `toStateId`; failing that an eventless one (`always`,
 * delays, done events) between them. undefined when none matches.
 */
export function edgeOf(
  drawn: DrawnChart,
  fromStateId: string,
  toStateId: string,
  event: string,
): string | undefined {
  const from = chainTo(drawn.chart.root, fromStateId);
  const to = chainTo(drawn.chart.root, toStateId);
  let best = -1;
  const edges = drawn.chart.edges;
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i] as (typeof edges)[number];
    if (!from.has(e.from) || !to.has(e.to)) continue;
    if (e.event === event) {
      best = i;
      break;
    }
    if (best < 0 && (e.event === "" || e.event.startsWith("xstate."))) best = i;
  }
  if (best < 0) return undefined;
  return drawn.layout.edges.find((e) => e.transitions.includes(best))?.id;
}
