// Reads an XState v5 machine definition into a plain graph of states and transitions, the one
// shape both renderers (Mermaid, SVG) draw from.
import type { AnyStateMachine, AnyStateNode } from "xstate";

export interface ChartState {
  id: string;
  key: string;
  kind: "atomic" | "compound" | "parallel" | "final" | "history";
  children: ChartState[];
  /** Id of the initial child, for compound states. */
  initial?: string;
}

export interface ChartEdge {
  from: string;
  to: string;
  label: string;
}

export interface Chart {
  name: string;
  root: ChartState;
  edges: ChartEdge[];
}

/** A safe identifier for diagram languages. */
export const chartId = (n: AnyStateNode): string => n.id.replace(/[^A-Za-z0-9_]/g, "_");

function eventLabel(node: AnyStateNode, type: string): string {
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

function guardLabel(guard: unknown): string {
  if (!guard) return "";
  if (typeof guard === "string") return ` [${guard}]`;
  if (typeof guard === "object" && "type" in (guard as object))
    return ` [${String((guard as { type: unknown }).type)}]`;
  return " [guard]";
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
    key: node.key,
    kind,
    children: kids.map((k) => readState(k, edges)),
  };
  const initial = node.initial?.target?.[0];
  if (kind === "compound" && initial) state.initial = chartId(initial);
  const defs: Array<[string, { target?: readonly AnyStateNode[] | undefined; guard?: unknown }]> = [];
  for (const [type, list] of node.transitions) for (const d of list) defs.push([type, d]);
  for (const d of node.always ?? []) defs.push(["", d]);
  for (const [type, d] of defs) {
    const targets = d.target && d.target.length ? d.target : [node];
    for (const to of targets)
      edges.push({
        from: chartId(node),
        to: chartId(to),
        label: eventLabel(node, type) + guardLabel(d.guard),
      });
  }
  return state;
}

/** The graph of `machine`, named `name`. */
export function readChart(name: string, machine: AnyStateMachine): Chart {
  const edges: ChartEdge[] = [];
  const root = readState(machine.root, edges);
  return { name, root, edges };
}

/** Whether a module export is an XState machine definition. */
export function isMachine(v: unknown): v is AnyStateMachine {
  return typeof v === "object" && v !== null && "root" in v && "implementations" in v && "config" in v;
}
