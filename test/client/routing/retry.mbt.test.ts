// Model-based test of the retry path: a small abstract model of client-go's decisions (retry
// now / back off which kind / relocate) drives the real RequestSender, whose store answers are
// parked until the model says what they are, on fake timers. Oracles (number of attempts,
// backoff durations) come from the model (xstate-design.md §2).
import { afterEach, describe, expect, it, vi } from "vitest";
import { assign, setup } from "xstate";
import { createTestModel } from "xstate/graph";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import type { StoreSender } from "../../../src/actors/request/store-sender.js";
import { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { GrpcError } from "../../../src/rpc/errors.js";
import { FakePd, key } from "./fakes.js";

const MAX_ERRORS = 3;

interface ModelCtx {
  errors: number;
  unavailable: number;
  maxTs: number;
  rpc: number;
  miss: number;
  /** Replica-consuming errors since the store went down (2 replicas left; see the guard). */
  afterDown: number;
  sends: number;
  pending: "" | "maxTs" | "rpc" | "miss";
}

const model = setup({
  types: {
    context: {} as ModelCtx,
    events: {} as
      | { type: "OK" }
      | { type: "STALE_COMMAND" }
      | { type: "MAX_TS_NOT_SYNCED" }
      | { type: "STORE_UNAVAILABLE" }
      | { type: "KEY_NOT_IN_REGION" }
      | { type: "BACKOFF_ELAPSED" },
  },
  guards: {
    canFail: ({ context }) => context.errors < MAX_ERRORS,
    // Scope limit: with one store down only two replicas remain; a second replica-consuming
    // error there exhausts the selector (pseudo EpochNotMatch → RegionMiss → relocate), which
    // this small model does not describe (region-errors.test.ts covers it).
    canFailOnReplica: ({ context }) =>
      context.errors < MAX_ERRORS && (context.unavailable === 0 || context.afterDown < 1),
    canFailStore: ({ context }) => context.errors < MAX_ERRORS && context.unavailable === 0,
  },
}).createMachine({
  id: "retryModel",
  context: { errors: 0, unavailable: 0, maxTs: 0, rpc: 0, miss: 0, afterDown: 0, sends: 1, pending: "" },
  initial: "sending",
  states: {
    sending: {
      on: {
        OK: "done",
        // retried at once on a replica
        STALE_COMMAND: {
          guard: "canFailOnReplica",
          actions: assign({
            errors: ({ context }) => context.errors + 1,
            sends: ({ context }) => context.sends + 1,
            afterDown: ({ context }) => context.afterDown + context.unavailable,
          }),
        },
        MAX_TS_NOT_SYNCED: {
          guard: "canFailOnReplica",
          target: "backoff",
          actions: assign({
            afterDown: ({ context }) => context.afterDown + context.unavailable,
            errors: ({ context }) => context.errors + 1,
            maxTs: ({ context }) => context.maxTs + 1,
            pending: "maxTs",
          }),
        },
        STORE_UNAVAILABLE: {
          guard: "canFailStore",
          target: "backoff",
          actions: assign({
            errors: ({ context }) => context.errors + 1,
            unavailable: ({ context }) => context.unavailable + 1,
            rpc: ({ context }) => context.rpc + 1,
            pending: "rpc",
          }),
        },
        // region changed: RegionMiss backoff, then the key is located again
        KEY_NOT_IN_REGION: {
          guard: "canFail",
          target: "backoff",
          actions: assign({
            errors: ({ context }) => context.errors + 1,
            miss: ({ context }) => context.miss + 1,
            afterDown: 0,
            pending: "miss",
          }),
        },
      },
    },
    backoff: {
      on: {
        BACKOFF_ELAPSED: {
          target: "sending",
          actions: assign({ sends: ({ context }) => context.sends + 1 }),
        },
      },
    },
    done: { type: "final" },
  },
});

/** The n-th sleep of a kind with random() = 0 (equal jitter takes v/2). */
function expectedSleep(ctx: ModelCtx): number {
  switch (ctx.pending) {
    case "maxTs":
      return Math.min(500, 2 * 2 ** (ctx.maxTs - 1));
    case "rpc":
      return Math.min(2000, 100 * 2 ** (ctx.rpc - 1)) / 2;
    case "miss":
      return Math.min(500, 2 * 2 ** (ctx.miss - 1));
    default:
      return 0;
  }
}

function harness() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id);
  pd.addRegion(1n, "", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const parked: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  const store: StoreSender = {
    send: () =>
      new Promise((resolve, reject) => parked.push({ resolve: resolve as (v: unknown) => void, reject })),
  };
  const sender = new RequestSender(cache, store, { random: () => 0 });
  return { cache, parked, sender };
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const regionError = (e: Parameters<typeof RegionErrorProto.fromPartial>[0]) => ({
  regionError: RegionErrorProto.fromPartial(e),
});

describe("retry path (model-based)", () => {
  afterEach(() => vi.useRealTimers());
  // this graph version also lists events whose guard blocked them as (no-op) steps: drop
  // those paths, the same path without the no-op steps is in the set as well
  const stateKey = (st: { value: unknown; context: unknown }) => JSON.stringify([st.value, st.context]);
  const paths = createTestModel(model)
    .getSimplePaths()
    .filter((p) =>
      p.steps.every((st, i) => i === 0 || stateKey(st.state) !== stateKey(p.steps[i - 1]!.state)),
    );

  it("covers every model state", () => {
    const seen = new Set(paths.flatMap((p) => p.steps.map((s) => JSON.stringify(s.state.value))));
    expect(seen).toEqual(new Set(['"sending"', '"backoff"', '"done"']));
    expect(paths.length).toBeGreaterThan(20);
  });

  for (const path of paths) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = harness();
      await h.cache.locateKey(key("a"));
      let settled = false;
      let outcome: unknown;
      const bo = new Backoffer({ maxSleepMs: 20_000, random: () => 0 });
      h.sender
        .sendToRegion(key("a"), "Get", (c) => ({ context: c.context }) as never, { budget: bo })
        .then(
          (v) => {
            outcome = v;
          },
          (e) => {
            outcome = e;
          },
        )
        .finally(() => {
          settled = true;
        });
      await flush();
      const answer = (v: unknown) => h.parked[h.parked.length - 1]?.resolve(v);
      await path.test({
        events: {
          OK: async () => {
            answer({ value: Buffer.from("v") });
            await flush();
          },
          STALE_COMMAND: async () => {
            answer(regionError({ staleCommand: {} }));
            await flush();
          },
          MAX_TS_NOT_SYNCED: async () => {
            answer(regionError({ maxTimestampNotSynced: {} }));
            await flush();
          },
          KEY_NOT_IN_REGION: async () => {
            answer(regionError({ keyNotInRegion: { key: key("a"), regionId: 1n } }));
            await flush();
          },
          STORE_UNAVAILABLE: async () => {
            h.parked[h.parked.length - 1]?.reject(new GrpcError(14, "connection refused", "store1"));
            await flush();
          },
          BACKOFF_ELAPSED: async (step) => {
            const wait = expectedSleep(step.state.context as ModelCtx);
            const before = h.parked.length;
            if (wait > 1) {
              await vi.advanceTimersByTimeAsync(wait - 1);
              expect(h.parked.length).toBe(before);
            }
            await vi.advanceTimersByTimeAsync(Math.min(wait, 1));
            await flush();
          },
        },
        states: {
          "*": (m) => {
            const ctx = m.context as ModelCtx;
            expect(h.parked.length).toBe(ctx.sends);
            expect(settled).toBe(m.value === "done");
          },
          done: (m) => {
            expect(h.parked.length).toBe((m.context as ModelCtx).sends);
            expect(outcome).toEqual({ value: Buffer.from("v") });
            const times = bo.backoffTimes();
            const ctx = m.context as ModelCtx;
            expect(times.maxTsNotSynced ?? 0).toBe(ctx.maxTs);
            expect(times.tikvRPC ?? 0).toBe(ctx.rpc);
            expect(times.regionMiss ?? 0).toBe(ctx.miss);
          },
        },
      });
    });
  }
});
