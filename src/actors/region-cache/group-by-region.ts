// Grouping of a multi-key request's items by the region of their key (client-go
// RegionCache.GroupKeysByRegion). Shared by every multi-key path (raw batches, transaction
// mutations, lock resolution) so that there is exactly one place that can lose a key.
//
// Groups are keyed by region *version* (id + conf_ver + version), as client-go keys them by
// RegionVerID: the cache may hand out a new object for the same region between two lookups (a
// concurrent PD load replaced the entry, a reload, a split seen half-way), and a group must
// never be replaced because of that. Two objects of one version describe the same range and
// peers, so their items merge into one group sent with the newest object; two versions of one
// region id stay separate groups (the stale one meets EpochNotMatch and is regrouped).

import type { CachedRegion } from "./cached-region.js";

/** Items of one region, in the order they were given. */
export interface RegionGroup<T> {
  /** The newest cache entry seen for this region version. */
  region: CachedRegion;
  items: T[];
}

/** Finds the region of a key: synchronously on a cache hit, from PD otherwise. */
export type LocateKey = (key: Buffer) => CachedRegion | Promise<CachedRegion>;

/** Thrown when grouping would not account for every item exactly once (a bug, never a user error). */
export class GroupingInvariantError extends Error {
  constructor(message: string) {
    super(`internal error while grouping keys by region: ${message}`);
    this.name = "GroupingInvariantError";
  }
}

function versionKey(r: CachedRegion): string {
  return `${r.id}/${r.confVer}/${r.version}`;
}

/**
 * Groups `items` by the region of `keyOf(item)`, groups in first-seen order and items in input
 * order within a group. Every item lands in exactly one group (checked).
 */
export async function groupByRegion<T>(
  items: readonly T[],
  keyOf: (item: T) => Buffer,
  locate: LocateKey,
): Promise<RegionGroup<T>[]> {
  const groups = new Map<string, RegionGroup<T>>();
  let last: CachedRegion | undefined;
  let lastGroup: RegionGroup<T> | undefined;
  for (const item of items) {
    const key = keyOf(item);
    if (last === undefined || !last.isValid || !last.contains(key)) {
      let r = locate(key);
      if (r instanceof Promise) r = await r;
      if (r !== last) {
        last = r;
        const vk = versionKey(r);
        lastGroup = groups.get(vk);
        if (lastGroup === undefined) {
          lastGroup = { region: r, items: [] };
          groups.set(vk, lastGroup);
        } else {
          // same version, newer entry: the group keeps its items and sends with the fresher object
          lastGroup.region = r;
        }
      }
    }
    (lastGroup as RegionGroup<T>).items.push(item);
  }
  const out = [...groups.values()];
  let n = 0;
  for (const g of out) n += g.items.length;
  if (n !== items.length) throw new GroupingInvariantError(`${items.length} items in, ${n} grouped`);
  return out;
}
