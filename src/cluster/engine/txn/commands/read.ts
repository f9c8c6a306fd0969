// KvGet / KvBatchGet / KvScan / KvBufferBatchGet, as tikv src/server/service/kv.rs and
// src/storage/mod.rs build their responses.
import {
  type BatchGetRequest,
  BatchGetResponse,
  type BufferBatchGetRequest,
  BufferBatchGetResponse,
  type GetRequest,
  GetResponse,
  KvPair,
  type ScanRequest,
  ScanResponse,
} from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { pointGet, scanRange } from "../actions/read.js";
import { clampRange, type EngineContext, type KeyRangeLimit, readOptions, trackRead } from "../context.js";

/** KvGet: value at version, not_found, commit_ts when need_commit_ts; a blocking lock is `error.locked`. */
export function get(ec: EngineContext, req: GetRequest): GetResponse {
  trackRead(ec, req.context, req.version);
  try {
    const v = pointGet(ec.reader, req.key, readOptions(req.context, req.version), req.needCommitTs);
    if (!v) return GetResponse.fromPartial({ notFound: true });
    return GetResponse.fromPartial({ value: v.value, commitTs: req.needCommitTs ? v.commitTs : 0n });
  } catch (e) {
    return GetResponse.fromPartial({ error: toKeyError(e) });
  }
}

/** KvBatchGet: found keys in request order; a locked key becomes a pair carrying only its error. */
export function batchGet(ec: EngineContext, req: BatchGetRequest): BatchGetResponse {
  trackRead(ec, req.context, req.version);
  const opts = readOptions(req.context, req.version);
  const pairs: KvPair[] = [];
  for (const key of req.keys) {
    try {
      const v = pointGet(ec.reader, key, opts, req.needCommitTs);
      if (v)
        pairs.push(KvPair.fromPartial({ key, value: v.value, commitTs: req.needCommitTs ? v.commitTs : 0n }));
    } catch (e) {
      pairs.push(KvPair.fromPartial({ error: toKeyError(e) }));
    }
  }
  return BatchGetResponse.fromPartial({ pairs });
}

/**
 * KvScan over [start_key, end_key) (reverse: [end_key, start_key), descending), limited to the
 * region range. An empty end_key of a forward scan means the region end. Locked keys appear as pairs carrying
 * only `error` (TiKV leaves their key empty); other failures set `error` and a single error pair.
 */
export function scan(ec: EngineContext, req: ScanRequest, range?: KeyRangeLimit): ScanResponse {
  trackRead(ec, req.context, req.version);
  // TiKV bounds a reverse scan above by start_key as given: an empty start_key is the empty
  // key itself (not +inf), so nothing lies below it.
  if (req.reverse && req.startKey.length === 0) return ScanResponse.fromPartial({ pairs: [] });
  const [lower, upper] = req.reverse ? [req.endKey, req.startKey] : [req.startKey, req.endKey];
  const r = clampRange(lower, upper, range);
  try {
    const entries = scanRange(
      ec.reader,
      r.start,
      r.end,
      req.reverse,
      req.limit,
      req.sampleStep,
      readOptions(req.context, req.version, req.keyOnly),
    );
    const pairs = entries.map((e) =>
      "error" in e
        ? KvPair.fromPartial({ error: toKeyError(e.error) })
        : KvPair.fromPartial({ key: e.key, value: e.value }),
    );
    return ScanResponse.fromPartial({ pairs });
  } catch (e) {
    const error = toKeyError(e);
    return ScanResponse.fromPartial({ error, pairs: [KvPair.fromPartial({ error })] });
  }
}

/**
 * KvBufferBatchGet (pipelined DML): reads the txn's own flushed locks at start_ts = version.
 * Put locks give their value, Delete locks an empty value; other txns' locks are ignored.
 */
export function bufferBatchGet(ec: EngineContext, req: BufferBatchGetRequest): BufferBatchGetResponse {
  const pairs: KvPair[] = [];
  for (const key of req.keys) {
    const lock = ec.reader.loadLock(key);
    // Pipelined txns never hold shared locks: another txn's shared locks are skipped.
    if (!lock || lock.lockType === "Shared" || lock.startTs !== req.version) continue;
    if (lock.lockType === "Delete") {
      pairs.push(KvPair.fromPartial({ key, value: Buffer.alloc(0) }));
    } else if (lock.lockType === "Put") {
      const value = lock.shortValue ?? ec.reader.getValue(key, req.version);
      if (value !== undefined) pairs.push(KvPair.fromPartial({ key, value }));
    } else {
      const error = toKeyError(
        new MvccError({ kind: "Other", message: `unexpected lock type ${lock.lockType} in pipelined txn` }),
      );
      return BufferBatchGetResponse.fromPartial({ error });
    }
  }
  return BufferBatchGetResponse.fromPartial({ pairs });
}
