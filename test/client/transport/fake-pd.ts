// A small multi-member fake PD for transport tests: GetMembers from every member, TSO and
// region/store/GC calls served by the leader only ("not leader" elsewhere), call counters,
// held GetRegion replies (to observe coalescing), injectable failures.

import * as grpc from "@grpc/grpc-js";
import { type Region, type Store, StoreState } from "../../../src/proto/metapb.js";
import {
  ErrorType,
  GetAllStoresResponse,
  GetGCSafePointResponse,
  GetMembersResponse,
  GetRegionResponse,
  GetStoreResponse,
  type Member,
  PDService,
  type ResponseHeader,
  ScanRegionsResponse,
  type TsoRequest,
  TsoResponse,
  UpdateGCSafePointResponse,
  UpdateServiceGCSafePointResponse,
} from "../../../src/proto/pdpb.js";

// biome-ignore lint/suspicious/noExplicitAny: the fake serves many message types through one helper
type Loose = any;
type Unary = (call: grpc.ServerUnaryCall<Loose, Loose>, cb: grpc.sendUnaryData<Loose>) => void;

export class FakePdCluster {
  readonly members: Array<{ server: grpc.Server | undefined; port: number; name: string }> = [];
  leader = 0;
  physical = 1_700_000_000_000n;
  logical = 0n;
  /** Count field of every TsoRequest the leader received. */
  readonly tsoCounts: number[] = [];
  /** Number of calls per method name (leader answers only). */
  readonly calls = new Map<string, number>();
  regions: Region[] = [];
  stores: Store[] = [];
  gcSafePoint = 0n;
  /** When true, GetRegion/GetRegionByID replies wait until releaseRegions(). */
  holdRegions = false;
  private held: Array<() => void> = [];
  /** Fail the next N calls of a method with this gRPC status. */
  readonly failNext = new Map<string, { n: number; code: grpc.status; details: string }>();
  private readonly tsoStreams = new Set<grpc.ServerDuplexStream<TsoRequest, TsoResponse>>();

  constructor(
    readonly clusterId: bigint,
    private readonly size = 3,
  ) {}

