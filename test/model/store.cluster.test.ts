// The store model's transition-covering paths replayed against a real StoreActor connected to
// a mock TiKV store of the embedded cluster. Each connect attempt is arranged when the actor
// enters `connecting`, from what the path does next: CONNECT_OK is a running store,
// CONNECT_FAIL a BatchCommands stream failed as it opens (failNext), and an attempt that must
// stay pending while the path sends requests is held by a stopped store (started for
// CONNECT_OK; for CONNECT_FAIL the connect times out). STREAM_LOST stops the store (its
// streams close; the actor re-creates the stream at once), BACKOFF_ELAPSED is the real reconnect backoff, SEND a RawGet, STOP
// StoreActor.stop() (a repeated STOP is sent to the machine). FEEDBACK is the health-feedback event the stream watcher would deliver
// (sent to the machine: the mock store's own feedback is not scriptable per step). Checked
// after every step: the actor's state, attempts, held requests, slow score, reachability and
// the answer of the latest request (response, "no available connections", ShuttingDownError).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { StoreActor } from "../../src/actors/store/store-actor.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { storeMachine } from "../../src/machines/store.js";
import { RawGetRequest } from "../../src/proto/kvrpcpb.js";
import { ShuttingDownError } from "../../src/rpc/errors.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelPath, type ModelStep, modelPaths, replayPath } from "./paths.js";
import { type Ctx, EVENTS, type Ev, model } from "./store-model.js";

const BASE = 200;
const CAP = 400;
const CONNECT_TIMEOUT_MS = 400;
const WAIT_MS = 5_000;
const real = new MachineCoverage("store", storeMachine);

/** Model coverage by the replayed paths (the paths re-run on the model). */
function modelCoverage(paths: ModelPath[]): MachineCoverage {
  const cov = new MachineCoverage("store model", model);
  for (const p of paths) {
    const a = createActor(model, { inspect: cov.inspect }).start();
    for (const s of p.steps) if (s.event.type !== "xstate.init") a.send(s.event as Ev);
    a.stop();
  }
  return cov;
}

/** What the connect attempt begun before step `from` meets: its outcome and whether anything happens first. */
function attemptAt(path: ModelPath, from: number): "ok" | "fail" | "hold" {
  for (let i = from + 1; i < path.steps.length; i++) {
    const t = (path.steps[i] as ModelStep).event.type;
    if (t === "CONNECT_OK") return i === from + 1 ? "ok" : "hold";
    if (t === "CONNECT_FAIL") return i === from + 1 ? "fail" : "hold";
  }
  return "hold";
}

describe("store machine paths on the embedded cluster", () => {
  let cluster: EmbeddedCluster;
  const { covering } = modelPaths("store model", model, EVENTS);
  const modelCov = modelCoverage(covering);

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 1 });
  }, 30_000);

  afterAll(async () => {
    await cluster?.close();
    console.log(
      `\nstore machine coverage (embedded cluster)\n${coverageTable([{ name: "store", model: modelCov, real }])}`,
    );
  });

  it("the replayed paths cover every state and transition of the model", () => {
    expect(modelCov.missingStates()).toEqual([]);
    expect(modelCov.missingEdges()).toEqual([]);
  });

  // each path with and without the fast path (while ready, requests skip the machine)
  for (const path of covering)
    for (const fastPath of [true, false]) {
      it(`${fastPath ? "fast path" : "via actor"}: ${path.description}`, async () => {
        const storeId = cluster.stores[0]?.storeId as bigint;
        let running = true;
        const setRunning = async (on: boolean) => {
          if (on === running) return;
          running = on;
          if (on) await cluster.startStore(storeId);
          else await cluster.stopStore(storeId);
        };
        const arrange = async (from: number) => {
          const what = attemptAt(path, from);
          await setRunning(what !== "hold");
          if (what === "fail")
            cluster.faults.failNext({ rpc: "BatchCommands", storeId, error: { grpcStatus: 14 } });
        };
        await arrange(0);
        const store = new StoreActor({
          storeId: Number(storeId),
          address: cluster.store(storeId).address,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
          backoff: { baseMs: BASE, capMs: CAP, random: undefined },
          grpcOptions: { "grpc.initial_reconnect_backoff_ms": 20, "grpc.max_reconnect_backoff_ms": 50 },
          fastPath,
          inspect: real.inspect,
        });
        const waitFor = (value: string) =>
          new Promise<void>((resolve, reject) => {
            if (store.state === value) return resolve();
            const timer = setTimeout(() => {
              sub.unsubscribe();
              reject(new Error(`store actor did not reach ${value} (at ${store.state})`));
            }, WAIT_MS);
            const sub = store.actor.subscribe((s) => {
              if (s.value !== value) return;
              clearTimeout(timer);
              sub.unsubscribe();
              resolve();
            });
          });
        const replies: Array<{ answer?: string; done: Promise<void> }> = [];
        let ctx = model.config.context as Ctx;
        try {
          await replayPath(path, {
            events: {
              CONNECT_OK: async () => {
                await setRunning(true);
                await waitFor("ready");
              },
              // a held attempt (stopped store) fails by its connect timeout; an arranged one by failNext
              CONNECT_FAIL: () => waitFor("reconnecting"),
              BACKOFF_ELAPSED: async (step) => {
                expect(store.state).toBe("reconnecting");
                await arrange(path.steps.indexOf(step));
                await waitFor("connecting");
              },
              // the stream is re-created at once: the attempt then meets what the path does next
              STREAM_LOST: async (step) => {
                await setRunning(false);
                await waitFor("connecting");
                await arrange(path.steps.indexOf(step));
              },
              SEND: () => {
                const r: { answer?: string; done: Promise<void> } = { done: Promise.resolve() };
                r.done = store.send("RawGet", RawGetRequest.fromPartial({ key: Buffer.from("k") })).then(
                  (resp) => {
                    r.answer = typeof resp === "object" && resp !== null ? "ok" : `odd: ${String(resp)}`;
                  },
                  (err: Error) => {
                    r.answer =
                      err instanceof ShuttingDownError
                        ? "shutdown"
                        : err.message.includes("no available connections")
                          ? "unavailable"
                          : `error: ${err.message}`;
                  },
                );
                replies.push(r);
              },
              FEEDBACK: () => {
                // a newer sequence number is taken, an older one ignored
                store.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 42, seq: 1n << 60n });
                store.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 99, seq: 1n });
              },
              // stop() is idempotent; a second STOP reaches the machine as an event
              STOP: () => (store.state === "stopped" ? store.actor.send({ type: "STOP" }) : store.stop()),
            },
            state: async (m) => {
              ctx = m.context as Ctx;
              const snap = store.actor.getSnapshot();
              expect(snap.value).toBe(m.value);
              if (m.value !== "stopped") {
                expect(snap.context.attempts).toBe(ctx.attempts);
                expect(store.health.slowScore).toBe(ctx.slowScore);
              }
              expect(snap.context.held.length).toBe(ctx.held);
              if (m.value === "ready") expect(store.health.reachability).toBe("reachable");
              if (m.value === "reconnecting") expect(store.health.reachability).toBe("unreachable");
              const last = replies.at(-1);
              if (ctx.last === "held") expect(last?.answer).toBeUndefined();
              else if (ctx.last) {
                await last?.done;
                expect(last?.answer).toBe(ctx.last);
              }
            },
          });
        } finally {
          store.stop();
          cluster.faults.clear();
          await setRunning(true);
        }
      }, 20_000);
    }

  it("covers every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges()).toEqual([]);
  });
});
