// The facade's GC calls (TikvClient.gc, getGCState, GC barriers, service safe points,
// unsafeDestroyRange): argument checks, then the actors' GC round / PD calls, with PD's
// refusals typed as GcStateError.

import type { PdActor } from "../../actors/pd/pd-actor.js";
import type { StorePool } from "../../actors/store/store-pool.js";
import type { GcRunOptions, GcRunResult } from "../../actors/txn/gc/gc-types.js";
import { gcScope, runGc } from "../../actors/txn/gc/run-gc.js";
import { unsafeDestroyRange } from "../../actors/txn/gc/unsafe-destroy-range.js";
import type { TxnRuntime } from "../../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../../errors/base.js";
import { gcStateErrorOf } from "../../errors/gc.js";
import { AbortedError } from "../../errors/server.js";
import { type KeyInput, toKey } from "../../kv/key.js";
import type { GCBarrierInfo, GlobalGCBarrierInfo } from "../../proto/pdpb.js";
import { checkRangeTaskOptions } from "../range-task.js";

export type { GcPhase, GcProgress, GcRunResult as GcResult } from "../../actors/txn/gc/gc-types.js";

/** int64 max: PD's "never expires" TTL. */
export const GC_TTL_FOREVER = (1n << 63n) - 1n;

/** Options of {@link TikvClient.gc}. */
export interface GcOptions extends GcRunOptions {}

/** A GC barrier: the txn safe point may not pass `barrierTs` while it lives. */
export interface GcBarrier {
  /** The barrier's id (unique within its keyspace). */
  id: string;
  /** The ts the txn safe point is held at or below. */
  barrierTs: bigint;
  /** Seconds left to live; {@link GC_TTL_FOREVER} = never expires. */
  ttlSeconds: bigint;
}

/** The GC state of a keyspace (PD GetGCState). */
export interface GcState {
  /** The keyspace the state belongs to; undefined = the null keyspace (unified GC). */
  keyspaceId: number | undefined;
  /** True when the keyspace runs GC of its own. */
  keyspaceLevelGc: boolean;
  /** Snapshots at or after this ts are readable. */
  txnSafePoint: bigint;
  /** Versions older than this may be gone. */
  gcSafePoint: bigint;
  /** The keyspace's GC barriers. */
  barriers: GcBarrier[];
  /** Barriers on every keyspace at once (PD versions that have them; else empty). */
  globalBarriers: GcBarrier[];
}

/** What a PD service safe point call answered (legacy UpdateServiceGCSafePoint). */
export interface ServiceSafePointResult {
  /** The service holding the minimum safe point. */
  minServiceId: string;
  /** Its TTL in seconds. */
  ttlSeconds: bigint;
  /** The minimum service safe point: GC will not pass it. */
  minSafePoint: bigint;
}

/** @internal What the GC calls need from the client. */
export interface GcHost {
  pd: PdActor;
  stores: StorePool;
  /** The transactional runtime (created on demand). */
  txnRuntime(): TxnRuntime;
  /** The client's keyspace id (API v2 with a keyspace); undefined otherwise. */
  keyspaceId: number | undefined;
}

const NULL_KEYSPACE_ID = 0xffffffff;

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError("must be an AbortSignal", "signal");
  }
  if (signal?.aborted) throw new AbortedError(signal.reason);
}

function checkTs(ts: unknown, name: string): bigint {
  if (typeof ts !== "bigint" || ts < 0n || ts >= 1n << 64n) {
    throw new InvalidArgumentError(`must be a uint64 bigint timestamp, got ${String(ts)}`, name);
  }
  return ts;
}

function checkBarrierId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidArgumentError("must be a non-empty string", "barrierId");
  }
  return id;
}

function checkTtl(ttl: unknown): bigint {
  if (ttl === "forever") return GC_TTL_FOREVER;
  const n = typeof ttl === "number" && Number.isInteger(ttl) ? BigInt(ttl) : ttl;
  if (typeof n !== "bigint" || n <= 0n) {
    throw new InvalidArgumentError(
      `must be a positive integer number of seconds or "forever", got ${String(ttl)}`,
      "ttlSeconds",
    );
  }
  return n > GC_TTL_FOREVER ? GC_TTL_FOREVER : n;
}