  endpoints(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.port}`);
  }

  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.size; i++) {
      this.members.push({ server: undefined, port: 0, name: `pd${i}` });
      await this.startMember(i);
    }
  }

  async startMember(i: number): Promise<void> {
    const m = this.members[i]!;
    const server = new grpc.Server();
    server.addService(PDService, this.impl(i) as grpc.UntypedServiceImplementation);
    m.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${m.port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    m.server = server;
  }

  stopMember(i: number): void {
    this.members[i]?.server?.forceShutdown();
    this.members[i]!.server = undefined;
  }

  /** Moves leadership; TSO streams on the old leader fail with "not leader". */
  setLeader(i: number): void {
    this.leader = i;
    for (const s of this.tsoStreams)
      s.emit("error", { code: grpc.status.UNAVAILABLE, details: "not leader" });
    this.tsoStreams.clear();
  }

  /** Breaks every open TSO stream (the leader stays). */
  breakTso(): void {
    for (const s of this.tsoStreams)
      s.emit("error", { code: grpc.status.UNAVAILABLE, details: "injected tso failure" });
    this.tsoStreams.clear();
  }

  releaseRegions(): void {
    for (const f of this.held.splice(0)) f();
  }

  stop(): void {
    for (let i = 0; i < this.members.length; i++) this.stopMember(i);
  }

  private header(error?: { type: ErrorType; message: string }): ResponseHeader {
    return { clusterId: this.clusterId, error };
  }

  private member(i: number): Member {
    return {
      name: `pd${i}`,
      memberId: BigInt(i + 1),
      peerUrls: [],
      clientUrls: [`http://127.0.0.1:${this.members[i]?.port}`],
      leaderPriority: 0,
      deployPath: "",
      binaryVersion: "",
      gitHash: "",
      dcLocation: "",
    };
  }

  private impl(i: number): Record<string, unknown> {
    const leaderOnly =
      (name: string, fn: (req: Loose) => unknown, hold = false): Unary =>
      (call, cb) => {
        if (this.leader !== i) return cb({ code: grpc.status.UNAVAILABLE, details: "not leader" });
        const f = this.failNext.get(name);
        if (f && f.n > 0) {
          f.n--;
          return cb({ code: f.code, details: f.details });
        }
        this.calls.set(name, this.count(name) + 1);
        const answer = () => cb(null, fn(call.request));
        if (hold && this.holdRegions) this.held.push(answer);
        else answer();
      };
    const findRegion = (key: Buffer) =>
      this.regions.find(
        (r) =>
          Buffer.compare(r.startKey, key) <= 0 &&
          (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0),
      );
    const regionResp = (r: Region | undefined) =>
      GetRegionResponse.fromPartial({ header: this.header(), region: r, leader: r?.peers[0] });
    return {
      getMembers: ((_call, cb) => {
        cb(
          null,
          GetMembersResponse.fromPartial({
            header: this.header(),
            members: this.members.map((_, j) => this.member(j)),
            leader: this.member(this.leader),
          }),
        );
      }) as Unary,
      tso: (call: grpc.ServerDuplexStream<TsoRequest, TsoResponse>) => {
        if (this.leader !== i) {
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "not leader" });
          return;
        }
        this.tsoStreams.add(call);
        call.on("data", (req: TsoRequest) => {
          this.tsoCounts.push(req.count);
          this.logical += BigInt(req.count);
          call.write(
            TsoResponse.fromPartial({
              header: this.header(),
              count: req.count,
              timestamp: { physical: this.physical, logical: this.logical, suffixBits: 0 },
            }),
          );
        });
        call.on("end", () => call.end());
        call.on("error", () => {});
      },
      getRegion: leaderOnly("getRegion", (req) => regionResp(findRegion(req.regionKey)), true),
      getPrevRegion: leaderOnly("getPrevRegion", (req) => {
        const cur = findRegion(req.regionKey);
        return regionResp(this.regions.find((r) => cur && Buffer.compare(r.endKey, cur.startKey) === 0));
      }),
      getRegionById: leaderOnly(
        "getRegionById",
        (req) => regionResp(this.regions.find((r) => r.id === req.regionId)),
        true,
      ),
      scanRegions: leaderOnly("scanRegions", (req) => {
        const rs = this.regions
          .filter((r) => r.endKey.length === 0 || Buffer.compare(r.endKey, req.startKey) > 0)
          .filter((r) => req.endKey.length === 0 || Buffer.compare(r.startKey, req.endKey) < 0)
          .slice(0, req.limit);
        return ScanRegionsResponse.fromPartial({
          header: this.header(),
          regions: rs.map((r) => ({ region: r, leader: r.peers[0] })),
        });
      }),
      getStore: leaderOnly("getStore", (req) => {
        const s = this.stores.find((x) => x.id === req.storeId);
        if (s?.state === StoreState.Tombstone) {
          return GetStoreResponse.fromPartial({
            header: this.header({
              type: ErrorType.STORE_TOMBSTONE,
              message: `store ${s.id} has been removed`,
            }),
          });
        }
        return GetStoreResponse.fromPartial({ header: this.header(), store: s });
      }),
      getAllStores: leaderOnly("getAllStores", () =>
        GetAllStoresResponse.fromPartial({
          header: this.header(),
          stores: this.stores.filter((s) => s.state !== StoreState.Tombstone),
        }),
      ),
      getGcSafePoint: leaderOnly("getGcSafePoint", () =>
        GetGCSafePointResponse.fromPartial({ header: this.header(), safePoint: this.gcSafePoint }),
      ),
      updateGcSafePoint: leaderOnly("updateGcSafePoint", (req) => {
        if (req.safePoint > this.gcSafePoint) this.gcSafePoint = req.safePoint;
        return UpdateGCSafePointResponse.fromPartial({
          header: this.header(),
          newSafePoint: this.gcSafePoint,
        });
      }),
      updateServiceGcSafePoint: leaderOnly("updateServiceGcSafePoint", (req) =>
        UpdateServiceGCSafePointResponse.fromPartial({
          header: this.header(),
          serviceId: req.serviceId,
          TTL: req.TTL,
          minSafePoint: this.gcSafePoint,
        }),
      ),
    };
  }
}

export function region(id: number, start: string, end: string, storeId = 1): Region {
  return {
    id: BigInt(id),
    startKey: Buffer.from(start),
    endKey: Buffer.from(end),
    regionEpoch: { confVer: 1n, version: 1n },
    peers: [{ id: BigInt(id * 10), storeId: BigInt(storeId), role: 0, isWitness: false }],
    isInFlashback: false,
    flashbackStartTs: 0n,
  };
}

export function store(id: number, address: string, state = StoreState.Up): Store {
  return {
    id: BigInt(id),
    address,
    state,
    labels: [],
    version: "8.5.0",
    peerAddress: "",
    statusAddress: "",
    gitHash: "",
    startTimestamp: 0n,
    deployPath: "",
    lastHeartbeat: 0n,
    physicallyDestroyed: false,
    nodeState: 0,
  } as Store;
}
