// Model-based test of the PD machine: an abstract model walked with xstate/graph, each path
// replayed against the real machine (fake discover / TSO stream actors, vitest fake timers).
import { afterEach, describe, expect, it, vi } from "vitest";
import { assign, createActor, fromCallback, fromPromise, setup } from "xstate";
import { createTestModel } from "xstate/graph";
import {
  type PdDiscoverInput,
  type PdEvent,
  type PdMembership,
  type PdTsoStreamInput,
  pdMachine,
} from "../../../src/machines/pd.js";

const BASE = 10;
const CAP = 40;
const MAX = 2; // bound on failures, only to keep the walk finite

type ModelEvent =
  | { type: "DISCOVER_OK" }
  | { type: "DISCOVER_FAIL" }
  | { type: "BACKOFF_ELAPSED" }
  | { type: "TSO_LOST" }
  | { type: "TSO_OK" }
  | { type: "STOP" };

const model = setup({
  types: { context: {} as { attempts: number; losses: number }, events: {} as ModelEvent },
  guards: {
    canFail: ({ context }) => context.attempts < MAX,
    canLose: ({ context }) => context.losses < 2,
    freshLoss: ({ context }) => context.attempts === 0,
  },
}).createMachine({
  id: "pdModel",
  context: { attempts: 0, losses: 0 },
  initial: "discovering",
  states: {
    discovering: {
      on: {
        DISCOVER_OK: "connected",
        DISCOVER_FAIL: {
          guard: "canFail",
          target: "backoff",
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
        STOP: "stopped",
      },
    },
    backoff: { on: { BACKOFF_ELAPSED: "discovering", STOP: "stopped" } },
    connected: {
      on: {
        TSO_OK: { actions: assign({ attempts: 0 }) },
        TSO_LOST: [
          {
            guard: ({ context }) => context.losses < 2 && context.attempts === 0,
            target: "discovering",
            actions: assign({ attempts: 1, losses: ({ context }) => context.losses + 1 }),
          },
          {
            guard: ({ context }) => context.losses < 2 && context.attempts < MAX,
            target: "backoff",
            actions: assign({
              attempts: ({ context }) => context.attempts + 1,
              losses: ({ context }) => context.losses + 1,
            }),
          },
        ],
        STOP: "stopped",
      },
    },
    stopped: { type: "final" },
  },
});

function harness() {
  const discovers: Array<{ resolve: (m: PdMembership) => void; reject: (e: Error) => void }> = [];
  let stream: ((e: PdEvent) => void) | undefined;
  const machine = pdMachine.provide({
    actors: {
      discover: fromPromise<PdMembership, PdDiscoverInput>(
        () => new Promise((resolve, reject) => discovers.push({ resolve, reject })),
      ),
      tsoStream: fromCallback<PdEvent, PdTsoStreamInput>(({ sendBack }) => {
        stream = sendBack;
        return () => {
          stream = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: {
      endpoints: ["a:1"],
      backoff: { baseMs: BASE, capMs: CAP, random: undefined },
      memberCheckIntervalMs: 1e9,
    },
  });
  return { actor, discovers, stream: (e: PdEvent) => stream?.(e) };
}

const top = (v: unknown) => (typeof v === "string" ? v : Object.keys(v as object)[0]);
const flush = () => vi.advanceTimersByTimeAsync(0);

describe("pd machine (model-based)", () => {
  afterEach(() => vi.useRealTimers());
  // shortest path to every (state, context) pair: covers each reachable situation once
  const paths = createTestModel(model).getShortestPaths();

  it("the model paths reach every state", () => {
    const seen = new Set(paths.flatMap((p) => p.steps.map((s) => String(s.state.value))));
    expect(seen).toEqual(new Set(["discovering", "backoff", "connected", "stopped"]));
  });

  for (const path of paths) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = harness();
      h.actor.start();
      let prev = { attempts: 0, losses: 0, value: "discovering" };
      await path.test({
        events: {
          DISCOVER_OK: async () => {
            h.discovers.at(-1)?.resolve({ clusterId: 1n, leader: "a:1", endpoints: ["a:1"] });
            await flush();
          },
          DISCOVER_FAIL: async () => {
            if (prev.attempts >= MAX) return;
            h.discovers.at(-1)?.reject(new Error("down"));
            await flush();
          },
          TSO_OK: async () => {
            h.stream({ type: "TSO_OK" });
            await flush();
          },
          TSO_LOST: async () => {
            if (prev.losses >= 2 || prev.attempts >= MAX) return;
            h.stream({ type: "TSO_LOST", error: new Error("lost") });
            await flush();
          },
          STOP: async () => {
            h.actor.send({ type: "STOP" });
            await flush();
          },
          BACKOFF_ELAPSED: async (step) => {
            const wait = Math.min(CAP, BASE * 2 ** (step.state.context.attempts - 1));
            await vi.advanceTimersByTimeAsync(wait - 1);
            expect(top(h.actor.getSnapshot().value)).toBe("backoff");
            await vi.advanceTimersByTimeAsync(1);
          },
        },
        states: {
          "*": (m) => {
            prev = { ...m.context, value: String(m.value) };
            const snap = h.actor.getSnapshot();
            expect(top(snap.value)).toBe(m.value);
            if (m.value !== "stopped") expect(snap.context.attempts).toBe(m.context.attempts);
          },
        },
      });
      h.actor.stop();
    });
  }
});
