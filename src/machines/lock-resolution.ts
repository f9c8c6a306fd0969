// Statecharts of lock resolution (client-go txnkv/txnlock/lock_resolver.go).
//
// lockResolution: one transaction's locks met by one caller: ask the primary's region for the
// transaction's status (CheckTxnStatus), and then either wait (the owner is alive), decide an
// expired async-commit transaction from its secondaries (CheckSecondaryLocks), or clean the
// locks up (ResolveLock / PessimisticRollback). TxnNotFound answers loop back with
// rollback-if-not-exist or a TxnNotFound backoff, as client-go's getTxnStatusFromLock does.
// The RPCs are the injected `checkStatus`, `checkSecondaries` and `cleanup` actors.
//
// lockResolver: the client's one resolver actor, which receives resolution requests and hands
// them to the injected `dispatch` action (which deduplicates and starts lockResolution actors).

import { fromPromise, setup } from "xstate";
import type { LockDetails } from "../errors/txn.js";
import { Action } from "../proto/kvrpcpb.js";
import {
  type AsyncCommitState,
  decideOnStatus,
  decideOnTxnNotFound,
  isPessimisticLock,
  NonAsyncCommitLockError,
  type NotFoundDecision,
  type StatusDecision,
  type TxnStatus,
} from "./lock-policy.js";

/** What CheckTxnStatus answered. */
export type CheckOutcome =
  | { kind: "status"; status: TxnStatus }
  | { kind: "notFound" }
  /** The lock's "primary" is not the primary (a pessimistic lock pointing to a stale primary). */
  | { kind: "primaryMismatch" };

/** The mutable state of one resolution (driven by the machine, read by the injected actors). */
export interface ResolutionSession {
  /** The transaction whose locks are resolved (its start ts). */
  txnId: bigint;
  /** The lock the status check starts from (its primary, TTL and kind). */
  lock: LockDetails;
  /** Every lock of this transaction to clean up. */
  locks: LockDetails[];
  callerStartTs: bigint;
  forRead: boolean;
  lite: boolean;
  /** Roll pessimistic locks back region by region, with no keys (client-go PessimisticRegionResolve). */
  pessimisticRegion?: boolean;
  /** Ask CheckTxnStatus to roll back a transaction it cannot find (after the lock expired). */
  rollbackIfNotExist: boolean;
  /** Resolve an async-commit lock as a normal one (a secondary was not async-commit). */
  forceSyncCommit: boolean;
  /** The status once known. */
  status: TxnStatus | undefined;
  /** The last CheckTxnStatus outcome. */
  outcome: CheckOutcome | undefined;
  statusDecision: StatusDecision | undefined;
  notFoundDecision: NotFoundDecision | undefined;
  /** The async-commit decision from the secondaries. */
  asyncCommit: AsyncCommitState | undefined;
  /** Next TxnNotFound backoff in ms (-1: budget exhausted). */
  sleepMs: number;
  error: Error | undefined;
  /** True when the lock's TTL has passed by the client's clock. */
  lockExpired: () => boolean;
  /** True when `ttl` counted from the txn's start ts has passed. */
  ttlExpired: (ttl: bigint) => boolean;
  /** Takes one TxnNotFound backoff from the caller's budget: its ms, or throws when exhausted. */
  nextNotFoundBackoff: () => number;
}

/** Result of one resolution. */
export type ResolutionResult = { ok: true; status: TxnStatus } | { ok: false; error: Error };

/** Builds the session of one resolution. */
export function newResolutionSession(
  init: Pick<
    ResolutionSession,
    | "txnId"
    | "lock"
    | "locks"
    | "callerStartTs"
    | "forRead"
    | "lite"
    | "pessimisticRegion"
    | "lockExpired"
    | "ttlExpired"
    | "nextNotFoundBackoff"
  >,
): ResolutionSession {
  return {
    ...init,
    rollbackIfNotExist: false,
    forceSyncCommit: false,
    status: undefined,
    outcome: undefined,
    statusDecision: undefined,
    notFoundDecision: undefined,
    asyncCommit: undefined,
    sleepMs: 0,
    error: undefined,
  };
}

