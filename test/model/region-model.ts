// The abstract model of a region in trouble (src/machines/region.ts), shared by the
// real-actor replay and the embedded-cluster replay. WAIT is a request for the region while
// it reloads; WAIT_INSIDE / WAIT_OUTSIDE a request for a key of the loaded region or of
// another one; LOAD_OK / LOAD_FAIL the PD lookup's outcome; IDLE the idle stop.
import { assign, setup } from "xstate";

/** Context of the region model. */
export interface RegionModelContext {
  /** Requests waiting for the reload in flight. */
  queued: number;
  /** Reloads started (bounded). */
  reloads: number;
  /** Requests answered at once from a fresh entry (bounded). */
  served: number;
}

/** The abstract region model. */
export const regionModel = setup({
  types: {
    context: {} as RegionModelContext,
    events: {} as
      | { type: "WAIT" }
      | { type: "WAIT_INSIDE" }
      | { type: "WAIT_OUTSIDE" }
      | { type: "LOAD_OK" }
      | { type: "LOAD_FAIL" }
      | { type: "IDLE" }
      | { type: "STOP" },
  },
  guards: { canReload: ({ context }) => context.reloads < 2 },
}).createMachine({
  id: "regionModel",
  context: { queued: 1, reloads: 1, served: 0 },
  initial: "reloading",
  on: { STOP: { target: ".stopped", actions: assign({ queued: 0 }) } },
  states: {
    reloading: {
      on: {
        WAIT: {
          guard: ({ context }) => context.queued < 2,
          actions: assign({ queued: ({ context }) => context.queued + 1 }),
        },
        LOAD_OK: { target: "fresh", actions: assign({ queued: 0 }) },
        LOAD_FAIL: { target: "idleAfterFailure", actions: assign({ queued: 0 }) },
      },
    },
    fresh: {
      on: {
        WAIT_INSIDE: { guard: ({ context }) => context.served < 1, actions: assign({ served: 1 }) },
        WAIT_OUTSIDE: {
          guard: "canReload",
          target: "reloading",
          actions: assign({ queued: 1, reloads: ({ context }) => context.reloads + 1 }),
        },
        IDLE: "stopped",
      },
    },
    idleAfterFailure: {
      on: {
        WAIT: {
          guard: "canReload",
          target: "reloading",
          actions: assign({ queued: 1, reloads: ({ context }) => context.reloads + 1 }),
        },
        IDLE: "stopped",
      },
    },
    stopped: { type: "final" },
  },
});
