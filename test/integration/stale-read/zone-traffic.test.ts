// Read traffic by zone (client-go's networkCollector: stale_read_req_counter{type},
// stale_read_bytes{result, direction}, read_request_bytes{type, result}): a client told its zone
// counts each stale / leader / follower read as local or cross-zone by the serving store's `zone`
// label, with the encoded request and response sizes; without a zone or metrics nothing is
// measured. Stores are in zones z1..z3; the safe ts is moved by hand so stale reads are served
// by the replica asked for.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { accessLocation, ZoneTrafficMeter } from "../../../src/actors/request/zone-traffic.js";
import { DEFAULT_METRICS_PREFIX, InvalidArgumentError, type TikvClient } from "../../../src/index.js";
import { GetRequest, GetResponse } from "../../../src/proto/kvrpcpb.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { rolesOf, served, zoneOf } from "./support.js";

type Sample = { labels: Record<string, string | number>; value: number };

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((f) => f.name === DEFAULT_METRICS_PREFIX + name);
  return ((m?.values ?? []) as Sample[])
    .filter((s) => Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v))
    .reduce((a, s) => a + s.value, 0);
}

const NO_TRAFFIC = {
  staleReadRequests: { local: 0, crossZone: 0 },
  staleReadBytes: { localIn: 0, localOut: 0, crossZoneIn: 0, crossZoneOut: 0 },
  readBytes: { leaderLocal: 0, leaderCrossZone: 0, followerLocal: 0, followerCrossZone: 0 },
};

describe("access location", () => {
  it("is local / cross-zone by the store's zone label, unknown when either zone is", () => {
    const z = (v: string) => [{ key: "zone", value: v }];
    expect(accessLocation("z1", z("z1"))).toBe("local");
    expect(accessLocation("z1", z("z2"))).toBe("cross-zone");
    expect(accessLocation(undefined, z("z1"))).toBe("unknown");
    expect(accessLocation("z1", [{ key: "rack", value: "r1" }])).toBe("unknown");
    expect(accessLocation("z1", undefined)).toBe("unknown");
  });

  it("a failed read is reported with the bytes it sent and none received", async () => {
    const seen: unknown[] = [];
    const meter = new ZoneTrafficMeter(
      "z1",
      () => [{ key: "zone", value: "z2" }],
      (t) => seen.push(t),
    );
    const req = GetRequest.fromPartial({ key: Buffer.from("k"), version: 5n });
    const rc = { context: { staleRead: true, replicaRead: false }, region: { leader: { storeId: 1n } } };
    await expect(
      meter.measure(rc as never, 2n, "Get", req, Promise.reject(new Error("lost"))),
    ).rejects.toThrow("lost");
    const size = GetRequest.encode(req).finish().length;
    expect(seen).toEqual([
      { location: "cross-zone", staleRead: true, replicaRead: true, sentBytes: size, receivedBytes: 0 },
    ]);
    // a leader answer: its encoded size is what is received
    const resp = GetResponse.fromPartial({ value: Buffer.from("value") });
    await meter.measure(rc as never, 1n, "Get", req, Promise.resolve(resp));
    expect(seen[1]).toMatchObject({
      replicaRead: false,
      receivedBytes: GetResponse.encode(resp).finish().length,
    });
  });
});

