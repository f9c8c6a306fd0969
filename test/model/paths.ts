// Path generation for the model-based suites: every simple path of a model, a subset that
// still takes every transition of the model (for replays that cost real time), and the
// model's own coverage computed by replaying the paths' events on the model.
import { type AnyStateMachine, createActor } from "xstate";
import { createTestModel } from "xstate/graph";
import { MachineCoverage } from "./coverage.js";

type Path = ReturnType<ReturnType<typeof createTestModel>["getSimplePaths"]>[number];

/** What {@link modelPaths} returns. */
export interface ModelPaths {
  /** Every simple path. */
  all: Path[];
  /** A subset of `all` that still takes every transition the paths take. */
  covering: Path[];
  /** Coverage of the model's graph by `all`. */
  coverage: MachineCoverage;
}

function edgesOfPath(model: AnyStateMachine, path: Path, cov: MachineCoverage): Set<string> {
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

/** Simple paths of `model`, a transition-covering subset, and the model's coverage. */
export function modelPaths(name: string, model: AnyStateMachine): ModelPaths {
  // an event the model refuses (a guard bounding the walk) leaves it where it was: such paths
  // say nothing the shorter path does not, so they are dropped
  const same = (a: { value: unknown; context: unknown }, b: { value: unknown; context: unknown }) =>
    JSON.stringify([a.value, a.context]) === JSON.stringify([b.value, b.context]);
  const all = createTestModel(model)
    .getSimplePaths()
    .filter((p) => p.steps.every((s, i) => i === 0 || !same(s.state, p.steps[i - 1].state)));
  const coverage = new MachineCoverage(name, model);
  const withEdges = all.map((p) => ({ p, edges: edgesOfPath(model, p, coverage) }));
  // greedy set cover: take the path adding most uncovered edges until none adds any
  const covered = new Set<string>();
  const covering: Path[] = [];
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
  return { all, covering, coverage };
}
