// The memory footprint of a transaction's buffer and its change hook (client-go KVTxn Mem /
// SetMemoryFootprintChangeHook), for plain and pipelined transactions: what a memory quota sees.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { smallFlushes, useKnobs } from "./pipelined-support.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions: memory footprint hook", () => {
  const env = useCluster({ stores: 1, regionKeyEncoding: "memcomparable" });
  useKnobs({ flushThresholds: smallFlushes(50) });

  it("reports the footprint after each write; a throwing hook stops the writer, the write stays; undefined removes it", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("mem");
    const txn = await t.begin();
    expect(txn.memoryFootprint).toBe(0);
    const seen: number[] = [];
    txn.onMemoryFootprintChange((bytes) => seen.push(bytes));
    txn.set(`${p}a`, "x".repeat(100));
    txn.set(`${p}b`, "y".repeat(1000));
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBeGreaterThan(seen[0] as number);
    expect(seen[1]).toBe(txn.memoryFootprint);
    // a quota: the write that passes it fails, applied
    txn.onMemoryFootprintChange((bytes) => {
      if (bytes > (seen[1] as number)) throw new RangeError("over quota");
    });
    expect(() => txn.set(`${p}c`, "z")).toThrow(RangeError);
    expect((await txn.get(`${p}c`))?.toString()).toBe("z");
    txn.onMemoryFootprintChange(undefined);
    txn.set(`${p}d`, "w");
    expect(seen).toHaveLength(2);
    await txn.rollback();
  });

  it("a hook that is not a function gets InvalidArgumentError", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin();
    for (const bad of [1, "f", {}, null]) {
      expect(() => txn.onMemoryFootprintChange(bad as never)).toThrow(InvalidArgumentError);
    }
    const pipelined = await t.begin({ pipelined: true });
    expect(() => pipelined.onMemoryFootprintChange(1 as never)).toThrow(InvalidArgumentError);
    await txn.rollback();
    await pipelined.rollback();
  });

  it("pipelined: the hook sees the footprint grow with writes and fall when a flushed buffer is let go", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("pmem");
    const txn = await t.begin({ pipelined: true });
    const seen: number[] = [];
    txn.onMemoryFootprintChange((bytes) => seen.push(bytes));
    for (let i = 0; i < 120; i++) txn.set(`${p}${String(i).padStart(4, "0")}`, "v".repeat(200));
    const peak = Math.max(...seen);
    expect(peak).toBeGreaterThan(120 * 200);
    await txn.flush(true);
    await txn.flushWait();
    expect(txn.memoryFootprint).toBe(0);
    expect(seen.at(-1)).toBe(0);
    await txn.commit();
    expect((await (await t.snapshot()).get(`${p}0119`))?.toString()).toBe("v".repeat(200));
  });
});
