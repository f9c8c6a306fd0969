// The range task runner (client-go integration_tests/range_task_test.go TestRangeTask /
// TestRangeTaskError, by meaning): 27 regions cut at every letter; every range is cut into
// tasks of 1..5 whole regions, clipped to the range, run with 1..4 workers; an empty range runs
// nothing; the first failing task stops the run. The exact region layout is the embedded
// cluster's, so the suite skips on a real cluster.

import { describe, expect, it } from "vitest";
import { type RangeTaskStat, runRangeTask, walkRegions } from "../../../src/actors/runtime/range-task.js";
import type { TxnRuntime } from "../../../src/actors/txn/txn-runtime.js";
import type { RangeTaskProgress } from "../../../src/api/range-task.js";
import { InvalidArgumentError } from "../../../src/errors/base.js";
import { AbortedError } from "../../../src/errors/server.js";
import type { KeyRange } from "../../../src/kv/key.js";
import { ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import { isRealCluster, useCluster } from "../../support/cluster.js";
import { ctl, runtimeOf } from "./gc-support.js";

const LETTERS = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i));
const r = (start: string, end: string): [string, string] => [start, end];
// every region: ["", "a"), ["a", "b"), ..., ["z", "")
const ALL = [r("", "a"), ...LETTERS.slice(0, -1).map((l, i) => r(l, LETTERS[i + 1] as string)), r("z", "")];

// [range, the per-region sub-ranges it covers] (client-go testRanges / expectedRanges)
const CASES: Array<[[string, string], Array<[string, string]>]> = [
  [r("", ""), ALL],
  [r("", "b"), ALL.slice(0, 2)],
  [r("b", ""), ALL.slice(2)],
  [r("b", "x"), ALL.slice(2, 24)],
  [r("a", "d"), [r("a", "b"), r("b", "c"), r("c", "d")]],
  [r("a\x00", "d\x00"), [r("a\x00", "b"), r("b", "c"), r("c", "d"), r("d", "d\x00")]],
  [r("a\xff\xff\xff", "c\xff\xff\xff"), [r("a\xff\xff\xff", "b"), r("b", "c"), r("c", "c\xff\xff\xff")]],
  [r("a1", "a2"), [r("a1", "a2")]],
  [r("a", "a"), []],
  [r("a3", "a3"), []],
];

// latin1: the \xff bytes are single bytes, as in the Go test
const key = (s: string) => Buffer.from(s, "latin1");
const show = (x: KeyRange): [string, string] => [x.start.toString("latin1"), x.end.toString("latin1")];

// client-go batchRanges: consecutive sub-ranges merged n at a time
function batch(ranges: Array<[string, string]>, n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < ranges.length; i += n) {
    const last = ranges[Math.min(i + n, ranges.length) - 1] as [string, string];
    out.push([(ranges[i] as [string, string])[0], last[1]]);
  }
  return out;
}

