// The abstract model of one pipelined transaction's committer (src/machines/pipelined-flush.ts
// driven by src/actors/txn/pipelined/pipelined-committer.ts), shared by the real-machine replay
// (pipelined.mbt.test.ts) and the embedded-cluster replay through PipelinedTransaction
// (pipelined.cluster.test.ts).
//
// A path begins with the transaction (write throttle ratio 0, or > 0: then a flush after the
// first one sleeps first), then lists what the user and each phase meet: a generation with keys
// to flush (at most MAX_GENS), one without (answered at once), the throttle sleep ending, the
// flush answered or failed, the batch holding the primary written (the TTL manager starts; a
// later generation rewriting the primary cannot restart it), the TTL manager giving up, the
// user's commit or rollback, the TSO's answer (above the min commit ts, not above it after a
// renewal, or failing), the primary's commit answer (committed, CommitTsExpired, a key error, an
// answer lost), the range resolution's end, and the grace period before the "completed"
// broadcast.
//
// The context carries the oracles: what each flush caller was told, what settle reports (the
// commit's caller: committed / failed / undetermined, and why), which range resolution started
// (commit or rollback), the broadcasts in order, and the TTL manager's state.
import { and, assign, not, setup } from "xstate";
import { MAX_COMMIT_TS_RETRIES } from "../../src/machines/committer.js";

/** Generations with keys a path flushes at most (two: the second one is throttled). */
export const MAX_GENS = 2;
/** Empty generations a path flushes at most. */
export const MAX_EMPTY_GENS = 1;
/** Flush calls a path makes at most. */
export const MAX_FLUSH_CALLS = 4;

/** What one flush caller is told. */
export type FlushAnswer =
  | "ok"
  /** The flush failed (a conflict...): its error. */
  | "flushFailed"
  /** The TTL manager gave up before it: "ttl manager is closed". */
  | "ttlClosed";

/** Why the transaction cannot commit (what its callers are told). */
export type PipelinedFailure =
  | ""
  /** A flush failed: its error, for every later flush and the commit. */
  | "flushFailed"
  /** A flush after the TTL manager gave up: "ttl manager is closed". */
  | "ttlClosed"
  /** COMMIT_TS_FAILED: the TSO error. */
  | "tso"
  /** One CommitTsExpired more than MAX_COMMIT_TS_RETRIES renewals allow. */
  | "tsExpired"
  /** PRIMARY_FAILED: the primary's key error (its lock is gone). */
  | "primary"
  /** PRIMARY_UNDETERMINED: the answer was lost; nothing is rolled back. */
  | "undetermined";

/** What settle reports to the commit's caller ("" = nothing yet, or nobody waits: a rollback). */
export type SettleKind = "" | "committed" | "failed" | "undetermined";

/** One broadcast of the transaction's status to every store. */
export type BroadcastName = "committed" | "committed+completed" | "rolledBack" | "rolledBack+completed";

/**
 * The TTL manager: not started, running, given up by itself (TTL_STOPPED: no flush may follow),
 * or stopped by the committer (a failed flush, the commit's outcome, a rollback).
 */
export type PipelinedTtl = "none" | "running" | "closed" | "stopped";

/** Context of the pipelined model. */
export interface PipelinedModelContext {
  /** Write throttle ratio > 0. */
  throttled: boolean;
  /** Generations with keys started. */
  gens: number;
  /** Empty generations answered. */
  empties: number;
  /** A flush finished: the average flush time is known (a throttled flush then sleeps). */
  timed: boolean;
  /** What each flush caller was told, in order. */
  replies: FlushAnswer[];
  ttl: PipelinedTtl;
  /** A later generation rewrote the primary: TTL_START once more (refused by the machine). */
  restartTried: boolean;
  /** Commit-ts renewals after CommitTsExpired. */
  renewals: number;
  /** A TSO answer not above the min commit ts in this TSO phase (bounded to 1). */
  lowAnswered: boolean;
  settled: SettleKind;
  failure: PipelinedFailure;
  /** The range resolution started: committing or rolling back the flushed locks. */
  resolve: "" | "commit" | "rollback";
  broadcasts: BroadcastName[];
}

/** Events of the pipelined model. */
export type PipelinedModelEvent = { type: (typeof PIPELINED_EVENTS)[number] };

/** Every event type of the pipelined model. */
export const PIPELINED_EVENTS = [
  "BEGIN",
  "BEGIN_THROTTLED",
  "FLUSH",
  "FLUSH_EMPTY",
  "THROTTLE_ELAPSED",
  "FLUSH_OK",
  "FLUSH_FAILED",
  "TTL_START",
  "TTL_STOPPED",
  "COMMIT",
  "ROLLBACK",
  "COMMIT_TS",
  "COMMIT_TS_LOW",
  "COMMIT_TS_FAILED",
  "PRIMARY_OK",
  "PRIMARY_TS_EXPIRED",
  "PRIMARY_FAILED",
  "PRIMARY_UNDETERMINED",
  "RESOLVE_DONE",
  "RESOLVE_FAILED",
  "GRACE_ELAPSED",
] as const;

