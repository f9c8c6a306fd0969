// An etcd client over grpc-js from our etcd protos (src/proto/etcd), against a MockPd's
// client port, with clientv3's key helpers (prefix range end, "\0" = all keys >= key).
import * as grpc from "@grpc/grpc-js";
import { MockPd, type MockPdOptions } from "../../../src/cluster/pd/index.js";
import { bootstrapTopology } from "../../../src/cluster/topology/index.js";
import {
  ClusterClient,
  CompactionRequest,
  type CompactionResponse,
  type DeepPartial,
  DeleteRangeRequest,
  type DeleteRangeResponse,
  KVClient,
  LeaseClient,
  LeaseGrantRequest,
  type LeaseGrantResponse,
  LeaseRevokeRequest,
  type LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  MaintenanceClient,
  MemberListRequest,
  type MemberListResponse,
  PutRequest,
  type PutResponse,
  RangeRequest,
  type RangeResponse,
  StatusRequest,
  type StatusResponse,
  TxnRequest,
  type TxnResponse,
  WatchClient,
  WatchRequest,
  type WatchResponse,
} from "../../../src/proto/etcd/etcdserverpb/rpc.js";

export const b = (s: string): Buffer => Buffer.from(s, "utf8");
export const s = (x: Uint8Array | undefined): string => Buffer.from(x ?? []).toString("utf8");

/** clientv3.GetPrefixRangeEnd. */
export function prefixEnd(prefix: string): Buffer {
  const e = Buffer.from(prefix);
  for (let i = e.length - 1; i >= 0; i--) {
    if ((e[i] as number) < 0xff) {
      e[i] = (e[i] as number) + 1;
      return e.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

type Cb<R> = (e: grpc.ServiceError | null, r: R) => void;
type UnaryFn<Q, R> = (req: Q, cb: Cb<R>) => unknown;

function promisify<Q, R>(client: object, fn: UnaryFn<Q, R>) {
  return (req: Q): Promise<R> =>
    new Promise((resolve, reject) => fn.call(client, req, (e, r) => (e ? reject(e) : resolve(r))));
}

/** A MockPd with etcd clients on member `member` (default 0). */
export async function startEtcd(opts: Partial<MockPdOptions> = {}, member = 0) {
  const pd = await MockPd.start({ host: "127.0.0.1", topology: bootstrapTopology({}), ...opts });
  const ep = pd.endpoints[member] as string;
  const creds = grpc.credentials.createInsecure();
  const kvc = new KVClient(ep, creds);
  const leasec = new LeaseClient(ep, creds);
  const watchc = new WatchClient(ep, creds);
  const clusterc = new ClusterClient(ep, creds);
  const maintc = new MaintenanceClient(ep, creds);
  const streams: grpc.ClientDuplexStream<WatchRequest, WatchResponse>[] = [];
  const etcd = {
    pd,
    range: (r: DeepPartial<RangeRequest>) =>
      promisify<RangeRequest, RangeResponse>(kvc, kvc.range)(RangeRequest.fromPartial(r)),
    get: async (key: string) => (await etcd.range({ key: b(key) })).kvs[0],
    put: (key: string, value: string, more: DeepPartial<PutRequest> = {}) =>
      promisify<PutRequest, PutResponse>(
        kvc,
        kvc.put,
      )(PutRequest.fromPartial({ key: b(key), value: b(value), ...more })),
    del: (r: DeepPartial<DeleteRangeRequest>) =>
      promisify<DeleteRangeRequest, DeleteRangeResponse>(
        kvc,
        kvc.deleteRange,
      )(DeleteRangeRequest.fromPartial(r)),
    txn: (r: DeepPartial<TxnRequest>) =>
      promisify<TxnRequest, TxnResponse>(kvc, kvc.txn)(TxnRequest.fromPartial(r)),
    compact: (revision: bigint) =>
      promisify<CompactionRequest, CompactionResponse>(
        kvc,
        kvc.compact,
      )(CompactionRequest.fromPartial({ revision })),
    grant: (TTL: bigint, ID = 0n) =>
      promisify<LeaseGrantRequest, LeaseGrantResponse>(
        leasec,
        leasec.leaseGrant,
      )(LeaseGrantRequest.fromPartial({ TTL, ID })),
    revoke: (ID: bigint) =>
      promisify<LeaseRevokeRequest, LeaseRevokeResponse>(
        leasec,
        leasec.leaseRevoke,
      )(LeaseRevokeRequest.fromPartial({ ID })),
    timeToLive: (ID: bigint, keys = false) =>
      promisify<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(
        leasec,
        leasec.leaseTimeToLive,
      )(LeaseTimeToLiveRequest.fromPartial({ ID, keys })),
    keepAlive: () => leasec.leaseKeepAlive(),
    memberList: () =>
      promisify<MemberListRequest, MemberListResponse>(
        clusterc,
        clusterc.memberList,
      )(MemberListRequest.fromPartial({})),
    status: () =>
      promisify<StatusRequest, StatusResponse>(maintc, maintc.status)(StatusRequest.fromPartial({})),
    /** Opens a Watch stream that queues its responses. */
    watch() {
      const call = watchc.watch();
      streams.push(call);
      const got: WatchResponse[] = [];
      const waiters: (() => void)[] = [];
      call.on("data", (r: WatchResponse) => {
        got.push(r);
        for (const w of waiters.splice(0)) w();
      });
      call.on("error", () => {});
      return {
        send: (r: DeepPartial<WatchRequest>) => call.write(WatchRequest.fromPartial(r)),
        /** Resolves with the next `n` responses (rejects after `ms`). */
        async next(n = 1, ms = 2000): Promise<WatchResponse[]> {
          const deadline = Date.now() + ms;
          while (got.length < n) {
            if (Date.now() > deadline) throw new Error(`watch: ${got.length} of ${n} responses`);
            await new Promise<void>((r) => {
              waiters.push(r);
              setTimeout(r, 50);
            });
          }
          return got.splice(0, n);
        },
        pending: () => got.length,
      };
    },
    async close() {
      for (const st of streams) st.cancel();
      for (const c of [kvc, leasec, watchc, clusterc, maintc]) c.close();
      await pd.stop();
    },
  };
  return etcd;
}

export type EtcdFixture = Awaited<ReturnType<typeof startEtcd>>;