describe.skipIf(isRealCluster)("range task runner", () => {
  const env = useCluster({ stores: 1, splitKeys: LETTERS, regionKeyEncoding: "memcomparable" });

  it("cuts every range into clipped tasks of 1..5 regions, with 1..4 workers (TestRangeTask)", async () => {
    const client = await env.connect();
    const runner = (concurrency: number, regionsPerTask: number) =>
      client.txn().rangeTaskRunner({ concurrency, regionsPerTask });
    for (let concurrency = 1; concurrency < 5; concurrency++) {
      for (let perTask = 1; perTask <= 5; perTask++) {
        for (const [[start, end], expected] of CASES) {
          const seen: Array<[string, string]> = [];
          const rr = runner(concurrency, perTask);
          const stat = await rr.runOnRange(key(start), key(end), async (range) => {
            seen.push(show(range));
            return { completedRegions: 1, failedRegions: 0 };
          });
          seen.sort((x, y) => Buffer.compare(key(x[0]), key(y[0])));
          const want = batch(expected, perTask);
          expect(seen, `[${start}, ${end}) x${perTask} c${concurrency}`).toEqual(want);
          expect(stat).toEqual({ completedRegions: want.length, failedRegions: 0 });
          expect(rr.completedRegions).toBe(want.length);
          expect(rr.failedRegions).toBe(0);
        }
      }
    }
  });

  it("stops at the first failing task and counts it failed (TestRangeTaskError)", async () => {
    const client = await env.connect();
    for (let concurrency = 1; concurrency < 5; concurrency++) {
      for (const [[start, end], subRanges] of CASES) {
        for (const [errKey] of subRanges) {
          const rr = client.txn().rangeTaskRunner({ concurrency, regionsPerTask: 1 });
          const e = await rr
            .runOnRange(key(start), key(end), async (range) => {
              if (range.start.equals(key(errKey))) throw new Error("test error");
              return { completedRegions: 1, failedRegions: 0 };
            })
            .catch((x: unknown) => x);
          expect((e as Error).message).toBe("test error");
          expect(rr.completedRegions).toBeLessThan(subRanges.length);
          expect(rr.failedRegions).toBe(1);
        }
      }
    }
  });

  it("runs at most `concurrency` handlers at once, and uses them all", async () => {
    const client = await env.connect();
    for (const concurrency of [1, 3, 8]) {
      let running = 0;
      let peak = 0;
      await client
        .txn()
        .rangeTaskRunner({ concurrency, regionsPerTask: 1 })
        .runOnRange("", undefined, async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
          return { completedRegions: 1, failedRegions: 0 };
        });
      expect(peak).toBe(concurrency);
    }
  });

  it("emits progress events, monotone and complete, and survives a throwing listener", async () => {
    const client = await env.connect();
    const rr = client.txn().rangeTaskRunner({ concurrency: 3, regionsPerTask: 2 });
    const events: RangeTaskProgress[] = [];
    const fromOption: RangeTaskProgress[] = [];
    rr.on("progress", () => {
      throw new Error("listener bug");
    });
    rr.on("progress", (p) => events.push(p));
    await rr.runOnRange("", undefined, async () => ({ completedRegions: 2, failedRegions: 0 }), {
      onProgress: (p) => fromOption.push(p),
    });
    expect(events.length).toBe(15); // 14 tasks of 2 regions (27 regions), then the final report
    expect(fromOption).toEqual(events);
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.completedRegions).toBeGreaterThanOrEqual(events[i - 1]!.completedRegions);
      expect(events[i]!.tasksDone).toBeGreaterThanOrEqual(events[i - 1]!.tasksDone);
    }
    expect(events.at(-1)).toMatchObject({ done: true, located: true, totalRegions: 27, tasksDone: 14 });
  });

  it("re-locates when a region split behind the cache (a walk meets EpochNotMatch)", async () => {
    const client = await env.connect();
    const t = client.txn();
    const rt = runtimeOf(client);
    const txn = await t.begin();
    txn.set("m1", "1");
    txn.set("m9", "9");
    await txn.commit();
    // warm the cache, then split [m, n) in PD behind the cache's back
    await rt.cache.locateRange(key(""), key(""));
    env.cluster.topology.splitAt([key("m5")]);
    // the runner's task still says one region; the handler's walk learns of two
    const tasks: string[] = [];
    const stat = await runRangeTask(
      rt.cache,
      { start: key("m"), end: key("n") },
      async (range): Promise<RangeTaskStat> => {
        tasks.push(show(range).join(".."));
        return { completedRegions: (await scanAllLocksCount(rt, range)).regions, failedRegions: 0 };
      },
      { concurrency: 1, regionsPerTask: 1 },
    );
    expect(tasks).toEqual(["m..n"]);
    expect(stat.completedRegions).toBe(2);
    // and a delete range over it reaches both halves
    expect((await t.deleteRange("m", "n")).completedRegions).toBe(2);
    const snap = await t.snapshot();
    expect(await snap.get("m1")).toBeUndefined();
    expect(await snap.get("m9")).toBeUndefined();
  });

  it("aborts with AbortedError and refuses bad options", async () => {
    const client = await env.connect();
    const ac = new AbortController();
    let calls = 0;
    const rr = client.txn().rangeTaskRunner({ concurrency: 1, regionsPerTask: 1 });
    const e = await rr
      .runOnRange(
        "",
        undefined,
        async (_range, ctx) => {
          calls++;
          if (calls === 3) ac.abort();
          expect(ctx.signal.aborted).toBe(calls >= 3);
          return { completedRegions: 1, failedRegions: 0 };
        },
        { signal: ac.signal },
      )
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortedError);
    expect(calls).toBe(3);
    expect(() => client.txn().rangeTaskRunner({ concurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => client.txn().rangeTaskRunner({ regionsPerTask: 0.5 })).toThrow(InvalidArgumentError);
    await expect(rr.runOnRange("a", "b", "nope" as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(rr.runOnRange(5 as never, "b", async () => undefined)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

// walks `range` sending one ScanLock per region (re-locating on region errors): regions done
async function scanAllLocksCount(rt: TxnRuntime, range: KeyRange): Promise<{ regions: number }> {
  const c = ctl(rt);
  const regions = await walkRegions(
    (k, cc) => rt.sender.locate(k, cc),
    range,
    c,
    async ({ region, range: part }) => {
      const req = ScanLockRequest.fromPartial({ maxVersion: 1n, startKey: part.start, endKey: part.end });
      return (await rt.sender.sendOnce(region, "ScanLock", req, c)).resp ? "next" : "relocate";
    },
  );
  return { regions };
}
