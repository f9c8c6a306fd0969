// Model-based test of the store machine: a small abstract model (no invoke/after) is walked
// with xstate/graph, and each path is replayed against the real machine whose connect/watch
// actors are fakes and whose backoff runs on vitest fake timers. Oracles come from the model.
import { afterEach, describe, expect, it, vi } from "vitest";
import { assign, createActor, fromCallback, fromPromise, setup } from "xstate";
import { createTestModel } from "xstate/graph";
import {
  type StoreConnectInput,
  type StoreEvent,
  type StoreLink,
  storeMachine,
} from "../../../src/machines/store.js";

const BASE = 10;
const CAP = 40;
const MAX_FAILS = 3; // keeps the model finite

const model = setup({
  types: {
    context: {} as { attempts: number; connects: number },
    events: {} as
      | { type: "CONNECT_OK" }
      | { type: "CONNECT_FAIL" }
      | { type: "BACKOFF_ELAPSED" }
      | { type: "STREAM_LOST" }
      | { type: "STOP" },
  },
  guards: { canFail: ({ context }) => context.attempts < MAX_FAILS },
}).createMachine({
  id: "storeModel",
  context: { attempts: 0, connects: 0 },
  initial: "connecting",
  states: {
    connecting: {
      on: {
        CONNECT_OK: {
          target: "ready",
          actions: assign({ attempts: 0, connects: ({ context }) => context.connects + 1 }),
        },
        CONNECT_FAIL: {
          guard: "canFail",
          target: "reconnecting",
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
        STOP: "stopped",
      },
    },
    ready: {
      on: {
        // re-created at once (client-go recreateStreamingClient); only a failed connect backs off
        STREAM_LOST: { guard: ({ context }) => context.connects < 2, target: "connecting" },
        STOP: "stopped",
      },
    },
    reconnecting: { on: { BACKOFF_ELAPSED: "connecting", STOP: "stopped" } },
    stopped: { type: "final" },
  },
});

function harness() {
  const connects: Array<{ resolve: (l: StoreLink) => void; reject: (e: Error) => void }> = [];
  let lose: ((e: Error) => void) | undefined;
  const machine = storeMachine.provide({
    actors: {
      connect: fromPromise<StoreLink, StoreConnectInput>(
        () => new Promise<StoreLink>((resolve, reject) => connects.push({ resolve, reject })),
      ),
      watch: fromCallback<StoreEvent, { link: StoreLink; storeId: number }>(({ sendBack }) => {
        lose = (error) => sendBack({ type: "STREAM_LOST", error });
        return () => {
          lose = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: { storeId: 1, address: "x:1", backoff: { baseMs: BASE, capMs: CAP, random: undefined } },
  });
  const link: StoreLink = { send: (_c, _r, _o, reply) => reply(null, "ok"), close: () => {} };
  return { actor, connects, link, lose: () => lose?.(new Error("lost")) };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("store machine (model-based)", () => {
  afterEach(() => vi.useRealTimers());
  const paths = createTestModel(model).getSimplePaths();

  it("the model paths reach every state", () => {
    const seen = new Set(paths.flatMap((p) => p.steps.map((s) => JSON.stringify(s.state.value))));
    expect(seen).toEqual(new Set(['"connecting"', '"ready"', '"reconnecting"', '"stopped"']));
    expect(paths.length).toBeGreaterThan(10);
  });

  for (const path of paths) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = harness();
      h.actor.start();
      // The model's guards only bound the walk; an event they refuse is a no-op on both sides.
      let prev = { attempts: 0, connects: 0 };
      await path.test({
        events: {
          CONNECT_OK: async () => {
            h.connects.at(-1)?.resolve(h.link);
            await flush();
          },
          CONNECT_FAIL: async () => {
            if (prev.attempts >= MAX_FAILS) return;
            h.connects.at(-1)?.reject(new Error("dial failed"));
            await flush();
          },
          STREAM_LOST: async () => {
            if (prev.connects >= 2) return;
            h.lose();
            await flush();
          },
          STOP: async () => {
            h.actor.send({ type: "STOP" });
            await flush();
          },
          BACKOFF_ELAPSED: async (step) => {
            // oracle from the model: wait = min(cap, base * 2^(attempts-1))
            const wait = Math.min(CAP, BASE * 2 ** (step.state.context.attempts - 1));
            await vi.advanceTimersByTimeAsync(wait - 1);
            expect(h.actor.getSnapshot().value).toBe("reconnecting");
            await vi.advanceTimersByTimeAsync(1);
          },
        },
        states: {
          "*": (m) => {
            prev = m.context;
            const snap = h.actor.getSnapshot();
            expect(snap.value).toEqual(m.value);
            if (m.value !== "stopped") expect(snap.context.attempts).toBe(m.context.attempts);
            expect(snap.context.reachability).toBe(
              m.value === "ready"
                ? "reachable"
                : m.context.attempts > 0 || m.value === "reconnecting"
                  ? "unreachable"
                  : snap.context.reachability,
            );
          },
        },
      });
      h.actor.stop();
    });
  }
});
