// Path generation for the model-based suites: the simple paths of a model with the events the
// model refuses removed (a guard that bounds the walk leaves the model where it was; such a
// step says nothing) and duplicates dropped, a subset that still takes every transition (for
// replays that cost real time), the model's own coverage computed by replaying the paths on
// the model, and a replay loop.
import { type AnyStateMachine, createActor, type EventObject } from "xstate";
import { createTestModel } from "xstate/graph";
import { MachineCoverage } from "./coverage.js";

/** One model state as a path step sees it. */
export interface ModelState {
  value: unknown;
  context: unknown;
}

/** One step: the event sent and the model state after it. */
export interface ModelStep {
  event: EventObject;
  state: ModelState;
}

/** A path through the model (its first step is `xstate.init`). */
export interface ModelPath {
  description: string;
  steps: ModelStep[];
}

/** What {@link modelPaths} returns. */
export interface ModelPaths {
  /** Every simple path, refused steps removed, deduplicated. */
  all: ModelPath[];
  /** A subset of `all` that still takes every transition the paths take. */
  covering: ModelPath[];
  /** Coverage of the model's graph by `all`. */
  coverage: MachineCoverage;
}

const key = (s: ModelState) => JSON.stringify([s.value, s.context]);

function edgesOfPath(model: AnyStateMachine, path: ModelPath, cov: MachineCoverage): Set<string> {
  const mine = new MachineCoverage("path", model);
  const actor = createActor(model, {
    inspect: (ev) => {
      mine.inspect(ev);
      cov.inspect(ev);
    },
  });
  actor.start();
  for (const step of path.steps) if (step.event.type !== "xstate.init") actor.send(step.event);
  actor.stop();
  const missing = new Set(mine.missingEdges().map((e) => e.key));
  return new Set(mine.edges.map((e) => e.key).filter((k) => !missing.has(k)));
}

// Shortest path to every model state, each extended by every event the state accepts: every
// transition is taken, and the count stays small where simple paths explode.
function shortestPlusOne(model: AnyStateMachine, eventTypes: readonly string[]) {
  const out: Array<{ steps: Array<{ event: EventObject; state: ModelState }> }> = [];
  for (const p of createTestModel(model).getShortestPaths()) {
    const base = p.steps.map((s) => ({
      event: s.event,
      state: { value: s.state.value, context: s.state.context },
    }));
    out.push({ steps: base });
    for (const type of eventTypes) {
      const actor = createActor(model).start();
      for (const s of base) if (s.event.type !== "xstate.init") actor.send(s.event);
      const before = actor.getSnapshot();
      actor.send({ type });
      const after = actor.getSnapshot();
      actor.stop();
      const next = { value: after.value, context: after.context };
      if (key(next) === key({ value: before.value, context: before.context })) continue;
      out.push({ steps: [...base, { event: { type }, state: next }] });
    }
  }
  return out;
}

/**
 * Paths of `model` (every simple path, or with `events` given, the shortest path to each state
 * extended by each of those events), a transition-covering subset, and the model's coverage.
 */
export function modelPaths(name: string, model: AnyStateMachine, events?: readonly string[]): ModelPaths {
  const seen = new Set<string>();
  const all: ModelPath[] = [];
  const generated = events ? shortestPlusOne(model, events) : createTestModel(model).getSimplePaths();
  for (const p of generated) {
    const steps: ModelStep[] = [];
    for (const s of p.steps) {
      const prev = steps.at(-1);
      if (prev && key(prev.state) === key(s.state)) continue;
      steps.push({ event: s.event, state: { value: s.state.value, context: s.state.context } });
    }
    const events = steps.slice(1).map((s) => s.event.type);
    const id = events.join(" → ");
    if (seen.has(id)) continue;
    seen.add(id);
    const last = steps.at(-1) as ModelStep;
    all.push({
      description: `${JSON.stringify(last.state.value)} ${JSON.stringify(last.state.context)}: ${id}`,
      steps,
    });
  }
  // drop paths that are a prefix of another path (the longer one checks the same states)
  const ids = [...seen];
  const kept = all.filter((p) => {
    const id = p.steps
      .slice(1)
      .map((s) => s.event.type)
      .join(" → ");
    return !ids.some((o) => o !== id && o.startsWith(`${id} → `));
  });
  const coverage = new MachineCoverage(name, model);
  const withEdges = kept.map((p) => ({ p, edges: edgesOfPath(model, p, coverage) }));
  // greedy set cover: take the path adding most uncovered edges until none adds any
  const covered = new Set<string>();
  const covering: ModelPath[] = [];
  for (;;) {
    let best: (typeof withEdges)[number] | undefined;
    let gain = 0;
    for (const c of withEdges) {
      let g = 0;
      for (const e of c.edges) if (!covered.has(e)) g++;
      if (g > gain || (g === gain && g > 0 && best && c.p.steps.length < best.p.steps.length)) {
        best = c;
        gain = g;
      }
    }
    if (!best || gain === 0) break;
    for (const e of best.edges) covered.add(e);
    covering.push(best.p);
  }
  return { all: kept, covering, coverage };
}

/** Executors of a replay: one per model event, and a check run after every step. */
export interface Replay {
  events: Record<string, (step: ModelStep) => Promise<void> | void>;
  state: (s: ModelState) => Promise<void> | void;
}

/** Replays `path`: for each step, its event's executor, then the state check. */
export async function replayPath(path: ModelPath, r: Replay): Promise<void> {
  for (const step of path.steps) {
    if (step.event.type !== "xstate.init") {
      const exec = r.events[step.event.type];
      if (!exec) throw new Error(`no executor for ${step.event.type}`);
      await exec(step);
    }
    try {
      await r.state(step.state);
    } catch (e) {
      const at = path.steps.indexOf(step);
      const trail = path.steps
        .slice(0, at + 1)
        .map((s) => s.event.type)
        .join(" → ");
      (e as Error).message += `\n  at model state ${key(step.state)} after ${trail}`;
      throw e;
    }
  }
}
