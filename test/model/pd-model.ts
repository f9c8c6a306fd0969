// The abstract PD model, shared by the real-actor replay (pd.mbt.test.ts) and the
// embedded-cluster replay (pd.cluster.test.ts).
import { assign, setup } from "xstate";

/** Context of the PD model. */
export interface Ctx {
  /** Failed rounds since the last TSO_OK (the machine's `attempts`). */
  attempts: number;
  /** Which member leads (0 = none known yet). */
  leader: number;
  /** Discovery rounds started (first + re-discoveries), bounded. */
  rounds: number;
  /** STOP events sent. */
  stops: number;
}

/** Events of the PD model. */
export type Ev =
  | { type: "DISCOVER_OK" }
  | { type: "DISCOVER_FAIL" }
  | { type: "BACKOFF_ELAPSED" }
  | { type: "MEMBER_TIMER" }
  | { type: "CHECK_MEMBERS" }
  | { type: "CHECK_SAME" }
  | { type: "CHECK_MOVED" }
  | { type: "CHECK_FAIL" }
  | { type: "TSO_OK" }
  | { type: "TSO_LOST" }
  | { type: "LEADER_LOST" }
  | { type: "STOP" };

/** Discovery rounds the model allows. */
export const MAX_ROUNDS = 3;
/** Every event type of the PD model. */
export const EVENTS = [
  "DISCOVER_OK",
  "DISCOVER_FAIL",
  "BACKOFF_ELAPSED",
  "MEMBER_TIMER",
  "CHECK_MEMBERS",
  "CHECK_SAME",
  "CHECK_MOVED",
  "CHECK_FAIL",
  "TSO_OK",
  "TSO_LOST",
  "LEADER_LOST",
  "STOP",
] as const;

/** The abstract PD model. */
export const model = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  guards: {
    canFail: ({ context }) => context.attempts < 2,
    canRediscover: ({ context }) => context.rounds < MAX_ROUNDS,
  },
}).createMachine({
  id: "pdModel",
  context: { attempts: 0, leader: 0, rounds: 1, stops: 0 },
  initial: "discovering",
  on: { STOP: { target: ".stopped", actions: assign({ stops: 1 }) } },
  states: {
    discovering: {
      on: {
        DISCOVER_OK: {
          target: "connected",
          actions: assign({ leader: ({ context }) => Math.max(1, context.leader) }),
        },
        DISCOVER_FAIL: {
          guard: "canFail",
          target: "backoff",
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
      },
    },
    backoff: {
      on: {
        BACKOFF_ELAPSED: {
          guard: "canRediscover",
          target: "discovering",
          actions: assign({ rounds: ({ context }) => context.rounds + 1 }),
        },
      },
    },
    connected: {
      initial: "idle",
      on: {
        TSO_OK: { guard: ({ context }) => context.attempts > 0, actions: assign({ attempts: 0 }) },
        TSO_LOST: [
          {
            guard: ({ context }) => context.attempts === 0 && context.rounds < MAX_ROUNDS,
            target: "discovering",
            actions: assign({ attempts: 1, rounds: ({ context }) => context.rounds + 1 }),
          },
          {
            guard: ({ context }) => context.attempts > 0 && context.attempts < 2,
            target: "backoff",
            actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
          },
        ],
        LEADER_LOST: {
          guard: "canRediscover",
          target: "discovering",
          actions: assign({ rounds: ({ context }) => context.rounds + 1 }),
        },
      },
      states: {
        idle: { on: { MEMBER_TIMER: "checking", CHECK_MEMBERS: "checking" } },
        checking: {
          on: {
            CHECK_SAME: "idle",
            CHECK_FAIL: "idle",
            CHECK_MOVED: {
              guard: "canRediscover",
              target: "#pdModel.discovering",
              actions: assign({
                leader: ({ context }) => context.leader + 1,
                rounds: ({ context }) => context.rounds + 1,
              }),
            },
          },
        },
      },
    },
    stopped: { on: { STOP: { guard: ({ context }) => context.stops < 2, actions: assign({ stops: 2 }) } } },
  },
});
