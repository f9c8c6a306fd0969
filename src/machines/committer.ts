// Statechart of one transaction's commit (client-go txnkv/transaction/2pc.go execute with
// prewrite.go, commit.go, cleanup.go): prewrite every mutation, get a commit ts, commit the
// primary (the transaction is committed once it is), then commit the secondaries in the
// background; on failure roll back what was prewritten; when the primary commit's outcome is
// unknown stop as undetermined (never roll back then: the transaction may be committed).
//
// Driven by sends: each phase's work is an injected action that starts it (RPC batches are
// callbacks, not actors) and sends the outcome back as an event. The caller's reply (`settle`)
// happens on entering committed / cleaningUp / undetermined; background work goes on after it.
// The TTL manager (heartbeats of the primary lock) is a child actor spawned on TTL_START.
//
// One actor serves many commits in turn: it rests in `resting` (idle before its first commit, or
// the end state of its last, whose entry stops the TTL manager) and BEGIN starts the next commit
// (creating an actor costs more than a whole commit's transitions, so the actor layer pools
// them). Made with a session (an observed commit's own actor), it starts that commit at once.

import { enqueueActions, fromCallback, type StateValue, setup, spawnChild, stopChild } from "xstate";
import type { CommitMode } from "./commit-mode.js";
import { primaryCommitActions, primaryCommitGuards, primaryCommitStates } from "./primary-commit.js";

/** How a commit ended, as reported to the caller. */
export type CommitOutcome =
  | { kind: "committed"; commitTs: bigint }
  | { kind: "failed"; error: Error }
  | { kind: "undetermined"; error: Error };

/** Mutable state of one commit (read by the injected actions). */
export interface CommitSession {
  startTs: bigint;
  /** The protocol in use: tried first, then possibly fallen back to 2PC after prewrite. */
  mode: CommitMode;
  /** Async commit / 1PC with linearizability: a fresh TSO bounds the commit ts from below first. */
  needsLatestTs: boolean;
  /** A pessimistic transaction: the committer exists from its first lock and waits for COMMIT / ROLLBACK. */
  pessimistic: boolean;
  /** Commit ts once fetched. */
  commitTs: bigint;
  /** A min commit ts the commit ts must exceed (after CommitTsExpired). */
  minCommitTs: bigint;
  /** Number of commit-ts renewals after CommitTsExpired. */
  commitTsRetries: number;
  error: Error | undefined;
  /** The outcome reported to the caller. */
  outcome: CommitOutcome | undefined;
}

/** Events the actor layer sends. */
export type CommitterEvent =
  /** Starts a commit on `session` (from idle or from the end state of the previous one). */
  | { type: "BEGIN"; session: CommitSession }
  /** Pessimistic transactions: the user commits (the mode fields of the session are set). */
  | { type: "COMMIT" }
  /** Pessimistic transactions: the user rolls back (the locks are released). */
  | { type: "ROLLBACK" }
  | { type: "LATEST_TS"; ts: bigint }
  | { type: "LATEST_TS_FAILED"; error: Error }
  /** Prewrite done; `mode` is the protocol it ended in, `commitTs` its commit ts for async commit / 1PC. */
  | { type: "PREWRITE_OK"; mode?: CommitMode; commitTs?: bigint }
  | { type: "PREWRITE_UNDETERMINED"; error: Error }
  | { type: "PREWRITE_FAILED"; error: Error }
  | { type: "COMMIT_TS"; ts: bigint }
  | { type: "COMMIT_TS_FAILED"; error: Error }
  | { type: "PRIMARY_COMMITTED" }
  | { type: "COMMIT_TS_EXPIRED"; minCommitTs: bigint }
  | { type: "PRIMARY_FAILED"; error: Error }
  | { type: "PRIMARY_UNDETERMINED"; error: Error }
  | { type: "SECONDARIES_DONE" }
  | { type: "CLEANUP_DONE" }
  | { type: "TTL_START" }
  | { type: "TTL_STOPPED" };

export { MAX_COMMIT_TS_RETRIES, MAX_MIN_COMMIT_TS_GAP_MS, minCommitTsTooFar } from "./primary-commit.js";

