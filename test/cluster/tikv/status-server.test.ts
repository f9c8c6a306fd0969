// Each mock store's status server, as TiKV's (src/server/status_server/mod.rs): its own
// address, reported to PD as status_address; /status, /config (storage.api-version,
// storage.enable-ttl), /metrics (tikv_storage_command_total per command), /region/{id}.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { TikvClient } from "../../../src/index.js";
import { GetStoreRequest, type GetStoreResponse, PDClient } from "../../../src/proto/pdpb.js";
import { httpsGet } from "../https-get.js";

type Json = Record<string, unknown>;

async function get(url: string): Promise<{ status: number; text: string; type: string | null }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
}

function counter(metrics: string, kind: string): number {
  const m = new RegExp(`^tikv_storage_command_total\\{type="${kind}"\\} (\\d+)$`, "m").exec(metrics);
  return m ? Number(m[1]) : 0;
}

describe("TiKV status server of the mock stores", () => {
  let cluster: EmbeddedCluster;
  const url = (id: bigint, path: string) => `${cluster.storeStatusUrls.get(id)}${path}`;

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({
      stores: 3,
      splitKeys: ["m"],
      replicas: 2,
      resolvedTsIntervalMs: 0,
    });
  });
  afterAll(() => cluster.close());

  it("every store has its own status address, distinct from its gRPC address, reported to PD", async () => {
    const addrs = cluster.stores.map((s) => s.statusAddress);
    expect(new Set(addrs).size).toBe(3);
    for (const s of cluster.stores) {
      expect(s.statusAddress).not.toBe(s.address);
      expect(cluster.topology.store(s.storeId)?.statusAddress).toBe(s.statusAddress);
      const r = await get(url(s.storeId, "/status"));
      expect(r).toMatchObject({ status: 200, text: "" });
    }
    // PD's store meta, over HTTP and gRPC
    const pd = (await (await fetch(`${cluster.pdHttpUrl}/pd/api/v1/store/2`)).json()) as { store: Json };
    expect(pd.store.status_address).toBe(cluster.store(2).statusAddress);
    const client = new PDClient(cluster.pdEndpoints[0] ?? "", grpc.credentials.createInsecure());
    try {
      const resp = await new Promise<GetStoreResponse>((resolve, reject) =>
        client.getStore(
          GetStoreRequest.fromPartial({ header: { clusterId: cluster.clusterId }, storeId: 3n }),
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      expect(resp.store?.statusAddress).toBe(cluster.store(3).statusAddress);
      expect(resp.store?.address).toBe(cluster.store(3).address);
    } finally {
      client.close();
    }
  });

  it("/config answers TiKV's kebab-case JSON with storage.api-version and enable-ttl", async () => {
    const cfg = JSON.parse((await get(url(1n, "/config"))).text) as Record<string, Json>;
    expect(cfg.storage).toMatchObject({ "api-version": 1, "enable-ttl": false, engine: "raft-kv" });
    expect(cfg.server).toMatchObject({
      addr: cluster.store(1).address,
      "status-addr": cluster.store(1).statusAddress,
    });
    expect(cfg.raftstore).toEqual({ "raft-entry-max-size": "8MiB" });
    expect((await get(url(1n, "/config?full=true"))).status).toBe(200);
    const bad = await get(url(1n, "/config?full=yes"));
    expect(bad.status).toBe(400);
  });

  it("/metrics counts the storage commands each store served (unary and BatchCommands)", async () => {
    const client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints });
    // after connect, which probes the stores itself
    const before = await Promise.all(
      cluster.stores.map(async (s) => (await get(url(s.storeId, "/metrics"))).text),
    );
    expect(before[0]).toContain("# TYPE tikv_storage_command_total counter");
    try {
      const raw = client.raw();
      for (const k of ["a", "b", "z"]) await raw.put(k, "v");
      await raw.get("a");
    } finally {
      await client.close();
    }
    const after = await Promise.all(
      cluster.stores.map(async (s) => (await get(url(s.storeId, "/metrics"))).text),
    );
    const delta = (kind: string) =>
      after.reduce((n, m, i) => n + counter(m, kind) - counter(before[i] ?? "", kind), 0);
    expect(delta("raw_put")).toBe(3);
    expect(delta("raw_get")).toBe(1);
    // only the leaders served them
    const leaderOfA = cluster.topology.locateKey(Buffer.from("a"))?.leader?.storeId;
    const i = cluster.stores.findIndex((s) => s.storeId === leaderOfA);
    expect(counter(after[i] ?? "", "raw_get") - counter(before[i] ?? "", "raw_get")).toBe(1);
    const regionsOn1 = cluster.topology.regionsOnStore(1n).length;
    expect(after[0]).toContain(`tikv_raftstore_region_count{type="region"} ${regionsOn1}`);
  });

  it("/region/{id} answers the peer's RegionMeta; a region the store lacks is 404", async () => {
    const region = cluster.topology.regions()[1];
    if (!region) throw new Error("no region");
    const leaderStore = region.leader?.storeId ?? 0n;
    const follower = region.peers.find((p) => p.storeId !== leaderStore);
    const absent = cluster.stores.find((s) => !region.peers.some((p) => p.storeId === s.storeId));
    if (!follower || !absent) throw new Error("replicas: 2 over 3 stores expected");

    const onLeader = JSON.parse((await get(url(leaderStore, `/region/${region.id}`))).text) as Record<
      string,
      Json
    >;
    expect(onLeader.group_state).toBe("Ordered");
    expect(onLeader.raft_status).toMatchObject({
      id: Number(region.leaderPeerId),
      soft_state: { leader_id: Number(region.leaderPeerId), raft_state: "Leader" },
    });
    expect(Object.keys(onLeader.raft_status?.voters as Json).sort()).toEqual(
      region.peers.map((p) => String(p.id)).sort(),
    );
    expect(onLeader.region_state).toMatchObject({
      id: Number(region.id),
      start_key: [...Buffer.from("m")],
      end_key: [],
      epoch: { conf_ver: Number(region.epoch.confVer), version: Number(region.epoch.version) },
    });
    expect((onLeader.region_state?.peers as Json[])[0]).toMatchObject({ role: "Voter", is_witness: false });

    const onFollower = JSON.parse((await get(url(follower.storeId, `/region/${region.id}`))).text) as Record<
      string,
      Json
    >;
    expect(onFollower.raft_status).toMatchObject({
      id: Number(follower.id),
      soft_state: { raft_state: "Follower" },
    });
    expect(onFollower.raft_status?.voters).toEqual({});

    expect(await get(url(absent.storeId, `/region/${region.id}`))).toMatchObject({
      status: 404,
      text: `region(${region.id}) not found`,
    });
    expect(await get(url(1n, "/region/abc"))).toMatchObject({
      status: 404,
      text: "path /region/abc not found",
    });
    expect((await get(url(1n, "/region/99999999999999999999999"))).status).toBe(400);
    expect(await get(url(1n, "/nope"))).toMatchObject({ status: 404, text: "path not found" });
  });

  it("stops with its store and serves again on the same address after a restart", async () => {
    const before = cluster.store(3).statusAddress;
    await cluster.stopStore(3);
    await expect(fetch(url(3n, "/status"))).rejects.toThrow();
    await cluster.startStore(3);
    expect(cluster.store(3).statusAddress).toBe(before);
    expect((await get(url(3n, "/status"))).status).toBe(200);
  });
});