const ROLLED_BACK: TxnStatus = { ttl: 0n, commitTs: 0n, action: Action.NoAction, primaryLock: undefined };

/** Resolution of one transaction's locks for one caller. Output: {@link ResolutionResult}. */
export const lockResolutionMachine = setup({
  types: {
    context: {} as { s: ResolutionSession },
    input: {} as ResolutionSession,
    output: {} as ResolutionResult,
  },
  actors: {
    checkStatus: fromPromise<CheckOutcome, ResolutionSession>(async () => {
      throw new Error("no checkStatus injected");
    }),
    checkSecondaries: fromPromise<AsyncCommitState, ResolutionSession>(async () => {
      throw new Error("no checkSecondaries injected");
    }),
    cleanup: fromPromise<void, ResolutionSession>(async () => {
      throw new Error("no cleanup injected");
    }),
  },
  delays: {
    notFoundBackoff: ({ context }) => context.s.sleepMs,
  },
  guards: {
    isAlive: ({ context }) => context.s.statusDecision?.kind === "alive",
    isAsyncCommit: ({ context }) => context.s.statusDecision?.kind === "asyncCommit",
    needsCleanup: ({ context }) => context.s.statusDecision?.kind === "resolve",
    notFoundRetryWithRollback: ({ context }) => context.s.notFoundDecision?.kind === "rollbackIfNotExist",
    notFoundAliveForLockTtl: ({ context }) => context.s.notFoundDecision?.kind === "aliveWithLockTtl",
    notFoundBackoffAllowed: ({ context }) =>
      context.s.notFoundDecision?.kind === "backoff" && context.s.error === undefined,
    mismatchOnPessimisticLock: ({ context }) =>
      context.s.outcome?.kind === "primaryMismatch" && isPessimisticLock(context.s.lock),
    secondaryNotAsyncCommit: ({ event }) =>
      (event as { error?: unknown }).error instanceof NonAsyncCommitLockError,
  },
  actions: {
    recordOutcome: ({ context }, o: CheckOutcome) => {
      const s = context.s;
      s.outcome = o;
      s.statusDecision = undefined;
      s.notFoundDecision = undefined;
      if (o.kind === "status") {
        s.status = o.status;
        s.statusDecision = decideOnStatus(o.status, s.forceSyncCommit, s.ttlExpired(o.status.ttl));
      } else if (o.kind === "notFound") {
        s.notFoundDecision = decideOnTxnNotFound(s.lock, s.lockExpired());
        if (s.notFoundDecision.kind === "backoff") {
          try {
            s.sleepMs = s.nextNotFoundBackoff();
          } catch (e) {
            s.error = e as Error;
          }
        } else if (s.notFoundDecision.kind === "aliveWithLockTtl") {
          s.status = { ttl: s.lock.ttl, commitTs: 0n, action: Action.NoAction, primaryLock: undefined };
        }
      } else {
        // a pessimistic lock pointing to a stale primary is rolled back like an expired one
        s.status = ROLLED_BACK;
      }
    },
    setRollbackIfNotExist: ({ context }) => {
      context.s.rollbackIfNotExist = true;
    },
    setForceSyncCommit: ({ context }) => {
      context.s.forceSyncCommit = true;
    },
    recordSecondaries: ({ context }, st: AsyncCommitState) => {
      const s = context.s;
      s.asyncCommit = st;
      const base = s.status ?? ROLLED_BACK;
      s.status = { ...base, ttl: 0n, commitTs: st.commitTs };
    },
    recordError: ({ context }, e: unknown) => {
      context.s.error = e instanceof Error ? e : new Error(String(e));
    },
    recordUnexpectedOutcome: ({ context }) => {
      const o = context.s.outcome;
      context.s.error ??= new Error(
        o?.kind === "primaryMismatch"
          ? "CheckTxnStatus: primary mismatch on a lock that is not pessimistic"
          : "CheckTxnStatus: no usable answer",
      );
    },
  },
}).createMachine({
  id: "lockResolution",
  context: ({ input }) => ({ s: input }),
  initial: "checkingStatus",
  states: {
    checkingStatus: {
      meta: { phase: "check status" },
      invoke: {
        src: "checkStatus",
        input: ({ context }) => context.s,
        onDone: {
          target: "routing",
          actions: { type: "recordOutcome", params: ({ event }) => event.output },
        },
        onError: {
          target: "failed",
          actions: { type: "recordError", params: ({ event }: { event: { error: unknown } }) => event.error },
        },
      },
    },
    routing: {
      meta: { phase: "check status" },
      always: [
        { guard: "isAlive", target: "done" },
        { guard: "isAsyncCommit", target: "checkingSecondaries" },
        { guard: "needsCleanup", target: "cleaningUp" },
        { guard: "notFoundRetryWithRollback", target: "checkingStatus", actions: "setRollbackIfNotExist" },
        { guard: "notFoundAliveForLockTtl", target: "done" },
        { guard: "notFoundBackoffAllowed", target: "notFoundBackoff" },
        { guard: "mismatchOnPessimisticLock", target: "cleaningUp" },
        { target: "failed", actions: "recordUnexpectedOutcome" },
      ],
    },
    notFoundBackoff: {
      meta: { phase: "check status" },
      after: { notFoundBackoff: "checkingStatus" },
    },
    checkingSecondaries: {
      meta: { phase: "resolve" },
      invoke: {
        src: "checkSecondaries",
        input: ({ context }) => context.s,
        onDone: {
          target: "cleaningUp",
          actions: { type: "recordSecondaries", params: ({ event }) => event.output },
        },
        onError: [
          { guard: "secondaryNotAsyncCommit", target: "checkingStatus", actions: "setForceSyncCommit" },
          {
            target: "failed",
            actions: {
              type: "recordError",
              params: ({ event }: { event: { error: unknown } }) => event.error,
            },
          },
        ],
      },
    },
    cleaningUp: {
      meta: { phase: "resolve" },
      invoke: {
        src: "cleanup",
        input: ({ context }) => context.s,
        onDone: { target: "done" },
        onError: {
          target: "failed",
          actions: { type: "recordError", params: ({ event }: { event: { error: unknown } }) => event.error },
        },
      },
    },
    done: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }) =>
    context.s.error !== undefined || context.s.status === undefined
      ? { ok: false, error: context.s.error ?? new Error("lock resolution ended without a status") }
      : { ok: true, status: context.s.status },
});