/** A fresh session. */
export function newCommitSession(
  startTs: bigint,
  mode: CommitMode = "2pc",
  needsLatestTs = false,
  pessimistic = false,
): CommitSession {
  return {
    startTs,
    mode,
    needsLatestTs,
    pessimistic,
    commitTs: 0n,
    minCommitTs: 0n,
    commitTsRetries: 0,
    error: undefined,
    outcome: undefined,
  };
}

// The session of an actor waiting for its first commit (never the session of a commit).
const IDLE = Symbol("idle");
const idleSession = (): CommitSession => Object.assign(newCommitSession(0n), { [IDLE]: true });

// Where a commit starts, on BEGIN: a pessimistic one holds locks until COMMIT / ROLLBACK; an
// async commit / 1PC fetches the latest ts first; else the prewrite. Routed by the transition
// itself, not a transient state: one step less per commit.
const START = [
  { guard: "pessimistic", target: "#committer.holdingLocks", actions: "begin" },
  { guard: "needsLatestTs", target: "#committer.fetchingLatestTs", actions: "begin" },
  { target: "#committer.prewriting", actions: "begin" },
] as const;

// An end state: the TTL manager (if any) stops with the commit, then the actor layer is told.
const END = ["stopTtlManager", "finished"] as const;

/**
 * A committer state's name without its `resting` parent ("prewriting", "done", "idle"): the names
 * a commit's path is told in.
 */
export function committerStateName(value: StateValue): string {
  if (typeof value === "string") return value;
  const [parent, child] = Object.entries(value)[0] ?? ["", undefined];
  return child === undefined ? parent : committerStateName(child);
}