describe.skipIf(skipOnRealCluster("v1"))("zone traffic on the embedded cluster", () => {
  const env = useCluster({
    stores: 3,
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });
  const p = uniquePrefix("zt");

  async function put(client: TikvClient, key: string, value: string): Promise<bigint> {
    const txn = await client.txn().begin();
    txn.set(key, value);
    await txn.commit();
    const ts = await client.txn().currentTimestamp();
    env.cluster.topology.advanceAllSafeTs(ts);
    return ts;
  }

  it("bad zone input: InvalidArgumentError naming it", async () => {
    await expect(env.connect({ zone: "" })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(env.connect({ zone: 5 as never })).rejects.toThrow(/zone/);
  });

  it("a stale read served in the client's zone is local; one served elsewhere is cross-zone", async () => {
    const key = `${p}stale`;
    const writer = await env.connect();
    const ts = await put(writer, key, "v".repeat(100));
    const { followers } = rolesOf(env.cluster, key);
    const here = followers[0] as bigint;
    const there = followers[1] as bigint;
    const registry = new Registry();
    const client = await env.connect({ zone: zoneOf(env.cluster, here), metrics: { registry } });

    const local = await served(env.cluster, async () => {
      const snap = await client.txn().snapshot(ts, { staleRead: true, matchStores: [here] });
      expect(await snap.get(key)).toEqual(Buffer.from("v".repeat(100)));
    });
    expect(local.map((r) => r.storeId)).toEqual([here]);
    const afterLocal = client.metrics().zoneTraffic;
    expect(afterLocal.staleReadRequests).toEqual({ local: 1, crossZone: 0 });
    // the answer carries the 100-byte value
    expect(afterLocal.staleReadBytes.localIn).toBeGreaterThan(100);
    expect(afterLocal.staleReadBytes.localOut).toBeGreaterThan(0);
    expect(afterLocal.readBytes.followerLocal).toBe(
      afterLocal.staleReadBytes.localIn + afterLocal.staleReadBytes.localOut,
    );

    client.resetMetrics();
    const remote = await served(env.cluster, async () => {
      const snap = await client.txn().snapshot(ts, { staleRead: true, matchStores: [there] });
      await snap.get(key);
    });
    expect(remote.map((r) => r.storeId)).toEqual([there]);
    const z = client.metrics().zoneTraffic;
    expect(z.staleReadRequests).toEqual({ local: 0, crossZone: 1 });
    expect(z.staleReadBytes.localIn).toBe(0);
    expect(z.staleReadBytes.crossZoneIn).toBeGreaterThan(100);
    expect(z.readBytes.followerCrossZone).toBeGreaterThan(100);
    // and the Prometheus families say the same
    expect(await metric(registry, "stale_read_req_counter", { type: "cross-zone" })).toBe(1);
    expect(await metric(registry, "stale_read_req_counter", { type: "local" })).toBe(1);
    expect(await metric(registry, "stale_read_bytes", { result: "cross-zone", direction: "in" })).toBe(
      z.staleReadBytes.crossZoneIn,
    );
  });

  it("leader and follower reads are counted by who served them and where", async () => {
    const key = `${p}replica`;
    const writer = await env.connect();
    await put(writer, key, "v");
    const { leader, followers } = rolesOf(env.cluster, key);
    const client = await env.connect({ zone: zoneOf(env.cluster, leader) });
    await (await client.txn().snapshot()).get(key);
    const afterLeader = client.metrics().zoneTraffic;
    expect(afterLeader.readBytes.leaderLocal).toBeGreaterThan(0);
    expect(afterLeader.readBytes.followerLocal + afterLeader.readBytes.followerCrossZone).toBe(0);
    expect(afterLeader.staleReadRequests).toEqual({ local: 0, crossZone: 0 });
    client.resetMetrics();
    const snap = await client.txn().snapshot(undefined, {
      replicaRead: "follower",
      matchStores: [followers[0] as bigint],
    });
    await snap.get(key);
    expect(client.metrics().zoneTraffic.readBytes.followerCrossZone).toBeGreaterThan(0);
  });

  it("with metrics but no zone: stale reads are counted (as local), leader reads keep the fast path", async () => {
    const key = `${p}nozone`;
    const client = await env.connect({ metrics: { registry: new Registry() } });
    const ts = await put(client, key, "v");
    await (await client.txn().snapshot()).get(key);
    expect(client.metrics().zoneTraffic).toEqual(NO_TRAFFIC);
    await (await client.txn().snapshot(ts, { staleRead: true })).get(key);
    const z = client.metrics().zoneTraffic;
    expect(z.staleReadRequests).toEqual({ local: 1, crossZone: 0 });
    expect(z.readBytes).toEqual(NO_TRAFFIC.readBytes);
  });

  it("without a zone or metrics, nothing is measured", async () => {
    const key = `${p}off`;
    const client = await env.connect();
    const ts = await put(client, key, "v");
    await (await client.txn().snapshot(ts, { staleRead: true })).get(key);
    await (await client.txn().snapshot()).get(key);
    expect(client.metrics().zoneTraffic).toEqual(NO_TRAFFIC);
  });
});
