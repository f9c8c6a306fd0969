// Statechart of a region in trouble: while its entry is being reloaded from PD, requests that
// need it wait here (one PD lookup for all of them); once fresh it answers at once, and it
// stops after an idle period. Healthy regions have no actor (plain cache entries). The PD
// lookup is the injected `load` actor. Reload-on-error follows client-go's region cache
// (findRegionByKey after invalidation), the per-region coalescing is this client's.

import { assign, emit, fromPromise, setup } from "xstate";
import type { RegionEntry } from "./ports.js";

/** A request waiting for the region: `reply(null, region)`; `region` undefined = the key moved elsewhere. */
export interface RegionWaiter {
  key: Buffer;
  reply: (err: Error | null, region?: RegionEntry) => void;
}

/** Events of the region machine. */
export type RegionEvent =
  /** Wait for a usable region holding `key`. */
  | ({ type: "WAIT" } & RegionWaiter)
  /** Stop now (client closing). */
  | { type: "STOP" };

/** Emitted when a reload finished. */
export type RegionEmitted = { type: "reloaded"; regionId: bigint; region: RegionEntry };

/** Input of the region machine. */
export interface RegionMachineInput {
  /** Id of the troubled region. */
  regionId: bigint;
  /** The first key to reload. */
  key: Buffer;
  /** Idle time before the actor stops (default 10 s). */
  idleMs?: number;
}

interface RegionContext {
  regionId: bigint;
  key: Buffer;
  idleMs: number;
  /** Waiting requests; mutated in place (no per-request context copy). */
  waiters: RegionWaiter[];
  region: RegionEntry | undefined;
  reloads: number;
}

function answer(waiters: RegionWaiter[], region: RegionEntry | undefined, err: Error | null): void {
  const list = waiters.splice(0, waiters.length);
  for (const w of list) {
    if (err) w.reply(err);
    else w.reply(null, region?.contains(w.key) ? region : undefined);
  }
}

/** The region-in-trouble statechart: reloading → fresh → (idle) stopped. */
export const regionMachine = setup({
  types: {
    context: {} as RegionContext,
    events: {} as RegionEvent,
    input: {} as RegionMachineInput,
    emitted: {} as RegionEmitted,
  },
  actors: {
    load: fromPromise<RegionEntry, { key: Buffer }>(async () => {
      throw new Error("no region loader injected");
    }),
  },
  delays: {
    idle: ({ context }) => context.idleMs,
  },
  guards: {
    usableFor: ({ context }, key: Buffer) => !!context.region?.isValid && context.region.contains(key),
  },
  actions: {
    enqueue: ({ context }, w: RegionWaiter) => {
      context.waiters.push(w);
    },
    replyNow: ({ context }, w: RegionWaiter) => w.reply(null, context.region),
    answerAll: ({ context }) => answer(context.waiters, context.region, null),
    failAll: ({ context }, err: Error) => answer(context.waiters, undefined, err),
  },
}).createMachine({
  id: "region",
  context: ({ input }) => ({
    regionId: input.regionId,
    key: input.key,
    idleMs: input.idleMs ?? 10_000,
    waiters: [],
    region: undefined,
    reloads: 0,
  }),
  initial: "reloading",
  on: { STOP: ".stopped" },
  states: {
    reloading: {
      entry: assign({ reloads: ({ context }) => context.reloads + 1 }),
      invoke: {
        src: "load",
        input: ({ context }) => ({ key: context.key }),
        onDone: {
          target: "fresh",
          actions: [
            assign({ region: ({ event }) => event.output }),
            "answerAll",
            emit(({ context, event }) => ({
              type: "reloaded" as const,
              regionId: context.regionId,
              region: event.output,
            })),
          ],
        },
        onError: {
          target: "idleAfterFailure",
          actions: { type: "failAll", params: ({ event }) => event.error as Error },
        },
      },
      on: { WAIT: { actions: { type: "enqueue", params: ({ event }) => event } } },
    },
    fresh: {
      on: {
        WAIT: [
          {
            guard: { type: "usableFor", params: ({ event }) => event.key },
            actions: { type: "replyNow", params: ({ event }) => event },
          },
          // trouble again (or another key): reload for this key
          {
            target: "reloading",
            actions: [
              { type: "enqueue", params: ({ event }) => event },
              assign({ key: ({ event }) => event.key }),
            ],
          },
        ],
      },
      after: { idle: "stopped" },
    },
    idleAfterFailure: {
      on: {
        WAIT: {
          target: "reloading",
          actions: [
            { type: "enqueue", params: ({ event }) => event },
            assign({ key: ({ event }) => event.key }),
          ],
        },
      },
      after: { idle: "stopped" },
    },
    stopped: {
      type: "final",
      entry: { type: "failAll", params: () => new Error("region actor stopped") },
    },
  },
});
