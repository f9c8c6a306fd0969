// Model-based test of the store machine, replayed against the real actor with real-machine
// coverage: connect attempts are parked promises, the stream watcher is a callback actor the
// test drives, reconnect backoff runs on vitest fake timers. Oracles (state, attempts, what
// each request is answered) come from the model. (client-transport's
// test/client/transport/store-machine.mbt.test.ts walks the connection states; this suite
// adds requests in every state, health feedback and the coverage of the real machine.)
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { assign, createActor, fromCallback, fromPromise, setup } from "xstate";
import {
  type StoreConnectInput,
  type StoreEvent,
  type StoreLink,
  storeMachine,
} from "../../src/machines/store.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { modelPaths, replayPath } from "./paths.js";

const BASE = 10;
const CAP = 40;
const real = new MachineCoverage("store", storeMachine);

interface Ctx {
  attempts: number;
  connects: number;
  /** Requests held for the first connect. */
  held: number;
  /** Answer expected for the latest request: "", "ok", "unavailable", "shutdown", "held". */
  last: string;
  /** Latest slow score accepted. */
  slowScore: number;
  /** Requests sent (bounded). */
  sends: number;
  /** Feedback messages sent (bounded). */
  feedbacks: number;
  /** STOPs sent to a stopped store (bounded). */
  restops: number;
}

type Ev =
  | { type: "CONNECT_OK" }
  | { type: "CONNECT_FAIL" }
  | { type: "BACKOFF_ELAPSED" }
  | { type: "STREAM_LOST" }
  | { type: "SEND" }
  | { type: "FEEDBACK" }
  | { type: "STOP" };

const EVENTS = [
  "CONNECT_OK",
  "CONNECT_FAIL",
  "BACKOFF_ELAPSED",
  "STREAM_LOST",
  "SEND",
  "FEEDBACK",
  "STOP",
] as const;

const canSend = ({ context }: { context: Ctx }) => context.sends < 3;
const sent = (last: string) =>
  assign<Ctx, Ev, undefined, Ev, never>({
    sends: ({ context }) => context.sends + 1,
    last,
    held: ({ context }) => context.held + (last === "held" ? 1 : 0),
  });

/** The abstract store model. */
const model = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  guards: { canFail: ({ context }) => context.attempts < 2, canSend },
}).createMachine({
  id: "storeModel",
  context: { attempts: 0, connects: 0, held: 0, last: "", slowScore: 1, sends: 0, feedbacks: 0, restops: 0 },
  initial: "connecting",
  on: {
    STOP: {
      target: ".stopped",
      actions: assign({ last: ({ context }) => (context.held ? "shutdown" : context.last), held: 0 }),
    },
    FEEDBACK: {
      guard: ({ context }) => context.feedbacks < 1,
      actions: assign({ feedbacks: 1, slowScore: 42 }),
    },
  },
  states: {
    connecting: {
      on: {
        CONNECT_OK: {
          target: "ready",
          actions: assign({
            attempts: 0,
            connects: ({ context }) => context.connects + 1,
            last: ({ context }) => (context.held ? "ok" : context.last),
            held: 0,
          }),
        },
        CONNECT_FAIL: {
          guard: "canFail",
          target: "reconnecting",
          actions: assign({
            attempts: ({ context }) => context.attempts + 1,
            last: ({ context }) => (context.held ? "unavailable" : context.last),
            held: 0,
          }),
        },
        SEND: [
          { guard: ({ context }) => context.connects === 0 && context.sends < 3, actions: sent("held") },
          { guard: "canSend", actions: sent("unavailable") },
        ],
      },
    },
    ready: {
      on: {
        STREAM_LOST: {
          guard: ({ context }) => context.connects < 2,
          target: "reconnecting",
          actions: assign({ attempts: 1 }),
        },
        SEND: { guard: "canSend", actions: sent("ok") },
      },
    },
    reconnecting: {
      on: { BACKOFF_ELAPSED: "connecting", SEND: { guard: "canSend", actions: sent("unavailable") } },
    },
    stopped: {
      on: {
        SEND: { guard: "canSend", actions: sent("shutdown") },
        // a STOP or feedback after the stop changes nothing
        STOP: { guard: ({ context }) => context.restops < 1, actions: assign({ restops: 1 }) },
        FEEDBACK: { guard: ({ context }) => context.feedbacks < 1, actions: assign({ feedbacks: 1 }) },
      },
    },
  },
});

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
