// State and transition coverage of a real machine, measured from what its actors did.
// The graph is read from the machine definition (every state node; every transition
// definition, `always` included, one edge per guarded branch); what was taken is read from
// xstate's inspection events (`@xstate.microstep` carries the transition definitions taken,
// snapshots carry the active state nodes), so coverage counts the real actor's steps, not
// the abstract model's.
import type { AnyStateMachine, AnyStateNode, InspectionEvent } from "xstate";

interface TransitionLike {
  source: AnyStateNode;
  eventType: string;
  target?: readonly AnyStateNode[] | undefined;
}

/** One edge of a machine's graph. */
export interface Edge {
  key: string;
  source: string;
  event: string;
  targets: string;
}

function label(eventType: string): string {
  return eventType === "" ? "always" : eventType;
}

function edgesOf(
  node: AnyStateNode,
): Array<{ def: TransitionLike; key: string; event: string; idx: number }> {
  const out: Array<{ def: TransitionLike; key: string; event: string; idx: number }> = [];
  for (const [eventType, defs] of node.transitions) {
    (defs as TransitionLike[]).forEach((def, idx) => {
      out.push({ def, key: `${node.id}|${eventType}|${idx}`, event: eventType, idx });
    });
  }
  (node.always ?? []).forEach((def: TransitionLike, idx: number) => {
    out.push({ def, key: `${node.id}|always|${idx}`, event: "", idx });
  });
  return out;
}

function branches(n: AnyStateNode, eventType: string): number {
  return eventType === "" ? (n.always?.length ?? 0) : (n.transitions.get(eventType)?.length ?? 0);
}

function allNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (n: AnyStateNode) => {
    out.push(n);
    for (const c of Object.values(n.states) as AnyStateNode[]) walk(c);
  };
  walk(machine.root);
  return out;
}

function keyOfTaken(def: TransitionLike): string | undefined {
  const node = def.source;
  for (const e of edgesOf(node)) if (e.def === def) return e.key;
  return undefined;
}

/** Collects the states and transitions taken by actors of one machine (any `.provide()` variant). */
export class MachineCoverage {
  /** Every state node id (the root excluded). */
  readonly states: string[];
  /** Every transition edge. */
  readonly edges: Edge[];
  private readonly seenStates = new Set<string>();
  private readonly seenEdges = new Set<string>();

  constructor(
    /** Row name in the report. */
    readonly name: string,
    machine: AnyStateMachine,
  ) {
    const nodes = allNodes(machine);
    this.states = nodes.filter((n) => n !== machine.root).map((n) => n.id);
    this.edges = nodes.flatMap((n) =>
      edgesOf(n).map((e) => ({
        key: e.key,
        source: n.id,
        event: label(e.event) + (branches(n, e.event) > 1 ? ` #${e.idx + 1}` : ""),
        targets: (e.def.target ?? []).map((t) => t.id).join(",") || "(self)",
      })),
    );
  }

  /** An inspection observer to pass as `createActor(machine, { inspect })`. */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type === "@xstate.microstep") {
      for (const t of ev._transitions as unknown as TransitionLike[]) {
        const k = keyOfTaken(t);
        if (k) this.seenEdges.add(k);
      }
      this.addNodes(ev.snapshot);
    } else if (ev.type === "@xstate.snapshot") {
      this.addNodes(ev.snapshot);
    }
  };

  private addNodes(snapshot: unknown): void {
    const nodes = (snapshot as { _nodes?: AnyStateNode[] })._nodes ?? [];
    for (const n of nodes) if (n.parent) this.seenStates.add(n.id);
  }

  /** States never entered. */
  missingStates(): string[] {
    return this.states.filter((s) => !this.seenStates.has(s));
  }

  /** Edges never taken. */
  missingEdges(): Edge[] {
    return this.edges.filter((e) => !this.seenEdges.has(e.key));
  }

  /** `{ states: [covered, total], transitions: [covered, total] }`. */
  summary(): { states: [number, number]; transitions: [number, number] } {
    return {
      states: [this.states.length - this.missingStates().length, this.states.length],
      transitions: [this.edges.length - this.missingEdges().length, this.edges.length],
    };
  }
}

/** A plain-text coverage table (one row per machine), printed by the model-based suites. */
export function coverageTable(
  rows: Array<{ name: string; model?: MachineCoverage; real: MachineCoverage }>,
): string {
  const pct = ([a, b]: [number, number]) => `${a}/${b} (${b === 0 ? 100 : Math.round((a * 1000) / b) / 10}%)`;
  const lines = [
    "machine              | model states   | model transitions | real states    | real transitions",
    "---------------------|----------------|-------------------|----------------|-----------------",
  ];
  for (const r of rows) {
    const m = r.model?.summary();
    const s = r.real.summary();
    lines.push(
      [
        r.name.padEnd(20),
        (m ? pct(m.states) : "-").padEnd(14),
        (m ? pct(m.transitions) : "-").padEnd(17),
        pct(s.states).padEnd(14),
        pct(s.transitions),
      ].join(" | "),
    );
  }
  for (const r of rows) {
    for (const e of r.real.missingEdges())
      lines.push(`  ${r.name}: not taken: ${e.source} --${e.event}--> ${e.targets}`);
    for (const s of r.real.missingStates()) lines.push(`  ${r.name}: not entered: ${s}`);
  }
  return lines.join("\n");
}
