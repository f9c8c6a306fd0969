import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { keyspaceRegionBounds } from "../../../src/cluster/pd/index.js";
import { KeyspaceState } from "../../../src/proto/keyspacepb.js";
import {
  ErrorType,
  ReportBucketsRequest,
  type ReportBucketsResponse,
  WatchGlobalConfigRequest,
} from "../../../src/proto/pdpb.js";
import { call, callError, type PdFixture, startPd } from "./helpers.js";

let fx: PdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("AllocID, cluster config, external timestamp", () => {
  it("AllocID answers the last id of a batch; ids never repeat and skip topology ids", async () => {
    fx = await startPd({ layout: { stores: 2 } });
    const c = fx.clients[0]!;
    const next = fx.pd.topology.ids.peek();
    const one = await call(c, "allocId", { header: fx.header });
    expect(one.id).toBe(next);
    expect(one.count).toBe(0);
    const batch = await call(c, "allocId", { header: fx.header, count: 5 });
    expect(batch.id).toBe(next + 5n);
    expect(batch.count).toBe(5);
    expect(fx.pd.topology.addStore().id).toBe(next + 6n);
  });

  it("GetClusterConfig reports the cluster id and max peer count", async () => {
    fx = await startPd({ clusterId: 77n });
    const r = await call(fx.clients[0]!, "getClusterConfig", { header: fx.header });
    expect(r.cluster).toEqual({ id: 77n, maxPeerCount: 3 });
    await fx.close();
    fx = await startPd({ clusterId: 78n, maxPeerCount: 5 });
    const five = await call(fx.clients[0]!, "getClusterConfig", { header: fx.header });
    expect(five.cluster.maxPeerCount).toBe(5);
  });

  it("SetExternalTimestamp validates against the global ts and the current value", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const h = fx.header;
    expect((await call(c, "getExternalTimestamp", { header: h })).timestamp).toBe(0n);
    const ts = BigInt(Date.now() - 1000) << 18n;
    expect(
      (await call(c, "setExternalTimestamp", { header: h, timestamp: ts })).header.error,
    ).toBeUndefined();
    expect((await call(c, "getExternalTimestamp", { header: h })).timestamp).toBe(ts);
    const same = await call(c, "setExternalTimestamp", { header: h, timestamp: ts });
    expect(same.header.error).toEqual({
      type: ErrorType.INVALID_VALUE,
      message: "the external timestamp should be larger than current external timestamp",
    });
    const future = await call(c, "setExternalTimestamp", {
      header: h,
      timestamp: BigInt(Date.now() + 3_600_000) << 18n,
    });
    expect(future.header.error.message).toBe("the external timestamp should not be larger than global ts");
  });
});

describe("keyspaces", () => {
  it("LoadKeyspace answers DEFAULT (id 0) and registered keyspaces; unknown names get ENTRY_NOT_FOUND", async () => {
    fx = await startPd();
    fx.pd.state.keyspaces.add({ name: "ks_a", id: 42, config: { k: "v" } });
    fx.pd.state.keyspaces.add({ name: "ks_off", state: KeyspaceState.DISABLED });
    const k = fx.keyspaces[0]!;
    const d = await call(k, "loadKeyspace", { header: fx.header, name: "DEFAULT" });
    expect(d.keyspace.keyspace).toEqual({ $case: "id", id: 0 });
    expect(d.keyspace.state).toBe(KeyspaceState.ENABLED);
    const a = await call(k, "loadKeyspace", { header: fx.header, name: "ks_a" });
    expect(a.keyspace.keyspace).toEqual({ $case: "id", id: 42 });
    expect(a.keyspace.config).toEqual({ k: "v" });
    const off = await call(k, "loadKeyspace", { header: fx.header, name: "ks_off" });
    expect(off.keyspace.keyspace).toEqual({ $case: "id", id: 43 });
    expect(off.keyspace.state).toBe(KeyspaceState.DISABLED);
    const none = await call(k, "loadKeyspace", { header: fx.header, name: "nope" });
    expect(none.header.error).toEqual({
      type: ErrorType.ENTRY_NOT_FOUND,
      message: "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist",
    });
    expect(none.keyspace).toBeUndefined();
    expect((await callError(k, "loadKeyspace", { header: { clusterId: 1n }, name: "DEFAULT" })).code).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
    expect(() => fx!.pd.state.keyspaces.add({ name: "clash", id: 42 })).toThrow(RangeError);
  });
});

