// PD's HTTP API on the PD port (pd server/api/router.go, server/apiv2/handlers/keyspace.go):
// one socket serves gRPC and HTTP/1.1, every endpoint answers PD's JSON shape, and bad input
// gets PD's status code and message.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { NULL_KEYSPACE_ID } from "../../../src/cluster/pd/index.js";
import {
  type ClusterCertificates,
  generateClusterCertificates,
} from "../../../src/cluster/tls/test-certs.js";
import { GetMembersRequest, type GetMembersResponse, PDClient } from "../../../src/proto/pdpb.js";
import { httpsGet } from "../https-get.js";

type Json = Record<string, unknown> & { [k: string]: unknown };

async function get(base: string, path: string): Promise<{ status: number; body: unknown; text: string }> {
  const r = await fetch(`${base}${path}`);
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, body, text };
}

function grpcMembers(endpoint: string, creds: grpc.ChannelCredentials): Promise<GetMembersResponse> {
  const c = new PDClient(endpoint, creds);
  return new Promise<GetMembersResponse>((resolve, reject) =>
    c.getMembers(GetMembersRequest.fromPartial({}), (e, r) => {
      c.close();
      if (e) reject(e);
      else resolve(r);
    }),
  );
}

describe("PD HTTP API on the PD port", () => {
  let cluster: EmbeddedCluster;
  let base: string;
  const pd = (path: string) => get(base, path);

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"], resolvedTsIntervalMs: 0 });
    base = cluster.pdHttpUrl;
  });
  afterAll(() => cluster.close());

  it("serves gRPC and HTTP on one port: a grpc client and fetch on the same address both answer", async () => {
    expect(cluster.pdHttpEndpoints).toEqual(cluster.pdEndpoints);
    expect(base).toBe(`http://${cluster.pdEndpoints[0]}`);
    const [byGrpc, byHttp] = await Promise.all([
      grpcMembers(cluster.pdEndpoints[0] ?? "", grpc.credentials.createInsecure()),
      pd("/pd/api/v1/members"),
    ]);
    expect(byHttp.status).toBe(200);
    const m = byHttp.body as { header: Json; members: Json[]; leader: Json; etcd_leader: Json };
    expect(m.header).toEqual({ cluster_id: Number(cluster.clusterId) });
    expect(m.members.map((x) => x.client_urls)).toEqual(byGrpc.members.map((x) => x.clientUrls));
    expect(m.members[0]).toEqual({
      name: "pd-1",
      member_id: Number(byGrpc.members[0]?.memberId),
      peer_urls: [base],
      client_urls: [base],
    });
    expect(m.leader).toEqual(m.members[0]);
    expect(m.etcd_leader).toEqual(m.members[0]);
  });

  it("leader, health, ping, cluster and cluster/status", async () => {
    const leader = await pd("/pd/api/v1/leader");
    expect(leader.body).toMatchObject({ name: "pd-1", client_urls: [base] });
    const health = await pd("/pd/api/v1/health");
    expect(health.body).toEqual([
      { name: "pd-1", member_id: expect.any(Number), client_urls: [base], health: true },
    ]);
    cluster.pd.setUnavailable(true);
    expect(((await pd("/pd/api/v1/health")).body as Json[])[0]?.health).toBe(false);
    cluster.pd.setUnavailable(false);
    expect((await pd("/pd/api/v1/ping")).status).toBe(200);
    expect((await pd("/pd/api/v1/version")).body).toEqual({ version: "8.5.0" });
    expect((await pd("/pd/api/v1/cluster")).body).toEqual({
      id: Number(cluster.clusterId),
      max_peer_count: 3,
    });
    const status = (await pd("/pd/api/v1/cluster/status")).body as Json;
    expect(status).toMatchObject({ is_initialized: true, replication_status: "" });
    expect(String(status.raft_bootstrap_time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("stores and store/{id}: meta with the status address TiKV reports, status counts, bad ids", async () => {
    const all = (await pd("/pd/api/v1/stores")).body as {
      count: number;
      stores: { store: Json; status: Json }[];
    };
    expect(all.count).toBe(3);
    const s1 = cluster.store(1);
    const first = all.stores[0];
    expect(first?.store).toMatchObject({
      id: 1,
      address: s1.address,
      status_address: s1.statusAddress,
      peer_address: s1.address,
      node_state: 1,
      state_name: "Up",
    });
    // state Up is 0: omitted, as gogoproto's omitempty does
    expect(first?.store).not.toHaveProperty("state");
    expect(first?.store.status_address).not.toBe(first?.store.address);
    const leaders = cluster.topology.regions().filter((r) => r.leader?.storeId === 1n).length;
    expect(first?.status).toMatchObject({ region_count: 2, leader_count: leaders, capacity: "0B" });
    expect((await pd("/pd/api/v1/store/2")).body).toMatchObject({ store: { id: 2, state_name: "Up" } });
    const bad = await pd("/pd/api/v1/store/abc");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      code: "input",
      msg: 'strconv.ParseUint: parsing "abc": invalid syntax',
    });
    const missing = await pd("/pd/api/v1/store/99");
    expect(missing.status).toBe(404);
    expect(missing.body).toBe("[PD:core:ErrStoreNotFound]store 99 not found");
    await cluster.stopStore(3);
    try {
      expect((await pd("/pd/api/v1/store/3")).body).toMatchObject({ store: { state_name: "Disconnected" } });
    } finally {
      await cluster.startStore(3);
    }
  });

  it("regions, region/id/{id} and region/key/{key}: hex boundaries, peers with role names, bad input", async () => {
    const regions = (await pd("/pd/api/v1/regions")).body as { count: number; regions: Json[] };
    expect(regions.count).toBe(2);
    const [left, right] = regions.regions;
    expect(left).toMatchObject({ start_key: "", end_key: "6D", epoch: { conf_ver: expect.any(Number) } });
    expect(right).toMatchObject({ start_key: "6D", end_key: "" });
    const peers = left?.peers as Json[];
    expect(peers).toHaveLength(3);
    expect(peers[0]).toEqual({ role_name: "Voter", id: expect.any(Number), store_id: expect.any(Number) });
    expect(left?.leader).toMatchObject({ role_name: "Voter" });
    expect(left).toMatchObject({ approximate_size: 1, approximate_keys: 0, cpu_usage: 0 });

    const byId = await pd(`/pd/api/v1/region/id/${right?.id}`);
    expect(byId.body).toEqual(right);
    expect((await pd("/pd/api/v1/region/key/m")).body).toEqual(right);
    expect((await pd("/pd/api/v1/region/key/a")).body).toEqual(left);
    expect((await pd("/pd/api/v1/region/key/6d7a?format=hex")).body).toEqual(right);
    const badHex = await pd("/pd/api/v1/region/key/zz?format=hex");
    expect(badHex.status).toBe(400);

    const zero = await pd("/pd/api/v1/region/id/0");
    expect(zero).toMatchObject({ status: 400, body: "[PD:region:ErrRegionInvalidID]invalid region id" });
    const notNum = await pd("/pd/api/v1/region/id/x1");
    expect(notNum).toMatchObject({ status: 400, body: 'strconv.ParseUint: parsing "x1": invalid syntax' });
    const gone = await pd("/pd/api/v1/region/id/9999");
    expect(gone).toMatchObject({ status: 404, body: "[PD:region:ErrRegionNotFound]region 9999 not found" });
    expect((await pd("/pd/api/v1/regions/count")).body).toEqual({ count: 2, regions: null });
  });

  it("config, config/replicate, config/schedule, config/pd-server with PD's keys and defaults", async () => {
    const rep = (await pd("/pd/api/v1/config/replicate")).body as Json;
    expect(rep).toMatchObject({ "max-replicas": 3, "location-labels": "", "enable-placement-rules": "true" });
    const sched = (await pd("/pd/api/v1/config/schedule")).body as Json;
    expect(sched).toMatchObject({
      "max-store-down-time": "30m0s",
      "split-merge-interval": "1h0m0s",
      "patrol-region-interval": "10ms",
      "leader-schedule-limit": 4,
      "region-schedule-limit": 2048,
      "enable-cross-table-merge": "true",
    });
    cluster.pd.setMinResolvedTsPersistenceInterval(1500);
    const server = (await pd("/pd/api/v1/config/pd-server")).body as Json;
    expect(server["min-resolved-ts-persistence-interval"]).toBe("1.5s");
    cluster.pd.setMinResolvedTsPersistenceInterval(1000);
    const full = (await pd("/pd/api/v1/config")).body as Json;
    expect(full.schedule).toEqual(sched);
    expect(full.replication).toEqual(rep);
    expect(full).toMatchObject({ name: "pd-1", "client-urls": base });
  });

  it("min-resolved-ts and gc/safepoint answer from the shared state", async () => {
    const [left] = cluster.topology.regions();
    if (!left) throw new Error("no region");
    cluster.topology.advanceAllSafeTs(4242n);
    expect((await pd("/pd/api/v1/min-resolved-ts")).body).toMatchObject({ min_resolved_ts: 4242 });
    const bad = await pd("/pd/api/v1/min-resolved-ts?scope=1,x");
    expect(bad).toMatchObject({ status: 400, body: 'strconv.ParseUint: parsing "x": invalid syntax' });

    const before = (await pd("/pd/api/v1/gc/safepoint")).body as Json;
    expect(before).toEqual({
      service_gc_safe_points: [{ service_id: "gc_worker", expired_at: 2 ** 63 - 1, safe_point: 0 }],
      gc_safe_point: 0,
    });
    cluster.pd.state.gc.setBarrier(NULL_KEYSPACE_ID, "br", 77n, 3600n);
    const after = (await pd("/pd/api/v1/gc/safepoint")).body as { service_gc_safe_points: Json[] };
    expect(after.service_gc_safe_points).toContainEqual({
      service_id: "br",
      expired_at: expect.any(Number),
      safe_point: 77,
    });
    cluster.pd.state.gc.deleteBarrier(NULL_KEYSPACE_ID, "br");
  });

  it("answers unknown paths 404 as Go's mux does and refuses non-GET methods", async () => {
    const r = await pd("/pd/api/v1/nope");
    expect(r.status).toBe(404);
    expect(r.text).toBe("404 page not found\n");
    expect((await fetch(`${base}/pd/api/v1/stores`, { method: "POST" })).status).toBe(405);
  });

  it("a stopped member refuses HTTP and gRPC alike; restarted, it serves both on the same port", async () => {
    await cluster.pd.stopMember(0);
    await expect(fetch(`${base}/pd/api/v1/ping`)).rejects.toThrow();
    await cluster.pd.startMember(0);
    expect((await pd("/pd/api/v1/ping")).status).toBe(200);
    const m = await grpcMembers(cluster.pdEndpoints[0] ?? "", grpc.credentials.createInsecure());
    expect(m.members).toHaveLength(1);
  });
});

