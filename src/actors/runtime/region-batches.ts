// Sending one request per key or per group of keys, whatever the regions do meanwhile: the
// loops every multi-key operation shares (raw batches, transaction prewrite/commit/rollback,
// lock resolution). A batch whose region changed under it is grouped again and resent (client-go
// rawkv doBatchReq, 2pc doActionOnBatches: on a region error the batch's keys are regrouped).

import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import { groupByRegion } from "../region-cache/group-by-region.js";
import type { RawRequestSender, RequestControl } from "./raw-sender.js";

/**
 * Sends one batch (positions into the caller's key array) to `region`; false = region error
 * handled, regroup. `regionKeys` is how many of the call's keys fall in that region (client-go
 * prewrite's txn_size).
 */
export type BatchExec = (region: CachedRegion, batch: number[], regionKeys: number) => Promise<boolean>;

/** Cuts the positions of one region into batches (by count or by size). */
export type BatchSplit = (positions: number[]) => number[][];

/**
 * Groups `positions` by region, cuts each group with `split`, and runs `exec` on every batch in
 * parallel. A batch that met a region error is regrouped and resent (sharing the call's budget).
 * Settles only when no batch is in flight any more, then rejects with the first error (so a
 * failed call leaves nothing running behind it: cleanup after a failed prewrite cannot race a
 * late batch). With `firstPosition` set, the batch holding that position (the
 * primary key) is sent alone first and the others only after it succeeded (client-go commit and
 * cleanup send the primary batch synchronously).
 */
export async function runRegionBatches(
  sender: RawRequestSender,
  ctl: RequestControl,
  keys: readonly Buffer[],
  positions: readonly number[],
  split: BatchSplit,
  exec: BatchExec,
  firstPosition?: number,
): Promise<void> {
  if (positions.length === 0) return;
  const groups = await groupByRegion(
    positions,
    (i) => keys[i] as Buffer,
    (k) => sender.locate(k, ctl),
  );
  const batches: Array<{ region: CachedRegion; batch: number[]; n: number }> = [];
  for (const g of groups) {
    for (const batch of split(g.items)) batches.push({ region: g.region, batch, n: g.items.length });
  }
  const run = (b: { region: CachedRegion; batch: number[]; n: number }) =>
    exec(b.region, b.batch, b.n).then((ok) =>
      ok ? undefined : runRegionBatches(sender, ctl, keys, b.batch, split, exec, firstPosition),
    );
  if (firstPosition !== undefined) {
    const i = batches.findIndex((b) => b.batch.includes(firstPosition));
    if (i >= 0) {
      const [first] = batches.splice(i, 1);
      await run(first as (typeof batches)[number]);
    }
  }
  if (batches.length === 1) return run(batches[0] as (typeof batches)[number]);
  const settled = await Promise.allSettled(batches.map(run));
  for (const r of settled) if (r.status === "rejected") throw r.reason;
}

/**
 * Sends `req` to the region holding `key`, relocating and resending after region changes, and
 * returns the first response without a region error.
 */
export async function sendToKey<C extends TikvCommand>(
  sender: RawRequestSender,
  key: Buffer,
  cmd: C,
  req: TikvRequest<C>,
  ctl: RequestControl,
): Promise<TikvResponse<C>> {
  for (;;) {
    let region = sender.locate(key, ctl);
    if (region instanceof Promise) region = await region;
    const { resp } = await sender.sendOnce(region, cmd, req, ctl);
    if (resp) return resp;
  }
}

/** Positions 0..n-1. */
export function positions(n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
