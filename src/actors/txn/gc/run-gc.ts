// One GC round (client-go tikv/gc.go KVStore.GC): advance the txn safe point (GC barriers may
// hold it lower: the round goes on with what PD set), resolve every lock at or below it in every
// region of the client's key space, then advance the GC safe point to it. A client with a
// keyspace runs GC on that keyspace when PD says its GC is keyspace-level, else on the null
// keyspace (unified GC), as PD redirects such keyspaces. PDs without the GC state API
// (UNIMPLEMENTED) get the legacy round TiDB's GC worker ran: the "gc_worker" service safe point
// (UpdateServiceGCSafePoint, whose answer, the minimum service safe point, plays the txn safe
// point), lock resolution, then UpdateGCSafePoint.

import { InvalidArgumentError } from "../../../errors/base.js";
import { GcStateError, gcStateErrorOf } from "../../../errors/gc.js";
import { AbortedError, GrpcError } from "../../../errors/server.js";
import type { KeyRange } from "../../../kv/key.js";
import type { PdActor } from "../../pd/pd-actor.js";
import { makeControl } from "../../runtime/control.js";
import { checkPositiveInt, runRangeTask } from "../../runtime/range-task.js";
import type { TxnRuntime } from "../txn-runtime.js";
import type { GcProgress, GcRunOptions, GcRunResult } from "./gc-types.js";
import { GC_RESOLVE_LOCK_MAX_BACKOFF_MS, resolveLocksInRange } from "./resolve-locks.js";

/** client-go GC's default concurrency of lock resolution. */
export const GC_DEFAULT_CONCURRENCY = 8;
/** gRPC status UNIMPLEMENTED: the PD predates the GC state API. */
const GRPC_UNIMPLEMENTED = 12;
/** The service id of the GC worker's service safe point (PD's reserved "gc_worker"). */
export const GC_WORKER_SERVICE_ID = "gc_worker";
/** int64 max: the gc_worker service safe point never expires. */
const TTL_FOREVER = (1n << 63n) - 1n;

export type { GcPhase, GcProgress, GcRunOptions, GcRunResult } from "./gc-types.js";

/** What a round needs. */
export interface GcRunDeps {
  pd: PdActor;
  rt: Pick<TxnRuntime, "cache" | "sender" | "resolver" | "safePoint" | "getTimestamp"> & {
    deps: Pick<TxnRuntime["deps"], "metrics">;
  };
  /** The client's keyspace (API v2), undefined otherwise. */
  keyspaceId: number | undefined;
}

const WHOLE_RANGE: KeyRange = { start: Buffer.alloc(0), end: Buffer.alloc(0) };

/** Runs one GC round at `safePoint`. */
export async function runGc(
  deps: GcRunDeps,
  safePoint: bigint,
  opts: GcRunOptions = {},
): Promise<GcRunResult> {
  if (typeof safePoint !== "bigint" || safePoint <= 0n) {
    throw new InvalidArgumentError(
      `must be a positive bigint timestamp, got ${String(safePoint)}`,
      "safePoint",
    );
  }
  // checked before anything moves (the range task would only refuse it after the txn safe point)
  const concurrency = checkPositiveInt(opts.concurrency ?? GC_DEFAULT_CONCURRENCY, "concurrency");
  const signal = opts.signal;
  const aborted = () => {
    if (signal?.aborted) throw new AbortedError(signal.reason);
  };
  aborted();
  const { pd, rt } = deps;
  const call = signal ? { signal } : undefined;
  const progress: GcProgress = {
    phase: "advanceTxnSafePoint",
    completedRegions: 0,
    failedRegions: 0,
    totalRegions: 0,
    located: false,
    tasksDone: 0,
    done: false,
    locksResolved: 0,
    txnSafePoint: 0n,
  };
  const report = () => {
    try {
      opts.onProgress?.({ ...progress });
    } catch {
      // a progress listener must not break the round
    }
  };
  report();

  // a txn safe point in the future would abort transactions not even started
  const now = await rt.getTimestamp(signal);
  if (safePoint > now) {
    throw new GcStateError("aheadOfTso", `safe point ${safePoint} is ahead of the current TSO ${now}`);
  }
  const scope = await gcScope(pd, deps.keyspaceId, signal);
  aborted();

  let legacy = false;
  let txnSafePoint = safePoint;
  let blocker = "";
  try {
    const res = await pd.advanceTxnSafePoint(safePoint, scope, call);
    if (res.newTxnSafePoint < txnSafePoint) txnSafePoint = res.newTxnSafePoint;
    blocker = res.blockerDescription;
  } catch (e) {
    if (!(e instanceof GrpcError && e.grpcCode === GRPC_UNIMPLEMENTED)) throw gcStateErrorOf(e);
    legacy = true;
    // other services' safe points may hold it lower, as barriers do
    const r = await pd.updateServiceGCSafePoint(GC_WORKER_SERVICE_ID, TTL_FOREVER, safePoint, call);
    if (r.minSafePoint < txnSafePoint) {
      txnSafePoint = r.minSafePoint;
      blocker = `service safe point of ${r.serviceId.toString()}`;
    }
  }
  // readers of this client learn the new txn safe point now, not at the next poll
  if (!legacy) await rt.safePoint.refresh().catch(() => {});
  progress.txnSafePoint = txnSafePoint;
  progress.phase = "resolveLocks";
  report();

  let locksResolved = 0;
  const stat = await runRangeTask(
    rt.cache,
    WHOLE_RANGE,
    async (range, ctx) => {
      const s = await resolveLocksInRange(
        {
          sender: rt.sender,
          resolver: rt.resolver,
          control: (sig) =>
            makeControl({
              maxBackoffMs: GC_RESOLVE_LOCK_MAX_BACKOFF_MS,
              timeoutMs: 0,
              signal: sig,
              metrics: rt.deps.metrics,
            }),
        },
        txnSafePoint,
        range,
        ctx.signal,
      );
      locksResolved += s.locksResolved;
      return s;
    },
    {
      concurrency,
      signal,
      onProgress: (p) => {
        Object.assign(progress, p, { done: false, locksResolved });
        report();
      },
    },
  );
  aborted();

  progress.phase = "advanceGcSafePoint";
  report();
  let gcSafePoint: bigint;
  try {
    gcSafePoint = legacy
      ? await pd.updateGCSafePoint(txnSafePoint, call)
      : (await pd.advanceGCSafePoint(txnSafePoint, scope, call)).newGcSafePoint;
  } catch (e) {
    throw gcStateErrorOf(e);
  }
  progress.phase = "done";
  progress.done = true;
  progress.locksResolved = locksResolved;
  report();
  return {
    txnSafePoint,
    gcSafePoint,
    blocker,
    regionsResolved: stat.completedRegions,
    locksResolved,
    keyspaceId: scope,
    legacy,
  };
}

/**
 * The keyspace whose GC state a client's GC moves: its own when PD runs keyspace-level GC for it,
 * else the null keyspace (undefined). PDs without the GC state API answer the null keyspace.
 */
export async function gcScope(
  pd: Pick<PdActor, "getGCState">,
  keyspaceId: number | undefined,
  signal?: AbortSignal,
): Promise<number | undefined> {
  if (keyspaceId === undefined) return undefined;
  try {
    const st = await pd.getGCState(keyspaceId, { excludeGcBarriers: true, ...(signal ? { signal } : {}) });
    return st.gcState?.isKeyspaceLevelGc ? keyspaceId : undefined;
  } catch (e) {
    if (e instanceof GrpcError && e.grpcCode === GRPC_UNIMPLEMENTED) return undefined;
    throw gcStateErrorOf(e);
  }
}
