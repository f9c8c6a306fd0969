// The range task engine on its own (src/actors/runtime/range-task.ts), over a fake region
// source: how PD failures, handler failures and aborts end a run, and how tasks follow the
// region boundaries the source reports.

import { describe, expect, it } from "vitest";
import type { CachedRegion } from "../../../src/actors/region-cache/cached-region.js";
import {
  type RangeTaskRegions,
  type RangeTaskStat,
  runRangeTask,
} from "../../../src/actors/runtime/range-task.js";
import { InvalidArgumentError } from "../../../src/errors/base.js";
import { AbortedError } from "../../../src/errors/server.js";

const k = (s: string) => Buffer.from(s);

// regions cut at `bounds`; only what the engine reads (endKey, contains) is real
function fakeRegions(bounds: string[], opts: { failLoads?: number; loadFails?: Error } = {}) {
  const edges = ["", ...bounds, ""];
  const regions = edges.slice(0, -1).map((start, i) => {
    const end = edges[i + 1] as string;
    return {
      endKey: k(end),
      contains: (key: Uint8Array) =>
        Buffer.compare(Buffer.from(key), k(start)) >= 0 &&
        (end === "" || Buffer.compare(Buffer.from(key), k(end)) < 0),
    } as unknown as CachedRegion;
  });
  let loads = 0;
  const source: RangeTaskRegions & { loads(): number } = {
    tryLocateKey: () => undefined,
    batchLoadRegions: async (start: Buffer, _end: Buffer, limit: number) => {
      loads++;
      if (opts.loadFails && loads > (opts.failLoads ?? 0)) throw opts.loadFails;
      const i = regions.findIndex((r) => r.contains(start));
      return regions.slice(i, i + limit);
    },
    loads: () => loads,
  };
  return source;
}

const one: RangeTaskStat = { completedRegions: 1, failedRegions: 0 };
const all = { start: k(""), end: k("") };

describe("range task engine", () => {
  it("cuts tasks at the reported boundaries, regionsPerTask at a time", async () => {
    const seen: string[] = [];
    const stat = await runRangeTask(
      fakeRegions(["b", "d", "f", "h"]),
      all,
      async (r) => {
        seen.push(`${r.start}..${r.end}`);
        return { completedRegions: 2, failedRegions: 0 };
      },
      { concurrency: 1, regionsPerTask: 2 },
    );
    expect(seen).toEqual(["..d", "d..h", "h.."]);
    expect(stat).toEqual({ completedRegions: 6, failedRegions: 0 });
  });

  it("a PD failure while cutting tasks fails the run with that error, after the tasks already cut", async () => {
    const boom = new Error("pd down");
    const seen: string[] = [];
    const e = await runRangeTask(
      fakeRegions(["b", "d", "f"], { failLoads: 2, loadFails: boom }),
      all,
      async (r) => {
        seen.push(r.start.toString());
        return one;
      },
      { concurrency: 1, regionsPerTask: 1 },
    ).catch((x: unknown) => x);
    expect(e).toBe(boom);
    expect(seen.length).toBeLessThanOrEqual(2);
  });

  it("the first handler error stops the producer and the other workers", async () => {
    const regions = fakeRegions(Array.from({ length: 50 }, (_, i) => `k${String(i).padStart(2, "0")}`));
    let calls = 0;
    const e = await runRangeTask(
      regions,
      all,
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 2));
        if (calls === 3) throw new Error("task failed");
        return one;
      },
      { concurrency: 2, regionsPerTask: 1 },
    ).catch((x: unknown) => x);
    expect((e as Error).message).toBe("task failed");
    expect(calls).toBeLessThan(10);
  });

  it("an abort wins over what it makes handlers throw, and handlers see it", async () => {
    const ac = new AbortController();
    let sawAbort = false;
    const e = await runRangeTask(
      fakeRegions(["b", "d"]),
      all,
      async (_r, ctx) => {
        ac.abort(new Error("user stop"));
        sawAbort = ctx.signal.aborted;
        throw new Error("handler noticed");
      },
      { concurrency: 1, regionsPerTask: 1, signal: ac.signal },
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortedError);
    expect(sawAbort).toBe(true);
  });

  it("an empty range reports done once; bad options are InvalidArgumentError before any work", async () => {
    const reports: unknown[] = [];
    const regions = fakeRegions(["b"]);
    const stat = await runRangeTask(regions, { start: k("c"), end: k("c") }, async () => one, {
      concurrency: 1,
      onProgress: (p) => reports.push(p),
    });
    expect(stat).toEqual({ completedRegions: 0, failedRegions: 0 });
    expect(reports).toEqual([
      { completedRegions: 0, failedRegions: 0, totalRegions: 0, located: true, tasksDone: 0, done: true },
    ]);
    for (const bad of [
      { concurrency: 0 },
      { concurrency: 1, regionsPerTask: 0 },
      { concurrency: Number.NaN },
    ]) {
      await expect(runRangeTask(regions, all, async () => one, bad)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    expect(regions.loads()).toBe(0);
  });
});
