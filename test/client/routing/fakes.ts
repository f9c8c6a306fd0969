// In-memory PD (RegionSource) and scripted TiKV stores (StoreSender) for routing tests.

import type { RegionInfo, RegionSource } from "../../../src/actors/region-cache/region-source.js";
import type {
  StoreAddress,
  StoreSender,
  StoreSendOptions,
} from "../../../src/actors/request/store-sender.js";
import { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { type Peer, PeerRole, Region, type Store, StoreState } from "../../../src/proto/metapb.js";
import { AbortedError, GrpcError, notSent, TimeoutError } from "../../../src/rpc/errors.js";

const b = (s: string) => Buffer.from(s, "latin1");

/** A fake PD holding regions and stores; counts calls. */
export class FakePd implements RegionSource {
  regions: RegionInfo[] = [];
  stores = new Map<bigint, Store>();
  calls = { getRegion: 0, getPrevRegion: 0, getRegionById: 0, scanRegions: 0, getStore: 0 };
  /** Fail the next N calls of any region lookup. */
  failNext = 0;
  private nextId = 100n;

  addStore(id: bigint, labels: Record<string, string> = {}, state = StoreState.Up): void {
    this.stores.set(id, {
      id,
      address: `store${id}`,
      state,
      labels: Object.entries(labels).map(([key, value]) => ({ key, value })),
      version: "",
      peerAddress: "",
      statusAddress: "",
      gitHash: "",
      startTimestamp: 0n,
      deployPath: "",
      lastHeartbeat: 0n,
      physicallyDestroyed: false,
      nodeState: 0,
    });
  }

  allocId(): bigint {
    return this.nextId++;
  }

  /** Adds a region over [start, end) with peers on `storeIds` (first = leader). */
  addRegion(
    id: bigint,
    start: string,
    end: string,
    storeIds: bigint[],
    leaderIdx = 0,
    version = 1n,
    confVer = 1n,
  ) {
    const peers: Peer[] = storeIds.map((s) => ({
      id: id * 10n + s,
      storeId: s,
      role: PeerRole.Voter,
      isWitness: false,
    }));
    const info: RegionInfo = {
      meta: Region.fromPartial({
        id,
        startKey: b(start),
        endKey: b(end),
        regionEpoch: { confVer, version },
        peers,
      }),
      leader: peers[leaderIdx],
    };
    this.regions.push(info);
    this.sort();
    return info;
  }

  region(id: bigint): RegionInfo {
    const r = this.regions.find((x) => x.meta.id === id);
    if (!r) throw new Error(`no region ${id}`);
    return r;
  }

  /** Splits region `id` at `key`: the left half keeps the id, the right half gets `newId`. Versions bump. */
  split(id: bigint, key: string, newId: bigint): RegionInfo {
    const r = this.region(id);
    const version = (r.meta.regionEpoch?.version ?? 0n) + 1n;
    const right: RegionInfo = {
      meta: Region.fromPartial({
        id: newId,
        startKey: b(key),
        endKey: r.meta.endKey,
        regionEpoch: { confVer: r.meta.regionEpoch?.confVer ?? 1n, version },
        peers: r.meta.peers.map((p) => ({ ...p, id: newId * 10n + p.storeId })),
      }),
    };
    right.leader = right.meta.peers.find((p) => p.storeId === r.leader?.storeId);
    r.meta = Region.fromPartial({
      ...r.meta,
      endKey: b(key),
      regionEpoch: { confVer: r.meta.regionEpoch?.confVer, version },
    });
    this.regions.push(right);
    this.sort();
    return right;
  }

  /** Merges region `right` into `left` (left absorbs right's range). */
  merge(left: bigint, right: bigint): void {
    const l = this.region(left);
    const r = this.region(right);
    const version =
      ((l.meta.regionEpoch?.version ?? 0n) > (r.meta.regionEpoch?.version ?? 0n)
        ? (l.meta.regionEpoch?.version ?? 0n)
        : (r.meta.regionEpoch?.version ?? 0n)) + 1n;
    l.meta = Region.fromPartial({
      ...l.meta,
      endKey: r.meta.endKey,
      regionEpoch: { confVer: l.meta.regionEpoch?.confVer, version },
    });
    this.regions = this.regions.filter((x) => x !== r);
  }

  /** Moves the leader of region `id` to the peer on `storeId`. */
  transferLeader(id: bigint, storeId: bigint): void {
    const r = this.region(id);
    r.leader = r.meta.peers.find((p) => p.storeId === storeId);
  }

  private sort() {
    this.regions.sort((x, y) => Buffer.compare(x.meta.startKey, y.meta.startKey));
  }

  private find(key: Buffer): RegionInfo | undefined {
    return this.regions.find(
      (r) =>
        Buffer.compare(r.meta.startKey, key) <= 0 &&
        (r.meta.endKey.length === 0 || Buffer.compare(key, r.meta.endKey) < 0),
    );
  }

  private maybeFail() {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("pd unavailable");
    }
  }

  private clone(r: RegionInfo | undefined): RegionInfo | undefined {
    return r && { ...r, meta: Region.fromPartial(r.meta) };
  }

  async getRegion(key: Buffer) {
    this.calls.getRegion++;
    this.maybeFail();
    return this.clone(this.find(key));
  }

  async getPrevRegion(key: Buffer) {
    this.calls.getPrevRegion++;
    this.maybeFail();
    const i = this.regions.findIndex((r) => r === this.find(key));
    return this.clone(i > 0 ? this.regions[i - 1] : undefined);
  }

  async getRegionById(id: bigint) {
    this.calls.getRegionById++;
    this.maybeFail();
    return this.clone(this.regions.find((r) => r.meta.id === id));
  }

  async scanRegions(start: Buffer, end: Buffer, limit: number) {
    this.calls.scanRegions++;
    this.maybeFail();
    return this.regions
      .filter(
        (r) =>
          (r.meta.endKey.length === 0 || Buffer.compare(r.meta.endKey, start) > 0) &&
          (end.length === 0 || Buffer.compare(r.meta.startKey, end) < 0),
      )
      .slice(0, limit)
      .map((r) => this.clone(r) as RegionInfo);
  }

  async getStore(id: bigint) {
    this.calls.getStore++;
    return this.stores.get(id);
  }
}

