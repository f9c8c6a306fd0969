// The abstract model of one optimistic commit (src/machines/committer.ts driven by
// src/actors/txn/committer.ts), shared by the real-machine replay (committer.mbt.test.ts) and the
// embedded-cluster replay through the public client (committer.cluster.test.ts).
//
// A path begins with the protocol the transaction asks for (2PC, async commit, 1PC; the last two
// first fetch a fresh TSO unless causal consistency is enough; or a pessimistic transaction, whose
// committer exists from its first lock and waits for the user's COMMIT or ROLLBACK), then lists
// what each phase meets:
// a prewrite batch answered, a region error (retried inside the phase), a lock of an older
// transaction (resolved, then the batch resent), a lock of a newer one or a committed conflicting
// write (the commit fails), TiKV declining async commit / 1PC (fallback to 2PC), a prewrite whose
// outcome is unknown, the TSO's answer, the primary's commit answer (committed, a region error
// retried, CommitTsExpired, another key error, an unknown outcome), the end of the background
// work, and the TTL manager of large transactions.
//
// The context carries the oracles: the protocol in force, why the commit failed (the caller's
// typed error), how many commit-ts renewals were made (bounded by MAX_COMMIT_TS_RETRIES, as the
// machine), and whether the TTL manager runs. Retry flags are per phase (reset when the phase
// ends), so the walk stays finite and small; RPC counts are read from the path's events.
import { type AnyStateMachine, type AnyStateNode, assign, type InspectionEvent, setup } from "xstate";
import { MAX_COMMIT_TS_RETRIES } from "../../src/machines/committer.js";
import type { MachineCoverage } from "./coverage.js";

/** The commit protocol in force. */
export type ModelCommitMode = "2pc" | "asyncCommit" | "onePC";

/** Why the model says the commit failed (what the caller is told). */
export type CommitFailure =
  | ""
  /** PREWRITE_CONFLICT / PREWRITE_LOCKED_BY_NEWER_TXN: WriteConflictError. */
  | "writeConflict"
  /** LATEST_TS_FAILED / COMMIT_TS_FAILED: the TSO error. */
  | "tso"
  /** One CommitTsExpired more than MAX_COMMIT_TS_RETRIES renewals allow. */
  | "tsExpired"
  /** PRIMARY_KEY_ERROR: the primary's lock is gone (TxnLockNotFoundError). */
  | "lockNotFound"
  /** PRIMARY_UNDETERMINED, or an async-commit / 1PC prewrite lost: ResultUndeterminedError, nothing rolled back. */
  | "undetermined";

/** State of the TTL manager (the primary's heartbeat, a child of the committer). */
export type TtlState = "none" | "running" | "stopped";

/** Context of the committer model. */
export interface CommitterModelContext {
  mode: ModelCommitMode;
  /** A prewrite region error met in this prewrite (bounded to 1). */
  prewriteRetried: boolean;
  /** An older transaction's lock resolved in this prewrite (bounded to 1). */
  lockResolved: boolean;
  /** A region error met by the current primary commit attempt (bounded to 1). */
  primaryRetried: boolean;
  /** A TSO answer not above the required min_commit_ts in this TSO phase (bounded to 1). */
  lowAnswered: boolean;
  /** Commit-ts renewals after CommitTsExpired. */
  renewals: number;
  /** A pessimistic transaction the user rolled back (nobody waits for an answer then). */
  userRollback: boolean;
  ttl: TtlState;
  failure: CommitFailure;
}

