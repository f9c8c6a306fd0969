// The PD model's transition-covering paths replayed against a real PdActor talking to the
// embedded cluster's mock PD (3 members). Each discovery round is arranged before the actor
// starts it, from what the path does next: DISCOVER_OK is a serving PD, DISCOVER_FAIL every
// member UNAVAILABLE (setUnavailable). TSO_OK is a timestamp fetched on the TSO stream,
// TSO_LOST a TSO request PD answers not-leader (failNext "Tso"), LEADER_LOST a PD call
// answered not-leader (failNext "GetAllStores"), MEMBER_TIMER the real member-check timer,
// CHECK_MOVED a leader transfer the check finds, CHECK_FAIL member checks failing
// (failNext "GetMembers"), CHECK_SAME an unchanged membership; BACKOFF_ELAPSED is the real
// discovery backoff, STOP PdActor.close() (a repeated STOP is sent to the machine).
// CHECK_MEMBERS has no trigger in PdActor: it is sent to the machine. A member check that
// is held for a moment by a GetMembers delay, so the replay sees `checking`.
// Checked after every step: state, attempts, the leader followed, TSO monotonic.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { PdActor } from "../../src/actors/pd/pd-actor.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { pdMachine } from "../../src/machines/pd.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelPath, type ModelStep, modelPaths, replayPath } from "./paths.js";
import { type Ctx, EVENTS, type Ev, model } from "./pd-model.js";

const MEMBER_CHECK_MS = 600;
const HOLD_MS = 100;
const WAIT_MS = 5_000;
const real = new MachineCoverage("pd", pdMachine);

function modelCoverage(paths: ModelPath[]): MachineCoverage {
  const cov = new MachineCoverage("pd model", model);
  for (const p of paths) {
    const a = createActor(model, { inspect: cov.inspect }).start();
    for (const s of p.steps) if (s.event.type !== "xstate.init") a.send(s.event as Ev);
    a.stop();
  }
  return cov;
}

