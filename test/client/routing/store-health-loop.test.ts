// The background store health check (client-go startHealthCheckLoop) and store tokens, on their
// own: fake probes and fake timers, no cluster.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Liveness, StoreEntry } from "../../../src/actors/region-cache/store-cache.js";
import { StoreCache } from "../../../src/actors/region-cache/store-cache.js";
import { StoreTokens } from "../../../src/actors/store/store-tokens.js";
import { TokenLimitError } from "../../../src/errors/index.js";
import { HealthFeedback } from "../../../src/proto/kvrpcpb.js";
import { StoreState } from "../../../src/proto/metapb.js";
import { wasNotSent } from "../../../src/rpc/errors.js";
import { FakePd } from "./fakes.js";

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe("store health loop (client-go TestHealthCheckLoop semantics)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup(answers: Liveness[]) {
    const pd = new FakePd();
    pd.addStore(1n);
    const probes: number[] = [];
    const stores = new StoreCache(pd, {
      // the TTL never brings it back in these tests: only the loop does
      unreachableTtlMs: 3_600_000,
      probe: async () => {
        probes.push(Date.now());
        return answers.shift() ?? "unreachable";
      },
    });
    return { pd, stores, probes };
  }

  it("probes an unreachable store every second until it answers, then marks it reachable and stops", async () => {
    const { stores, probes } = setup(["unreachable", "unreachable", "reachable"]);
    await stores.resolve(1n);
    expect(stores.onSendFailure(1n)).toBe("unreachable");
    await flush();
    expect(probes).toHaveLength(1);
    expect(stores.liveness(1n)).toBe("unreachable");
    expect(stores.healthLoop?.isWatching(1n)).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(probes).toHaveLength(2);
    expect(stores.liveness(1n)).toBe("unreachable");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(probes).toHaveLength(3);
    // back without any request having been sent to it
    expect(stores.liveness(1n)).toBe("reachable");
    expect(stores.healthLoop?.isWatching(1n)).toBe(false);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probes).toHaveLength(3);
  });

  it("runs one loop per store however many sends fail", async () => {
    const { stores, probes } = setup([]);
    await stores.resolve(1n);
    for (let i = 0; i < 5; i++) stores.onSendFailure(1n);
    await flush();
    expect(probes).toHaveLength(1);
    expect(stores.healthLoop?.size).toBe(1);
    stores.close();
  });

  it("close() stops every loop (no probe after it); its timers do not hold the process", async () => {
    const { stores, probes } = setup([]);
    await stores.resolve(1n);
    stores.onSendFailure(1n);
    await flush();
    stores.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probes).toHaveLength(1);
    expect(stores.healthLoop?.size).toBe(0);
    // and a failure after close starts nothing
    stores.onSendFailure(1n);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probes).toHaveLength(1);
  });

  it("re-resolves from PD every 30 s and stops once the store is a tombstone", async () => {
    const { pd, stores, probes } = setup([]);
    await stores.resolve(1n);
    stores.onSendFailure(1n);
    await vi.advanceTimersByTimeAsync(20_000);
    const before = probes.length;
    pd.stores.get(1n)!.state = StoreState.Tombstone;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(stores.peek(1n)?.resolve).toBe("tombstone");
    expect(stores.healthLoop?.isWatching(1n)).toBe(false);
    const after = probes.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probes.length).toBe(after);
    expect(after).toBeGreaterThan(before);
  });

  it("a probe that throws counts as unreachable and the loop goes on", async () => {
    const pd = new FakePd();
    pd.addStore(1n);
    let calls = 0;
    const stores = new StoreCache(pd, {
      unreachableTtlMs: 3_600_000,
      probe: async () => {
        calls++;
        if (calls === 1) throw new Error("boom");
        return "reachable";
      },
    });
    await stores.resolve(1n);
    stores.onSendFailure(1n);
    await flush();
    expect(stores.liveness(1n)).toBe("unreachable");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stores.liveness(1n)).toBe("reachable");
  });
});

describe("TiKV slow score (client-go updateTiKVServerSideSlowScore / IsSlow)", () => {
  it("feedback at or above 80 makes a store slow, and lower feedback clears only that side", async () => {
    const clock = { t: 0 };
    const pd = new FakePd();
    pd.addStore(1n);
    const stores = new StoreCache(pd, { now: () => clock.t });
    await stores.resolve(1n);
    // (updates closer than 100 ms apart are ignored: step the clock)
    const feed = (score: number) => {
      clock.t += 200;
      stores.setSlowScore(1n, score);
    };
    expect(stores.isSlow(1n)).toBe(false);
    feed(79);
    expect(stores.isSlow(1n)).toBe(false);
    feed(80);
    expect(stores.isSlow(1n)).toBe(true);
    feed(500); // clamped
    expect(stores.peek(1n)?.tikvSlowScore).toBe(100);
    feed(1);
    expect(stores.isSlow(1n)).toBe(false);
    stores.markSlow(1n); // client side
    feed(1);
    expect(stores.isSlow(1n)).toBe(true);
    stores.close();
  });
});