/** Events of the committer model. */
export type CommitterModelEvent =
  | { type: "BEGIN_2PC" }
  | { type: "BEGIN_ASYNC_COMMIT" }
  | { type: "BEGIN_ONE_PC" }
  | { type: "BEGIN_ONE_PC_CAUSAL" }
  | { type: "BEGIN_PESSIMISTIC" }
  | { type: "COMMIT" }
  | { type: "COMMIT_ASYNC" }
  | { type: "ROLLBACK" }
  | { type: "LATEST_TS" }
  | { type: "LATEST_TS_FAILED" }
  | { type: "PREWRITE_OK" }
  | { type: "PREWRITE_REGION_ERROR" }
  | { type: "PREWRITE_LOCKED_BY_OLDER_TXN" }
  | { type: "PREWRITE_LOCKED_BY_NEWER_TXN" }
  | { type: "PREWRITE_CONFLICT" }
  | { type: "PREWRITE_FALLBACK" }
  | { type: "PREWRITE_LOST" }
  | { type: "COMMIT_TS" }
  | { type: "COMMIT_TS_LOW" }
  | { type: "COMMIT_TS_FAILED" }
  | { type: "PRIMARY_OK" }
  | { type: "PRIMARY_REGION_ERROR" }
  | { type: "PRIMARY_TS_EXPIRED" }
  | { type: "PRIMARY_KEY_ERROR" }
  | { type: "PRIMARY_UNDETERMINED" }
  | { type: "SECONDARIES_DONE" }
  | { type: "CLEANUP_DONE" }
  | { type: "TTL_START" }
  | { type: "TTL_STOPPED" };

/** Every event type of the committer model. */
export const COMMITTER_EVENTS = [
  "BEGIN_2PC",
  "BEGIN_ASYNC_COMMIT",
  "BEGIN_ONE_PC",
  "BEGIN_ONE_PC_CAUSAL",
  "BEGIN_PESSIMISTIC",
  "COMMIT",
  "COMMIT_ASYNC",
  "ROLLBACK",
  "LATEST_TS",
  "LATEST_TS_FAILED",
  "PREWRITE_OK",
  "PREWRITE_REGION_ERROR",
  "PREWRITE_LOCKED_BY_OLDER_TXN",
  "PREWRITE_LOCKED_BY_NEWER_TXN",
  "PREWRITE_CONFLICT",
  "PREWRITE_FALLBACK",
  "PREWRITE_LOST",
  "COMMIT_TS",
  "COMMIT_TS_LOW",
  "COMMIT_TS_FAILED",
  "PRIMARY_OK",
  "PRIMARY_REGION_ERROR",
  "PRIMARY_TS_EXPIRED",
  "PRIMARY_KEY_ERROR",
  "PRIMARY_UNDETERMINED",
  "SECONDARIES_DONE",
  "CLEANUP_DONE",
  "TTL_START",
  "TTL_STOPPED",
] as const;

/** A model event type. */
export type CommitterModelEventType = (typeof COMMITTER_EVENTS)[number];

/**
 * Model events handled inside a phase's work: the machine receives nothing and stays put (and
 * PREWRITE_LOST in 2PC: the batch is resent).
 */
export const INTERNAL_EVENTS: ReadonlySet<string> = new Set([
  "PREWRITE_REGION_ERROR",
  "PREWRITE_LOCKED_BY_OLDER_TXN",
  "PREWRITE_FALLBACK",
  "PRIMARY_REGION_ERROR",
]);

/** Model events after which the machine re-enters the state it is in (its entry action runs again). */
export const REENTERING_EVENTS: ReadonlySet<string> = new Set<string>();

/** The states where the caller has been answered. */
export const SETTLED_STATES: ReadonlySet<string> = new Set([
  "committed",
  "done",
  "onePhaseCommitted",
  "cleaningUp",
  "rolledBack",
  "undetermined",
]);

/** The final states of the machine (the committer actor is released). */
export const FINAL_STATES: ReadonlySet<string> = new Set([
  "done",
  "rolledBack",
  "undetermined",
  "onePhaseCommitted",
]);

type Assign = Partial<CommitterModelContext>;
const set = (a: Assign) =>
  assign<CommitterModelContext, CommitterModelEvent, undefined, CommitterModelEvent, never>(a);
const fail = (failure: CommitFailure) => set({ failure });
const stopTtl = { guard: "ttlRunning" as const, actions: set({ ttl: "stopped" }) };

