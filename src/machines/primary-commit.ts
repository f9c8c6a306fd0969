// The commit-ts and primary-commit phases shared by the 2PC committer and the pipelined
// committer (client-go commit.go): get a commit ts (refused when TiKV's min commit ts runs more
// than an hour ahead of PD), commit the primary, renew the ts after CommitTsExpired a bounded
// number of times, and tell failure from an unknown outcome. A machine using these states
// provides the actions and guards below and has states named committed and cleaningUp, and an
// undetermined state it names.

/** What the phases read and write of a machine's session. */
export interface PrimaryCommitSession {
  startTs: bigint;
  commitTs: bigint;
  /** A min commit ts the commit ts must exceed (after CommitTsExpired). */
  minCommitTs: bigint;
  /** Number of commit-ts renewals after CommitTsExpired. */
  commitTsRetries: number;
  error: Error | undefined;
}

type Args = { context: { s: PrimaryCommitSession } };

/** client-go: a min commit ts more than this far (physical ms) ahead of the current ts is refused. */
export const MAX_MIN_COMMIT_TS_GAP_MS = 60 * 60 * 1000;

/** Most commit-ts renewals after CommitTsExpired before giving up. */
export const MAX_COMMIT_TS_RETRIES = 10;

/** True when `minCommitTs` is more than an hour ahead of `currentTs`. */
export function minCommitTsTooFar(minCommitTs: bigint, currentTs: bigint): boolean {
  return Number((minCommitTs >> 18n) - (currentTs >> 18n)) > MAX_MIN_COMMIT_TS_GAP_MS;
}

/** The actions the phases use (a machine spreads them into its setup). */
export const primaryCommitActions = {
  // the commit ts: the TSO answer, or the min commit ts TiKV asked for when that is larger
  // (client-go commits at max(minCommitTS, currentTS) after CommitTsExpired)
  recordCommitTs: ({ context }: Args, ts: bigint) => {
    context.s.commitTs = ts > context.s.minCommitTs ? ts : context.s.minCommitTs;
  },
  recordMinCommitTs: ({ context }: Args, ts: bigint) => {
    const s = context.s;
    s.commitTsRetries++;
    if (ts > s.minCommitTs) s.minCommitTs = ts;
  },
  recordMinTooLarge: ({ context }: Args, ts: bigint) => {
    context.s.error = new Error(
      `2PC MinCommitTS is too large, we got MinCommitTS: ${context.s.minCommitTs}, and CurrentTS: ${ts}, StartTS: ${context.s.startTs}`,
    );
  },
};

/** The guards the phases use. */
export const primaryCommitGuards = {
  minCommitTsTooLarge: ({ context }: Args, ts: bigint) => minCommitTsTooFar(context.s.minCommitTs, ts),
  mayRenewCommitTs: ({ context }: Args) => context.s.commitTsRetries < MAX_COMMIT_TS_RETRIES,
};

type WithTs = { event: { ts: bigint } };
type WithError = { event: { error: Error } };
type WithMin = { event: { minCommitTs: bigint } };

/**
 * The two states: `gettingCommitTs` (entry action fetchCommitTs; events COMMIT_TS,
 * COMMIT_TS_FAILED) and `committingPrimary` (entry commitPrimary; PRIMARY_COMMITTED,
 * COMMIT_TS_EXPIRED, PRIMARY_FAILED, PRIMARY_UNDETERMINED), whose unknown outcome goes to
 * `undetermined` (a sibling's relative path).
 */
export const primaryCommitStates = <U extends string>(undetermined: U) =>
  ({
    gettingCommitTs: {
      meta: { phase: "commit" },
      entry: "fetchCommitTs",
      on: {
        COMMIT_TS: [
          // TiKV asked for a min commit ts far ahead of PD's clock: refuse (client-go)
          {
            guard: { type: "minCommitTsTooLarge", params: ({ event }: WithTs) => event.ts },
            target: "cleaningUp",
            actions: { type: "recordMinTooLarge", params: ({ event }: WithTs) => event.ts },
          },
          {
            target: "committingPrimary",
            actions: { type: "recordCommitTs", params: ({ event }: WithTs) => event.ts },
          },
        ],
        COMMIT_TS_FAILED: {
          target: "cleaningUp",
          actions: { type: "recordError", params: ({ event }: WithError) => event.error },
        },
      },
    },
    // the primary's commit commits the transaction
    committingPrimary: {
      meta: { phase: "commit" },
      entry: "commitPrimary",
      on: {
        PRIMARY_COMMITTED: "committed",
        COMMIT_TS_EXPIRED: [
          {
            guard: "mayRenewCommitTs",
            target: "gettingCommitTs",
            actions: { type: "recordMinCommitTs", params: ({ event }: WithMin) => event.minCommitTs },
          },
          {
            target: "cleaningUp",
            actions: {
              type: "recordError",
              params: () => new Error(`commit ts expired ${MAX_COMMIT_TS_RETRIES} times in a row`),
            },
          },
        ],
        PRIMARY_FAILED: {
          target: "cleaningUp",
          actions: { type: "recordError", params: ({ event }: WithError) => event.error },
        },
        PRIMARY_UNDETERMINED: {
          target: undetermined,
          actions: { type: "recordError", params: ({ event }: WithError) => event.error },
        },
      },
    },
  }) as const;
