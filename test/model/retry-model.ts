// The abstract model of one request's retry run (src/machines/retry.ts), shared by the
// real-actor replay and the embedded-cluster replay. Its events are what the pending
// attempt meets (an answer, a transport failure, a timer, a PD answer); its context carries
// the oracles (backoff kinds expected, the store the next attempt must go to, why it failed).
// The budget allows exactly one backoff, so a second backoff-needing event fails the request
// with BackoffExhaustedError; counters keep the walk finite.
import { assign, setup } from "xstate";

/** Why the model says the request failed. */
export type RetryFailure = "" | "exhausted" | "fatal" | "undetermined" | "aborted" | "relocateFailed";

/** Backoff kind names (src/actors/backoff/backoff-config.ts). */
export type BackoffKind = "" | "regionScheduling" | "tikvRPC" | "regionMiss";

/** First sleep of each kind with no jitter randomness (random = 0). */
export const FIRST_SLEEP_MS: Record<Exclude<BackoffKind, "">, number> = {
  regionScheduling: 2,
  tikvRPC: 50,
  regionMiss: 2,
};

/** Context of the retry model. */
export interface RetryModelContext {
  /** NotLeader-with-hint answers seen (bounded to 1). */
  hints: number;
  /** Backoffs accounted (the budget allows 1). */
  slept: number;
  /** Relocations after an EpochNotMatch (bounded to 1). */
  relocations: number;
  /** Kind of the one backoff taken, if any. */
  kind: BackoffKind;
  /** The next attempt must go to the hinted leader. */
  expectHint: boolean;
  /** The next attempt must avoid the store whose send failed. */
  avoidFailed: boolean;
  failure: RetryFailure;
}

/** Events of the retry model. */
export type RetryModelEvent =
  | { type: "START" }
  | { type: "FAST_NOT_LEADER" }
  | { type: "OK" }
  | { type: "NOT_LEADER" }
  | { type: "NO_LEADER" }
  | { type: "SEND_FAIL" }
  | { type: "STALE_EPOCH" }
  | { type: "REGION_NOT_FOUND" }
  | { type: "FATAL" }
  | { type: "UNDETERMINED" }
  | { type: "ELAPSED" }
  | { type: "RELOCATED" }
  | { type: "RELOCATE_FAIL" }
  | { type: "ABORT" };

/** The abstract retry model (no invoke / after: createTestModel accepts it). */
export const retryModel = setup({
  types: { context: {} as RetryModelContext, events: {} as RetryModelEvent },
  guards: { canSleep: ({ context }) => context.slept < 1 },
}).createMachine({
  id: "retryModel",
  context: {
    hints: 0,
    slept: 0,
    relocations: 0,
    kind: "",
    expectHint: false,
    avoidFailed: false,
    failure: "",
  },
  initial: "idle",
  states: {
    idle: {
      on: {
        START: "sending",
        // the fast path already met a NotLeader naming another leader
        FAST_NOT_LEADER: { target: "sending", actions: assign({ hints: 1, expectHint: true }) },
      },
    },
    sending: {
      on: {
        OK: "succeeded",
        NOT_LEADER: {
          guard: ({ context }) => context.hints < 1,
          target: "sending",
          reenter: true,
          actions: assign({ hints: 1, expectHint: true, avoidFailed: false }),
        },
        NO_LEADER: [
          {
            guard: "canSleep",
            target: "backingOff",
            actions: assign({ slept: 1, kind: "regionScheduling", expectHint: false, avoidFailed: false }),
          },
          { target: "failed", actions: assign({ failure: "exhausted" }) },
        ],
        SEND_FAIL: [
          {
            guard: "canSleep",
            target: "backingOff",
            actions: assign({ slept: 1, kind: "tikvRPC", expectHint: false, avoidFailed: true }),
          },
          { target: "failed", actions: assign({ failure: "exhausted" }) },
        ],
        STALE_EPOCH: {
          guard: ({ context }) => context.relocations < 1,
          target: "relocating",
          actions: assign({ relocations: 1, expectHint: false, avoidFailed: false }),
        },
        REGION_NOT_FOUND: [
          {
            guard: "canSleep",
            target: "relocating",
            actions: assign({ slept: 1, kind: "regionMiss", expectHint: false, avoidFailed: false }),
          },
          { target: "failed", actions: assign({ failure: "exhausted" }) },
        ],
        FATAL: { target: "failed", actions: assign({ failure: "fatal" }) },
        UNDETERMINED: { target: "failed", actions: assign({ failure: "undetermined" }) },
        ABORT: { target: "failed", actions: assign({ failure: "aborted" }) },
      },
    },
    backingOff: {
      on: {
        ELAPSED: "sending",
        ABORT: { target: "failed", actions: assign({ failure: "aborted" }) },
      },
    },
    relocating: {
      on: {
        RELOCATED: "sending",
        RELOCATE_FAIL: { target: "failed", actions: assign({ failure: "relocateFailed" }) },
        ABORT: { target: "failed", actions: assign({ failure: "aborted" }) },
      },
    },
    succeeded: { type: "final" },
    failed: { type: "final" },
  },
});
