// client.sendRequest, the low-level request API (client-go tikvrpc + KVStore.SendReq): typed
// commands to the region of a key, a region id or a store, through the routing, retry and
// backoff of normal calls; unknown commands and bad targets fail typed, at once.

import { describe, expect, expectTypeOf, it } from "vitest";
import { tikvRpcNames } from "../../../src/api/low-level.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { InvalidArgumentError, rpcInterceptor } from "../../../src/index.js";
import { decodeRegionBoundary } from "../../../src/kv/memcomparable.js";
import {
  APIVersion,
  type Context,
  type GetResponse,
  type RawGetResponse,
} from "../../../src/proto/kvrpcpb.js";
import { TikvService } from "../../../src/proto/tikvpb.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

describe("the command table", () => {
  it("has every unary tikvpb.Tikv RPC of the proto subset, by its proto name", () => {
    const unary = Object.values(TikvService)
      .filter((m) => !m.requestStream && !m.responseStream)
      .map((m) => m.path.replace("/tikvpb.Tikv/", ""))
      .sort();
    expect(tikvRpcNames().sort()).toEqual(unary);
    expect(unary).toContain("KvGet");
    expect(unary).not.toContain("BatchCommands");
  });
});

describe.skipIf(skipOnRealCluster("v1"))("sendRequest: transactional commands", () => {
  const env = useCluster({ stores: 3, regionKeyEncoding: "memcomparable", splitKeys: ["m"] });

  itFault("KvGet by key after a txn write returns the typed response", async () => {
    const client = await env.connect();
    const txn = await client.txn().begin();
    txn.set("ll_k", "v1");
    await txn.commit();
    const version = await client.pd.getTimestamp();
    const resp = await client.sendRequest("KvGet", { key: Buffer.from("ll_k"), version }, { key: "ll_k" });
    expectTypeOf(resp).toEqualTypeOf<GetResponse>();
    expect(resp.value.toString()).toBe("v1");
    expect(resp.notFound).toBe(false);
    // the same through a region id
    const region = env.cluster.topology.locateKey(Buffer.from("ll_k"));
    const byId = await client.sendRequest(
      "KvGet",
      { key: Buffer.from("ll_k"), version },
      { regionId: region?.id as bigint },
    );
    expect(byId.value.toString()).toBe("v1");
  });

  // also client-go tikvrpc_test TestAttachContextSetsRequestContext (the resend half): every
  // attempt carries a context of its own, filled in by the sender
  itFault("a NotLeader region error is retried as a normal call retries it", async () => {
    const contexts: Context[] = [];
    const client = await env.connect({
      interceptors: rpcInterceptor("ctx", (next) => (req) => {
        if (req.command === "Get") contexts.push(req.context as Context);
        return next(req);
      }),
    });
    const txn = await client.txn().begin();
    txn.set("ll_nl", "v");
    await txn.commit();
    const version = await client.pd.getTimestamp();
    const region = env.cluster.topology.locateKey(Buffer.from("ll_nl"));
    if (!region) throw new Error("no region");
    client.resetMetrics();
    const fault = env.cluster.faults.failNext({
      rpc: "KvGet",
      regionId: region.id,
      error: { regionError: RegionErrors.notLeader(region.id) },
    });
    const resp = await client.sendRequest("KvGet", { key: Buffer.from("ll_nl"), version }, { key: "ll_nl" });
    expect(fault.fired).toBe(1);
    expect(resp.regionError).toBeUndefined();
    expect(resp.value.toString()).toBe("v");
    expect(client.metrics().regionErrors.notLeader).toBeGreaterThanOrEqual(1);
    const [first, ...retries] = contexts;
    expect(first?.regionId).toBe(region.id);
    expect(first?.isRetryRequest).toBe(false);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const c of retries) {
      expect(c).not.toBe(first);
      expect(c.regionId).toBe(region.id);
      expect(c.isRetryRequest).toBe(true);
    }
  });

  itFault("replicaRead sends a read to a follower", async () => {
    const client = await env.connect();
    const version = await client.pd.getTimestamp();
    const rec = env.cluster.recordRequests({ rpcs: ["KvGet"] });
    await client.sendRequest(
      "KvGet",
      { key: Buffer.from("ll_k"), version },
      { key: "ll_k" },
      { replicaRead: "follower" },
    );
    rec.stop();
    expect(rec.entries.at(-1)).toMatchObject({ replicaRead: true, isLeader: false, outcome: "ok" });
  });

  itFault("SplitRegion by key splits the region holding the key", async () => {
    const client = await env.connect();
    const before = env.cluster.topology.locateKey(Buffer.from("sr_x"));
    const resp = await client.sendRequest(
      "SplitRegion",
      { splitKeys: [Buffer.from("sr_x")] },
      { key: "sr_x" },
    );
    expect(resp.regions).toHaveLength(2);
    // API v1: region boundaries come back as TiKV sends them (memcomparable for txn keys)
    expect(decodeRegionBoundary(resp.regions[0]?.endKey as Buffer).toString()).toBe("sr_x");
    const after = env.cluster.topology.locateKey(Buffer.from("sr_x"));
    expect(after?.startKey.toString()).toBe("sr_x");
    expect(after?.id).toBe(before?.id);
  });

  itFault("GetStoreSafeTS and GetHealthFeedback by store id", async () => {
    const client = await env.connect();
    const ts = await client.pd.getTimestamp();
    env.cluster.topology.advanceAllSafeTs(ts);
    const storeId = env.cluster.stores[0]?.storeId as bigint;
    const safe = await client.sendRequest("GetStoreSafeTS", {}, { storeId });
    expect(safe.safeTs).toBeGreaterThanOrEqual(ts);
    const health = await client.sendRequest("GetHealthFeedback", {}, { storeId: Number(storeId) });
    expect(health.healthFeedback?.storeId).toBe(storeId);
  });

  itFault("unknown commands, bad targets and bad requests fail typed before any RPC", async () => {
    const client = await env.connect();
    env.cluster.faults.resetCounters();
    const bad: Array<[() => Promise<unknown>, string]> = [
      [() => client.sendRequest("KvGett" as never, {}, { key: "a" }), "command"],
      [() => client.sendRequest("BatchCommands" as never, {}, { key: "a" }), "command"],
      [() => client.sendRequest("KvGet", {}, {} as never), "target"],
      [() => client.sendRequest("KvGet", {}, { key: "a", storeId: 1n } as never), "target"],
      [() => client.sendRequest("KvGet", {}, { regionId: -1 }), "target.regionId"],
      [() => client.sendRequest("KvGet", {}, { storeId: 0n }), "target.storeId"],
      [() => client.sendRequest("GetStoreSafeTS", {}, { storeId: 999n }), "target.storeId"],
      [() => client.sendRequest("KvGet", null as never, { key: "a" }), "request"],
      [() => client.sendRequest("KvGet", { key: "a" as never }, { key: "a" }), "request"],
      [() => client.sendRequest("KvGet", { context: {} } as never, { key: "a" }), "request.context"],
      [() => client.sendRequest("KvGet", {}, { key: "a" }, { keyMode: "x" as never }), "keyMode"],
      [() => client.sendRequest("KvGet", {}, { key: "a" }, { timeoutMs: -5 }), "timeoutMs"],
      [() => client.sendRequest("KvGet", {}, { key: "a" }, { replicaRead: "any" as never }), "replicaRead"],
    ];
    for (const [call, argument] of bad) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, argument).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument, argument).toBe(argument);
    }
    expect(env.cluster.faults.calls({ rpc: "KvGet" })).toBe(0);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("sendRequest: raw commands", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  itFault("RawGet by key (raw key mode by default for Raw* commands)", async () => {
    const client = await env.connect();
    await client.raw().put("rk", "rv");
    const resp = await client.sendRequest("RawGet", { key: Buffer.from("rk") }, { key: "rk" });
    expectTypeOf(resp).toEqualTypeOf<RawGetResponse>();
    expect(resp.value.toString()).toBe("rv");
    expect(resp.notFound).toBe(false);
    const missing = await client.sendRequest("RawGet", { key: Buffer.from("zz") }, { key: "zz" });
    expect(missing.notFound).toBe(true);
  });
});

