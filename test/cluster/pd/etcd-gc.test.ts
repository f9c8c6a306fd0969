// PD's GC state as etcd clients read it (client-go's EtcdSafePointKV and compatible txn safe
// point loader read /tidb/store/gcworker/saved_safe_point): after this project's client runs
// GC or sets a service safe point, an etcd client over grpc-js sees PD's keys and formats.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gcStateEntries, TXN_SAFE_POINT_KEY } from "../../../src/cluster/pd/etcd/index.js";
import { NULL_KEYSPACE_ID } from "../../../src/cluster/pd/index.js";
import { TikvClient } from "../../../src/index.js";
import {
  KVClient,
  PutRequest,
  RangeRequest,
  type RangeResponse,
} from "../../../src/proto/etcd/etcdserverpb/rpc.js";
import { EmbeddedCluster } from "../../../src/testing.js";
import { b, prefixEnd, s } from "./etcd-helpers.js";

let cluster: EmbeddedCluster;
let client: TikvClient;
let kv: KVClient;

beforeAll(async () => {
  cluster = await EmbeddedCluster.start({ stores: 1 });
  client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints });
  kv = new KVClient(cluster.pdEndpoints[0] as string, grpc.credentials.createInsecure());
});
afterAll(async () => {
  kv.close();
  await client.close();
  await cluster.close();
});

const range = (key: string, prefix = false) =>
  new Promise<RangeResponse>((resolve, reject) =>
    kv.range(
      RangeRequest.fromPartial({ key: b(key), rangeEnd: prefix ? prefixEnd(key) : Buffer.alloc(0) }),
      (e, r) => (e ? reject(e) : resolve(r)),
    ),
  );

describe("GC state through the etcd face", () => {
  it("PD's cluster id is under /pd/cluster_id, 8 bytes big-endian", async () => {
    const r = await range("/pd/cluster_id");
    expect(r.kvs[0]!.value.readBigUInt64BE(0)).toBe(cluster.pd.clusterId);
  });

  it("a service safe point appears under PD's service key with expired_at; a gc round writes the safe points", async () => {
    const cid = cluster.pd.clusterId;
    const ts = await client.txn().currentTimestamp();
    expect((await range(TXN_SAFE_POINT_KEY)).kvs).toEqual([]);

    await client.updateServiceGCSafePoint("etcd-test", 600, ts);
    const svc = await range(`/pd/${cid}/gc/safe_point/service/`, true);
    const text = s(svc.kvs.find((x) => s(x.key).endsWith("/etcd-test"))!.value);
    const entry = JSON.parse(text);
    expect(entry.service_id).toBe("etcd-test");
    // timestamps exceed 2^53: read the number from the text
    expect(BigInt(/"safe_point":(\d+)/.exec(text)![1]!)).toBe(ts);
    expect(entry.expired_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 590);

    await client.updateServiceGCSafePoint("etcd-test", 0, ts); // removed again
    expect((await range(`/pd/${cid}/gc/safe_point/service/etcd-test`)).kvs).toEqual([]);

    const gc = await client.gc(ts);
    expect(gc.txnSafePoint).toBe(ts);
    const txnSp = await range(TXN_SAFE_POINT_KEY);
    expect(s(txnSp.kvs[0]!.value)).toBe(ts.toString(10));
    // PD writes its GC safe point in hex
    const gcSp = await range(`/pd/${cid}/gc/safe_point`);
    expect(BigInt(`0x${s(gcSp.kvs[0]!.value)}`)).toBe(ts);
  });
});

describe("safe points written straight into etcd", () => {
  it("become PD's txn safe point, as PD reads them back from etcd", async () => {
    const ts = (await client.txn().currentTimestamp()) + 100n;
    await new Promise<void>((resolve, reject) =>
      kv.put(PutRequest.fromPartial({ key: b(TXN_SAFE_POINT_KEY), value: b(ts.toString()) }), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    expect((await client.getGCState()).txnSafePoint).toBe(ts);
  });
});

describe("gcStateEntries", () => {
  it("writes keyspace-level state under PD's keyspace paths with keyspace_id", () => {
    const m = gcStateEntries(
      {
        keyspaces: [
          {
            keyspaceId: 7,
            txnSafePoint: 20n,
            gcSafePoint: 10n,
            barriers: [{ barrierId: "br", barrierTs: 30n, expiresAtMs: 5_000_000 }],
          },
          {
            keyspaceId: NULL_KEYSPACE_ID,
            txnSafePoint: 0n,
            gcSafePoint: 0n,
            barriers: [{ barrierId: "gc_worker", barrierTs: 5n, expiresAtMs: undefined }],
          },
        ],
        globals: [{ barrierId: "g", barrierTs: 40n, expiresAtMs: undefined }],
      },
      42n,
    );
    expect(Object.fromEntries(m)).toEqual({
      "/keyspaces/tidb/7/tidb/store/gcworker/saved_safe_point": "20",
      "/pd/42/keyspaces/gc_safe_point/00000007": '{"keyspace_id":7,"safe_point":10}',
      "/pd/42/keyspaces/service_safe_point/00000007/br":
        '{"service_id":"br","expired_at":5000,"safe_point":30,"keyspace_id":7}',
      // gc_worker's compatibility barrier (legacy service safe point API) never expires
      "/pd/42/gc/safe_point/service/gc_worker":
        '{"service_id":"gc_worker","expired_at":9223372036854775807,"safe_point":5}',
      "/pd/42/gc/global_gc_barriers/g": '{"barrier_id":"g","barrier_ts":40,"expiration_time":0}',
    });
  });
});
