// Splitting of multi-key raw requests, as client-go internal/kvrpc/batch.go does it: keys are
// grouped per region, then each group is cut into batches by key count (BatchGet, BatchDelete)
// or by payload size (BatchPut). Batches are sent in parallel; results are mapped back by position.

/** client-go rawkv rawBatchPairCount: keys per BatchGet / BatchDelete request. */
export const RAW_BATCH_PAIR_COUNT = 512;
/** client-go rawkv rawBatchPutSize: bytes of keys + values per BatchPut request. */
export const RAW_BATCH_PUT_SIZE = 16 * 1024;
/** client-go rawkv MaxRawKVScanLimit: the largest `limit` a raw scan accepts. */
export const MAX_RAW_KV_SCAN_LIMIT = 10240;

/**
 * Cuts `indexes` (positions into the caller's arrays) into batches of at most `limit` entries.
 * (client-go AppendKeyBatches lets a batch reach limit + 1 keys; we keep the stated limit.)
 */
export function splitByCount(indexes: readonly number[], limit: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < indexes.length; i += limit) out.push(indexes.slice(i, i + limit));
  return out;
}

/**
 * Cuts `indexes` into batches whose key + value bytes reach `limit`: a new batch starts once the
 * running size is at least `limit`, so one batch may exceed it by its last pair (client-go
 * AppendBatches). A pair larger than `limit` travels alone.
 */
export function splitBySize(
  indexes: readonly number[],
  sizeOf: (i: number) => number,
  limit: number,
): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let size = 0;
  for (const i of indexes) {
    if (size >= limit) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(i);
    size += sizeOf(i);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
