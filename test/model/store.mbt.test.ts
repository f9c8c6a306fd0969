// Model-based test of the store machine, replayed against the real actor with real-machine
// coverage: connect attempts are parked promises, the stream watcher is a callback actor the
// test drives, reconnect backoff runs on vitest fake timers. Oracles (state, attempts, what
// each request is answered) come from the model. (client-transport's
// test/client/transport/store-machine.mbt.test.ts walks the connection states; this suite
// adds requests in every state, health feedback and the coverage of the real machine.)
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createActor, fromCallback, fromPromise } from "xstate";
import {
  type StoreConnectInput,
  type StoreEvent,
  type StoreLink,
  storeMachine,
} from "../../src/machines/store.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { modelPaths, replayPath } from "./paths.js";
import { type Ctx, EVENTS, model } from "./store-model.js";

const BASE = 10;
const CAP = 40;
const real = new MachineCoverage("store", storeMachine);

function harness() {
  const connects: Array<{ resolve: (l: StoreLink) => void; reject: (e: Error) => void }> = [];
  let watch: ((e: StoreEvent) => void) | undefined;
  const machine = storeMachine.provide({
    actors: {
      connect: fromPromise<StoreLink, StoreConnectInput>(
        () => new Promise<StoreLink>((resolve, reject) => connects.push({ resolve, reject })),
      ),
      watch: fromCallback<StoreEvent, { link: StoreLink; storeId: number }>(({ sendBack }) => {
        watch = sendBack;
        return () => {
          watch = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: { storeId: 1, address: "127.0.0.1:1", backoff: { baseMs: BASE, capMs: CAP, random: undefined } },
    inspect: real.inspect,
  });
  let closed = 0;
  const link: StoreLink = { send: (_c, _r, _o, reply) => reply(null, "ok"), close: () => void closed++ };
  const replies: Array<{ answer?: string }> = [];
  const send = () => {
    const r: { answer?: string } = {};
    replies.push(r);
    actor.send({
      type: "SEND",
      cmd: "Get",
      req: {},
      opts: {},
      reply: (err, resp) => {
        r.answer = err
          ? (err as { code?: string }).code === "SHUTTING_DOWN" || err.name === "ShuttingDownError"
            ? "shutdown"
            : err.message.includes("no available connections")
              ? "unavailable"
              : `error: ${err.message}`
          : String(resp);
      },
    });
  };
  return { actor, connects, link, replies, send, watch: () => watch, closed: () => closed };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("store machine (model-based, real actor)", () => {
  afterEach(() => vi.useRealTimers());
  const { all, coverage } = modelPaths("store model", model, EVENTS);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
  });

  for (const path of all) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = harness();
      h.actor.start();
      let ctx = model.config.context as Ctx;
      await replayPath(path, {
        events: {
          CONNECT_OK: async () => {
            h.connects.at(-1)?.resolve(h.link);
            await flush();
          },
          CONNECT_FAIL: async () => {
            h.connects.at(-1)?.reject(new Error("dial failed"));
            await flush();
          },
          BACKOFF_ELAPSED: async () => {
            const wait = Math.min(CAP, BASE * 2 ** (ctx.attempts - 1));
            await vi.advanceTimersByTimeAsync(wait - 1);
            expect(h.actor.getSnapshot().value).toBe("reconnecting");
            await vi.advanceTimersByTimeAsync(1);
          },
          STREAM_LOST: async () => {
            h.watch()?.({ type: "STREAM_LOST", error: new Error("stream closed") });
            await flush();
          },
          SEND: async () => {
            h.send();
            await flush();
          },
          FEEDBACK: async () => {
            // an older sequence number is ignored, a newer one is taken
            h.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 42, seq: 5n });
            h.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 99, seq: 4n });
            await flush();
          },
          STOP: async () => {
            h.actor.send({ type: "STOP" });
            await flush();
          },
        },
        state: (m) => {
          ctx = m.context as Ctx;
          const snap = h.actor.getSnapshot();
          expect(snap.value).toBe(m.value);
          if (m.value !== "stopped") {
            expect(snap.context.attempts).toBe(ctx.attempts);
            expect(snap.context.slowScore).toBe(ctx.slowScore);
          }
          expect(snap.context.held.length).toBe(ctx.held);
          const last = h.replies.at(-1);
          if (ctx.last === "held") expect(last?.answer).toBeUndefined();
          else if (ctx.last) expect(last?.answer).toBe(ctx.last);
          if (m.value === "ready") expect(snap.context.reachability).toBe("reachable");
          if (m.value === "reconnecting") expect(snap.context.reachability).toBe("unreachable");
        },
      });
      h.actor.stop();
    });
  }

  afterAll(() => {
    console.log(`\nstore machine coverage\n${coverageTable([{ name: "store", model: coverage, real }])}`);
  });

  it("covers every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges()).toEqual([]);
  });
});