describe.skipIf(skipOnRealCluster("v2"))("sendRequest: API v2 keyspace codec", () => {
  const env = useCluster({ stores: 1, apiVersion: "v2" });

  // client-go tikvrpc_test TestAttachContextSetsRequestContext: region id, API version, keyspace
  // id and name are put in the request's context by the sender
  itFault("the sender fills in region, API version and keyspace of the context", async () => {
    env.cluster.pd.state.keyspaces.add({ name: "ll_ks", id: 9 });
    const contexts: Context[] = [];
    const client = await env.connect({
      apiVersion: "v2",
      keyspace: "ll_ks",
      interceptors: rpcInterceptor("ctx", (next) => (req) => {
        contexts.push(req.context as Context);
        return next(req);
      }),
    });
    await client.sendRequest("RawPut", { key: Buffer.from("a"), value: Buffer.from("b") }, { key: "a" });
    const got = await client.sendRequest("RawGet", { key: Buffer.from("a") }, { key: "a" });
    expect(got.value.toString()).toBe("b");
    const region = env.cluster.topology.locateKey(Buffer.from([0x72, 0, 0, 9, 0x61]));
    for (const c of contexts.slice(-2)) {
      expect(c.regionId).toBe(region?.id);
      expect(c.apiVersion).toBe(APIVersion.V2);
      expect(c.keyspace).toEqual({ $case: "keyspaceId", keyspaceId: 9 });
      expect(c.keyspaceName).toBe("ll_ks");
    }
  });

  itFault("keys are user keys: the codec adds and strips the keyspace prefix", async () => {
    const client = await env.connect({ apiVersion: "v2" });
    await client.raw().put("v2k", "v2v");
    const resp = await client.sendRequest(
      "RawScan",
      { startKey: Buffer.from("v2"), limit: 10 },
      { key: "v2" },
    );
    expect(resp.kvs.map((p) => [p.key.toString(), p.value.toString()])).toEqual([["v2k", "v2v"]]);
  });
});
