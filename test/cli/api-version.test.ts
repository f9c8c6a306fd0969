// The API version a cluster serves, as a client sees it: `tikv-ts cluster` keeps TiKV's default
// (API v1, TTL off), a TTL call there gets TtlNotEnabledError naming the cluster flag that
// fixes it, and a client speaking another API version fails at connect with
// ApiVersionMismatchError naming both versions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import {
  ApiVersionMismatchError,
  type ApiVersionName,
  TikvClient,
  TtlNotEnabledError,
  UnknownError,
} from "../../src/index.js";

const clusters: Partial<Record<ApiVersionName, EmbeddedCluster>> = {};
const clients: TikvClient[] = [];

beforeAll(async () => {
  for (const v of ["v1", "v1ttl", "v2"] as const) {
    clusters[v] = await EmbeddedCluster.start({ stores: 1, host: "127.0.0.1", pdPort: 0, apiVersion: v });
  }
}, 20_000);

afterAll(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await Promise.allSettled(Object.values(clusters).map((c) => c.close()));
});

async function connect(cluster: ApiVersionName, apiVersion: ApiVersionName): Promise<TikvClient> {
  const c = await TikvClient.connect({ pdEndpoints: clusters[cluster]!.pdEndpoints, apiVersion });
  clients.push(c);
  return c;
}

describe("TTL on a cluster serving API v1 (TTL off, TiKV's default)", () => {
  it("put with a ttl: TtlNotEnabledError naming --api-version v1ttl / v2, not UnknownError", async () => {
    const raw = (await connect("v1", "v1")).raw();
    const err = await raw.put("ttl-k", "v", { ttl: 10 }).catch((e) => e);
    expect(err).toBeInstanceOf(TtlNotEnabledError);
    expect(err).not.toBeInstanceOf(UnknownError);
    expect(err.code).toBe("TTL_NOT_ENABLED");
    expect(err.serverMessage).toBe("ttl is not enabled, but get put request with ttl");
    expect(err.message).toContain("tikv-ts cluster --api-version v1ttl");
    expect(err.message).toContain("--api-version v2");
    expect(await raw.get("ttl-k")).toBeUndefined();
  });

  it("getKeyTTL and batchPut with ttls: TtlNotEnabledError with the same fix", async () => {
    const raw = (await connect("v1", "v1")).raw();
    await raw.put("ttl-g", "v");
    const get = await raw.getKeyTTL("ttl-g").catch((e) => e);
    expect(get).toBeInstanceOf(TtlNotEnabledError);
    expect(get.serverMessage).toBe("get ttl on non-ttl store");
    expect(get.message).toContain("--api-version v1ttl");
    const batch = await raw.batchPut(["ttl-a", "ttl-b"], ["1", "2"], { ttl: 5 }).catch((e) => e);
    expect(batch).toBeInstanceOf(TtlNotEnabledError);
  });

  it("a v1ttl client on a v1 cluster connects (TiKV cannot tell them apart) and gets the same error on TTL", async () => {
    const raw = (await connect("v1", "v1ttl")).raw();
    await expect(raw.put("ttl-c", "v", { ttl: 3 })).rejects.toBeInstanceOf(TtlNotEnabledError);
  });

  it.each([["v1ttl"], ["v2"]] as const)("a %s cluster keeps TTLs", async (v) => {
    const raw = (await connect(v, v)).raw();
    await raw.put("ttl-ok", "v", { ttl: 100 });
    const ttl = await raw.getKeyTTL("ttl-ok");
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
  });
});

describe("connect checks the cluster's API version", () => {
  it.each([
    ["v1", "v2", "V1", "V2", 'apiVersion: "v1"'],
    ["v1ttl", "v2", "V1ttl", "V2", 'apiVersion: "v1ttl"'],
    ["v2", "v1", "V2", "V1", 'apiVersion: "v2"'],
    ["v2", "v1ttl", "V2", "V1", 'apiVersion: "v2"'],
  ] as const)("%s cluster, %s client: ApiVersionMismatchError naming both", async (cluster, client, storage, request, fix) => {
    const err = await connect(cluster, client).catch((e) => e);
    expect(err).toBeInstanceOf(ApiVersionMismatchError);
    expect(err).toMatchObject({
      code: "API_VERSION_NOT_MATCHED",
      storageApiVersion: storage,
      requestApiVersion: request,
    });
    expect(err.message).toContain(`client speaks API ${client} but the cluster serves API ${cluster}`);
    expect(err.message).toContain(fix);
    expect(err.message).toContain(`tikv-ts cluster --api-version ${client}`);
  });

  it.each([
    ["v1", "v1"],
    ["v1ttl", "v1ttl"],
    ["v1ttl", "v1"],
    ["v2", "v2"],
  ] as const)("%s cluster, %s client: connects and works", async (cluster, client) => {
    const raw = (await connect(cluster, client)).raw();
    await raw.put(`match-${client}`, "v");
    expect((await raw.get(`match-${client}`))?.toString()).toBe("v");
  });
});
