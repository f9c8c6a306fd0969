// Statechart of one TiKV store connection: connecting <-> ready, connecting <-> reconnecting,
// any -> stopped.
// Pure: the connection is made by the injected `connect` actor and observed by the injected
// `watch` actor; requests are SEND events whose reply callback travels with them (one hop, no
// per-request actor, no per-request assign). A lost stream is re-created at once; failed
// connects back off like client-go's BoTiKVRPC (100 ms base, 2 s cap, equal jitter; client-go
// internal/client/client_batch.go recreateStreamingClient), and while a stream is being
// re-created requests fail fast with "no available connections" as client-go's batchConn does.

import { status as GrpcStatus } from "@grpc/grpc-js";
import { assign, emit, fromCallback, fromPromise, setup } from "xstate";
import { TlsError } from "../errors/tls.js";
import { GrpcError, notSent, notSentBecause, ShuttingDownError } from "../rpc/errors.js";

/** Something that can carry requests to a store (a TikvSession in production). */
export interface StoreLink {
  /** Sends one command; `reply` is called exactly once. */
  send(cmd: string, req: unknown, opts: unknown, reply: (err: Error | null, resp?: unknown) => void): void;
  /** Closes the link (its in-flight requests fail). */
  close(): void;
}

/** A request event: the reply callback rides along. */
export interface StoreSendEvent {
  type: "SEND";
  cmd: string;
  req: unknown;
  opts: unknown;
  reply: (err: Error | null, resp?: unknown) => void;
}

/** Events the store machine accepts. */
export type StoreEvent =
  | StoreSendEvent
  | { type: "STREAM_LOST"; error: Error }
  | { type: "HEALTH_FEEDBACK"; slowScore: number; seq: bigint }
  | { type: "STOP" };

/** Events the store machine emits (bridged to public hooks by the actor layer). */
export type StoreEmitted =
  | { type: "reachable"; storeId: number }
  | { type: "unreachable"; storeId: number; error: Error };

/** Reconnect backoff: min(cap, base * 2^attempt), with equal jitter unless disabled. */
export interface StoreBackoff {
  baseMs: number;
  capMs: number;
  /** Random source in [0,1) for jitter; undefined = no jitter (deterministic tests). */
  random?: () => number;
}

/** Input of the store machine. */
export interface StoreInput {
  storeId: number;
  address: string;
  backoff?: Partial<StoreBackoff>;
}

/** Reachability as seen by this client. */
export type StoreReachability = "unknown" | "reachable" | "unreachable";

/** Context of the store machine. `held` is mutated in place (requests waiting for the first connect). */
export interface StoreContext {
  storeId: number;
  address: string;
  link: StoreLink | undefined;
  /** Failed connect attempts since the last success. */
  attempts: number;
  /** Successful connects so far (0 until the first one). */
  connects: number;
  reachability: StoreReachability;
  /** Latest slow score from TiKV's health feedback (1 = healthy, up to 100). */
  slowScore: number;
  feedbackSeq: bigint;
  lastError: Error | undefined;
  backoff: StoreBackoff;
  held: StoreSendEvent[];
}

/** Input of the injected `connect` actor. */
export interface StoreConnectInput {
  storeId: number;
  address: string;
  attempt: number;
}

/** Delay before reconnect attempt number `attempt` (1-based). */
export function storeReconnectDelay(b: StoreBackoff, attempt: number): number {
  const v = Math.min(b.capMs, b.baseMs * 2 ** Math.max(0, attempt - 1));
  if (!b.random) return v;
  const half = Math.floor(v / 2);
  return half + Math.floor(b.random() * (v - half));
}

const NO_LINK_ERROR = "no available connections";

// What a request meets while the store has no link (never sent): the store refusing our TLS
// handshake or certificate is said as such (TlsError, not retried), else "no available connections"
function linkUnavailable(context: { address: string; lastError: Error | undefined }): Error {
  const last = context.lastError;
  if (last instanceof TlsError) return notSentBecause(last);
  return notSent(new GrpcError(GrpcStatus.UNAVAILABLE, NO_LINK_ERROR, context.address, { cause: last }));
}

