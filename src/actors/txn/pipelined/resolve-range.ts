// The background resolution of a pipelined transaction's locks (client-go pipelined_flush.go
// resolveFlushedLocks / buildPipelinedResolveHandler): ResolveLock without keys, which commits
// (or, with commit ts 0, rolls back) every lock of the transaction in a region, over every region
// of the range the flushes wrote, one region per task and at most `concurrency` tasks at a time.

import { extractKeyError } from "../../../errors/extract.js";
import { type Context, ResolveLockRequest } from "../../../proto/kvrpcpb.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import { Limiter } from "./limiter.js";

/** A range of keys to resolve: [start, end) in user keys (end empty = to the end of the keyspace). */
export interface ResolveRangeParams {
  startTs: bigint;
  /** 0 rolls the locks back. */
  commitTs: bigint;
  start: Buffer;
  end: Buffer;
  /** Tasks at a time (client-go ResolveLockConcurrency). */
  concurrency: number;
  contextFields: Partial<Context> | undefined;
}

const reaches = (regionEnd: Buffer, end: Buffer) =>
  regionEnd.length === 0 || (end.length > 0 && Buffer.compare(regionEnd, end) >= 0);

/**
 * Resolves every lock of `p.startTs` in `[p.start, p.end)`; `control` gives each task its budget.
 * Resolves with the number of region requests that succeeded; rejects with the first task's
 * failure once every task settled.
 */
export async function resolveRange(
  sender: RawRequestSender,
  p: ResolveRangeParams,
  control: () => RequestControl,
): Promise<number> {
  // one task per region as the cache sees them now; a task whose region split meanwhile walks
  // the pieces itself
  const tasks: Array<[Buffer, Buffer]> = [];
  const ctl0 = control();
  for (let cursor = p.start; ; ) {
    let region = sender.locate(cursor, ctl0);
    if (region instanceof Promise) region = await region;
    if (reaches(region.endKey, p.end)) {
      tasks.push([cursor, p.end]);
      break;
    }
    tasks.push([cursor, region.endKey]);
    cursor = region.endKey;
  }
  let resolved = 0;
  const req = ResolveLockRequest.fromPartial({ startVersion: p.startTs, commitVersion: p.commitTs });
  const task = async ([from, to]: [Buffer, Buffer]) => {
    const ctl = control();
    for (let s = from; ; ) {
      let region = sender.locate(s, ctl);
      if (region instanceof Promise) region = await region;
      const { resp } = await sender.sendOnce(region, "ResolveLock", req, ctl, p.contextFields);
      if (!resp) continue; // the region changed: locate again from the same key
      if (resp.error) throw extractKeyError(resp.error);
      resolved++;
      if (reaches(region.endKey, to)) return;
      s = region.endKey;
    }
  };
  const limiter = new Limiter(Math.max(1, p.concurrency));
  const settled = await Promise.allSettled(tasks.map((t) => limiter.run(() => task(t))));
  for (const r of settled) if (r.status === "rejected") throw r.reason;
  return resolved;
}
