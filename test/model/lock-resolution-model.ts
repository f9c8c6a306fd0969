// The abstract model of one lock resolution (src/machines/lock-resolution.ts driven by
// src/actors/txn/lock-resolver.ts, with the policy of src/machines/lock-policy.ts), shared by the
// real-machine replay (lock-resolution.mbt.test.ts) and the embedded-cluster replay through
// `lockResolver.resolveLocks` (lock-resolution.cluster.test.ts); plus the tiny model of the
// client's resolver actor (lockResolverMachine: open / closed).
//
// A path begins with who asks and which lock it met: a writer or a reader meeting a live
// optimistic lock, a writer meeting an expired one (by the client's clock), a writer meeting a
// live pessimistic lock, or a pipelined (Flush) lock: live, met by a writer or by a point get,
// or expired, met by a writer. A pipelined lock is an optimistic lock with a generation and an
// unknown (u64::MAX) txn size: never async commit, never pessimistic, so it meets the same
// status answers as a live / expired optimistic lock but no CheckSecondaryLocks or primary
// mismatch, and its cleanup resolves the whole region (a point get resolves just its key).
// Then come the answers the resolution meets: what CheckTxnStatus says about the primary
// (alive, committed, rolled back, expired and now rolled back, an expired async-commit primary,
// TxnNotFound, primary mismatch, a failed RPC), the TxnNotFound backoff elapsing, what
// CheckSecondaryLocks says (all still locked, one committed, one missing, one not async-commit,
// a failed RPC), and the cleanup's outcome.
//
// The context carries the oracles: the lock kind, the flags the machine sets (rollback-if-not-exist,
// force sync commit), the backoffs taken (the budget allows one), the status decided and why the
// resolution failed.
import { and, assign, setup } from "xstate";

/** The lock the resolution starts from. */
export type LockKind = "live" | "expired" | "pessimistic";

/** The status the model says the resolution ends with. */
export type ModelStatus = "" | "alive" | "committed" | "rolledBack";

/** Why the model says the resolution failed. */
export type ResolutionFailure = "" | "exhausted" | "checkFailed" | "secondariesFailed" | "cleanupFailed";

/** How an async-commit transaction was decided from its secondaries. */
export type AsyncDecision = "" | "allLocked" | "secondaryCommitted" | "secondaryMissing";

/** Context of the lock-resolution model. */
export interface LockResolutionModelContext {
  lock: LockKind;
  forRead: boolean;
  /** The lock was flushed by a pipelined transaction (generation > 0, txn size u64::MAX). */
  pipelined: boolean;
  rollbackIfNotExist: boolean;
  forceSyncCommit: boolean;
  /** TxnNotFound backoffs taken (the budget allows 1). */
  slept: number;
  /** The primary was met as an expired async-commit lock (checked through its secondaries). */
  asyncCommit: boolean;
  asyncDecision: AsyncDecision;
  status: ModelStatus;
  /** The status came from a primary mismatch (a stale pessimistic lock). */
  mismatch: boolean;
  failure: ResolutionFailure;
}

/** Events of the lock-resolution model. */
export type LockResolutionModelEvent =
  | { type: "RESOLVE" }
  | { type: "RESOLVE_READ" }
  | { type: "RESOLVE_EXPIRED_LOCK" }
  | { type: "RESOLVE_PESSIMISTIC_LOCK" }
  | { type: "RESOLVE_PIPELINED_LOCK" }
  | { type: "RESOLVE_PIPELINED_READ" }
  | { type: "RESOLVE_EXPIRED_PIPELINED_LOCK" }
  | { type: "STATUS_ALIVE" }
  | { type: "STATUS_COMMITTED" }
  | { type: "STATUS_ROLLED_BACK" }
  | { type: "STATUS_EXPIRED" }
  | { type: "STATUS_ASYNC_EXPIRED" }
  | { type: "NOT_FOUND" }
  | { type: "PRIMARY_MISMATCH" }
  | { type: "CHECK_FAILED" }
  | { type: "ELAPSED" }
  | { type: "SECONDARIES_LOCKED" }
  | { type: "SECONDARY_COMMITTED" }
  | { type: "SECONDARY_MISSING" }
  | { type: "SECONDARY_NOT_ASYNC" }
  | { type: "SECONDARIES_FAILED" }
  | { type: "CLEANUP_OK" }
  | { type: "CLEANUP_FAILED" };