const barrier = (b: GCBarrierInfo | GlobalGCBarrierInfo): GcBarrier => ({
  id: b.barrierId,
  barrierTs: b.barrierTs,
  ttlSeconds: b.ttlSeconds,
});

/** @internal TikvClient.gc: validates, then runs one GC round. */
export async function clientGc(
  host: GcHost,
  safePoint: bigint,
  options: GcOptions = {},
): Promise<GcRunResult> {
  checkTs(safePoint, "safePoint");
  if (safePoint === 0n) throw new InvalidArgumentError("must be > 0", "safePoint");
  if (options === null || typeof options !== "object")
    throw new InvalidArgumentError("must be an object", "options");
  checkRangeTaskOptions({ concurrency: options.concurrency });
  checkSignal(options.signal);
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw new InvalidArgumentError("must be a function", "onProgress");
  }
  const rt = host.txnRuntime();
  return runGc({ pd: host.pd, rt, keyspaceId: host.keyspaceId }, safePoint, options);
}

// A PD GC-state call whose failures become GcStateErrors (PD's PD:gc:* refusals typed).
async function pdGcCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw gcStateErrorOf(e);
  }
}

const callOpts = (signal: AbortSignal | undefined) => (signal ? { signal } : undefined);

/** @internal TikvClient.getGCState. */
export async function clientGcState(host: GcHost, signal?: AbortSignal): Promise<GcState> {
  checkSignal(signal);
  const resp = await pdGcCall(() =>
    host.pd.getGCState(host.keyspaceId, { includeGlobalGcBarriers: true, ...(signal ? { signal } : {}) }),
  );
  const st = resp.gcState;
  const scope = st?.keyspaceScope?.keyspace;
  const id = scope?.$case === "keyspaceId" ? scope.keyspaceId : undefined;
  return {
    keyspaceId: id === undefined || id === NULL_KEYSPACE_ID ? undefined : id,
    keyspaceLevelGc: st?.isKeyspaceLevelGc ?? false,
    txnSafePoint: st?.txnSafePoint ?? 0n,
    gcSafePoint: st?.gcSafePoint ?? 0n,
    barriers: (st?.gcBarriers ?? []).map(barrier),
    globalBarriers: (resp.globalGcBarriers?.barriers ?? []).map(barrier),
  };
}

type SetBarrierRpc = (
  id: string,
  ts: bigint,
  ttl: bigint,
  opts: { signal: AbortSignal } | undefined,
) => Promise<{ newBarrierInfo?: GCBarrierInfo | GlobalGCBarrierInfo | undefined }>;

// setGCBarrier and setGlobalGCBarrier: the same checks and answer, another PD RPC
async function setBarrier(
  rpc: SetBarrierRpc,
  barrierId: string,
  barrierTs: bigint,
  ttlSeconds: number | bigint | "forever",
  signal: AbortSignal | undefined,
): Promise<GcBarrier> {
  const id = checkBarrierId(barrierId);
  const ts = checkTs(barrierTs, "barrierTs");
  const ttl = checkTtl(ttlSeconds);
  checkSignal(signal);
  const resp = await pdGcCall(() => rpc(id, ts, ttl, callOpts(signal)));
  return resp.newBarrierInfo ? barrier(resp.newBarrierInfo) : { id, barrierTs: ts, ttlSeconds: ttl };
}

type DeleteBarrierRpc = (
  id: string,
  opts: { signal: AbortSignal } | undefined,
) => Promise<{ deletedBarrierInfo?: GCBarrierInfo | GlobalGCBarrierInfo | undefined }>;

// deleteGCBarrier and deleteGlobalGCBarrier: the deleted barrier, undefined when there was none
async function deleteBarrier(
  rpc: DeleteBarrierRpc,
  barrierId: string,
  signal: AbortSignal | undefined,
): Promise<GcBarrier | undefined> {
  const id = checkBarrierId(barrierId);
  checkSignal(signal);
  const resp = await pdGcCall(() => rpc(id, callOpts(signal)));
  return resp.deletedBarrierInfo ? barrier(resp.deletedBarrierInfo) : undefined;
}