const valueKey = (v: unknown) => JSON.stringify(v);
const hostPort = (e: string) => e.replace(/^[a-z]+:\/\//, "");

describe("pd machine paths on the embedded cluster", () => {
  let cluster: EmbeddedCluster;
  const { covering } = modelPaths("pd model", model, EVENTS);
  const modelCov = modelCoverage(covering);

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 1, pdMembers: 3 });
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
    console.log(
      `\npd machine coverage (embedded cluster)\n${coverageTable([{ name: "pd", model: modelCov, real }])}`,
    );
  });

  it("the replayed paths cover every state and transition of the model", () => {
    expect(modelCov.missingStates()).toEqual([]);
    expect(modelCov.missingEdges()).toEqual([]);
  });

  for (const path of covering) {
    it(path.description, async () => {
      const mock = cluster.pd;
      mock.transferLeader(0);
      const next = (i: number) => (path.steps[i + 1] as ModelStep | undefined)?.event.type;
      // a discovery round about to start: its outcome is the path's next event
      const arrangeRound = (i: number) => mock.setUnavailable(next(i) === "DISCOVER_FAIL");
      // a member check about to start: its outcome, and held (so `checking` is seen) until the
      // path's next step
      const arrangeCheck = (i: number) => {
        const what = path.steps.slice(i + 1).find((s) => s.event.type.startsWith("CHECK_"))?.event.type;
        if (what === "CHECK_FAIL") mock.faults.failNext("GetMembers", 1_000, { kind: "unavailable" });
        mock.faults.setDelay("GetMembers", HOLD_MS);
      };
      arrangeRound(0);
      const pd = new PdActor({
        endpoints: cluster.pdEndpoints,
        rpcTimeoutMs: 300,
        requestTimeoutMs: 2_000,
        discoveryBackoff: { baseMs: 200, capMs: 400, random: undefined },
        retryBackoff: { baseMs: 20, capMs: 40 },
        memberCheckIntervalMs: MEMBER_CHECK_MS,
        inspect: real.inspect,
      });
      const waitFor = (value: unknown) =>
        new Promise<void>((resolve, reject) => {
          const want = valueKey(value);
          if (valueKey(pd.actor.getSnapshot().value) === want) return resolve();
          const timer = setTimeout(() => {
            sub.unsubscribe();
            reject(
              new Error(
                `pd actor did not reach ${want} [leader ${pd.leader} mock ${mock.leaderIndex}] (at ${valueKey(pd.actor.getSnapshot().value)})`,
              ),
            );
          }, WAIT_MS);
          const sub = pd.actor.subscribe((s) => {
            if (valueKey(s.value) !== want) return;
            clearTimeout(timer);
            sub.unsubscribe();
            resolve();
          });
        });
      const target = (i: number) => path.steps[i]?.state.value;
      let lastTs = 0n;
      const background: Promise<unknown>[] = [];
      try {
        await replayPath(path, {
          events: {
            DISCOVER_OK: (step) => waitFor(step.state.value),
            DISCOVER_FAIL: (step) => waitFor(step.state.value),
            BACKOFF_ELAPSED: async (step) => {
              const i = path.steps.indexOf(step);
              expect(pd.state).toBe("backoff");
              arrangeRound(i);
              await waitFor(target(i));
            },
            MEMBER_TIMER: async (step) => {
              const i = path.steps.indexOf(step);
              arrangeCheck(i);
              await waitFor(target(i));
            },
            CHECK_MEMBERS: async (step) => {
              const i = path.steps.indexOf(step);
              arrangeCheck(i);
              pd.actor.send({ type: "CHECK_MEMBERS" });
              await waitFor(target(i));
            },
            CHECK_SAME: async (step) => {
              mock.faults.setDelay("GetMembers", 0);
              await waitFor(step.state.value);
            },
            CHECK_FAIL: async (step) => {
              mock.faults.setDelay("GetMembers", 0);
              await waitFor(step.state.value);
              mock.faults.reset();
            },
            CHECK_MOVED: async (step) => {
              const i = path.steps.indexOf(step);
              // the leader moves while the check is held: the members it asks name the new one
              mock.transferLeader(((mock.leaderIndex ?? 0) + 1) % 3);
              mock.faults.setDelay("GetMembers", 0);
              arrangeRound(i);
              await waitFor(target(i));
            },
            TSO_OK: async () => {
              const ts = await pd.getTimestamp();
              expect(ts).toBeGreaterThan(lastTs);
              lastTs = ts;
            },
            TSO_LOST: async (step) => {
              const i = path.steps.indexOf(step);
              arrangeRound(i);
              mock.faults.failNext("Tso", 1, { kind: "notLeader" });
              // the failed request is given up once the stream is lost (the batcher would retry it
              // on the next stream, a TSO_OK the model does not take here)
              const ac = new AbortController();
              background.push(pd.getTimestamp({ signal: ac.signal }).catch((e: Error) => e));
              await waitFor(target(i));
              ac.abort();
            },
            LEADER_LOST: async (step) => {
              const i = path.steps.indexOf(step);
              arrangeRound(i);
              mock.faults.failNext("GetAllStores", 1, { kind: "notLeader" });
              background.push(pd.getAllStores().catch((e: Error) => e));
              await waitFor(target(i));
            },
            STOP: () => (pd.state === "stopped" ? pd.actor.send({ type: "STOP" }) : pd.close()),
          },
          state: (m) => {
            const ctx = m.context as Ctx;
            const snap = pd.actor.getSnapshot();
            expect(snap.value).toEqual(m.value);
            if (m.value === "stopped") return;
            expect(snap.context.attempts).toBe(ctx.attempts);
            // the leader followed is the mock PD's leader
            if (snap.matches("connected")) {
              expect(hostPort(pd.leader ?? "")).toBe(hostPort(mock.endpoints[mock.leaderIndex ?? -1] ?? "?"));
              expect(pd.clusterId).toBe(mock.clusterId);
            }
          },
        });
      } finally {
        pd.close();
        await Promise.all(background);
        mock.faults.reset();
        mock.setUnavailable(false);
      }
    }, 20_000);
  }

  it("covers every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges()).toEqual([]);
  });
});