/** A lock-resolution model event type. */
export type LockResolutionEventType = LockResolutionModelEvent["type"];

/** Events that are one CheckTxnStatus answer. */
export const CHECK_EVENTS: ReadonlySet<string> = new Set([
  "STATUS_ALIVE",
  "STATUS_COMMITTED",
  "STATUS_ROLLED_BACK",
  "STATUS_EXPIRED",
  "STATUS_ASYNC_EXPIRED",
  "NOT_FOUND",
  "PRIMARY_MISMATCH",
  "CHECK_FAILED",
]);

/** Events that are one round of CheckSecondaryLocks answers. */
export const SECONDARY_EVENTS: ReadonlySet<string> = new Set([
  "SECONDARIES_LOCKED",
  "SECONDARY_COMMITTED",
  "SECONDARY_MISSING",
  "SECONDARY_NOT_ASYNC",
  "SECONDARIES_FAILED",
]);

const set = (a: Partial<LockResolutionModelContext>) =>
  assign<LockResolutionModelContext, LockResolutionModelEvent, undefined, LockResolutionModelEvent, never>(a);
const start = (lock: LockKind, forRead = false, pipelined = false) => ({
  target: "checkingStatus" as const,
  actions: set({ lock, forRead, pipelined }),
});
const failWith = (failure: ResolutionFailure) => ({ target: "failed" as const, actions: set({ failure }) });