/** What a scripted store answers: a region error, a transport error, or success. */
/** A region error as accepted by RegionErrorProto.fromPartial. */
export type RegionErrorInit = Parameters<typeof RegionErrorProto.fromPartial>[0];

export type StoreAnswer =
  | { regionError: RegionErrorInit }
  /** "refused": an UNAVAILABLE error marked notSent (the request never left the client). */
  | { error: "timeout" | "unavailable" | "refused" }
  | { hang: true }
  | { ok: true };

/** One recorded attempt. */
export interface Access {
  addr: string;
  cmd: string;
  replicaRead: boolean;
  staleRead: boolean;
  regionId: bigint;
  peerId: bigint;
  retry: boolean;
}

/** Stores that answer from a script (FIFO, then `fallback`); every attempt is recorded. */
export class ScriptedStores implements StoreSender {
  accesses: Access[] = [];
  script: Array<StoreAnswer | ((a: Access) => StoreAnswer)> = [];
  fallback: (a: Access) => StoreAnswer = () => ({ ok: true });

  async send(store: StoreAddress, cmd: string, req: unknown, opts: StoreSendOptions): Promise<never> {
    const ctx = (
      req as {
        context?: {
          replicaRead: boolean;
          staleRead: boolean;
          regionId: bigint;
          peer?: Peer;
          isRetryRequest: boolean;
        };
      }
    ).context;
    const a: Access = {
      addr: store.address,
      cmd,
      replicaRead: ctx?.replicaRead ?? false,
      staleRead: ctx?.staleRead ?? false,
      regionId: ctx?.regionId ?? 0n,
      peerId: ctx?.peer?.id ?? 0n,
      retry: ctx?.isRetryRequest ?? false,
    };
    this.accesses.push(a);
    const next = this.script.shift() ?? this.fallback;
    const ans = typeof next === "function" ? next(a) : next;
    await Promise.resolve();
    if ("hang" in ans) {
      // never answers; honours the attempt's signal like a real transport
      await new Promise((_, reject) => {
        opts.signal?.addEventListener("abort", () => reject(new AbortedError("request aborted")), {
          once: true,
        });
        if (opts.timeoutMs !== undefined) {
          setTimeout(
            () => reject(new TimeoutError(`${cmd} to ${store.address}`, opts.timeoutMs ?? 0)),
            opts.timeoutMs,
          );
        }
      });
    }
    if ("error" in ans) {
      if (ans.error === "timeout") throw new TimeoutError(`${cmd} to ${store.address}`, 1);
      if (ans.error === "refused")
        throw notSent(new GrpcError(14, "no available connections", store.address));
      throw new GrpcError(14, "connection refused", store.address);
    }
    if ("regionError" in ans) return { regionError: RegionErrorProto.fromPartial(ans.regionError) } as never;
    return { value: Buffer.from("hello world"), notFound: false } as never;
  }

  /** Access path in client-go's test notation. */
  path(): string[] {
    return this.accesses.map(
      (a) => `{addr: ${a.addr}, replica-read: ${a.replicaRead}, stale-read: ${a.staleRead}}`,
    );
  }
}

/** Key helper. */
export const key = b;
