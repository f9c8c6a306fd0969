// Loading many regions at once (issue #16): a large PD page is cached in batches with turns of
// the event loop between them, so requests queued meanwhile run before the load ends; the
// regions loaded are all cached and found.
import { describe, expect, it } from "vitest";
import { RegionCache } from "../../../src/actors/region-cache/region-cache.js";
import { FakePd } from "./fakes.js";

// keys "k00000" .. "k01999": region i = [k(i), k(i + 1)), the first from "" and the last to ""
const k = (i: number) => `k${String(i).padStart(5, "0")}`;

function pdWith(n: number): FakePd {
  const pd = new FakePd();
  for (const s of [1n, 2n, 3n]) pd.addStore(s);
  for (let i = 0; i < n; i++)
    pd.addRegion(BigInt(i + 1), i === 0 ? "" : k(i), i === n - 1 ? "" : k(i + 1), [1n, 2n, 3n], i % 3);
  return pd;
}

describe("region cache: loading many regions", () => {
  it("yields to the event loop while caching a large page, and caches every region of it", async () => {
    const pd = pdWith(2000);
    const cache = new RegionCache(pd);
    let ranDuringLoad = false;
    let loading = true;
    const queued = new Promise<void>((resolve) =>
      setImmediate(() => {
        ranDuringLoad = loading;
        resolve();
      }),
    );
    const loaded = await cache.batchLoadRegions(Buffer.alloc(0), Buffer.alloc(0), 2000);
    loading = false;
    await queued;
    expect(ranDuringLoad).toBe(true);
    expect(loaded).toHaveLength(2000);
    expect(cache.size).toBe(2000);
    for (const i of [0, 1, 255, 256, 1024, 1999]) {
      const r = cache.tryLocateKey(Buffer.from(`${k(i)}x`, "latin1"));
      expect(r?.id).toBe(BigInt(i + 1));
      expect(r?.leader.storeId).toBe(BigInt((i % 3) + 1));
    }
  });

  it("a page that fits in one batch is cached without giving up the turn", async () => {
    const pd = pdWith(100);
    const cache = new RegionCache(pd);
    // stores resolved first, so that nothing else waits
    await cache.locateKey(Buffer.from("k00050", "latin1"));
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    await cache.batchLoadRegions(Buffer.alloc(0), Buffer.alloc(0), 100);
    expect(ran).toBe(false);
    expect(cache.size).toBe(100);
  });
});