describe("status server /config per API version", () => {
  it.each([
    ["v1ttl", 1, true],
    ["v2", 2, true],
  ] as const)("%s: api-version %d, enable-ttl %s", async (apiVersion, want, ttl) => {
    const cluster = await EmbeddedCluster.start({ stores: 1, apiVersion, resolvedTsIntervalMs: 0 });
    try {
      const cfg = (await (await fetch(`${cluster.storeStatusUrls.get(1n)}/config`)).json()) as {
        storage: Json;
      };
      expect(cfg.storage).toMatchObject({ "api-version": want, "enable-ttl": ttl });
    } finally {
      await cluster.close();
    }
  });
});

describe("status server under mutual TLS", () => {
  it("speaks https with the cluster's certificates and refuses a client without one", async () => {
    const cluster = await EmbeddedCluster.start({ stores: 1, tls: "generate", resolvedTsIntervalMs: 0 });
    try {
      const c = cluster.certificates;
      if (!c) throw new Error("no certificates");
      const statusUrl = cluster.storeStatusUrls.get(1n) ?? "";
      expect(statusUrl).toMatch(/^https:\/\//);
      const r = await httpsGet(`${statusUrl}/config`, { ca: c.ca, ...c.client });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).storage["api-version"]).toBe(1);
      await expect(httpsGet(`${statusUrl}/status`, { ca: c.ca })).rejects.toThrow();
    } finally {
      await cluster.close();
    }
  });
});
