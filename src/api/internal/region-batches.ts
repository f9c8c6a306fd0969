// Runs a multi-key request as parallel per-region batches, re-splitting a batch whose region
// changed under it (client-go rawkv sendBatchReq / doBatchReq: on a region error the batch's keys
// are grouped again and resent).

import type { CachedRegion } from "../../actors/region-cache/cached-region.js";
import type { RawRequestSender, RequestControl } from "../../actors/runtime/raw-sender.js";
import { toLatin1Key } from "../../kv/key.js";

/** Sends one batch (positions into the caller's key array) to `region`; false = region error handled, regroup. */
export type BatchExec = (region: CachedRegion, batch: number[]) => Promise<boolean>;

/** Groups positions by the region of their key, in first-seen order. */
export async function groupByRegion(
  sender: RawRequestSender,
  ctl: RequestControl,
  keys: readonly Buffer[],
  positions: readonly number[],
): Promise<Array<{ region: CachedRegion; positions: number[] }>> {
  const groups = new Map<bigint, { region: CachedRegion; positions: number[] }>();
  let last: CachedRegion | undefined;
  for (const i of positions) {
    const k = keys[i] as Buffer;
    if (!last?.isValid || !last.containsL1(toLatin1Key(k))) last = await sender.locate(k, ctl);
    let g = groups.get(last.id);
    if (!g || g.region !== last) {
      g = { region: last, positions: [] };
      groups.set(last.id, g);
    }
    g.positions.push(i);
  }
  return [...groups.values()];
}

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
  const groups = await groupByRegion(sender, ctl, keys, positions);
  const work: Promise<void>[] = [];
  for (const g of groups) {
    for (const batch of split(g.positions)) {
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