describe("keyspace creation", () => {
  it("createKeyspace splits the regions at the keyspace's raw and txn bounds", async () => {
    fx = await startPd();
    const meta = fx.pd.createKeyspace({ name: "ks", id: 0x0102ff });
    expect(meta.keyspace).toEqual({ $case: "id", id: 0x0102ff });
    expect(fx.pd.topology.regions().map((r) => r.startKey.toString("hex"))).toEqual([
      "",
      "720102ff",
      "72010300",
      "780102ff",
      "78010300",
    ]);
    // The last id carries into the prefix byte.
    expect(keyspaceRegionBounds(0xffffff).map((k) => k.toString("hex"))).toEqual([
      "72ffffff",
      "73000000",
      "78ffffff",
      "79000000",
    ]);
    fx.pd.createKeyspace({ name: "nosplit" }, { splitRegions: false });
    expect(fx.pd.topology.regions()).toHaveLength(5);
  });
});

describe("store heartbeat, global config, health", () => {
  it("StoreHeartbeat accepts known stores and reports tombstones and unknown stores as PD does", async () => {
    fx = await startPd({ layout: { stores: 2 } });
    const [s1, s2] = fx.pd.topology.stores();
    const c = fx.clients[0]!;
    const ok = await call(c, "storeHeartbeat", { header: fx.header, stats: { storeId: s1!.id } });
    expect(ok.header.error).toBeUndefined();
    fx.pd.topology.setStoreState(s2!.id, "tombstone");
    const tomb = await call(c, "storeHeartbeat", { header: fx.header, stats: { storeId: s2!.id } });
    expect(tomb.header.error).toEqual({ type: ErrorType.STORE_TOMBSTONE, message: "store is tombstone" });
    const unknown = await call(c, "storeHeartbeat", { header: fx.header, stats: { storeId: 99n } });
    expect(unknown.header.error.message).toBe("store 99 not found");
    expect((await callError(c, "storeHeartbeat", { header: fx.header })).code).toBe(grpc.status.UNKNOWN);
  });

  it("ReportBuckets accepts a stream of reports and answers once it ends", async () => {
    fx = await startPd();
    const res = await new Promise<ReportBucketsResponse>((resolve, reject) => {
      const stream = fx!.clients[0]!.reportBuckets((e, r) => (e ? reject(e) : resolve(r)));
      for (let i = 0; i < 3; i++) stream.write(ReportBucketsRequest.fromPartial({ header: fx!.header }));
      stream.end();
    });
    expect(res.header!.clusterId).toBe(fx.pd.clusterId);
    expect(fx.pd.faults.calls("ReportBuckets")).toBe(3);
  });

  it("WatchGlobalConfig stays open without events until the client cancels", async () => {
    fx = await startPd();
    const stream = fx.clients[0]!.watchGlobalConfig(WatchGlobalConfigRequest.fromPartial({}));
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    let events = 0;
    stream.on("data", () => events++);
    await call(fx.clients[0]!, "getMembers", { header: fx.header }); // a round trip while it is open
    stream.cancel();
    expect((await ended).code).toBe(grpc.status.CANCELLED);
    expect(events).toBe(0);
    expect(fx.pd.faults.calls("WatchGlobalConfig")).toBe(1);
  });

  it("global config round-trips and reports missing names", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    await call(c, "storeGlobalConfig", { changes: [{ name: "a", value: "1" }] });
    const r = await call(c, "loadGlobalConfig", { names: ["a", "b"] });
    expect(r.items[0]).toMatchObject({ name: "a", value: "1" });
    expect(r.items[1].error.type).toBe(ErrorType.GLOBAL_CONFIG_NOT_FOUND);
  });

  it("grpc.health.v1 reports SERVING, NOT_SERVING while the member is unavailable", async () => {
    fx = await startPd();
    const Health = grpc.makeGenericClientConstructor(
      {
        check: {
          path: "/grpc.health.v1.Health/Check",
          requestStream: false,
          responseStream: false,
          // HealthCheckRequest{service: ""} encodes to zero bytes.
          requestSerialize: () => Buffer.alloc(0),
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          // HealthCheckResponse{status}: field 1 varint.
          responseDeserialize: (b: Buffer) => (b.length >= 2 ? b[1]! : 0),
        },
      },
      "grpc.health.v1.Health",
    );
    const h = new Health(fx.pd.endpoints[0]!, grpc.credentials.createInsecure()) as unknown as {
      check(req: object, cb: (e: Error | null, s: number) => void): void;
      close(): void;
    };
    const check = () =>
      new Promise<number>((res, rej) => h.check({}, (e: Error | null, s: number) => (e ? rej(e) : res(s))));
    expect(await check()).toBe(1); // SERVING
    fx.pd.setUnavailable(true);
    expect(await check()).toBe(2); // NOT_SERVING
    h.close();
  });
});