/** @internal TikvClient.setGCBarrier. */
export function clientSetBarrier(
  host: GcHost,
  barrierId: string,
  barrierTs: bigint,
  ttlSeconds: number | bigint | "forever",
  signal?: AbortSignal,
): Promise<GcBarrier> {
  const rpc: SetBarrierRpc = (id, ts, ttl, o) => host.pd.setGCBarrier(id, ts, ttl, host.keyspaceId, o);
  return setBarrier(rpc, barrierId, barrierTs, ttlSeconds, signal);
}

/** @internal TikvClient.setGlobalGCBarrier. */
export function clientSetGlobalBarrier(
  host: GcHost,
  barrierId: string,
  barrierTs: bigint,
  ttlSeconds: number | bigint | "forever",
  signal?: AbortSignal,
): Promise<GcBarrier> {
  const rpc: SetBarrierRpc = (id, ts, ttl, o) => host.pd.setGlobalGCBarrier(id, ts, ttl, o);
  return setBarrier(rpc, barrierId, barrierTs, ttlSeconds, signal);
}

/** @internal TikvClient.deleteGlobalGCBarrier: the deleted barrier, undefined when there was none. */
export function clientDeleteGlobalBarrier(
  host: GcHost,
  barrierId: string,
  signal?: AbortSignal,
): Promise<GcBarrier | undefined> {
  return deleteBarrier((id, o) => host.pd.deleteGlobalGCBarrier(id, o), barrierId, signal);
}

/** @internal TikvClient.deleteGCBarrier: the deleted barrier, undefined when there was none. */
export function clientDeleteBarrier(
  host: GcHost,
  barrierId: string,
  signal?: AbortSignal,
): Promise<GcBarrier | undefined> {
  return deleteBarrier((id, o) => host.pd.deleteGCBarrier(id, host.keyspaceId, o), barrierId, signal);
}

/** @internal TikvClient.updateServiceGCSafePoint (legacy API; a TTL of 0 removes the service). */
export async function clientServiceSafePoint(
  host: GcHost,
  serviceId: string,
  ttlSeconds: number | bigint,
  safePoint: bigint,
  signal?: AbortSignal,
): Promise<ServiceSafePointResult> {
  if (typeof serviceId !== "string" || serviceId.length === 0) {
    throw new InvalidArgumentError("must be a non-empty string", "serviceId");
  }
  const ttl =
    typeof ttlSeconds === "number" && Number.isInteger(ttlSeconds) ? BigInt(ttlSeconds) : ttlSeconds;
  if (typeof ttl !== "bigint" || ttl < 0n) {
    throw new InvalidArgumentError(`must be an integer >= 0, got ${String(ttlSeconds)}`, "ttlSeconds");
  }
  checkTs(safePoint, "safePoint");
  checkSignal(signal);
  const r = await pdGcCall(() =>
    host.pd.updateServiceGCSafePoint(serviceId, ttl, safePoint, callOpts(signal)),
  );
  return { minServiceId: r.serviceId.toString(), ttlSeconds: r.TTL, minSafePoint: r.minSafePoint };
}

/** @internal TikvClient.unsafeDestroyRange: the ids of the stores that destroyed the range. */
export async function clientUnsafeDestroyRange(
  host: GcHost,
  start: KeyInput,
  end: KeyInput,
  signal?: AbortSignal,
): Promise<bigint[]> {
  const s = toKey(start, "start");
  const e = toKey(end, "end");
  // TiKV refuses unbounded ranges here (it asserts non-empty bounds)
  if (s.length === 0 || e.length === 0) throw new InvalidArgumentError("needs non-empty bounds", "range");
  if (Buffer.compare(s, e) >= 0) throw new InvalidArgumentError("start must be < end", "range");
  checkSignal(signal);
  const rt = host.txnRuntime();
  return unsafeDestroyRange(
    { pd: host.pd, stores: host.stores, codec: rt.sender.codec },
    { start: s, end: e },
    signal,
  );
}

/** @internal The scope a GC round of this client moves (exposed for the CLI's summary). */
export function clientGcScope(host: GcHost, signal?: AbortSignal): Promise<number | undefined> {
  return gcScope(host.pd, host.keyspaceId, signal);
}
