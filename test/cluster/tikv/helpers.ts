// Test doubles for a mock TiKV store: a tiny topology and a txn engine that records calls.
import * as grpc from "@grpc/grpc-js";
import type {
  KeyRangeArg,
  RegionState,
  TopologyPort,
  TxnEnginePort,
} from "../../../src/cluster/tikv/ports.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import { type Peer, PeerRole, type Region } from "../../../src/proto/metapb.js";
import { TikvClient } from "../../../src/proto/tikvpb.js";

export const b = (s: string): Buffer => Buffer.from(s, "utf8");

export interface RegionSpec {
  id: number;
  start?: string;
  end?: string;
  version?: number;
  confVer?: number;
  /** [peerId, storeId, learner?] */
  peers: [number, number, boolean?][];
  leader?: number;
  safeTs?: bigint;
}

/** In-memory TopologyPort: right-derived splits like TiKV (the old id keeps the right part). */
export class FakeTopology implements TopologyPort {
  readonly regions = new Map<bigint, RegionState>();
  private nextId = 1000n;

  add(spec: RegionSpec): this {
    const peers: Peer[] = spec.peers.map(([id, storeId, learner]) => ({
      id: BigInt(id),
      storeId: BigInt(storeId),
      role: learner ? PeerRole.Learner : PeerRole.Voter,
      isWitness: false,
    }));
    const region: Region = {
      id: BigInt(spec.id),
      startKey: b(spec.start ?? ""),
      endKey: b(spec.end ?? ""),
      regionEpoch: { confVer: BigInt(spec.confVer ?? 1), version: BigInt(spec.version ?? 1) },
      peers,
      isInFlashback: false,
      flashbackStartTs: 0n,
    };
    const leader =
      spec.leader === undefined ? undefined : peers.find((p) => p.id === BigInt(spec.leader as number));
    this.regions.set(region.id, { region, leader, safeTs: spec.safeTs ?? 0n });
    return this;
  }

  regionState(id: bigint): RegionState | undefined {
    return this.regions.get(id);
  }

  regionsOnStore(storeId: bigint): Region[] {
    return [...this.regions.values()]
      .map((s) => s.region)
      .filter((r) => r.peers.some((p) => p.storeId === storeId))
      .sort((x, y) => Buffer.compare(x.startKey, y.startKey));
  }

  split(regionId: bigint, keys: Buffer[]): Region[] {
    const st = this.regions.get(regionId);
    if (!st) throw new Error("no region");
    const old = st.region;
    const version = (old.regionEpoch?.version ?? 0n) + BigInt(keys.length);
    const epoch = { confVer: old.regionEpoch?.confVer ?? 0n, version };
    const bounds = [old.startKey, ...keys, old.endKey];
    const out: Region[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const last = i + 2 === bounds.length;
      const id = last ? old.id : this.nextId++;
      const peers = old.peers.map((p) => ({ ...p, id: last ? p.id : this.nextId++ }));
      const r: Region = {
        ...old,
        id,
        startKey: bounds[i] as Buffer,
        endKey: bounds[i + 1] as Buffer,
        regionEpoch: epoch,
        peers,
      };
      const leaderIdx = st.leader ? old.peers.findIndex((p) => p.id === st.leader?.id) : -1;
      this.regions.set(id, {
        region: r,
        leader: leaderIdx >= 0 ? peers[leaderIdx] : undefined,
        safeTs: st.safeTs,
      });
      out.push(r);
    }
    return out;
  }
}

/** One recorded engine call. */
export interface EngineCall {
  method: string;
  req: unknown;
  range: KeyRangeArg | undefined;
}

