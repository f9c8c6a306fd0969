// Real grpc-js clients against a MockPd on 127.0.0.1 port 0.
import * as grpc from "@grpc/grpc-js";
import { MockPd, type MockPdOptions } from "../../../src/cluster/pd/index.js";
import { type BootstrapOptions, bootstrapTopology } from "../../../src/cluster/topology/index.js";
import { KeyspaceClient, LoadKeyspaceRequest } from "../../../src/proto/keyspacepb.js";
import * as pdpb from "../../../src/proto/pdpb.js";
import { PDClient, type TsoResponse } from "../../../src/proto/pdpb.js";

export const b = (s: string): Buffer => Buffer.from(s, "utf8");

/** A started PD plus one client per member. */
export interface PdFixture {
  pd: MockPd;
  clients: PDClient[];
  keyspaces: KeyspaceClient[];
  header: { clusterId: bigint };
  close(): Promise<void>;
}

export async function startPd(
  opts: Partial<MockPdOptions> & { layout?: BootstrapOptions } = {},
): Promise<PdFixture> {
  const topology = opts.topology ?? bootstrapTopology(opts.layout ?? {});
  const pd = await MockPd.start({ host: "127.0.0.1", ...opts, topology });
  const creds = grpc.credentials.createInsecure();
  const clients = pd.endpoints.map((e) => new PDClient(e, creds));
  const keyspaces = pd.endpoints.map((e) => new KeyspaceClient(e, creds));
  return {
    pd,
    clients,
    keyspaces,
    header: { clusterId: pd.clusterId },
    async close() {
      for (const c of [...clients, ...keyspaces]) c.close();
      await pd.stop();
    },
  };
}

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  cb: (e: grpc.ServiceError | null, r: Res) => void,
) => grpc.ClientUnaryCall;

// Request message of each method, to complete partial requests before they are encoded.
const REQUEST_TYPES: Record<string, { fromPartial(o: never): unknown }> = {
  getMembers: pdpb.GetMembersRequest,
  getClusterInfo: pdpb.GetClusterInfoRequest,
  getMinTs: pdpb.GetMinTSRequest,
  getRegion: pdpb.GetRegionRequest,
  getPrevRegion: pdpb.GetRegionRequest,
  getRegionById: pdpb.GetRegionByIDRequest,
  scanRegions: pdpb.ScanRegionsRequest,
  batchScanRegions: pdpb.BatchScanRegionsRequest,
  getStore: pdpb.GetStoreRequest,
  getAllStores: pdpb.GetAllStoresRequest,
  scatterRegion: pdpb.ScatterRegionRequest,
  getOperator: pdpb.GetOperatorRequest,
  splitRegions: pdpb.SplitRegionsRequest,
  splitAndScatterRegions: pdpb.SplitAndScatterRegionsRequest,
  getGcState: pdpb.GetGCStateRequest,
  advanceTxnSafePoint: pdpb.AdvanceTxnSafePointRequest,
  advanceGcSafePoint: pdpb.AdvanceGCSafePointRequest,
  updateGcSafePoint: pdpb.UpdateGCSafePointRequest,
  updateServiceGcSafePoint: pdpb.UpdateServiceGCSafePointRequest,
  getGcSafePoint: pdpb.GetGCSafePointRequest,
  setGcBarrier: pdpb.SetGCBarrierRequest,
  deleteGcBarrier: pdpb.DeleteGCBarrierRequest,
  getAllKeyspacesGcStates: pdpb.GetAllKeyspacesGCStatesRequest,
  getExternalTimestamp: pdpb.GetExternalTimestampRequest,
  setExternalTimestamp: pdpb.SetExternalTimestampRequest,
  allocId: pdpb.AllocIDRequest,
  getClusterConfig: pdpb.GetClusterConfigRequest,
  storeHeartbeat: pdpb.StoreHeartbeatRequest,
  loadGlobalConfig: pdpb.LoadGlobalConfigRequest,
  storeGlobalConfig: pdpb.StoreGlobalConfigRequest,
  loadKeyspace: LoadKeyspaceRequest,
};

type UnaryOf<C, M extends keyof C> = C[M] extends (
  req: infer Q,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (e: grpc.ServiceError | null, r: infer R) => void,
) => grpc.ClientUnaryCall
  ? { req: Q; res: R }
  : never;

/** Every optional field made present, so tests can read nested answers without guards. */
export type Present<T> = T extends Buffer | bigint | string | number | boolean
  ? T
  : T extends (infer U)[]
    ? Present<U>[]
    : T extends object
      ? { [K in keyof T]-?: Present<NonNullable<T[K]>> }
      : T;

/** Request shape accepted by {@link call}: any subset of the message's fields. */
export type PartialRequest<T> = T extends Buffer | bigint | string | number | boolean
  ? T
  : T extends (infer U)[]
    ? PartialRequest<U>[]
    : T extends object
      ? { [K in keyof T]?: PartialRequest<T[K]> }
      : T;

/** Calls a unary method and resolves with its response (rejects with the ServiceError). */
export function call<C extends object, M extends keyof C & string>(
  client: C,
  method: M,
  req: PartialRequest<UnaryOf<C, M>["req"]>,
  md = new grpc.Metadata(),
): Promise<Present<UnaryOf<C, M>["res"]>> {
  const type = REQUEST_TYPES[method];
  if (!type) throw new Error(`no request type for ${method}`);
  const fn = (client as unknown as Record<string, Unary<unknown, Present<UnaryOf<C, M>["res"]>>>)[
    method
  ]!.bind(client);
  const msg = type.fromPartial(req as never);
  return new Promise((resolve, reject) => fn(msg, md, (e, r) => (e ? reject(e) : resolve(r))));
}

/** Calls and expects a gRPC error; returns it. */
export async function callError<C extends object, M extends keyof C & string>(
  client: C,
  method: M,
  req: PartialRequest<UnaryOf<C, M>["req"]>,
  md?: grpc.Metadata,
): Promise<grpc.ServiceError> {
  try {
    await call(client, method, req as never, md);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error(`${method} unexpectedly succeeded`);
}

/** An open Tso stream with a request/response helper. */
export function tsoStream(client: PDClient) {
  const stream = client.tso();
  const queue: TsoResponse[] = [];
  const waiters: { resolve: (r: TsoResponse) => void; reject: (e: Error) => void }[] = [];
  let error: Error | undefined;
  stream.on("data", (r: TsoResponse) => {
    const w = waiters.shift();
    if (w) w.resolve(r);
    else queue.push(r);
  });
  stream.on("error", (e: Error) => {
    error = e;
    for (const w of waiters.splice(0)) w.reject(e);
  });
  return {
    stream,
    /** Sends one request and waits for the next response. */
    request(clusterId: bigint, count: number): Promise<TsoResponse> {
      stream.write({
        header: { clusterId, senderId: 0n, callerId: "", callerComponent: "" },
        count,
        dcLocation: "",
      });
      const q = queue.shift();
      if (q) return Promise.resolve(q);
      if (error) return Promise.reject(error);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    end() {
      stream.end();
    },
  };
}

/** The error a Tso stream request ended with (fails the test if it succeeded). */
export async function streamError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error("stream request unexpectedly succeeded");
}

/** 64-bit ts of a TSO answer. */
export function tsOf(r: TsoResponse): bigint {
  return (r.timestamp!.physical << 18n) | r.timestamp!.logical;
}