/** The abstract lock-resolution model (no invoke / after: createTestModel accepts it). */
export const lockResolutionModel = setup({
  types: { context: {} as LockResolutionModelContext, events: {} as LockResolutionModelEvent },
  guards: {
    // a forced sync commit follows an expired async-commit primary: it can no longer be alive
    mayBeAlive: ({ context }) => !context.forceSyncCommit,
    // a pipelined transaction never uses async commit
    mayBeAsync: ({ context }) =>
      !context.forceSyncCommit && context.lock !== "pessimistic" && !context.pipelined,
    // TiKV answers TxnNotFound only while nothing was written for the primary and rollback-if-not-exist is off
    notFoundPossible: ({ context }) => !context.rollbackIfNotExist && !context.forceSyncCommit,
    lockLive: ({ context }) => context.lock === "live",
    lockExpired: ({ context }) => context.lock === "expired",
    lockPessimistic: ({ context }) => context.lock === "pessimistic",
    canSleep: ({ context }) => context.slept < 1,
    // a reader does not wait for the cleanup (it runs in the background): it cannot fail the read
    cleanupAwaited: ({ context }) => !context.forRead,
  },
}).createMachine({
  id: "lockResolutionModel",
  context: {
    lock: "live",
    forRead: false,
    pipelined: false,
    rollbackIfNotExist: false,
    forceSyncCommit: false,
    slept: 0,
    asyncCommit: false,
    asyncDecision: "",
    status: "",
    mismatch: false,
    failure: "",
  },
  initial: "idle",
  states: {
    idle: {
      on: {
        RESOLVE: start("live"),
        RESOLVE_READ: start("live", true),
        RESOLVE_EXPIRED_LOCK: start("expired"),
        RESOLVE_PESSIMISTIC_LOCK: start("pessimistic"),
        RESOLVE_PIPELINED_LOCK: start("live", false, true),
        RESOLVE_PIPELINED_READ: start("live", true, true),
        RESOLVE_EXPIRED_PIPELINED_LOCK: start("expired", false, true),
      },
    },
    checkingStatus: {
      on: {
        STATUS_ALIVE: { guard: "mayBeAlive", target: "done", actions: assign({ status: "alive" }) },
        STATUS_COMMITTED: { target: "cleaningUp", actions: assign({ status: "committed" }) },
        STATUS_ROLLED_BACK: { target: "cleaningUp", actions: assign({ status: "rolledBack" }) },
        // the primary's TTL passed: CheckTxnStatus rolls it back
        STATUS_EXPIRED: { target: "cleaningUp", actions: assign({ status: "rolledBack" }) },
        // an expired async-commit primary: its fate is in its secondaries
        STATUS_ASYNC_EXPIRED: {
          guard: "mayBeAsync",
          target: "checkingSecondaries",
          actions: assign({ asyncCommit: true }),
        },
        NOT_FOUND: [
          // the lock expired: ask again, rolling the transaction back if it still does not exist
          {
            guard: and(["notFoundPossible", "lockExpired"]),
            target: "checkingStatus",
            reenter: true,
            actions: assign({ rollbackIfNotExist: true }),
          },
          // a live pessimistic lock: alive for its own TTL
          {
            guard: and(["notFoundPossible", "lockPessimistic"]),
            target: "done",
            actions: assign({ status: "alive" }),
          },
          // the primary may not be written yet: back off and ask again, within the budget
          {
            guard: and(["notFoundPossible", "lockLive", "canSleep"]),
            target: "notFoundBackoff",
            actions: assign({ slept: ({ context }) => context.slept + 1 }),
          },
          { guard: and(["notFoundPossible", "lockLive"]), ...failWith("exhausted") },
        ],
        // the lock's "primary" is not the primary: a stale pessimistic lock, rolled back
        PRIMARY_MISMATCH: {
          guard: "lockPessimistic",
          target: "cleaningUp",
          actions: assign({ status: "rolledBack", mismatch: true }),
        },
        CHECK_FAILED: failWith("checkFailed"),
      },
    },
    notFoundBackoff: {
      on: { ELAPSED: "checkingStatus" },
    },
    checkingSecondaries: {
      on: {
        SECONDARIES_LOCKED: {
          target: "cleaningUp",
          actions: assign({ status: "committed", asyncDecision: "allLocked" }),
        },
        SECONDARY_COMMITTED: {
          target: "cleaningUp",
          actions: assign({ status: "committed", asyncDecision: "secondaryCommitted" }),
        },
        SECONDARY_MISSING: {
          target: "cleaningUp",
          actions: assign({ status: "rolledBack", asyncDecision: "secondaryMissing" }),
        },
        // a secondary is not an async-commit lock: decide the primary as a normal lock
        SECONDARY_NOT_ASYNC: {
          target: "checkingStatus",
          actions: assign({ forceSyncCommit: true, asyncCommit: false }),
        },
        SECONDARIES_FAILED: failWith("secondariesFailed"),
      },
    },
    cleaningUp: {
      on: {
        CLEANUP_OK: "done",
        CLEANUP_FAILED: { guard: "cleanupAwaited", ...failWith("cleanupFailed") },
      },
    },
    // final states of the machine; plain here (paths.ts extends paths by one more event)
    done: {},
    failed: {},
  },
});

/** Context of the resolver model. */
export interface LockResolverModelContext {
  /** RESOLVE requests sent while open / while closed (bounded). */
  started: number;
  refused: number;
  closes: number;
}

/** The model of the client's resolver actor: open, then closed for good. */
export const lockResolverModel = setup({
  types: {
    context: {} as LockResolverModelContext,
    events: {} as { type: "RESOLVE" } | { type: "CLOSE" },
  },
}).createMachine({
  id: "lockResolverModel",
  context: { started: 0, refused: 0, closes: 0 },
  initial: "open",
  states: {
    open: {
      on: {
        RESOLVE: {
          guard: ({ context }) => context.started < 2,
          actions: assign({ started: ({ context }) => context.started + 1 }),
        },
        CLOSE: { target: "closed", actions: assign({ closes: 1 }) },
      },
    },
    closed: {
      on: {
        RESOLVE: {
          guard: ({ context }) => context.refused < 2,
          actions: assign({ refused: ({ context }) => context.refused + 1 }),
        },
      },
    },
  },
});