/** A request to the client's lock resolver, carrying its own start and refusal callbacks. */
export interface ResolveJob {
  /** Runs the resolution (deduplicated per transaction by the actor layer) and replies. */
  start(): void;
  /** Replies that the resolver is closed. */
  refuse(): void;
}

/** Events of {@link lockResolverMachine}. */
export type LockResolverEvent = { type: "RESOLVE"; job: ResolveJob } | { type: "CLOSE" };

/**
 * The client's lock resolver: while open, every RESOLVE starts its job; CLOSE runs the injected
 * `abortAll` (pending resolutions fail) and later requests are refused.
 */
export const lockResolverMachine = setup({
  types: {
    events: {} as LockResolverEvent,
  },
  actions: {
    startJob: (_, job: ResolveJob) => job.start(),
    refuseJob: (_, job: ResolveJob) => job.refuse(),
    abortAll: () => {},
  },
}).createMachine({
  id: "lockResolver",
  initial: "open",
  states: {
    open: {
      on: {
        RESOLVE: { actions: { type: "startJob", params: ({ event }) => event.job } },
        CLOSE: { target: "closed", actions: "abortAll" },
      },
    },
    closed: {
      on: { RESOLVE: { actions: { type: "refuseJob", params: ({ event }) => event.job } } },
    },
  },
});