/** The abstract committer model (no invoke / after: createTestModel accepts it). */
export const committerModel = setup({
  types: { context: {} as CommitterModelContext, events: {} as CommitterModelEvent },
  guards: {
    ttlRunning: ({ context }) => context.ttl === "running",
    /** Large transactions only (> 32 MiB): the cluster replay turns it off. */
    canStartTtl: ({ context }) => context.ttl === "none",
    /** The TSO failing for its whole 15 s budget: the cluster replay turns it off. */
    tsoMayFail: () => true,
    /** Pessimistic transactions through the public API: the cluster replay may turn it off. */
    pessimisticAvailable: () => true,
    twoPC: ({ context }) => context.mode === "2pc",
    asyncCommit: ({ context }) => context.mode === "asyncCommit",
  },
}).createMachine({
  id: "committerModel",
  context: {
    mode: "2pc",
    prewriteRetried: false,
    lockResolved: false,
    primaryRetried: false,
    lowAnswered: false,
    renewals: 0,
    userRollback: false,
    ttl: "none",
    failure: "",
  },
  // before the commit starts: which protocol the transaction asked for
  initial: "idle",
  states: {
    idle: {
      on: {
        BEGIN_2PC: "prewriting",
        // linearizable async commit / 1PC: the commit ts must exceed a fresh TSO first
        BEGIN_ASYNC_COMMIT: { target: "fetchingLatestTs", actions: assign({ mode: "asyncCommit" }) },
        BEGIN_ONE_PC: { target: "fetchingLatestTs", actions: assign({ mode: "onePC" }) },
        BEGIN_ONE_PC_CAUSAL: { target: "prewriting", actions: assign({ mode: "onePC" }) },
        BEGIN_PESSIMISTIC: { guard: "pessimisticAvailable", target: "holdingLocks" },
      },
    },
    // a pessimistic transaction's committer, between its first lock and the user's decision
    holdingLocks: {
      on: {
        // the primary is locked: heartbeats keep the locks alive
        TTL_START: { guard: "canStartTtl", actions: assign({ ttl: "running" }) },
        TTL_STOPPED: stopTtl,
        COMMIT: "prewriting",
        // committed with async commit (linearizable: a fresh TSO first)
        COMMIT_ASYNC: { target: "fetchingLatestTs", actions: assign({ mode: "asyncCommit" }) },
        ROLLBACK: { target: "rollingBackLocks", actions: assign({ userRollback: true }) },
      },
    },
    // the user rolled back: the pessimistic locks are released in the background
    rollingBackLocks: {
      on: { TTL_STOPPED: stopTtl, CLEANUP_DONE: "rolledBack" },
    },
    fetchingLatestTs: {
      on: {
        TTL_STOPPED: stopTtl,
        LATEST_TS: "prewriting",
        LATEST_TS_FAILED: { guard: "tsoMayFail", target: "cleaningUp", actions: fail("tso") },
      },
    },
    prewriting: {
      on: {
        // the batch holding the primary was prewritten in a large transaction: heartbeats start
        TTL_START: { guard: "canStartTtl", actions: assign({ ttl: "running" }) },
        TTL_STOPPED: stopTtl,
        PREWRITE_OK: [
          {
            guard: "twoPC",
            target: "gettingCommitTs",
            actions: assign({ prewriteRetried: false, lockResolved: false }),
          },
          // async commit: committed once every key is prewritten (at the largest min_commit_ts)
          { guard: "asyncCommit", target: "committed" },
          // 1PC: the one prewrite committed everything
          { target: "onePhaseCommitted" },
        ],
        PREWRITE_REGION_ERROR: {
          guard: ({ context }) => !context.prewriteRetried,
          actions: assign({ prewriteRetried: true }),
        },
        PREWRITE_LOCKED_BY_OLDER_TXN: {
          guard: ({ context }) => !context.lockResolved,
          actions: assign({ lockResolved: true }),
        },
        // TiKV declines async commit / 1PC (or 1PC does not fit one batch): plain 2PC from now on
        PREWRITE_FALLBACK: {
          guard: ({ context }) => context.mode !== "2pc",
          actions: assign({ mode: "2pc" }),
        },
        PREWRITE_LOCKED_BY_NEWER_TXN: { target: "cleaningUp", actions: fail("writeConflict") },
        PREWRITE_CONFLICT: { target: "cleaningUp", actions: fail("writeConflict") },
        // an answer lost: a 2PC prewrite commits nothing by itself and is resent (like a region
        // error); an async-commit / 1PC one may have committed the transaction
        PREWRITE_LOST: [
          {
            guard: ({ context }) => context.mode === "2pc" && !context.prewriteRetried,
            actions: assign({ prewriteRetried: true }),
          },
          {
            guard: ({ context }) => context.mode !== "2pc",
            target: "undetermined",
            actions: fail("undetermined"),
          },
        ],
      },
    },
    gettingCommitTs: {
      on: {
        TTL_STOPPED: stopTtl,
        COMMIT_TS: { target: "committingPrimary", actions: assign({ lowAnswered: false }) },
        // only after a CommitTsExpired is there a minimum the TSO's answer can fall short of: the
        // commit then goes ahead at that minimum (client-go: max(minCommitTS, currentTS))
        COMMIT_TS_LOW: {
          guard: ({ context }) => context.renewals > 0 && !context.lowAnswered,
          target: "committingPrimary",
          actions: assign({ lowAnswered: true }),
        },
        COMMIT_TS_FAILED: { guard: "tsoMayFail", target: "cleaningUp", actions: fail("tso") },
      },
    },
    committingPrimary: {
      on: {
        TTL_STOPPED: stopTtl,
        PRIMARY_OK: "committed",
        PRIMARY_REGION_ERROR: {
          guard: ({ context }) => !context.primaryRetried,
          actions: assign({ primaryRetried: true }),
        },
        PRIMARY_TS_EXPIRED: [
          {
            guard: ({ context }) => context.renewals < MAX_COMMIT_TS_RETRIES,
            target: "gettingCommitTs",
            actions: assign({ renewals: ({ context }) => context.renewals + 1, primaryRetried: false }),
          },
          { target: "cleaningUp", actions: fail("tsExpired") },
        ],
        PRIMARY_KEY_ERROR: { target: "cleaningUp", actions: fail("lockNotFound") },
        PRIMARY_UNDETERMINED: { target: "undetermined", actions: fail("undetermined") },
      },
    },
    // answered "committed"; the secondaries (with async commit: every key) are committed in the background
    committed: {
      on: { TTL_STOPPED: stopTtl, SECONDARIES_DONE: "done" },
    },
    // answered with the failure; what was prewritten is rolled back in the background
    cleaningUp: {
      on: { TTL_STOPPED: stopTtl, CLEANUP_DONE: "rolledBack" },
    },
    // the machine's final states; plain states here, so that extending a path by one more event
    // (paths.ts) does not send to a stopped actor
    done: {},
    rolledBack: {},
    onePhaseCommitted: {},
    // answered ResultUndeterminedError; nothing is rolled back (the transaction may be committed)
    undetermined: {},
  },
});

/** The event types of a path, in order (its first step, xstate.init, left out). */
export function eventsOf(steps: ReadonlyArray<{ event: { type: string } }>): string[] {
  return steps.map((s) => s.event.type).filter((t) => t !== "xstate.init");
}

/**
 * Marks as entered the states the actor left by a transition it took: the initial `starting`
 * state is transient, so no snapshot ever shows it (its `always` edges are seen being taken).
 */
export function creditTransientStates(cov: MachineCoverage, machine: AnyStateMachine): void {
  const taken = new Set(cov.edges.map((e) => e.key));
  for (const e of cov.missingEdges()) taken.delete(e.key);
  const walk = (n: AnyStateNode) => {
    if (cov.missingStates().includes(n.id) && cov.edges.some((e) => e.source === n.id && taken.has(e.key)))
      cov.inspect({ type: "@xstate.snapshot", snapshot: { _nodes: [n] } } as unknown as InspectionEvent);
    for (const c of Object.values(n.states) as AnyStateNode[]) walk(c);
  };
  walk(machine.root);
}
