// The range task engine (client-go txnkv/rangetask Runner): cuts [start, end) into tasks of
// `regionsPerTask` regions each, as the region cache sees them, and runs a handler on each task
// with `concurrency` workers. Task bounds are only hints (regions split and merge meanwhile): a
// handler walks its task region by region with {@link walkRegions}, re-locating whenever a
// region changed. The first handler error (or the caller's abort) stops the whole run.

import { InvalidArgumentError } from "../../errors/base.js";
import { AbortedError } from "../../errors/server.js";
import { compareRangeEnds, type KeyRange } from "../../kv/key.js";
import { Backoffer } from "../backoff/backoffer.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import type {
  RangeTaskContext,
  RangeTaskHandler,
  RangeTaskOptions,
  RangeTaskProgress,
  RangeTaskStat,
} from "./range-task-types.js";
import type { RequestControl } from "./raw-sender.js";

export type {
  RangeTaskContext,
  RangeTaskHandler,
  RangeTaskOptions,
  RangeTaskProgress,
  RangeTaskStat,
} from "./range-task-types.js";

/** client-go defaultRegionsPerTask. */
export const DEFAULT_REGIONS_PER_TASK = 128;
/** client-go locateRegionMaxBackoff (ms): the budget of locating one task's regions. */
export const LOCATE_REGION_MAX_BACKOFF_MS = 20_000;

/** The region lookups a run needs (the region cache). */
export type RangeTaskRegions = Pick<RegionCache, "tryLocateKey" | "batchLoadRegions">;

/** Throws InvalidArgumentError unless `n` is an integer >= 1. */
export function checkPositiveInt(n: unknown, name: string): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`must be an integer >= 1, got ${String(n)}`, name);
  }
  return n;
}

interface Task {
  range: KeyRange;
  /** Regions the task covered when it was cut. */
  regions: number;
}

/**
 * Runs `handler` over `range` (end empty = +inf). Resolves with the summed stats once every
 * task finished; rejects with the first handler error, or AbortedError when `signal` aborts.
 * An empty range (end <= start) runs nothing.
 */
