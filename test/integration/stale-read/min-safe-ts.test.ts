// The cluster's min safe ts (client-go KVStore.GetMinSafeTS, tikv/kv_test.go TestMinSafeTs*):
// the rule over store answers (0 = unknown, skipped; all zeros = 0), the background round
// against scripted stores (requests counted, a store's value never going back, stopped at
// close), and txnClient.getMinSafeTs following the embedded cluster's safe ts, globally and
// per zone.

import { describe, expect, it } from "vitest";
import { MinSafeTsTracker, minSafeTs } from "../../../src/actors/txn/min-safe-ts.js";
import { InvalidArgumentError, ShuttingDownError } from "../../../src/index.js";
import { Store } from "../../../src/proto/metapb.js";
import { isRealCluster, itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";
import { eventually, sleep } from "../../support/wait.js";

function store(id: number, zone?: string): Store {
  return Store.fromPartial({
    id: BigInt(id),
    address: `store${id}`,
    labels: zone ? [{ key: "zone", value: zone }] : [],
  });
}

// scripted stores: each answers the safe ts `answers` gives it now (or fails), counting requests
function scripted(stores: Store[], answers: Map<bigint, bigint | Error>) {
  let requests = 0;
  const deps = {
    pd: { getAllStores: async () => stores, cachedStores: () => stores },
    stores: {
      get: (id: number) => ({
        send: async () => {
          requests++;
          const a = answers.get(BigInt(id));
          if (a === undefined || a instanceof Error) throw a ?? new Error("down");
          return { safeTs: a };
        },
      }),
    },
  };
  return { deps: deps as never, requests: () => requests };
}

describe("min safe ts rule (client-go updateMinSafeTS)", () => {
  it("is the min over the stores (TestMinSafeTsFromStores)", () => {
    expect(minSafeTs([100n, 80n, 120n])).toBe(80n);
  });
  it("skips stores answering 0, which means nothing resolved yet (TestMinSafeTsFromStoresWithSomeZeros)", () => {
    expect(minSafeTs([0n, 100n])).toBe(100n);
  });
  it("is 0 when every store answers 0, never max (TestMinSafeTsFromStoresWithAllZeros)", () => {
    expect(minSafeTs([0n, 0n])).toBe(0n);
    expect(minSafeTs([])).toBe(0n);
  });
  it("is 0 (unknown) while a store never answered", () => {
    expect(minSafeTs([100n, undefined, 120n])).toBe(0n);
  });
});

describe("min safe ts tracker against scripted stores", () => {
  it("asks every store each round and follows them, per zone too (TestMinSafeTsFromStores / FromMixed)", async () => {
    const answers = new Map<bigint, bigint | Error>([
      [1n, 100n],
      [2n, 90n],
      [3n, 0n],
    ]);
    const s = scripted([store(1, "z1"), store(2, "z2"), store(3, "z2")], answers);
    const t = new MinSafeTsTracker({ ...(s.deps as object), intervalMs: 20 } as never);
    try {
      expect(await t.get()).toBe(90n);
      expect(await t.get("z1")).toBe(100n);
      // store 3 answered 0: skipped in its zone too
      expect(await t.get("z2")).toBe(90n);
      expect(await t.get("nowhere")).toBe(0n);
      answers.set(2n, 150n);
      answers.set(3n, 140n);
      // the background rounds pick it up (at least two more requests per store)
      expect(await eventually(async () => (await t.get()) === 100n && s.requests() >= 9, 2_000)).toBe(true);
      expect(t.storeSafeTs(2n)).toBe(150n);
      expect(await t.get("z2")).toBe(140n);
    } finally {
      t.close();
    }
    const after = s.requests();
    await sleep(80);
    expect(s.requests()).toBe(after); // closed: no more rounds
  });

  it("keeps a store's newest value: an older answer or a failure does not move it back", async () => {
    const answers = new Map<bigint, bigint | Error>([
      [1n, 200n],
      [2n, 300n],
    ]);
    const s = scripted([store(1), store(2)], answers);
    const t = new MinSafeTsTracker({ ...(s.deps as object), intervalMs: 60_000 } as never);
    try {
      expect(await t.get()).toBe(200n);
      answers.set(1n, 150n);
      expect(await t.get(undefined, true)).toBe(200n);
      answers.set(1n, new Error("unreachable"));
      expect(await t.get(undefined, true)).toBe(200n);
      answers.set(1n, 250n);
      expect(await t.get(undefined, true)).toBe(250n);
    } finally {
      t.close();
    }
  });

  it("is 0 while a store has never answered (TestMinSafeTsFromStoresWithAllZeros, unknown store)", async () => {
    const answers = new Map<bigint, bigint | Error>([[1n, 200n]]);
    const s = scripted([store(1), store(2)], answers);
    const t = new MinSafeTsTracker({ ...(s.deps as object), intervalMs: 60_000 } as never);
    try {
      expect(await t.get()).toBe(0n);
      answers.set(2n, 300n);
      expect(await t.get(undefined, true)).toBe(200n);
    } finally {
      t.close();
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("txnClient.getMinSafeTs", () => {
  const env = useCluster({
    stores: 3,
    replicas: 2,
    splitKeys: ["m"],
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });

  itFault("follows the stores' safe ts: 0 while none resolved, then the min over them", async () => {
    const client = await env.connect();
    const txns = client.txn();
    expect(await txns.getMinSafeTs()).toBe(0n);
    const [left, right] = env.cluster.topology.regions();
    if (!left || !right) throw new Error("two regions expected");
    env.cluster.topology.advanceSafeTs(left.id, 1_000n);
    env.cluster.topology.advanceSafeTs(right.id, 2_000n);
    expect(await txns.getMinSafeTs({ refresh: true })).toBe(1_000n);
    // per zone: a store holding only the right region has its safe ts
    const wants = new Set<bigint>();
    for (const s of env.cluster.topology.stores()) {
      const zone = s.labels.find((l) => l.key === "zone")?.value as string;
      const regions = env.cluster.topology.regionsOnStore(s.id).map((r) => r.id);
      const want = regions.includes(left.id) ? 1_000n : regions.length > 0 ? 2_000n : 0n;
      expect(await txns.getMinSafeTs({ zone }), `zone ${zone}`).toBe(want);
      wants.add(want);
    }
    expect(wants).toEqual(new Set([1_000n, 2_000n]));
    env.cluster.topology.advanceAllSafeTs(5_000n);
    expect(await txns.getMinSafeTs({ refresh: true })).toBe(5_000n);
    await client.close();
    await expect(txns.getMinSafeTs()).rejects.toBeInstanceOf(ShuttingDownError);
  });

  it("refuses bad options", async () => {
    const txns = (await env.connect()).txn();
    await expect(txns.getMinSafeTs({ zone: "" })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(txns.getMinSafeTs({ refresh: "yes" as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it.runIf(isRealCluster)("on a real cluster it becomes positive and never passes the TSO", async () => {
    const txns = (await env.connect()).txn();
    expect(await eventually(async () => (await txns.getMinSafeTs({ refresh: true })) > 0n, 60_000, 500)).toBe(
      true,
    );
    const safe = await txns.getMinSafeTs();
    expect(safe).toBeLessThanOrEqual(await txns.currentTimestamp());
  });
});