describe("StoreTokens (client-go getStoreToken / releaseStoreToken)", () => {
  it("gives at most `limit` tokens per store and refuses with an unsent TokenLimitError", () => {
    const t = new StoreTokens(2);
    expect(t.acquire(1n)).toBeUndefined();
    expect(t.acquire(1n)).toBeUndefined();
    const err = t.acquire(1n);
    expect(err).toBeInstanceOf(TokenLimitError);
    expect(err?.storeId).toBe(1n);
    expect(err?.limit).toBe(2);
    expect(wasNotSent(err)).toBe(true);
    expect(t.acquire(2n)).toBeUndefined(); // per store
    expect(t.inFlight(1n)).toBe(2);
    t.release(1n);
    expect(t.acquire(1n)).toBeUndefined();
    t.release(1n);
    t.release(1n);
    t.release(2n);
    expect(t.total).toBe(0);
    t.release(1n); // an extra release never goes below zero
    expect(t.inFlight(1n)).toBe(0);
  });

  it("limit 0 is unlimited", () => {
    const t = new StoreTokens(0);
    for (let i = 0; i < 1000; i++) expect(t.acquire(1n)).toBeUndefined();
    expect(t.total).toBe(0);
  });
});

describe("TiKV-side slow score over time (client-go TestTiKVSideSlowScore, TestRegionCacheHandleHealthStatus)", () => {
  async function setup(request?: (s: StoreEntry) => Promise<HealthFeedback | undefined>) {
    const clock = { t: 1_000_000 };
    const pd = new FakePd();
    pd.addStore(1n);
    const stores = new StoreCache(pd, { now: () => clock.t, requestHealthFeedback: request });
    const s = await stores.resolve(1n);
    return { clock, stores, s };
  }

  it("TestTiKVSideSlowScore: applied, slow at 100, decays 20 a minute back to 1 without feedback", async () => {
    const { clock, stores, s } = await setup();
    await stores.tikvScores.tick();
    expect(s.tikvSlowScore).toBe(1);
    clock.t += 200;
    stores.setSlowScore(1n, 50);
    expect(s.tikvSlowScore).toBe(50);
    expect(stores.isSlow(1n)).toBe(false);
    clock.t += 200;
    stores.setSlowScore(1n, 100);
    expect(s.tikvSlowScore).toBe(100);
    expect(stores.isSlow(1n)).toBe(true);
    clock.t += 120_000;
    await stores.tikvScores.tick();
    expect(s.tikvSlowScore).toBe(60);
    expect(stores.isSlow(1n)).toBe(false);
    clock.t += 180_000;
    await stores.tikvScores.tick();
    expect(s.tikvSlowScore).toBe(1);
    clock.t += 60_000;
    await stores.tikvScores.tick();
    expect(s.tikvSlowScore).toBe(1);
    stores.close();
  });

  it("TestRegionCacheHandleHealthStatus: too frequent updates are ignored", async () => {
    const { clock, stores, s } = await setup();
    stores.setSlowScore(1n, 100);
    expect(stores.isSlow(1n)).toBe(true);
    stores.setSlowScore(1n, 90); // within 100 ms
    expect(s.tikvSlowScore).toBe(100);
    clock.t += 1_000;
    stores.setSlowScore(1n, 90);
    expect(s.tikvSlowScore).toBe(90);
    clock.t += 1_000;
    stores.setSlowScore(1n, 50);
    expect(s.tikvSlowScore).toBe(50);
    expect(stores.isSlow(1n)).toBe(false);
    stores.close();
  });

  it("a stale score is asked for with GetHealthFeedback before it would decay", async () => {
    const asked: bigint[] = [];
    const { clock, stores, s } = await setup(async (st) => {
      asked.push(st.id);
      return HealthFeedback.fromPartial({ storeId: st.id, feedbackSeqNo: 9n, slowScore: 1 });
    });
    stores.setSlowScore(1n, 100);
    clock.t += 5_000;
    await stores.tikvScores.tick();
    expect(asked).toEqual([]); // fresh enough
    clock.t += 15_000;
    await stores.tikvScores.tick();
    expect(asked).toEqual([1n]);
    expect(s.tikvSlowScore).toBe(1);
    expect(stores.isSlow(1n)).toBe(false);
    stores.close();
  });
});
