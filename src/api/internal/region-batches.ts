// Runs a multi-key request as parallel per-region batches, re-splitting a batch whose region
// changed under it (client-go rawkv sendBatchReq / doBatchReq: on a region error the batch's keys
// are grouped again and resent).

import type { CachedRegion } from "../../actors/region-cache/cached-region.js";
import { groupByRegion } from "../../actors/region-cache/group-by-region.js";
import type { RawRequestSender, RequestControl } from "../../actors/runtime/raw-sender.js";

/** Sends one batch (positions into the caller's key array) to `region`; false = region error handled, regroup. */
export type BatchExec = (region: CachedRegion, batch: number[]) => Promise<boolean>;

/**
 * Groups `positions` by region, cuts each group with `split`, and runs `exec` on every batch in
 * parallel. A batch that met a region error is regrouped and resent (sharing the call's budget).
 * Rejects with the first error.
 */
export async function runRegionBatches(
  sender: RawRequestSender,
  ctl: RequestControl,
  keys: readonly Buffer[],
  positions: readonly number[],
  split: (positions: number[]) => number[][],
  exec: BatchExec,
): Promise<void> {
  if (positions.length === 0) return;
  const groups = await groupByRegion(
    positions,
    (i) => keys[i] as Buffer,
    (k) => sender.locate(k, ctl),
  );
  const work: Promise<void>[] = [];
  for (const g of groups) {
    for (const batch of split(g.items)) {
      work.push(
        exec(g.region, batch).then((ok) =>
          ok ? undefined : runRegionBatches(sender, ctl, keys, batch, split, exec),
        ),
      );
    }
  }
  if (work.length === 1) return work[0];
  await Promise.all(work);
}
