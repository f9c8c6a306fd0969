// Statechart of a pipelined transaction's committer (client-go txnkv/transaction/txn.go
// InitPipelinedMemDB's flush function, pipelined_flush.go, 2pc.go keepAlive): it lives from
// begin. While the user writes, each generation of the buffer is flushed to TiKV (one at a time,
// after a throttle sleep that keeps the flushes to a share of the time); the flush of the primary
// starts the TTL manager. Commit takes a commit ts and commits the primary only (the transaction
// is then committed), then resolves every other lock by range ResolveLock in the background and,
// after a grace period, broadcasts that the transaction is complete. Rollback (or a failed
// commit) resolves the range with commit ts 0.
//
// Driven by sends, like the committer machine: each phase's I/O is an injected action that
// starts it and sends the outcome back as an event; the TTL manager is a child callback.

import { fromCallback, setup, spawnChild, stopChild } from "xstate";
import { primaryCommitActions, primaryCommitGuards, primaryCommitStates } from "./primary-commit.js";

/** How a pipelined commit ended, as reported to the caller. */
export type PipelinedCommitOutcome =
  | { kind: "committed"; commitTs: bigint }
  | { kind: "failed"; error: Error }
  | { kind: "undetermined"; error: Error };

/** What the caller of one flush is told. */
export type FlushReply = { ok: true } | { ok: false; error: Error };

/** A transaction status to broadcast to every store (kvrpcpb.TxnStatus, minus the ts the actor fills in). */
export type BroadcastKind =
  | { kind: "committed"; completed: boolean }
  | { kind: "rolledBack"; completed: boolean };

/** client-go broadcastGracePeriod (ms): followers get this long before the status cache may evict. */
export const BROADCAST_GRACE_MS = 5_000;
/** client-go defaultEWMAAge: the flush-time average weighs a new sample by 2 / (age + 1). */
export const FLUSH_EWMA_AGE = 10;

/**
 * The flush-time average after one more sample (VividCortex ewma as client-go uses it: the
 * first sample sets it, later ones are weighed by 2 / (age + 1)).
 */
export function nextFlushEwma(prev: number, sampleMs: number): number {
  if (prev === 0) return sampleMs;
  const decay = 2 / (FLUSH_EWMA_AGE + 1);
  return sampleMs * decay + prev * (1 - decay);
}

/**
 * The sleep before a flush (client-go throttlePipelinedTxn): sleep / (sleep + flush) = ratio,
 * so sleep = ratio / (1 - ratio) x the expected flush time. 0 for a ratio outside [0, 1).
 */
export function throttleMs(ratio: number, ewmaMs: number): number {
  if (!(ratio > 0 && ratio < 1)) return 0;
  return Math.floor((ratio / (1 - ratio)) * ewmaMs);
}

/** Mutable state of one pipelined transaction (read by the injected actions). */
export interface PipelinedSession {
  startTs: bigint;
  /** The write throttle ratio in [0, 1). */
  throttleRatio: number;
  /** The generation being flushed (0 before the first). */
  generation: number;
  /** Some generation with keys was sent (locks may exist on TiKV: a rollback must resolve them). */
  flushedAny: boolean;
  /** Average flush time in ms (0 before the first flush). */
  flushEwmaMs: number;
  /** The TTL manager was started (it runs once). */
  ttlStarted: boolean;
  /** The TTL manager gave up (max TTL, or the primary lock is gone): no more flushes. */
  ttlClosed: boolean;
  commitTs: bigint;
  /** A min commit ts the commit ts must exceed (after CommitTsExpired). */
  minCommitTs: bigint;
  commitTsRetries: number;
  error: Error | undefined;
}

/** A fresh session. */
export function newPipelinedSession(startTs: bigint, throttleRatio = 0): PipelinedSession {
  return {
    startTs,
    throttleRatio,
    generation: 0,
    flushedAny: false,
    flushEwmaMs: 0,
    ttlStarted: false,
    ttlClosed: false,
    commitTs: 0n,
    minCommitTs: 0n,
    commitTsRetries: 0,
    error: undefined,
  };
}