/** A TxnEnginePort whose every method records the call and returns a marker response. */
export function recordingTxnEngine(calls: EngineCall[]): TxnEnginePort {
  const rec =
    <Req, Resp>(method: string, make: (req: Req) => Resp) =>
    (req: Req, range?: KeyRangeArg): Resp => {
      calls.push({ method, req, range });
      return make(req);
    };
  return {
    get: rec("get", (r: kv.GetRequest) =>
      kv.GetResponse.fromPartial({ value: Buffer.concat([b("txn:"), r.key]) }),
    ),
    batchGet: rec("batchGet", (r: kv.BatchGetRequest) =>
      kv.BatchGetResponse.fromPartial({ pairs: r.keys.map((key) => ({ key, value: b("v") })) }),
    ),
    scan: rec("scan", () => kv.ScanResponse.fromPartial({ pairs: [{ key: b("s"), value: b("v") }] })),
    bufferBatchGet: rec("bufferBatchGet", () => kv.BufferBatchGetResponse.fromPartial({ pairs: [] })),
    prewrite: rec("prewrite", () => kv.PrewriteResponse.fromPartial({ minCommitTs: 7n })),
    commit: rec("commit", (r: kv.CommitRequest) =>
      kv.CommitResponse.fromPartial({ commitVersion: r.commitVersion }),
    ),
    batchRollback: rec("batchRollback", () => kv.BatchRollbackResponse.fromPartial({})),
    pessimisticLock: (req: kv.PessimisticLockRequest) =>
      new Promise<kv.PessimisticLockResponse>((resolve) => {
        calls.push({ method: "pessimisticLock", req, range: undefined });
        setTimeout(() => resolve(kv.PessimisticLockResponse.fromPartial({ values: [b("locked")] })), 5);
      }),
    pessimisticRollback: rec("pessimisticRollback", () => kv.PessimisticRollbackResponse.fromPartial({})),
    txnHeartBeat: rec("txnHeartBeat", () => kv.TxnHeartBeatResponse.fromPartial({ lockTtl: 3000n })),
    checkTxnStatus: rec("checkTxnStatus", () => kv.CheckTxnStatusResponse.fromPartial({ commitVersion: 9n })),
    cleanup: rec("cleanup", () => kv.CleanupResponse.fromPartial({ commitVersion: 13n })),
    checkSecondaryLocks: rec("checkSecondaryLocks", () =>
      kv.CheckSecondaryLocksResponse.fromPartial({ commitTs: 11n }),
    ),
    resolveLock: rec("resolveLock", () => kv.ResolveLockResponse.fromPartial({})),
    scanLock: rec("scanLock", () => kv.ScanLockResponse.fromPartial({ locks: [{ key: b("l") }] })),
    flush: rec("flush", () => kv.FlushResponse.fromPartial({})),
    broadcastTxnStatus: rec("broadcastTxnStatus", () => kv.BroadcastTxnStatusResponse.fromPartial({})),
    deleteRange: rec("deleteRange", () => kv.DeleteRangeResponse.fromPartial({})),
    mvccGetByKey: rec("mvccGetByKey", () => kv.MvccGetByKeyResponse.fromPartial({ info: {} })),
    mvccGetByStartTs: rec("mvccGetByStartTs", () => kv.MvccGetByStartTsResponse.fromPartial({ key: b("m") })),
    unsafeDestroyRange: (start: Buffer, end: Buffer) => {
      calls.push({ method: "unsafeDestroyRange", req: { start, end }, range: undefined });
    },
  };
}

/** A promise-returning view of one unary TikvClient method. */
export function call<Req, Resp>(client: TikvClient, method: keyof TikvClient, req: Req): Promise<Resp> {
  return new Promise((resolve, reject) => {
    (client[method] as unknown as (r: Req, cb: (e: grpc.ServiceError | null, r: Resp) => void) => void).call(
      client,
      req,
      (e, r) => (e ? reject(e) : resolve(r)),
    );
  });
}

export function newClient(address: string): TikvClient {
  return new TikvClient(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
}

/** A request context addressed to `regionId` on (peerId, storeId) with the given epoch version. */
export function ctx(
  regionId: number,
  peerId: number,
  storeId: number,
  version = 1,
  extra: Partial<kv.Context> = {},
): kv.Context {
  return kv.Context.fromPartial({
    regionId: BigInt(regionId),
    peer: { id: BigInt(peerId), storeId: BigInt(storeId) },
    regionEpoch: { confVer: 1n, version: BigInt(version) },
    ...extra,
  });
}
