// The flush of one generation (client-go pipelined_flush.go actionPipelinedFlush): its mutations
// go region by region in batches of 16 KiB as KvFlush requests carrying the generation, at most
// `concurrency` batches at a time. Locks of other transactions met on the way are resolved (an
// optimistic writer meeting a newer lock fails at once with a write conflict); the first failure
// stops the other batches' waits.

import { extractKeyError } from "../../../errors/extract.js";
import {
  conflictWithLock,
  KeyLockedError,
  type LockDetails,
  lockDetailsFromLockInfo,
  ResultUndeterminedError,
} from "../../../errors/txn.js";
import { type AssertionLevel, type Context, FlushRequest, type Mutation } from "../../../proto/kvrpcpb.js";
import { Bo } from "../../backoff/backoff-config.js";
import type { CachedRegion } from "../../region-cache/cached-region.js";
import { splitBySize } from "../../runtime/batch-split.js";
import type { RawRequestSender, RequestControl, SendOutcome } from "../../runtime/raw-sender.js";
import { positions, runRegionBatches } from "../../runtime/region-batches.js";
import { TXN_COMMIT_BATCH_SIZE } from "../committer.js";
import type { LockResolver } from "../lock-resolver.js";
import { Limiter } from "./limiter.js";

/** client-go PipelinedRequestSource: the request source of flushes and of their lock resolution. */
export const PIPELINED_REQUEST_SOURCE = "external_pdml";

/** What a flush needs from the client. */
export interface FlushDeps {
  sender: RawRequestSender;
  resolver: LockResolver;
}

/** One generation to flush. */
export interface FlushParams {
  startTs: bigint;
  generation: number;
  /** The transaction's primary key (chosen at its first flush). */
  primary: Buffer;
  /** In key order. */
  mutations: Mutation[];
  assertionLevel: AssertionLevel;
  /** TTL of the flushed locks (ms). */
  lockTtlMs: number;
  /** Batches in flight at most (client-go FlushConcurrency). */
  concurrency: number;
  contextFields: Partial<Context> | undefined;
}

/**
 * Flushes `p.mutations` as generation `p.generation`; `onPrimaryFlushed` is called once the batch
 * holding the primary succeeded. `ctl` is the flush's budget; `stop` is aborted by the first
 * failing batch (its backoffs should listen to it).
 */
export async function flushMutations(
  deps: FlushDeps,
  p: FlushParams,
  ctl: RequestControl,
  stop: AbortController,
  onPrimaryFlushed: () => void,
): Promise<void> {
  const { mutations, startTs } = p;
  const keys = mutations.map((m) => m.key);
  const sizeOf = (i: number) =>
    (mutations[i] as Mutation).key.length + (mutations[i] as Mutation).value.length;
  const limiter = new Limiter(Math.max(1, p.concurrency));
  const ctx: Partial<Context> = { ...p.contextFields, requestSource: PIPELINED_REQUEST_SOURCE };
  let first: Error | undefined;
  const fail = (e: unknown): unknown => {
    if (first === undefined && e instanceof Error) {
      first = e;
      stop.abort(e);
    }
    return e;
  };
  const exec = async (region: CachedRegion, batch: number[]): Promise<boolean> => {
    // a sibling failed: batches still queued are not sent
    if (first) throw first;
    const req = FlushRequest.fromPartial({
      mutations: batch.map((i) => mutations[i] as Mutation),
      primaryKey: p.primary,
      startTs,
      minCommitTs: startTs + 1n,
      generation: BigInt(p.generation),
      lockTtl: BigInt(p.lockTtlMs),
      assertionLevel: p.assertionLevel,
    });
    let resp: SendOutcome<"Flush">["resp"];
    try {
      ({ resp } = await deps.sender.sendOnce(region, "Flush", req, ctl, ctx));
    } catch (e) {
      // a flush commits nothing and is idempotent for one generation: a lost answer is resent
      if (e instanceof ResultUndeterminedError && !stop.signal.aborted) {
        await ctl.bo.backoff(Bo.RegionMiss, e);
        return false;
      }
      throw fail(e);
    }
    if (!resp) return false;
    if (resp.errors.length === 0) {
      if (batch.some((i) => (keys[i] as Buffer).equals(p.primary))) onPrimaryFlushed();
      return true;
    }
    const locks: LockDetails[] = [];
    for (const ke of resp.errors) {
      if (!ke.locked) throw fail(extractKeyError(ke));
      const lock = lockDetailsFromLockInfo(ke.locked);
      // a newer transaction holds the key: this one would lose anyway (client-go)
      if (lock.startTs > startTs) {
        throw fail(conflictWithLock(startTs, lock));
      }
      locks.push(lock);
    }
    try {
      const r = await deps.resolver.resolveLocks(locks, { callerStartTs: startTs, ctl });
      if (r.msBeforeTxnExpired > 0) {
        const ms = ctl.bo.next(Bo.TxnLock, new KeyLockedError(locks[0] as LockDetails), r.msBeforeTxnExpired);
        await ctl.bo.sleep(ms);
      }
    } catch (e) {
      throw fail(e);
    }
    return false; // resend, regrouped
  };
  try {
    await runRegionBatches(
      deps.sender,
      ctl,
      keys,
      positions(mutations.length),
      (ps) => splitBySize(ps, sizeOf, TXN_COMMIT_BATCH_SIZE),
      (region, batch) => limiter.run(() => exec(region, batch)),
    );
  } catch (e) {
    throw first ?? e;
  }
}
