// The commit ts of a transaction that must commit after a given ts (client-go KVTxn
// GetTimestampForCommit with SetCommitWaitUntilTSO): a TSO above that ts, waited for within a
// timeout with the CommitTSLag backoff, or CommitTsLagError when PD lags too far behind.

import { BackoffExhaustedError } from "../../errors/server.js";
import { CommitTsLagError } from "../../errors/txn.js";
import { physicalOf } from "../../kv/timestamp.js";
import { Bo } from "../backoff/backoff-config.js";
import { Backoffer } from "../backoff/backoffer.js";

/** What the wait needs. */
export interface CommitTsWait {
  /** The commit ts must be above this one (0: no constraint). */
  waitUntilTs: bigint;
  /** How long PD may lag behind `waitUntilTs`, in ms (0: not at all). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** How the wait went (client-go commitLagWaitStats), for tests and traces. */
export interface CommitTsLagDetails {
  firstAttemptTs: bigint;
  backoffs: number;
  waitedMs: number;
}

/**
 * A TSO from `getTs` above `w.waitUntilTs`. The first one is used when it is already above;
 * otherwise, when the physical lag exceeds `w.timeoutMs` (or the timeout is 0), fails at once
 * with CommitTsLagError; else backs off and asks again until it is above or the time is up.
 */
export async function timestampForCommit(
  getTs: () => Promise<bigint>,
  w: CommitTsWait,
  onLag?: (d: CommitTsLagDetails) => void,
): Promise<bigint> {
  const first = await getTs();
  if (first > w.waitUntilTs) return first;
  const lagMs = physicalOf(w.waitUntilTs) - physicalOf(first);
  if (w.timeoutMs <= 0) {
    throw new CommitTsLagError(
      `PD TSO ${first} lags the expected timestamp ${w.waitUntilTs}; no wait is allowed (timeout 0)`,
    );
  }
  if (lagMs > w.timeoutMs) {
    throw new CommitTsLagError(
      `PD TSO ${first} lags the expected timestamp ${w.waitUntilTs} by ${lagMs} ms, over the ${w.timeoutMs} ms allowed`,
    );
  }
  const started = Date.now();
  const bo = new Backoffer({ maxSleepMs: w.timeoutMs, signal: w.signal });
  let backoffs = 0;
  try {
    for (let ts = first; ; ) {
      try {
        await bo.backoff(Bo.CommitTSLag, new CommitTsLagError("clock drift behind the expected timestamp"));
      } catch (e) {
        if (e instanceof BackoffExhaustedError) {
          throw new CommitTsLagError(
            `PD TSO ${ts} still lags the expected timestamp ${w.waitUntilTs} after ${w.timeoutMs} ms`,
            { cause: e },
          );
        }
        throw e;
      }
      backoffs++;
      ts = await getTs();
      if (ts > w.waitUntilTs) return ts;
    }
  } finally {
    onLag?.({ firstAttemptTs: first, backoffs, waitedMs: Date.now() - started });
  }
}