/** A model event type. */
export type PipelinedModelEventType = (typeof PIPELINED_EVENTS)[number];

/** The final states of the machine (the committer is released). */
export const PIPELINED_FINAL_STATES: ReadonlySet<string> = new Set(["done", "rolledBack", "undetermined"]);

type Ctx = PipelinedModelContext;
type Ev = PipelinedModelEvent;
const set = (f: (c: Ctx) => Partial<Ctx>) =>
  assign<Ctx, Ev, undefined, Ev, never>(({ context }) => f(context));
/** The committer stops a running TTL manager (one that gave up stays "closed"). */
const stopTtl = (c: Ctx): PipelinedTtl => (c.ttl === "running" ? "stopped" : c.ttl);
/**
 * The user commits or rolls back: the writing phase's history is forgotten (nothing that follows
 * depends on it, and the walk stays small); the replay checks that no flush caller is answered
 * after it. Only whether anything was flushed is kept.
 */
const endWriting = (c: Ctx): Partial<Ctx> => ({
  throttled: false,
  gens: Math.min(c.gens, 1),
  empties: 0,
  timed: false,
  replies: [],
  restartTried: false,
});
/** A flush broke the transaction: as {@link endWriting}, the flush callers' answers kept. */
const breakWriting = (c: Ctx, answer: "flushFailed" | "ttlClosed", ttl: PipelinedTtl): Partial<Ctx> => ({
  ...endWriting(c),
  replies: [...c.replies, answer],
  failure: answer,
  ttl,
});
/** The commit failed: the caller is told, the flushed locks are rolled back. */
const failCommit = (failure?: PipelinedFailure) =>
  set((c) => ({
    ...endWriting(c),
    settled: "failed",
    failure: failure ?? c.failure,
    ttl: stopTtl(c),
    resolve: "rollback",
    broadcasts: [...c.broadcasts, "rolledBack"],
  }));
/** The flushed locks are rolled back (nobody is told: the user asked for it, or was told already). */
const rollBack = set((c) => ({
  ...endWriting(c),
  ttl: stopTtl(c),
  resolve: "rollback",
  broadcasts: [...c.broadcasts, "rolledBack"],
}));

