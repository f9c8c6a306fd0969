// Cutting one region's keys into request batches, by key count (BatchGet, BatchDelete, commit)
// or by payload size (BatchPut, prewrite), as client-go internal/kvrpc/batch.go and 2pc.go do.

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
