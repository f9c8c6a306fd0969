// Reads an XState v5 machine definition into a plain graph of states and transitions: the one
// shape the Mermaid text, the ELK layout and the SVG are drawn from. Pure (no I/O).
import type { AnyStateMachine, AnyStateNode } from "xstate";

/** One state of a chart. */
export interface ChartState {
  /** A diagram-safe identifier (the XState id with every non-word character as `_`). */
  id: string;
  /** The XState state node id (`committer.prewriting`): what snapshots and inspection report. */
  stateId: string;
  /** The state's own key (`prewriting`). */
  key: string;
  kind: "atomic" | "compound" | "parallel" | "final" | "history";
  children: ChartState[];
  /** Id of the initial child, for compound states. */
  initial?: string;
  /** `meta.phase` of the state: siblings sharing a phase are drawn inside one box. */
  phase?: string;
}

/** One transition (one branch of a guarded list is one edge). */
export interface ChartEdge {
  from: string;
  to: string;
  /** The XState event type (`""` for eventless `always` transitions). */
  event: string;
  /** The readable event part of the label (`always`, `after backoff`, `done: discover`, `COMMIT`). */
  trigger: string;
  /** The guard as written: a name, a composition of names (`!a`, `a && b`), `else` or undefined. */
  guard?: string;
  /** The guard is an inline function: it has no name to show (the chart test forbids it). */
  anonymousGuard: boolean;
  /** `trigger [guard]`; eventless guarded transitions: `[guard]`. */
  label: string;
}

/** A machine as a graph. */
export interface Chart {
  name: string;
  root: ChartState;
  edges: ChartEdge[];
}

/** A safe identifier for diagram languages. */
export const chartId = (n: AnyStateNode): string => n.id.replace(/[^A-Za-z0-9_]/g, "_");

function triggerOf(node: AnyStateNode, type: string): string {
  if (type === "") return "always";
  if (type.startsWith("xstate.after.")) {
    const after = node.after.find((a) => a.eventType === type);
    const delay = after?.delay;
    return `after ${typeof delay === "number" ? `${delay}ms` : typeof delay === "string" ? delay : "delay"}`;
  }
  for (const kind of ["done", "error"] as const) {
    const prefix = `xstate.${kind}.actor.`;
    if (type.startsWith(prefix)) {
      const id = type.slice(prefix.length);
      const inv = node.invoke.find((i) => i.id === id);
      const src = typeof inv?.src === "string" ? inv.src : id;
      return `${kind}: ${src}`;
    }
  }
  if (type.startsWith("xstate.done.state.")) return "done";
  return type;
}

interface GuardName {
  text: string;
  anonymous: boolean;
}

// xstate's not/and/or return a function named after the operator, carrying `.guards`.
function guardName(guard: unknown): GuardName {
  if (typeof guard === "string") return { text: guard, anonymous: false };
  if (typeof guard === "object" && guard !== null && "type" in guard)
    return { text: String((guard as { type: unknown }).type), anonymous: false };
  if (typeof guard === "function") {
    const inner = (guard as { guards?: unknown[] }).guards;
    if (Array.isArray(inner)) {
      const parts = inner.map(guardName);
      const anonymous = parts.some((p) => p.anonymous);
      if (guard.name === "not") return { text: `!${parts[0]?.text ?? "?"}`, anonymous };
      const op = guard.name === "or" ? " || " : " && ";
      return { text: `(${parts.map((p) => p.text).join(op)})`, anonymous };
    }
  }
  return { text: "inline guard", anonymous: true };
}

interface TransitionDef {
  target?: readonly AnyStateNode[] | undefined;
  guard?: unknown;
}

function readState(node: AnyStateNode, edges: ChartEdge[]): ChartState {
  const kids = Object.values(node.states) as AnyStateNode[];
  const kind: ChartState["kind"] =
    node.type === "final"
      ? "final"
      : node.type === "history"
        ? "history"
        : node.type === "parallel"
          ? "parallel"
          : kids.length
            ? "compound"
            : "atomic";
  const state: ChartState = {
    id: chartId(node),
    stateId: node.id,
    key: node.key,
    kind,
    children: kids.map((k) => readState(k, edges)),
  };
  const phase = (node.meta as { phase?: unknown } | undefined)?.phase;
  if (typeof phase === "string") state.phase = phase;
  const initial = node.initial?.target?.[0];
  if (kind === "compound" && initial) state.initial = chartId(initial);
  const lists: Array<[string, readonly TransitionDef[]]> = [...node.transitions];
  if (node.always?.length) lists.push(["", node.always]);
  for (const [type, list] of lists) {
    list.forEach((d, i) => {
      // an unguarded branch after guarded ones is taken only when they all fail: say so
      const g = d.guard ? guardName(d.guard) : i > 0 ? { text: "else", anonymous: false } : undefined;
      const trigger = triggerOf(node, type);
      const targets = d.target?.length ? d.target : [node];
      for (const to of targets) {
        const edge: ChartEdge = {
          from: chartId(node),
          to: chartId(to),
          event: type,
          trigger,
          anonymousGuard: g?.anonymous ?? false,
          // UML style: an eventless transition with a guard shows only the guard
          label: g ? (type === "" ? `[${g.text}]` : `${trigger} [${g.text}]`) : trigger,
        };
        if (g) edge.guard = g.text;
        edges.push(edge);
      }
    });
  }
  return state;
}

/** The graph of `machine`, named `name` (default: the machine's id). */
export function readChart(machine: AnyStateMachine, name: string = machine.id): Chart {
  const edges: ChartEdge[] = [];
  const root = readState(machine.root, edges);
  return { name, root, edges };
}

/** Every state of `chart`, depth first from the root. */
export function chartStates(chart: Chart): ChartState[] {
  const out: ChartState[] = [];
  const walk = (s: ChartState) => {
    out.push(s);
    s.children.forEach(walk);
  };
  walk(chart.root);
  return out;
}

/** Whether a module export is an XState machine definition. */
export function isMachine(v: unknown): v is AnyStateMachine {
  return typeof v === "object" && v !== null && "root" in v && "implementations" in v && "config" in v;
}