describe("PD HTTP keyspace API (/pd/api/v2/keyspaces)", () => {
  let cluster: EmbeddedCluster;
  const pd = (path: string) => get(cluster.pdHttpUrl, path);

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 1, apiVersion: "v2", resolvedTsIntervalMs: 0 });
    cluster.pd.createKeyspace({ name: "ks1" });
    cluster.pd.createKeyspace({ name: "ks2" });
  });
  afterAll(() => cluster.close());

  it("lists keyspaces with state names and pages with page_token / limit; loads one by name", async () => {
    const all = (await pd("/pd/api/v2/keyspaces")).body as { keyspaces: Json[]; next_page_token: string };
    const names = all.keyspaces.map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining(["ks1", "ks2"]));
    expect(all.next_page_token).toBe("");
    const ks1 = all.keyspaces.find((k) => k.name === "ks1");
    expect(ks1).toMatchObject({ id: expect.any(Number), state: "ENABLED", created_at: expect.any(Number) });

    const page = (await pd("/pd/api/v2/keyspaces?limit=1")).body as {
      keyspaces: Json[];
      next_page_token: string;
    };
    expect(page.keyspaces).toHaveLength(1);
    expect(page.next_page_token).toBe(String(all.keyspaces[1]?.id));
    const rest = (await pd(`/pd/api/v2/keyspaces?page_token=${page.next_page_token}`)).body as {
      keyspaces: Json[];
    };
    expect(rest.keyspaces).toEqual(all.keyspaces.slice(1));

    expect((await pd("/pd/api/v2/keyspaces/ks1")).body).toEqual(ks1);
    expect((await pd(`/pd/api/v2/keyspaces/id/${ks1?.id}`)).body).toEqual(ks1);
  });

  it("a missing keyspace is PD's 500 ErrKeyspaceNotFound; a bad page token 400", async () => {
    const missing = await pd("/pd/api/v2/keyspaces/nope");
    expect(missing).toMatchObject({
      status: 500,
      body: "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist",
    });
    expect(await pd("/pd/api/v2/keyspaces/id/x")).toMatchObject({ status: 500, body: "invalid keyspace id" });
    expect(await pd("/pd/api/v2/keyspaces/id/4000")).toMatchObject({
      status: 500,
      body: "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist",
    });
    const bad = await pd("/pd/api/v2/keyspaces?page_token=abc");
    expect(bad).toMatchObject({ status: 400, body: 'strconv.ParseUint: parsing "abc": invalid syntax' });
  });
});