/** Events the actor layer sends. */
export type PipelinedEvent =
  /** The buffer wants generation `generation` flushed; `keys` = mutations it turned into. */
  | { type: "FLUSH"; generation: number; keys: number }
  | { type: "FLUSH_OK"; durationMs: number }
  | { type: "FLUSH_FAILED"; error: Error }
  /** The flush of the primary succeeded: heartbeats begin. */
  | { type: "TTL_START" }
  /** The TTL manager gave up. */
  | { type: "TTL_STOPPED" }
  /** Every generation is flushed: commit. */
  | { type: "COMMIT" }
  | { type: "ROLLBACK" }
  | { type: "COMMIT_TS"; ts: bigint }
  | { type: "COMMIT_TS_FAILED"; error: Error }
  | { type: "PRIMARY_COMMITTED" }
  | { type: "COMMIT_TS_EXPIRED"; minCommitTs: bigint }
  | { type: "PRIMARY_FAILED"; error: Error }
  | { type: "PRIMARY_UNDETERMINED"; error: Error }
  | { type: "RESOLVE_DONE" }
  | { type: "RESOLVE_FAILED"; error: Error };

/** The error a flush gets once the TTL manager gave up (client-go's message). */
export function ttlClosedError(): Error {
  return new Error("ttl manager is closed");
}

