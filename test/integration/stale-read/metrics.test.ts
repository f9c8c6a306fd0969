// Stale-read metrics on the embedded cluster: client.metrics().staleReads and the Prometheus
// families (client-go stale_read_counter{result=hit|miss}; our stale_read_events_total for
// attempts, DataIsNotReady answers and fallbacks to the leader). The safe ts is moved by hand
// (resolved-ts advance off), so a read at a ts above it meets a lagging replica for sure.
import { Registry } from "prom-client";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_METRICS_PREFIX, type TikvClient } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { rolesOf, zoneOf } from "./support.js";

type Sample = { labels: Record<string, string | number>; value: number };

async function counter(registry: Registry, name: string, label: string, value: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((f) => f.name === DEFAULT_METRICS_PREFIX + name);
  return ((m?.values ?? []) as Sample[])
    .filter((s) => String(s.labels[label]) === value)
    .reduce((a, s) => a + s.value, 0);
}

const ZERO = { attempt: 0, data_not_ready: 0, leader_fallback: 0, hit: 0, miss: 0 };

describe.skipIf(skipOnRealCluster("v1"))("stale-read metrics", () => {
  const env = useCluster({
    stores: 3,
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });
  const registry = new Registry();
  let client: TikvClient;
  const p = uniquePrefix("srm");

  beforeAll(async () => {
    client = await env.connect({ metrics: { registry } });
  });

  async function put(key: string, value: string): Promise<void> {
    const txn = await client.txn().begin();
    txn.set(key, value);
    await txn.commit();
  }

  it("normal reads count no stale-read event", async () => {
    const key = `${p}normal`;
    await put(key, "v");
    client.resetMetrics();
    const snap = await client.txn().snapshot();
    expect(await snap.get(key)).toEqual(Buffer.from("v"));
    expect(client.metrics().staleReads).toEqual(ZERO);
  });

  it("a stale read the replica can serve is one attempt and a hit", async () => {
    const key = `${p}hit`;
    await put(key, "v");
    const ts = await client.txn().currentTimestamp();
    env.cluster.topology.advanceAllSafeTs(ts);
    client.resetMetrics();
    const hitsBefore = await counter(registry, "stale_read_counter", "result", "hit");
    const snap = await client.txn().snapshot(ts, { staleRead: true });
    expect(await snap.get(key)).toEqual(Buffer.from("v"));
    expect(client.metrics().staleReads).toEqual({ ...ZERO, attempt: 1, hit: 1 });
    expect((await counter(registry, "stale_read_counter", "result", "hit")) - hitsBefore).toBe(1);
  });

  it("a lagging follower's DataIsNotReady is a miss that fell back to the leader", async () => {
    const key = `${p}miss`;
    await put(key, "v");
    // the safe ts stays below the read ts: the follower answers DataIsNotReady
    const ts = await client.txn().currentTimestamp();
    const follower = rolesOf(env.cluster, key).followers[0] as bigint;
    client.resetMetrics();
    const before = {
      miss: await counter(registry, "stale_read_counter", "result", "miss"),
      notReady: await counter(registry, "stale_read_events_total", "type", "data_not_ready"),
      fallback: await counter(registry, "stale_read_events_total", "type", "leader_fallback"),
      attempt: await counter(registry, "stale_read_events_total", "type", "attempt"),
    };
    const snap = await client.txn().snapshot(ts, {
      staleRead: true,
      matchStoreLabels: { zone: zoneOf(env.cluster, follower) },
    });
    expect(await snap.get(key)).toEqual(Buffer.from("v"));
    expect(client.metrics().staleReads).toEqual({
      ...ZERO,
      attempt: 1,
      data_not_ready: 1,
      leader_fallback: 1,
      miss: 1,
    });
    expect(client.metrics().regionErrors.dataIsNotReady).toBe(1);
    // the Prometheus families agree with the snapshot
    expect((await counter(registry, "stale_read_counter", "result", "miss")) - before.miss).toBe(1);
    expect(
      (await counter(registry, "stale_read_events_total", "type", "data_not_ready")) - before.notReady,
    ).toBe(1);
    expect(
      (await counter(registry, "stale_read_events_total", "type", "leader_fallback")) - before.fallback,
    ).toBe(1);
    expect((await counter(registry, "stale_read_events_total", "type", "attempt")) - before.attempt).toBe(1);
  });
});