describe("PD port under mutual TLS: ALPN splits gRPC (h2) from HTTP/1.1", () => {
  let cluster: EmbeddedCluster;
  let certs: ClusterCertificates;

  beforeAll(async () => {
    certs = await generateClusterCertificates({ clientCommonName: "app" });
    cluster = await EmbeddedCluster.start({
      stores: 1,
      resolvedTsIntervalMs: 0,
      tls: { ca: certs.ca, ...certs.server, allowedCommonNames: ["app"] },
    });
  });
  afterAll(() => cluster.close());

  it("a TLS grpc client (passing the common-name check) and https on the same URL both answer", async () => {
    const endpoint = cluster.pdEndpoints[0] ?? "";
    expect(cluster.pdHttpUrl).toBe(`https://${endpoint}`);
    const creds = grpc.credentials.createSsl(
      Buffer.from(certs.ca),
      Buffer.from(certs.client.key),
      Buffer.from(certs.client.cert),
    );
    const [byGrpc, byHttps] = await Promise.all([
      grpcMembers(endpoint, creds),
      httpsGet(`${cluster.pdHttpUrl}/pd/api/v1/members`, { ca: certs.ca, ...certs.client }),
    ]);
    expect(byHttps.status).toBe(200);
    const m = JSON.parse(byHttps.text) as { members: Json[] };
    expect(m.members[0]?.client_urls).toEqual(byGrpc.members[0]?.clientUrls);
    expect(byGrpc.members[0]?.clientUrls).toEqual([`https://${endpoint}`]);
  });

  it("refuses https without a client certificate, and plaintext HTTP or gRPC on the TLS port", async () => {
    await expect(httpsGet(`${cluster.pdHttpUrl}/pd/api/v1/members`, { ca: certs.ca })).rejects.toThrow();
    await expect(fetch(`http://${cluster.pdEndpoints[0]}/pd/api/v1/members`)).rejects.toThrow();
    await expect(
      grpcMembers(cluster.pdEndpoints[0] ?? "", grpc.credentials.createInsecure()),
    ).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });
});
