// Splitting regions at given keys (client-go tikv/split_region.go: SplitRegions,
// splitBatchRegionsReq, batchSendSingleRegion). Keys are grouped by region through the region
// cache of their key mode, cut into SplitRegion batches of at most 2048 keys, and the batches run
// in parallel; a batch that meets a region error is regrouped and resent within the call's
// budget. New regions may then be scattered; a failed scatter never fails the split.

import { splitByCount } from "../../actors/runtime/batch-split.js";
import { makeControl } from "../../actors/runtime/control.js";
import { positions, runRegionBatches } from "../../actors/runtime/region-batches.js";
import { InvalidArgumentError } from "../../errors/base.js";
import { extractKeyError } from "../../errors/extract.js";
import { AbortedError, PdError, PdServerTimeoutError } from "../../errors/server.js";
import { type KeyInput, toKeys } from "../../kv/key.js";
import { SplitRegionRequest } from "../../proto/kvrpcpb.js";
import { ErrorType } from "../../proto/pdpb.js";
import { checkTimeoutMs } from "../options.js";
import { type AdminContext, checkKeyMode, checkOptionsObject, checkSignal } from "./admin-context.js";
import { checkGroup, scatterWithBackoff } from "./scatter.js";
import type { ScatterFailure, SplitRegionsOptions, SplitRegionsResult } from "./types.js";

export type { ScatterFailure, SplitRegionsOptions, SplitRegionsResult };

/** client-go splitBatchRegionLimit: keys per SplitRegion RPC. */
export const SPLIT_BATCH_LIMIT = 2048;
// client-go: the budget is 20 s per key, at most 120 s (splitRegionBackoff, maxSplitRegionsBackoff)
const SPLIT_BACKOFF_PER_KEY_MS = 20_000;
const MAX_SPLIT_BACKOFF_MS = 120_000;

/**
 * Validates and normalises the split keys: sorted ascending and de-duplicated (TiKV sorts the
 * keys of one request itself; sending each key once keeps batches exact). An empty key cannot
 * split anything (it is the start of the key space) and is refused.
 */
export function splitKeys(keys: readonly KeyInput[]): Buffer[] {
  const ks = toKeys(keys, "keys");
  ks.forEach((k, i) => {
    if (k.length === 0) throw new InvalidArgumentError("a split key must not be empty", `keys[${i}]`);
  });
  const sorted = [...ks].sort(Buffer.compare);
  return sorted.filter((k, i) => i === 0 || !k.equals(sorted[i - 1] as Buffer));
}

/** {@link TikvClient.splitRegions}. */
export async function splitRegions(
  ctx: AdminContext,
  keys: readonly KeyInput[],
  options?: SplitRegionsOptions,
): Promise<SplitRegionsResult> {
  ctx.checkOpen();
  const opts = checkOptionsObject(options);
  const mode = checkKeyMode(opts.keyMode);
  const group = checkGroup(opts.group);
  const signal = checkSignal(opts.signal);
  if (opts.scatter !== undefined && typeof opts.scatter !== "boolean") {
    throw new InvalidArgumentError("must be a boolean", "scatter");
  }
  const timeoutMs = opts.timeoutMs === undefined ? 0 : checkTimeoutMs(opts.timeoutMs, "timeoutMs", true);
  const ks = splitKeys(keys);
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const result: SplitRegionsResult = { regionIds: [], scatterErrors: [] };
  if (ks.length === 0) return result;
  const sender = ctx.sender(mode);
  const ctl = makeControl({
    maxBackoffMs: Math.min(ks.length * SPLIT_BACKOFF_PER_KEY_MS, MAX_SPLIT_BACKOFF_MS),
    timeoutMs,
    signal,
    metrics: ctx.metrics,
  });
  const created: bigint[][] = [];
  await runRegionBatches(
    sender,
    ctl,
    ks,
    positions(ks.length),
    (p) => splitByCount(p, SPLIT_BATCH_LIMIT),
    async (region, batch) => {
      // a key already on the region's start is split (client-go equalRegionStartKey)
      const batchKeys = batch.map((i) => ks[i] as Buffer).filter((k) => !k.equals(region.startKey));
      if (batchKeys.length === 0) return true;
      const { resp } = await sender.sendOnce(
        region,
        "SplitRegion",
        SplitRegionRequest.fromPartial({ splitKeys: batchKeys, isRawKv: mode === "raw" }),
        ctl,
      );
      if (!resp) return false;
      const keyErr = resp.errors[0];
      if (keyErr) throw extractKeyError(keyErr);
      // the old range is gone: the next request reloads it instead of meeting EpochNotMatch
      sender.cache.invalidate(region, "epochNotMatch");
      // TiKV derives the right-most region from the old one (right-derive-when-split), so the
      // new regions are every other one (client-go takes regions[:len-1])
      created.push(resp.regions.filter((r) => r.id !== region.id).map((r) => r.id));
      return true;
    },
  );
  result.regionIds = created.flat();
  if (opts.scatter) {
    for (const id of result.regionIds) {
      try {
        const r = await scatterWithBackoff(ctx, [id], group, ctl.bo, signal);
        if (r.failedRegionIds.length > 0) {
          const error = new PdError(ErrorType.UNKNOWN, `PD could not scatter region ${id}`);
          result.scatterErrors.push({ regionId: id, error });
        }
      } catch (e) {
        if (e instanceof AbortedError) throw e;
        result.scatterErrors.push({ regionId: id, error: e as Error });
        // PD is not answering: the other scatters would wait for it too (client-go stops here)
        if (e instanceof PdServerTimeoutError || ctl.bo.totalSleepMs >= ctl.bo.maxSleepMs) break;
      }
    }
  }
  return result;
}
