// Reads of a pipelined transaction's own flushed writes (client-go snapshot BatchGetWithTier with
// BatchGetBufferTier): KvBufferBatchGet at the start ts returns the values of the keys this
// transaction holds a lock on, region by region.

import { extractKeyError } from "../../../errors/extract.js";
import type { Context } from "../../../proto/kvrpcpb.js";
import { splitByCount } from "../../runtime/batch-split.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import { positions, runRegionBatches } from "../../runtime/region-batches.js";
import { BATCH_GET_SIZE } from "../snapshot-reader.js";

/**
 * The flushed values of `keys` of the transaction started at `startTs`: latin1 key -> value
 * (empty for a delete); keys it holds no lock on are absent.
 */
export async function bufferBatchGet(
  sender: RawRequestSender,
  startTs: bigint,
  keys: readonly Buffer[],
  ctl: RequestControl,
  contextFields?: Partial<Context>,
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await runRegionBatches(
    sender,
    ctl,
    keys,
    positions(keys.length),
    (p) => splitByCount(p, BATCH_GET_SIZE),
    async (region, batch) => {
      const { resp } = await sender.sendOnce(
        region,
        "BufferBatchGet",
        { context: undefined, keys: batch.map((i) => keys[i] as Buffer), version: startTs },
        ctl,
        contextFields,
      );
      if (!resp) return false;
      if (resp.error) throw extractKeyError(resp.error);
      for (const p of resp.pairs) {
        if (p.error) throw extractKeyError(p.error);
        out.set(p.key.toString("latin1"), p.value);
      }
      return true;
    },
  );
  return out;
}