/** The abstract pipelined model (no invoke / after: createTestModel accepts it). */
export const pipelinedModel = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  guards: {
    ttlRunning: ({ context }) => context.ttl === "running",
    ttlClosed: ({ context }) => context.ttl === "closed",
    mayFlush: ({ context }) => context.replies.length < MAX_FLUSH_CALLS,
    mayFlushKeys: ({ context }) => context.replies.length < MAX_FLUSH_CALLS && context.gens < MAX_GENS,
    mayFlushEmpty: ({ context }) =>
      context.replies.length < MAX_FLUSH_CALLS && context.empties < MAX_EMPTY_GENS,
    sleepsFirst: ({ context }) => context.throttled && context.timed,
    nothingFlushed: ({ context }) => context.gens === 0,
    // the generation holding the primary (the first with keys) is answered only after its batch
    // started the TTL manager
    primaryWritten: ({ context }) => context.gens > 1 || context.ttl !== "none",
    mayRenew: ({ context }) => context.renewals < MAX_COMMIT_TS_RETRIES,
    // the walk to the renewal bound keeps the TTL manager running (once it gave up, one renewal
    // at most)
    renewalWalk: ({ context: c }) => c.renewals === 0 || c.ttl === "running",
    // between the first renewal and the bound, the walk only renews (every other answer is
    // walked after no renewal, one, and the last allowed)
    notMidWalk: ({ context: c }) => c.renewals <= 1 || c.renewals >= MAX_COMMIT_TS_RETRIES,
  },
}).createMachine({
  id: "pipelinedModel",
  context: {
    throttled: false,
    gens: 0,
    empties: 0,
    timed: false,
    replies: [],
    ttl: "none",
    restartTried: false,
    renewals: 0,
    lowAnswered: false,
    settled: "",
    failure: "",
    resolve: "",
    broadcasts: [],
  },
  initial: "idle",
  // the TTL manager gives up whatever the committer is doing (it is stopped once the commit ends)
  on: {
    TTL_STOPPED: { guard: and(["ttlRunning", "notMidWalk"]), actions: set(() => ({ ttl: "closed" })) },
  },
  states: {
    idle: {
      on: {
        BEGIN: "writing",
        BEGIN_THROTTLED: { target: "writing", actions: set(() => ({ throttled: true })) },
      },
    },
    // the user writes; the buffer asks for one generation at a time
    writing: {
      on: {
        FLUSH: [
          {
            guard: and(["mayFlush", "ttlClosed"]),
            target: "broken",
            actions: set((c) => breakWriting(c, "ttlClosed", c.ttl)),
          },
          {
            guard: and(["mayFlushKeys", "sleepsFirst"]),
            target: "throttling",
            actions: set((c) => ({ gens: c.gens + 1 })),
          },
          { guard: "mayFlushKeys", target: "flushing", actions: set((c) => ({ gens: c.gens + 1 })) },
        ],
        // an empty generation is answered at once (nothing is sent)
        FLUSH_EMPTY: [
          {
            guard: and(["mayFlush", "ttlClosed"]),
            target: "broken",
            actions: set((c) => breakWriting(c, "ttlClosed", c.ttl)),
          },
          {
            guard: "mayFlushEmpty",
            actions: set((c) => ({ empties: c.empties + 1, replies: [...c.replies, "ok"] })),
          },
        ],
        COMMIT: [
          // nothing reached TiKV: committed at ts 0, nothing to resolve or broadcast
          {
            guard: "nothingFlushed",
            target: "done",
            actions: set((c) => ({ ...endWriting(c), settled: "committed" })),
          },
          { target: "gettingCommitTs", actions: set(endWriting) },
        ],
        ROLLBACK: [
          // nothing reached TiKV: the stores learn at once that the transaction is over
          {
            guard: "nothingFlushed",
            target: "rolledBack",
            actions: set((c) => ({
              ...endWriting(c),
              broadcasts: [...c.broadcasts, "rolledBack+completed"],
            })),
          },
          { target: "rollingBack", actions: rollBack },
        ],
      },
    },
    throttling: {
      on: { THROTTLE_ELAPSED: "flushing" },
    },
    flushing: {
      on: {
        TTL_START: [
          { guard: ({ context }) => context.ttl === "none", actions: set(() => ({ ttl: "running" })) },
          {
            guard: ({ context }) => !context.restartTried,
            actions: set(() => ({ restartTried: true })),
          },
        ],
        FLUSH_OK: {
          guard: "primaryWritten",
          target: "writing",
          actions: set((c) => ({ timed: true, replies: [...c.replies, "ok"] })),
        },
        FLUSH_FAILED: {
          target: "broken",
          actions: set((c) => breakWriting(c, "flushFailed", stopTtl(c))),
        },
      },
    },
    // a flush failed (or came after the TTL manager gave up): only a rollback is left
    broken: {
      on: {
        // (the flush size does not matter here: one more call is enough)
        FLUSH: {
          guard: ({ context }) => context.replies.filter((r) => r !== "ok").length < 2,
          actions: set((c) => ({ replies: [...c.replies, c.failure as FlushAnswer] })),
        },
        // a commit is told the flush's failure, then rolls back
        COMMIT: { target: "rollingBack", actions: failCommit() },
        ROLLBACK: { target: "rollingBack", actions: rollBack },
      },
    },
    gettingCommitTs: {
      on: {
        COMMIT_TS: { target: "committingPrimary", actions: set(() => ({ lowAnswered: false })) },
        // after a CommitTsExpired, an answer not above the min commit ts commits at that minimum
        COMMIT_TS_LOW: {
          guard: and([({ context }) => context.renewals > 0 && !context.lowAnswered, "notMidWalk"]),
          target: "committingPrimary",
          actions: set(() => ({ lowAnswered: true })),
        },
        COMMIT_TS_FAILED: { guard: "notMidWalk", target: "rollingBack", actions: failCommit("tso") },
      },
    },
    committingPrimary: {
      on: {
        PRIMARY_OK: {
          guard: "notMidWalk",
          target: "committed",
          actions: set((c) => ({
            settled: "committed",
            ttl: stopTtl(c),
            resolve: "commit",
            broadcasts: [...c.broadcasts, "committed"],
          })),
        },
        PRIMARY_TS_EXPIRED: [
          {
            guard: and(["mayRenew", "renewalWalk"]),
            target: "gettingCommitTs",
            actions: set((c) => ({ renewals: c.renewals + 1 })),
          },
          { guard: not("mayRenew"), target: "rollingBack", actions: failCommit("tsExpired") },
        ],
        PRIMARY_FAILED: { guard: "notMidWalk", target: "rollingBack", actions: failCommit("primary") },
        PRIMARY_UNDETERMINED: {
          guard: "notMidWalk",
          target: "undetermined",
          actions: set((c) => ({ settled: "undetermined", failure: "undetermined", ttl: stopTtl(c) })),
        },
      },
    },
    // the caller was told "committed"; the other locks are resolved in the background
    committed: {
      on: {
        RESOLVE_DONE: "completingCommit",
        // the readers resolve what is left; no "completed" broadcast
        RESOLVE_FAILED: "done",
      },
    },
    completingCommit: {
      on: {
        GRACE_ELAPSED: {
          target: "done",
          actions: set((c) => ({ broadcasts: [...c.broadcasts, "committed+completed"] })),
        },
      },
    },
    rollingBack: {
      on: { RESOLVE_DONE: "completingRollback", RESOLVE_FAILED: "rolledBack" },
    },
    completingRollback: {
      on: {
        GRACE_ELAPSED: {
          target: "rolledBack",
          actions: set((c) => ({ broadcasts: [...c.broadcasts, "rolledBack+completed"] })),
        },
      },
    },
    // the machine's final states; plain states here, so that extending a path by one more event
    // (paths.ts) does not send to a stopped actor
    done: {},
    rolledBack: {},
    // the primary's answer was lost: nothing is rolled back, nothing broadcast
    undetermined: {},
  },
});
