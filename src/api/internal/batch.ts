// Splitting of multi-key raw requests, as client-go internal/kvrpc/batch.go does it: keys are
// grouped per region, then each group is cut into batches by key count (BatchGet, BatchDelete)
// or by payload size (BatchPut). Batches are sent in parallel; results are mapped back by position.

/** client-go rawkv rawBatchPairCount: keys per BatchGet / BatchDelete request. */
export const RAW_BATCH_PAIR_COUNT = 512;
/** client-go rawkv rawBatchPutSize: bytes of keys + values per BatchPut request. */
export const RAW_BATCH_PUT_SIZE = 16 * 1024;
/** client-go rawkv MaxRawKVScanLimit: the largest `limit` a raw scan accepts. */
export const MAX_RAW_KV_SCAN_LIMIT = 10240;

export { splitByCount, splitBySize } from "../../actors/runtime/batch-split.js";
