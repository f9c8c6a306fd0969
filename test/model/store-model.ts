// The abstract store model, shared by the real-actor replay (store.mbt.test.ts) and the
// embedded-cluster replay (store.cluster.test.ts).
import { assign, setup } from "xstate";

/** Context of the store model. */
export interface Ctx {
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

/** Events of the store model. */
export type Ev =
  | { type: "CONNECT_OK" }
  | { type: "CONNECT_FAIL" }
  | { type: "BACKOFF_ELAPSED" }
  | { type: "STREAM_LOST" }
  | { type: "SEND" }
  | { type: "FEEDBACK" }
  | { type: "STOP" };

/** Every event type of the store model. */
export const EVENTS = [
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
export const model = setup({
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
        // re-created at once (client-go recreateStreamingClient); only a failed connect backs off
        STREAM_LOST: { guard: ({ context }) => context.connects < 2, target: "connecting" },
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