export async function runRangeTask(
  regions: RangeTaskRegions,
  range: KeyRange,
  handler: RangeTaskHandler,
  opts: RangeTaskOptions,
): Promise<RangeTaskStat> {
  const concurrency = checkPositiveInt(opts.concurrency, "concurrency");
  const perTask = checkPositiveInt(opts.regionsPerTask ?? DEFAULT_REGIONS_PER_TASK, "regionsPerTask");
  const userSignal = opts.signal;
  if (userSignal?.aborted) throw new AbortedError(userSignal.reason);
  const progress: RangeTaskProgress = {
    completedRegions: 0,
    failedRegions: 0,
    totalRegions: 0,
    located: false,
    tasksDone: 0,
    done: false,
  };
  const report = () => {
    try {
      opts.onProgress?.({ ...progress });
    } catch {
      // a progress listener must not break the run
    }
  };
  if (range.end.length > 0 && Buffer.compare(range.start, range.end) >= 0) {
    progress.located = progress.done = true;
    report();
    return { completedRegions: 0, failedRegions: 0 };
  }

  // stops producer and workers: the first failure, or the caller's abort
  const stop = new AbortController();
  let failure: unknown;
  const fail = (e: unknown) => {
    if (failure === undefined) failure = e;
    stop.abort(e);
  };
  const onUserAbort = () => fail(new AbortedError(userSignal?.reason));
  userSignal?.addEventListener("abort", onUserAbort, { once: true });

  const queue: Task[] = [];
  const waiting: Array<() => void> = [];
  const wake = () => {
    for (const w of waiting.splice(0)) w();
  };
  stop.signal.addEventListener("abort", wake, { once: true });

  const produce = async () => {
    let key = range.start;
    for (;;) {
      if (stop.signal.aborted) return;
      const bo = new Backoffer({ maxSleepMs: LOCATE_REGION_MAX_BACKOFF_MS, signal: stop.signal });
      const { endKey, count } = await locateRegions(regions, key, range.end, perTask, bo);
      const isLast = endKey.length === 0 || compareRangeEnds(endKey, range.end) >= 0;
      const task: Task = { range: { start: key, end: isLast ? range.end : endKey }, regions: count };
      progress.totalRegions += count;
      queue.push(task);
      wake();
      if (isLast) return;
      key = endKey;
    }
  };
  let producing = true;
  const producer = produce()
    .catch(fail)
    .finally(() => {
      producing = false;
      progress.located = failure === undefined;
      wake();
    });

  const next = async (): Promise<Task | undefined> => {
    for (;;) {
      if (stop.signal.aborted) return undefined;
      const t = queue.shift();
      if (t) return t;
      if (!producing) return undefined;
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  const ctx: RangeTaskContext = { signal: stop.signal };
  const worker = async () => {
    for (let t = await next(); t; t = await next()) {
      let stat: RangeTaskStat;
      try {
        stat = await handler(t.range, ctx);
      } catch (e) {
        // the task's regions count as failed (client-go adds what the failing handler reported)
        progress.failedRegions += t.regions;
        report();
        fail(e);
        return;
      }
      progress.completedRegions += stat.completedRegions;
      progress.failedRegions += stat.failedRegions;
      progress.tasksDone++;
      report();
    }
  };
  try {
    await Promise.all([producer, ...Array.from({ length: concurrency }, worker)]);
  } finally {
    userSignal?.removeEventListener("abort", onUserAbort);
  }
  if (failure !== undefined) {
    // the caller's abort wins over what it made handlers throw
    if (userSignal?.aborted) throw new AbortedError(userSignal.reason);
    throw failure;
  }
  progress.done = true;
  report();
  return { completedRegions: progress.completedRegions, failedRegions: progress.failedRegions };
}

// Up to `limit` consecutive regions from `key` (cache first, one PD scan per gap): the end key of
// the last one and how many were found.
async function locateRegions(
  regions: RangeTaskRegions,
  key: Buffer,
  end: Buffer,
  limit: number,
  bo: Backoffer,
): Promise<{ endKey: Buffer; count: number }> {
  let k = key;
  let count = 0;
  for (;;) {
    let r = regions.tryLocateKey(k);
    if (!r) {
      const loaded = await regions.batchLoadRegions(k, end, Math.max(limit - count, 1), bo);
      r = loaded.find((x) => x.contains(k));
      if (!r) throw new Error(`no region contains the key just loaded from PD`);
    }
    count++;
    if (count >= limit || r.endKey.length === 0 || compareRangeEnds(r.endKey, end) >= 0) {
      return { endKey: r.endKey, count };
    }
    k = r.endKey;
  }
}

/** What {@link walkRegions} asks of a visit: done with the region, or send again / go on from a key. */
export type RegionVisit =
  /** The region's part of the range is done: go to the next region. */
  | "next"
  /** The region changed under the request: locate the same key again. */
  | "relocate"
  /** More to do in this region: continue from this key (the region is not counted yet). */
  | { from: Buffer };

/** One region's part of a range, as {@link walkRegions} hands it to a visit. */
export interface RegionPart {
  region: CachedRegion;
  /** The part of the range in the region: [start, end), end clipped to the range. */
  range: KeyRange;
  /** True for the last region of the range. */
  isLast: boolean;
}

/**
 * Walks `range` region by region (client-go's per-region loops of delete range and lock
 * resolution): locates the region of the current key, hands its part of the range to `visit`,
 * and moves on as `visit` says. Resolves with the number of regions finished; stops with
 * AbortedError when `signal` aborts between visits.
 */
export async function walkRegions(
  locate: (key: Buffer, ctl: RequestControl) => Promise<CachedRegion> | CachedRegion,
  range: KeyRange,
  ctl: RequestControl,
  visit: (part: RegionPart) => Promise<RegionVisit>,
  signal?: AbortSignal,
): Promise<number> {
  let key = range.start;
  let done = 0;
  for (;;) {
    if (signal?.aborted) throw new AbortedError(signal.reason);
    if (range.end.length > 0 && Buffer.compare(key, range.end) >= 0) return done;
    const region = await locate(key, ctl);
    const isLast = region.endKey.length === 0 || compareRangeEnds(region.endKey, range.end) >= 0;
    const end = isLast ? range.end : region.endKey;
    const v = await visit({ region, range: { start: key, end }, isLast });
    if (v === "relocate") continue;
    if (v === "next") {
      done++;
      if (isLast) return done;
      key = end;
      continue;
    }
    key = v.from;
  }
}