/** The commit statechart (2PC, async commit, 1PC; pessimistic transactions from their first lock). */
export const committerMachine = setup({
  types: {
    context: {} as { s: CommitSession },
    input: {} as CommitSession | undefined,
    events: {} as CommitterEvent,
  },
  actors: {
    // heartbeats the primary lock while running; sends TTL_STOPPED when it gives up
    ttlManager: fromCallback<CommitterEvent, CommitSession>(() => () => {}),
  },
  actions: {
    fetchLatestTs: () => {},
    startPrewrite: () => {},
    fetchCommitTs: () => {},
    commitPrimary: () => {},
    commitSecondaries: () => {},
    startCleanup: () => {},
    startPessimisticRollback: () => {},
    settle: (_, _o: CommitOutcome) => {},
    /** Called on entering an end state (the actor layer releases the commit, and the actor). */
    finished: () => {},
    // the context's session is replaced in place, as the other actions update its fields
    begin: ({ context, event }) => {
      if (event.type === "BEGIN") context.s = event.session;
    },
    stopTtlManager: stopChild("ttlManager"),
    recordError: ({ context }, e: Error) => {
      context.s.error = e;
    },
    ...primaryCommitActions,
    recordPrewrite: ({ context }, e: { mode?: CommitMode; commitTs?: bigint }) => {
      context.s.mode = e.mode ?? "2pc";
      if (e.mode !== undefined && e.mode !== "2pc") context.s.commitTs = e.commitTs ?? 0n;
    },
    // async commit / 1PC: the fresh TSO bounds the commit ts from below (not a renewal)
    recordLowerBound: ({ context }, ts: bigint) => {
      if (ts > context.s.minCommitTs) context.s.minCommitTs = ts;
    },
  },
  guards: {
    // a BEGIN asks of the session it brings (its `begin` action has not run yet)
    pessimistic: ({ event }) => event.type === "BEGIN" && event.session.pessimistic,
    needsLatestTs: ({ context, event }) => (event.type === "BEGIN" ? event.session : context.s).needsLatestTs,
    prewroteOnePC: (_, e: { mode?: CommitMode }) => e.mode === "onePC",
    prewroteAsyncCommit: (_, e: { mode?: CommitMode }) => e.mode === "asyncCommit",
    ...primaryCommitGuards,
  },
}).createMachine({
  id: "committer",
  // made with a session, it starts that commit at once; made without, it rests idle until BEGIN
  context: ({ input }) => ({ s: input ?? idleSession() }),
  initial: "resting",
  // the TTL manager is a child started on request (large transactions), not a state per phase
  on: {
    TTL_START: { actions: spawnChild("ttlManager", { id: "ttlManager", input: ({ context }) => context.s }) },
    TTL_STOPPED: { actions: stopChild("ttlManager") },
  },
  states: {
    // a pessimistic transaction takes locks (RPC callbacks, not states) until it commits or rolls back
    holdingLocks: {
      meta: { phase: "pessimistic locking" },
      on: {
        COMMIT: "committing",
        ROLLBACK: "rollingBackLocks",
      },
    },
    committing: {
      meta: { phase: "pessimistic locking" },
      always: [{ guard: "needsLatestTs", target: "fetchingLatestTs" }, { target: "prewriting" }],
    },
    rollingBackLocks: {
      meta: { phase: "pessimistic locking" },
      entry: "startPessimisticRollback",
      on: { CLEANUP_DONE: "resting.rolledBack" },
    },
    // async commit / 1PC: the commit ts must exceed every ts handed out before the commit began
    fetchingLatestTs: {
      meta: { phase: "prewrite" },
      entry: "fetchLatestTs",
      on: {
        LATEST_TS: {
          target: "prewriting",
          actions: { type: "recordLowerBound", params: ({ event }) => event.ts + 1n },
        },
        LATEST_TS_FAILED: {
          target: "cleaningUp",
          actions: { type: "recordError", params: ({ event }) => event.error },
        },
      },
    },
    prewriting: {
      meta: { phase: "prewrite" },
      entry: "startPrewrite",
      on: {
        PREWRITE_OK: [
          {
            guard: { type: "prewroteOnePC", params: ({ event }) => event },
            target: "resting.onePhaseCommitted",
            actions: { type: "recordPrewrite", params: ({ event }) => event },
          },
          {
            guard: { type: "prewroteAsyncCommit", params: ({ event }) => event },
            target: "committed",
            actions: { type: "recordPrewrite", params: ({ event }) => event },
          },
          { target: "gettingCommitTs", actions: { type: "recordPrewrite", params: ({ event }) => event } },
        ],
        PREWRITE_FAILED: {
          target: "cleaningUp",
          actions: { type: "recordError", params: ({ event }) => event.error },
        },
        // an async-commit / 1PC prewrite whose answer was lost may have committed the transaction
        PREWRITE_UNDETERMINED: {
          target: "resting.undetermined",
          actions: { type: "recordError", params: ({ event }) => event.error },
        },
      },
    },
    ...primaryCommitStates("resting.undetermined"),
    committed: {
      meta: { phase: "commit" },
      entry: [
        {
          type: "settle",
          params: ({ context }) => ({ kind: "committed", commitTs: context.s.commitTs }) as CommitOutcome,
        },
        "commitSecondaries",
      ],
      on: { SECONDARIES_DONE: "resting.done" },
    },
    cleaningUp: {
      entry: [
        {
          type: "settle",
          params: ({ context }) =>
            ({ kind: "failed", error: context.s.error ?? new Error("commit failed") }) as CommitOutcome,
        },
        "startCleanup",
      ],
      on: { CLEANUP_DONE: "resting.rolledBack" },
    },
    // An actor at rest: waiting for its first commit, or in the end state of its last one. Every
    // commit starts here on BEGIN, so a pooled actor serves commit after commit.
    resting: {
      initial: "idle",
      on: { BEGIN: START },
      states: {
        // made with a session, it begins that commit at once; made without, it waits for BEGIN
        idle: {
          entry: enqueueActions(({ context, enqueue }) => {
            if (!(IDLE in context.s)) enqueue.raise({ type: "BEGIN", session: context.s });
          }),
        },
        undetermined: {
          entry: [
            {
              type: "settle",
              params: ({ context }) =>
                ({
                  kind: "undetermined",
                  error: context.s.error ?? new Error("undetermined"),
                }) as CommitOutcome,
            },
            ...END,
          ],
        },
        // 1PC: the prewrite committed every key; nothing runs in the background
        onePhaseCommitted: {
          entry: [
            {
              type: "settle",
              params: ({ context }) => ({ kind: "committed", commitTs: context.s.commitTs }) as CommitOutcome,
            },
            ...END,
          ],
        },
        done: { entry: END },
        rolledBack: { entry: END },
      },
    },
  },
});