/** The pipelined committer statechart. */
export const pipelinedFlushMachine = setup({
  types: {
    context: {} as { s: PipelinedSession },
    input: {} as PipelinedSession,
    events: {} as PipelinedEvent,
  },
  actors: {
    // heartbeats the primary (and broadcasts min_commit_ts); sends TTL_STOPPED when it gives up
    ttlManager: fromCallback<PipelinedEvent, PipelinedSession>(() => () => {}),
  },
  actions: {
    startFlush: () => {},
    replyFlush: (_, _r: FlushReply) => {},
    fetchCommitTs: () => {},
    commitPrimary: () => {},
    broadcast: (_, _b: BroadcastKind) => {},
    startResolve: (_, _commit: boolean) => {},
    settle: (_, _o: PipelinedCommitOutcome) => {},
    /** Called on entering a final state (the actor layer releases the transaction). */
    finished: () => {},
    recordFlushStart: ({ context }, e: { generation: number; keys: number }) => {
      context.s.generation = e.generation;
      if (e.keys > 0) context.s.flushedAny = true;
    },
    recordFlushTime: ({ context }, ms: number) => {
      context.s.flushEwmaMs = nextFlushEwma(context.s.flushEwmaMs, ms);
    },
    markTtlStarted: ({ context }) => {
      context.s.ttlStarted = true;
    },
    markTtlClosed: ({ context }) => {
      context.s.ttlClosed = true;
    },
    recordError: ({ context }, e: Error) => {
      context.s.error ??= e;
    },
    ...primaryCommitActions,
  },
  guards: {
    ttlClosed: ({ context }) => context.s.ttlClosed,
    ttlNotStarted: ({ context }) => !context.s.ttlStarted && !context.s.ttlClosed,
    emptyGeneration: (_, keys: number) => keys === 0,
    needsThrottle: ({ context }) => throttleMs(context.s.throttleRatio, context.s.flushEwmaMs) > 0,
    nothingFlushed: ({ context }) => !context.s.flushedAny,
    ...primaryCommitGuards,
  },
  delays: {
    throttle: ({ context }) => throttleMs(context.s.throttleRatio, context.s.flushEwmaMs),
    broadcastGrace: BROADCAST_GRACE_MS,
  },
}).createMachine({
  id: "pipelinedFlush",
  context: ({ input }) => ({ s: input }),
  initial: "writing",
  on: {
    TTL_START: {
      guard: "ttlNotStarted",
      actions: [
        "markTtlStarted",
        spawnChild("ttlManager", { id: "ttlManager", input: ({ context }) => context.s }),
      ],
    },
    TTL_STOPPED: { actions: ["markTtlClosed", stopChild("ttlManager")] },
  },
  states: {
    // the user writes; generations are flushed one at a time as the buffer asks
    writing: {
      meta: { phase: "flush" },
      on: {
        FLUSH: [
          {
            guard: "ttlClosed",
            target: "broken",
            actions: [
              { type: "recordError", params: () => ttlClosedError() },
              {
                type: "replyFlush",
                params: ({ context }) => ({ ok: false, error: context.s.error ?? ttlClosedError() }),
              },
            ],
          },
          {
            guard: { type: "emptyGeneration", params: ({ event }) => event.keys },
            actions: { type: "replyFlush", params: { ok: true } },
          },
          {
            guard: "needsThrottle",
            target: "throttling",
            actions: { type: "recordFlushStart", params: ({ event }) => event },
          },
          { target: "flushing", actions: { type: "recordFlushStart", params: ({ event }) => event } },
        ],
        COMMIT: [
          // nothing reached TiKV (only flags were buffered): nothing to commit
          {
            guard: "nothingFlushed",
            target: "done",
            actions: { type: "settle", params: { kind: "committed", commitTs: 0n } },
          },
          { target: "gettingCommitTs" },
        ],
        ROLLBACK: [
          {
            guard: "nothingFlushed",
            target: "rolledBack",
            actions: [
              stopChild("ttlManager"),
              { type: "broadcast", params: { kind: "rolledBack", completed: true } },
            ],
          },
          { target: "rollingBack" },
        ],
      },
    },
    // client-go sleeps before a flush so that flushing takes at most the throttle ratio of the time
    throttling: {
      meta: { phase: "flush" },
      after: { throttle: "flushing" },
    },
    flushing: {
      meta: { phase: "flush" },
      entry: "startFlush",
      on: {
        FLUSH_OK: {
          target: "writing",
          actions: [
            { type: "recordFlushTime", params: ({ event }) => event.durationMs },
            { type: "replyFlush", params: { ok: true } },
          ],
        },
        FLUSH_FAILED: {
          target: "broken",
          actions: [
            { type: "recordError", params: ({ event }) => event.error },
            { type: "replyFlush", params: ({ event }) => ({ ok: false, error: event.error }) },
          ],
        },
      },
    },
    // a flush failed: the transaction can only be rolled back (a commit rolls back too)
    broken: {
      meta: { phase: "flush" },
      // client-go closes the TTL manager when a flush fails
      entry: stopChild("ttlManager"),
      on: {
        FLUSH: {
          actions: {
            type: "replyFlush",
            params: ({ context }) => ({ ok: false, error: context.s.error ?? ttlClosedError() }),
          },
        },
        COMMIT: "cleaningUp",
        ROLLBACK: "rollingBack",
      },
    },
    ...primaryCommitStates("undetermined"),
    // the caller is answered; the other locks are resolved by range in the background
    committed: {
      meta: { phase: "commit" },
      entry: [
        stopChild("ttlManager"),
        {
          type: "settle",
          params: ({ context }) =>
            ({ kind: "committed", commitTs: context.s.commitTs }) as PipelinedCommitOutcome,
        },
        { type: "broadcast", params: { kind: "committed", completed: false } },
        { type: "startResolve", params: true },
      ],
      on: { RESOLVE_DONE: "completingCommit", RESOLVE_FAILED: "done" },
    },
    completingCommit: {
      meta: { phase: "commit" },
      after: {
        broadcastGrace: {
          target: "done",
          actions: { type: "broadcast", params: { kind: "committed", completed: true } },
        },
      },
    },
    cleaningUp: {
      meta: { phase: "rollback" },
      entry: {
        type: "settle",
        params: ({ context }) =>
          ({
            kind: "failed",
            error: context.s.error ?? new Error("commit failed"),
          }) as PipelinedCommitOutcome,
      },
      always: "rollingBack",
    },
    rollingBack: {
      meta: { phase: "rollback" },
      entry: [
        stopChild("ttlManager"),
        { type: "broadcast", params: { kind: "rolledBack", completed: false } },
        { type: "startResolve", params: false },
      ],
      on: { RESOLVE_DONE: "completingRollback", RESOLVE_FAILED: "rolledBack" },
    },
    completingRollback: {
      meta: { phase: "rollback" },
      after: {
        broadcastGrace: {
          target: "rolledBack",
          actions: { type: "broadcast", params: { kind: "rolledBack", completed: true } },
        },
      },
    },
    // the primary commit's answer was lost: the transaction may be committed; never roll back
    undetermined: {
      type: "final",
      entry: [
        stopChild("ttlManager"),
        {
          type: "settle",
          params: ({ context }) =>
            ({
              kind: "undetermined",
              error: context.s.error ?? new Error("undetermined"),
            }) as PipelinedCommitOutcome,
        },
        "finished",
      ],
    },
    done: { type: "final", entry: "finished" },
    rolledBack: { type: "final", entry: "finished" },
  },
});
