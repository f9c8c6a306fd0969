// Background store health (client-go internal/locate/store_cache.go startHealthCheckLoop,
// requestLiveness over the gRPC health service; store_health.go TiKV-side slow score from the
// health feedback of BatchCommands responses): a stopped store the client found unreachable is
// probed until it serves again and comes back on its own, with no request failing first; a store
// TiKV reports as slow is avoided by replica reads and by preferLeader.

import { describe, expect } from "vitest";
import type { RegionCache } from "../../../src/actors/region-cache/region-cache.js";
import type { TikvClient } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

describe.skipIf(skipOnRealCluster("v1"))("store health check loop", () => {
  const env = useCluster({ stores: 3 });

  itFault("a stopped store comes back through the health loop, without a request failing first", async () => {
    const c = await env.connect();
    const raw = c.raw();
    const p = uniquePrefix("hc");
    await raw.put(`${p}k`, "v");
    const leader = env.cluster.topology.locateKey(`${p}k`)!.leader!.storeId;
    const stores = c.regionCache.stores;

    await env.cluster.stopStore(leader);
    // a request meets the stopped store: the client marks it unreachable (the call itself fails:
    // the other peers still name it leader)
    await expect(raw.get(`${p}k`, { timeoutMs: 300 })).rejects.toThrow();
    expect(stores.liveness(leader)).toBe("unreachable");
    expect(stores.healthLoop?.isWatching(leader)).toBe(true);
    // while it is down, the loop keeps it unreachable
    await sleep(1_200);
    expect(stores.liveness(leader)).toBe("unreachable");

    const rec = env.cluster.recordRequests();
    const calls = env.cluster.faults.calls({ rpc: "RawGet" });
    const t0 = Date.now();
    await env.cluster.startStore(leader);
    // no request is sent meanwhile: the client's view flips back on its own, well within the
    // 10 s after which an unreachable mark would expire by itself
    await waitFor("the store to be reachable", () => stores.liveness(leader) === "reachable", 8_000);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(stores.healthLoop?.isWatching(leader)).toBe(false);
    rec.stop();
    expect(rec.entries).toEqual([]);
    expect(env.cluster.faults.calls({ rpc: "RawGet" })).toBe(calls);
    // and the next request goes straight to it
    expect((await raw.get(`${p}k`))?.toString()).toBe("v");
  });

  itFault("close() stops the loops of a client", async () => {
    const c: TikvClient = await env.connect();
    const raw = c.raw();
    const p = uniquePrefix("hc2");
    await raw.put(`${p}k`, "v");
    const leader = env.cluster.topology.locateKey(`${p}k`)!.leader!.storeId;
    await env.cluster.stopStore(leader);
    try {
      await expect(raw.get(`${p}k`, { timeoutMs: 300 })).rejects.toThrow();
      expect(c.regionCache.stores.healthLoop?.size).toBe(1);
      await c.close();
      expect(c.regionCache.stores.healthLoop?.size).toBe(0);
    } finally {
      await env.cluster.startStore(leader);
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("TiKV slow score from health feedback", () => {
  const env = useCluster({ stores: 3 });

  // Transactions route through the client's transactional region cache (not client.regionCache,
  // the raw one): its store table is where their replica choice reads the slow score.
  const txnStores = (c: TikvClient) =>
    (c as unknown as { txnSide(): { cache: RegionCache } }).txnSide().cache.stores;

  // Feedback rides on BatchCommands responses, at most once a second per stream unless asked
  // for: keep a store's stream busy until the client has seen its new score.
  async function feed(c: TikvClient, storeId: bigint, slow: boolean) {
    const snap = await c.txn().snapshot(undefined, { replicaRead: "mixed" });
    const reads: Promise<unknown>[] = [];
    try {
      await waitFor(
        `store ${storeId} slow=${slow}`,
        () => {
          reads.push(snap.get("feed").catch(() => {}));
          return txnStores(c).isSlow(storeId) === slow;
        },
        5_000,
      );
    } finally {
      await Promise.all(reads); // none left to be counted by the next recording
    }
  }

  async function servedBy(c: TikvClient, replicaRead: "mixed" | "follower" | "preferLeader", n: number) {
    const rec = env.cluster.recordRequests({ rpcs: ["KvGet"] });
    const snap = await c.txn().snapshot(undefined, { replicaRead });
    for (let i = 0; i < n; i++) await snap.get(`r${i}`);
    rec.stop();
    const by = new Map<bigint, number>();
    for (const e of rec.entries) by.set(e.storeId, (by.get(e.storeId) ?? 0) + 1);
    return by;
  }

  itFault(
    "a store TiKV reports slow is avoided by replica reads, and used again once it recovers",
    async () => {
      const c = await env.connect();
      const region = env.cluster.topology.locateKey("r")!;
      const leader = region.leader!.storeId;
      const follower = region.peers.map((x) => x.storeId).find((s) => s !== leader)!;
      const base = await servedBy(c, "follower", 40);
      expect(base.get(follower) ?? 0).toBeGreaterThan(0);

      env.cluster.store(follower).health.slowScore = 100;
      try {
        await feed(c, follower, true);
        for (const mode of ["follower", "mixed"] as const) {
          const by = await servedBy(c, mode, 40);
          expect(by.get(follower) ?? 0).toBe(0);
          expect([...by.values()].reduce((a, b) => a + b, 0)).toBe(40);
        }
      } finally {
        env.cluster.store(follower).health.slowScore = 1;
      }
      // replica reads now avoid it, so no response of theirs brings news: ask the store for its
      // feedback, as client-go's health tick does for a slow score not updated for a while
      // (asked again until seen: an update closer than 100 ms to the previous one is ignored)
      const t0 = Date.now();
      while (txnStores(c).isSlow(follower)) {
        if (Date.now() - t0 > 5_000) throw new Error("the slow mark did not clear");
        await c.sendRequest("GetHealthFeedback", {}, { storeId: follower });
        await sleep(150);
      }
      expect((await servedBy(c, "follower", 40)).get(follower) ?? 0).toBeGreaterThan(0);
    },
  );

  itFault("preferLeader reads leave a slow leader for a follower", async () => {
    const c = await env.connect();
    const leader = env.cluster.topology.locateKey("r")!.leader!.storeId;
    expect([...(await servedBy(c, "preferLeader", 10)).keys()]).toEqual([leader]);
    env.cluster.store(leader).health.slowScore = 90;
    try {
      await feed(c, leader, true);
      const by = await servedBy(c, "preferLeader", 20);
      expect(by.get(leader) ?? 0).toBe(0);
    } finally {
      env.cluster.store(leader).health.slowScore = 1;
    }
  });
});
