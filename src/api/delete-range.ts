// TxnClient.deleteRange: argument checks, then the region-by-region DeleteRange of the actors.

import { makeControl } from "../actors/runtime/control.js";
import type { RangeTaskProgress } from "../actors/runtime/range-task-types.js";
import { DELETE_RANGE_MAX_BACKOFF_MS, deleteRange } from "../actors/txn/gc/delete-range.js";
import type { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError } from "../errors/server.js";
import { type KeyInput, toKey } from "../kv/key.js";
import { checkRangeTaskOptions } from "./range-task.js";

/** Options of {@link TxnClient.deleteRange}. */
export interface DeleteRangeOptions {
  /** Regions deleted at once (integer >= 1, default 1). */
  concurrency?: number;
  /**
   * Only replicate the request through raft, deleting nothing (client-go
   * NewNotifyDeleteRangeTask): the step before {@link TikvClient.unsafeDestroyRange}.
   */
  notifyOnly?: boolean;
  /** Stops the deletion (AbortedError); regions already done stay deleted. */
  signal?: AbortSignal;
  /** Called after every task with the regions done so far. */
  onProgress?: (p: RangeTaskProgress) => void;
}

/** What a delete range did. */
export interface DeleteRangeResult {
  /** Regions the request was applied to. */
  completedRegions: number;
}

/** @internal TxnClient.deleteRange (an empty range deletes nothing). */
export async function txnDeleteRange(
  rt: TxnRuntime,
  start: KeyInput,
  end: KeyInput | undefined,
  options: DeleteRangeOptions = {},
): Promise<DeleteRangeResult> {
  const s = toKey(start, "start");
  const e = end === undefined ? Buffer.alloc(0) : toKey(end, "end");
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("must be an object", "options");
  // TiKV memcomparable-encodes the bounds of a transactional DeleteRange: an empty end becomes
  // the smallest key, so "+infinity" cannot be asked for (client-go would retry that until its
  // budget runs out). A keyspace's end is a real key, so only clients without one need an end.
  if (rt.sender.codec.encodeRange(s, e).end.length === 0) {
    throw new InvalidArgumentError("TiKV's DeleteRange needs a bounded end key", "end");
  }
  checkRangeTaskOptions({ concurrency: options.concurrency });
  if (options.notifyOnly !== undefined && typeof options.notifyOnly !== "boolean") {
    throw new InvalidArgumentError("must be a boolean", "notifyOnly");
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError("must be an AbortSignal", "signal");
  }
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const metrics = rt.deps.metrics;
  const stat = await deleteRange(
    {
      sender: rt.sender,
      regions: rt.cache,
      control: (sig) =>
        makeControl({ maxBackoffMs: DELETE_RANGE_MAX_BACKOFF_MS, timeoutMs: 0, signal: sig, metrics }),
    },
    { start: s, end: e },
    options.notifyOnly ?? false,
    { concurrency: options.concurrency ?? 1, signal, onProgress: options.onProgress },
  );
  return { completedRegions: stat.completedRegions };
}