/** The store statechart (I/O injected through `connect` and `watch`). */
export const storeMachine = setup({
  types: {
    context: {} as StoreContext,
    events: {} as StoreEvent,
    input: {} as StoreInput,
    emitted: {} as StoreEmitted,
  },
  actors: {
    connect: fromPromise<StoreLink, StoreConnectInput>(async () => {
      throw new Error("store machine: no connect actor provided");
    }),
    watch: fromCallback<StoreEvent, { link: StoreLink; storeId: number }>(() => () => {}),
  },
  delays: {
    reconnect: ({ context }) => storeReconnectDelay(context.backoff, context.attempts),
  },
  guards: {
    firstConnect: ({ context }) => context.connects === 0,
    // feedback older than the last applied one (reordered replies) is dropped
    newerFeedback: ({ context, event }) =>
      (event as Extract<StoreEvent, { type: "HEALTH_FEEDBACK" }>).seq >= context.feedbackSeq,
  },
  actions: {
    dispatch: ({ context, event }) => {
      const e = event as StoreSendEvent;
      (context.link as StoreLink).send(e.cmd, e.req, e.opts, e.reply);
    },
    hold: ({ context, event }) => {
      context.held.push(event as StoreSendEvent);
    },
    flushHeld: ({ context }) => {
      const held = context.held.splice(0);
      for (const e of held) (context.link as StoreLink).send(e.cmd, e.req, e.opts, e.reply);
    },
    // requests refused here never reached the store: their errors say so (notSent)
    failHeld: ({ context }) => {
      for (const e of context.held.splice(0)) {
        e.reply(linkUnavailable(context));
      }
    },
    rejectUnavailable: ({ context, event }) => {
      (event as StoreSendEvent).reply(linkUnavailable(context));
    },
    rejectClosed: ({ context, event }) => {
      (event as StoreSendEvent).reply(
        notSent(new ShuttingDownError(`store ${context.storeId} actor stopped`)),
      );
    },
    closeLink: ({ context }) => {
      context.link?.close();
      for (const e of context.held.splice(0)) {
        e.reply(notSent(new ShuttingDownError(`store ${context.storeId} actor stopped`)));
      }
    },
  },
}).createMachine({
  id: "store",
  context: ({ input }) => ({
    storeId: input.storeId,
    address: input.address,
    link: undefined,
    attempts: 0,
    connects: 0,
    reachability: "unknown",
    slowScore: 1,
    feedbackSeq: 0n,
    lastError: undefined,
    backoff: { baseMs: 100, capMs: 2000, random: Math.random, ...input.backoff },
    held: [],
  }),
  initial: "connecting",
  on: {
    STOP: ".stopped",
    HEALTH_FEEDBACK: {
      guard: "newerFeedback",
      actions: assign({ slowScore: ({ event }) => event.slowScore, feedbackSeq: ({ event }) => event.seq }),
    },
  },
  states: {
    connecting: {
      invoke: {
        src: "connect",
        input: ({ context }) => ({
          storeId: context.storeId,
          address: context.address,
          attempt: context.attempts,
        }),
        onDone: {
          target: "ready",
          actions: [
            assign({
              link: ({ event }) => event.output,
              attempts: 0,
              connects: ({ context }) => context.connects + 1,
              reachability: "reachable",
              lastError: undefined,
            }),
            emit(({ context }) => ({ type: "reachable" as const, storeId: context.storeId })),
          ],
        },
        onError: {
          target: "reconnecting",
          actions: [
            assign({
              attempts: ({ context }) => context.attempts + 1,
              reachability: "unreachable",
              lastError: ({ event }) => event.error as Error,
            }),
            "failHeld",
            emit(({ context, event }) => ({
              type: "unreachable" as const,
              storeId: context.storeId,
              error: event.error as Error,
            })),
          ],
        },
      },
      on: {
        SEND: [{ guard: "firstConnect", actions: "hold" }, { actions: "rejectUnavailable" }],
      },
    },
    ready: {
      entry: "flushHeld",
      invoke: {
        src: "watch",
        input: ({ context }) => ({ link: context.link as StoreLink, storeId: context.storeId }),
      },
      on: {
        SEND: { actions: "dispatch" },
        // a lost stream is re-created at once; only a failed re-create backs off (client-go
        // recreateStreamingClient): a store that still serves is not left unreachable for a
        // whole backoff (`connecting` refuses requests meanwhile, after the first connect)
        STREAM_LOST: {
          target: "connecting",
          actions: [
            assign({
              attempts: 0,
              link: undefined,
              reachability: "unreachable",
              lastError: ({ event }) => event.error,
            }),
            emit(({ context, event }) => ({
              type: "unreachable" as const,
              storeId: context.storeId,
              error: event.error,
            })),
          ],
        },
      },
    },
    reconnecting: {
      after: { reconnect: "connecting" },
      on: { SEND: { actions: "rejectUnavailable" } },
    },
    // Not final: a stopped store keeps answering SEND with ShuttingDownError instead of dropping it.
    stopped: {
      entry: "closeLink",
      on: { SEND: { actions: "rejectClosed" }, STOP: {}, HEALTH_FEEDBACK: {} },
    },
  },
});

/** The store machine's type, for `.provide()` in the actor layer and tests. */
export type StoreMachine = typeof storeMachine;
