// The mock stores' side of forwarding (TiKV src/server/proxy.rs, forward_unary! / forward_duplex!
// in src/server/service/kv.rs) and the client-link cut (EmbeddedCluster.blockClients): a call
// carrying tikv-forwarded-host is proxied to the named store and served there, the target's gRPC
// status comes back as the proxy's, and a store cut from clients refuses them but not its peers.

import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { FORWARDED_HOST_KEY } from "../../../src/cluster/tikv/forwarding.js";
import { Context, RawGetRequest, type RawGetResponse, RawPutRequest } from "../../../src/proto/kvrpcpb.js";
import { BatchCommandsRequest, type BatchCommandsResponse, TikvClient } from "../../../src/proto/tikvpb.js";

describe("forwarding in the mock stores", () => {
  let cluster: EmbeddedCluster;
  let leader: bigint;
  let follower: bigint;
  let ctx: Context;
  const clients: TikvClient[] = [];

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3 });
    const r = cluster.topology.locateKey(Buffer.from("k"));
    if (!r?.leader) throw new Error("no leader");
    leader = r.leader.storeId;
    follower = r.peers.find((p) => p.storeId !== leader)?.storeId as bigint;
    ctx = Context.fromPartial({ regionId: r.id, regionEpoch: r.region.regionEpoch, peer: r.leader });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster.close();
  });

  function clientOf(storeId: bigint): TikvClient {
    const c = new TikvClient(cluster.store(storeId).address, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  }
  const forwardTo = (storeId: bigint) => {
    const md = new grpc.Metadata();
    md.set(FORWARDED_HOST_KEY, cluster.store(storeId).address);
    return md;
  };
  const rawPut = (c: TikvClient, md: grpc.Metadata, key: string, value: string) =>
    new Promise<unknown>((resolve, reject) =>
      c.rawPut(
        RawPutRequest.fromPartial({ context: ctx, key: Buffer.from(key), value: Buffer.from(value) }),
        md,
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
  const rawGet = (c: TikvClient, md: grpc.Metadata, key: string) =>
    new Promise<RawGetResponse>((resolve, reject) =>
      c.rawGet(RawGetRequest.fromPartial({ context: ctx, key: Buffer.from(key) }), md, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );

  it("a unary call with tikv-forwarded-host is served by the named store, logged as forwarded", async () => {
    const rec = cluster.recordRequests({ rpcs: ["RawPut", "RawGet"] });
    const viaFollower = clientOf(follower);
    await rawPut(viaFollower, forwardTo(leader), "k1", "v1");
    const got = await rawGet(viaFollower, forwardTo(leader), "k1");
    rec.stop();
    expect(got.regionError).toBeUndefined();
    expect(got.value.toString()).toBe("v1");
    expect(rec.entries.map((e) => [e.rpc, e.storeId, e.isLeader, e.forwardedBy])).toEqual([
      ["RawPut", leader, true, follower],
      ["RawGet", leader, true, follower],
    ]);
    // the same call without the metadata is the follower's own: refused (it names the leader's peer)
    const own = await rawGet(viaFollower, new grpc.Metadata(), "k1");
    expect(own.regionError).toBeDefined();
  });

  it("the target's gRPC status comes back as the proxy's", async () => {
    const f = cluster.faults.failNext({
      rpc: "RawGet",
      storeId: leader,
      error: { grpcStatus: grpc.status.RESOURCE_EXHAUSTED, message: "target says no" },
    });
    const err = (await rawGet(clientOf(follower), forwardTo(leader), "k1").catch(
      (e) => e,
    )) as grpc.ServiceError;
    f.cancel();
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain("target says no");
  });

  it("a BatchCommands stream with tikv-forwarded-host is bridged to the named store", async () => {
    const rec = cluster.recordRequests({ rpcs: ["RawGet"] });
    const stream = clientOf(follower).batchCommands(forwardTo(leader));
    const resp = await new Promise<BatchCommandsResponse>((resolve, reject) => {
      stream.on("data", resolve);
      stream.on("error", reject);
      stream.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [7n],
          requests: [{ cmd: { $case: "RawGet", RawGet: { context: ctx, key: Buffer.from("k1") } } }],
        }),
      );
    });
    stream.end();
    rec.stop();
    expect(resp.requestIds).toEqual([7n]);
    const r = resp.responses[0]?.cmd;
    expect(r?.$case).toBe("RawGet");
    expect(r?.$case === "RawGet" && r.RawGet.value.toString()).toBe("v1");
    expect(rec.entries.map((e) => [e.storeId, e.forwardedBy])).toEqual([[leader, follower]]);
  });

  it("a forwarded stream the target fails ends with the target's status", async () => {
    const f = cluster.faults.failNext({
      rpc: "BatchCommands",
      storeId: leader,
      error: { grpcStatus: grpc.status.RESOURCE_EXHAUSTED, message: "target stream refused" },
    });
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const s = clientOf(follower).batchCommands(forwardTo(leader));
      s.on("error", resolve);
      s.on("data", () => {});
    });
    f.cancel();
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain("target stream refused");
  });

  it("blockClients: the store refuses clients, unary and streams, yet serves calls its peers forward", async () => {
    cluster.blockClients(leader);
    try {
      const direct = (await rawGet(clientOf(leader), new grpc.Metadata(), "k1").catch(
        (e) => e,
      )) as grpc.ServiceError;
      expect(direct.code).toBe(grpc.status.UNAVAILABLE);
      const streamErr = await new Promise<grpc.ServiceError>((resolve) => {
        const s = clientOf(leader).batchCommands();
        s.on("error", resolve);
        s.on("data", () => {});
      });
      expect(streamErr.code).toBe(grpc.status.UNAVAILABLE);
      // through a follower it still works
      expect((await rawGet(clientOf(follower), forwardTo(leader), "k1")).value.toString()).toBe("v1");
      // and the blocked store cannot be used as a proxy by clients either
      const asProxy = (await rawGet(clientOf(leader), forwardTo(follower), "k1").catch(
        (e) => e,
      )) as grpc.ServiceError;
      expect(asProxy.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      cluster.unblockClients(leader);
    }
    expect((await rawGet(clientOf(leader), new grpc.Metadata(), "k1")).value.toString()).toBe("v1");
  });

  it("blockClients ends the client streams already open, and forwarding to a stopped store fails UNAVAILABLE", async () => {
    const s = clientOf(leader).batchCommands();
    s.on("data", () => {});
    const ended = new Promise<grpc.ServiceError>((resolve) => s.on("error", resolve));
    // the stream is open (an Empty round trip) before the cut
    await new Promise<void>((resolve) => {
      s.once("data", () => resolve());
      s.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [1n],
          requests: [{ cmd: { $case: "Empty", Empty: { testId: 1n } } }],
        }),
      );
    });
    cluster.blockClients(leader);
    try {
      expect((await ended).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      cluster.unblockClients(leader);
    }
    const third = cluster.stores.find((x) => x.storeId !== leader && x.storeId !== follower)
      ?.storeId as bigint;
    await cluster.stopStore(third);
    try {
      const err = (await rawGet(clientOf(follower), forwardTo(third), "k1").catch(
        (e) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await cluster.startStore(third);
    }
  });
});
