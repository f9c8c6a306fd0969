// Stand-in PD for the integration suites while the embedded cluster has no PD of its own:
// serves the PD calls a raw client makes (members, TSO, region and store lookups) straight from
// the cluster's topology, with PD's boundary encoding (plain for API v1 raw, memcomparable for
// API v2). Used by useCluster() only when EmbeddedCluster exposes no `pdEndpoints`.

import * as grpc from "@grpc/grpc-js";
import type { ClusterTopology } from "../../src/cluster/topology/cluster-topology.js";
import type { RegionInfo } from "../../src/cluster/topology/types.js";
import { decodeBytes, encodeBytes } from "../../src/kv/memcomparable.js";
import { type Region, Store, StoreState } from "../../src/proto/metapb.js";
import {
  GetAllStoresResponse,
  GetMembersResponse,
  GetRegionResponse,
  GetStoreResponse,
  PDService,
  ScanRegionsResponse,
  type TsoRequest,
  TsoResponse,
} from "../../src/proto/pdpb.js";

// biome-ignore lint/suspicious/noExplicitAny: one helper serves several message types
type Loose = any;

/** A one-member PD answering from a topology. */
export class TopologyPd {
  private server: grpc.Server | undefined;
  private port = 0;
  /** Calls per PD method. */
  readonly calls = new Map<string, number>();
  private logical = 0n;

  constructor(
    private readonly topology: ClusterTopology,
    private readonly clusterId: bigint,
    private readonly memcomparable: boolean,
  ) {}

  /** "127.0.0.1:port" once started. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(PDService, this.impl() as grpc.UntypedServiceImplementation);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    this.server = server;
  }

  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  private enc(k: Buffer): Buffer {
    return this.memcomparable && k.length > 0 ? encodeBytes(k) : k;
  }

  private dec(k: Buffer): Buffer {
    if (!this.memcomparable || k.length === 0) return k;
    try {
      return decodeBytes(k).key;
    } catch {
      return k;
    }
  }

  private meta(r: RegionInfo): Region {
    return { ...r.region, startKey: this.enc(r.startKey), endKey: this.enc(r.endKey) };
  }

  private header() {
    return { clusterId: this.clusterId };
  }

  private regionResp(r: RegionInfo | undefined) {
    return GetRegionResponse.fromPartial({
      header: this.header(),
      region: r ? this.meta(r) : undefined,
      leader: r?.leader,
    });
  }

  private store(id: bigint): Store | undefined {
    const s = this.topology.store(id);
    if (!s) return undefined;
    return Store.fromPartial({
      id: s.id,
      address: s.address,
      state: s.state === "tombstone" ? StoreState.Tombstone : s.state === "offline" ? StoreState.Offline : StoreState.Up,
      labels: s.labels.map((l) => ({ key: l.key, value: l.value })),
    });
  }

  private impl(): Record<string, unknown> {
    const unary =
      (name: string, fn: (req: Loose) => unknown) =>
      (call: grpc.ServerUnaryCall<Loose, Loose>, cb: grpc.sendUnaryData<Loose>) => {
        this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
        try {
          cb(null, fn(call.request));
        } catch (e) {
          cb({ code: grpc.status.INTERNAL, details: String(e) });
        }
      };
    const member = () => ({ name: "pd0", memberId: 1n, clientUrls: [`http://${this.endpoint}`] });
    return {
      getMembers: unary("getMembers", () =>
        GetMembersResponse.fromPartial({ header: this.header(), members: [member()], leader: member() }),
      ),
      tso: (call: grpc.ServerDuplexStream<TsoRequest, TsoResponse>) => {
        call.on("data", (req: TsoRequest) => {
          this.logical += BigInt(req.count);
          call.write(
            TsoResponse.fromPartial({
              header: this.header(),
              count: req.count,
              timestamp: { physical: BigInt(Date.now()), logical: this.logical, suffixBits: 0 },
            }),
          );
        });
        call.on("end", () => call.end());
        call.on("error", () => {});
      },
      getRegion: unary("getRegion", (req) => this.regionResp(this.topology.locateKey(this.dec(req.regionKey)))),
      getPrevRegion: unary("getPrevRegion", (req) => {
        const cur = this.topology.locateKey(this.dec(req.regionKey));
        return this.regionResp(cur && cur.startKey.length > 0 ? this.topology.prevRegion(cur.startKey) : undefined);
      }),
      getRegionById: unary("getRegionById", (req) => this.regionResp(this.topology.regionById(req.regionId))),
      scanRegions: unary("scanRegions", (req) => {
        const rs = this.topology.scanRegions(this.dec(req.startKey), this.dec(req.endKey), req.limit);
        return ScanRegionsResponse.fromPartial({
          header: this.header(),
          regions: rs.map((r) => ({ region: this.meta(r), leader: r.leader })),
        });
      }),
      getStore: unary("getStore", (req) =>
        GetStoreResponse.fromPartial({ header: this.header(), store: this.store(req.storeId) }),
      ),
      getAllStores: unary("getAllStores", () =>
        GetAllStoresResponse.fromPartial({
          header: this.header(),
          stores: this.topology
            .stores()
            .map((s) => this.store(s.id))
            .filter((s): s is Store => !!s),
        }),
      ),
    };
  }
}
