// Runs one request through what a TiKV store does before and after executing it: fault
// injection, cluster-id check, API-version check, region checks, then the engine.
import { status } from "@grpc/grpc-js";
import * as errorpb from "../../proto/errorpb.js";
import * as kv from "../../proto/kvrpcpb.js";
import { DiskFullOpt } from "../../proto/kvrpcpb.js";
import type { FaultRegistry } from "../faults/fault-registry.js";
import type { FaultDecision, FaultError } from "../faults/types.js";
import { checkEntrySize } from "./apply-checks.js";
import type { CommandSpec, ExecEnv } from "./commands.js";
import { checkFollowerReadDiskUsage, checkWriteDiskUsage, type DiskUsage } from "./disk-usage.js";
import { fillExecDetails } from "./exec-details.js";
import { checkRegion, isRegionError, type RegionKeyForm, regionBounds } from "./region-check.js";
import { RegionErrors } from "./region-errors.js";
import type { PendingRequest, RequestLog } from "./request-log.js";
import type { StoreMetrics } from "./store-metrics.js";
import { checkTxnKeys, checkTxnRanges } from "./txn-api-check.js";

/** A request that must fail with a gRPC status instead of a response. */
export class GrpcStatusError extends Error {
  readonly code: status;
  readonly details: string;
  constructor(code: status, details: string) {
    super(details);
    this.name = "GrpcStatusError";
    this.code = code;
    this.details = details;
  }
}

/**
 * A request carrying another cluster's id. Unary calls fail with `details`; inside
 * BatchCommands TiKV fails the whole stream with `batchDetails` (Error::ClusterIDMisMatch).
 */
export class ClusterIdMismatchError extends GrpcStatusError {
  readonly batchDetails: string;
  constructor(requestClusterId: bigint, clusterId: bigint) {
    super(status.INVALID_ARGUMENT, "the cluster id of the request does not match the TiKV cluster");
    this.name = "ClusterIdMismatchError";
    this.batchDetails = `cluster of request=${requestClusterId} does not match TiKV cluster id=${clusterId}`;
  }
}

/** Returned instead of a response when the reply must never be sent. */
export const HANG: unique symbol = Symbol("hang");
/** A response, or HANG when the reply is dropped. */
export type Outcome<Resp> = Resp | typeof HANG;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isThenable<T>(v: unknown): v is Promise<T> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** Per-store state the pipeline needs. */
export interface PipelineEnv extends ExecEnv {
  faults: FaultRegistry;
  /** The cluster id; requests carrying another non-zero id are refused. */
  clusterId: bigint;
  /** Regions whose max_ts is not synced yet (e.g. right after a leader change). */
  maxTsNotSynced: ReadonlySet<bigint>;
  /** Estimated read-pool queue wait of this store in ms (0 = idle). */
  estimatedWaitMs(): number;
  /** Disk usage of each store (writes and follower reads are refused on full disks). */
  diskUsage(storeId: bigint): DiskUsage;
  /** raftstore's raft-entry-max-size in bytes: larger writes get RaftEntryTooLarge. */
  raftEntryMaxSize: number;
  /** The cluster's request log (consulted only while `requestLog.active`). */
  requestLog: RequestLog;
  /** Set for requests a peer store forwarded here (tikv-forwarded-host): that store's id. */
  forwardedBy?: bigint;
  /** The store's request counters (status server /metrics). */
  metrics?: StoreMetrics;
}

function faultResponse<Resp>(spec: CommandSpec<unknown, Resp>, err: FaultError): Resp {
  if ("grpcStatus" in err)
    throw new GrpcStatusError(err.grpcStatus, err.message ?? `injected ${status[err.grpcStatus]}`);
  if ("regionError" in err) return spec.withRegionError(errorpb.Error.fromPartial(err.regionError));
  if ("keyError" in err) return spec.withKeyError(kv.KeyError.fromPartial(err.keyError));
  // PD header errors mean nothing to TiKV: answer as an unavailable server would.
  throw new GrpcStatusError(status.UNAVAILABLE, err.pdError.message ?? "injected PD error");
}

function apiCheck<Req, Resp>(env: PipelineEnv, spec: CommandSpec<Req, Resp>, req: Req): Resp | undefined {
  if (!spec.txnApi) return undefined;
  const input = spec.txnApi(req);
  const reqApi = (req as { context?: kv.Context }).context?.apiVersion ?? kv.APIVersion.V1;
  const e =
    "keys" in input
      ? checkTxnKeys(input.cmd, env.apiVersion, reqApi, input.keys)
      : checkTxnRanges(input.cmd, env.apiVersion, reqApi, input.ranges);
  if (!e) return undefined;
  const keyError = kv.KeyError.fromPartial({ abort: e.debug });
  switch (spec.apiErrorPlace) {
    case "pairs": {
      const r = spec.withKeyError(keyError) as Resp & { pairs?: kv.KvPair[] };
      r.pairs = [kv.KvPair.fromPartial({ error: keyError })];
      return r;
    }
    case "string":
      return spec.withKeyError(kv.KeyError.fromPartial({ abort: e.display }));
    default:
      return spec.withKeyError(keyError);
  }
}

/** The form the request's keys meet the region boundaries in. */
function keyForm<Req>(env: PipelineEnv, spec: CommandSpec<Req, unknown>, req: Req): RegionKeyForm {
  const raw = spec.rawKeys ? spec.rawKeys(req) : spec.rpc.startsWith("Raw");
  return raw ? env.regionKeys.raw : env.regionKeys.txn;
}

/** Region checks then the engine. */
function execute<Req, Resp>(env: PipelineEnv, spec: CommandSpec<Req, Resp>, req: Req): Resp | Promise<Resp> {
  const ctx = (req as { context?: kv.Context }).context;
  if (ctx && ctx.clusterId > 0n && ctx.clusterId !== env.clusterId) {
    throw new ClusterIdMismatchError(ctx.clusterId, env.clusterId);
  }
  if (spec.readPool && ctx && ctx.busyThresholdMs > 0) {
    const wait = env.estimatedWaitMs();
    if (wait > ctx.busyThresholdMs) return spec.withRegionError(RegionErrors.readPoolBusy(wait));
  }
  const apiErr = apiCheck(env, spec, req);
  if (apiErr !== undefined) return apiErr;
  if (spec.access === "none") return spec.exec(env, req, undefined);
  const form = keyForm(env, spec, req);
  const checked = checkRegion(
    env.topology,
    env.storeId,
    ctx,
    {
      access: spec.access,
      keys: spec.checkedKeys ? spec.checkedKeys(req) : spec.keys(req),
      bound: spec.bound?.(req),
      readTs: spec.readTs?.(req),
    },
    form,
  );
  if (isRegionError(checked)) return spec.withRegionError(checked);
  const r = checked.state.region;
  const isLeader = checked.state.leader?.id === checked.peer.id;
  const diskErr =
    spec.access === "read"
      ? isLeader || ctx?.staleRead
        ? undefined
        : checkFollowerReadDiskUsage(env.diskUsage(env.storeId), env.storeId)
      : checkWriteDiskUsage(
          env.diskUsage,
          r,
          checked.peer,
          // Admin commands (split) are proposed as allowed on almost-full disks.
          spec.access === "split"
            ? DiskFullOpt.AllowedOnAlmostFull
            : (ctx?.diskFullOpt ?? DiskFullOpt.NotAllowedOnFull),
        );
  if (diskErr) return spec.withRegionError(diskErr);
  if (env.maxTsNotSynced.has(r.id)) {
    if (spec.needsMaxTsSync?.(req)) return spec.withRegionError(RegionErrors.maxTimestampNotSynced());
    if (spec.rawCausalTs && env.apiVersion === kv.APIVersion.V2) {
      return spec.withRegionError(RegionErrors.rawKvMaxTimestampNotSynced(r.id));
    }
  }
  // Propose: raftstore refuses entries above raft-entry-max-size (peer.rs propose_normal).
  if (spec.entrySize) {
    const tooLarge = checkEntrySize(r.id, spec.entrySize(req), env.raftEntryMaxSize);
    if (tooLarge) return spec.withRegionError(tooLarge);
  }
  const rejected = spec.applyCheck?.(env, req, checked.state.storedRegion ?? r, form);
  if (rejected !== undefined) return rejected;
  // Engines keep keys as sent: an encoding form clamps to the region's user-key view.
  const bounds = regionBounds(checked.state, form);
  const details = spec.execDetails;
  if (details === undefined) return spec.exec(env, req, { start: bounds.startKey, end: bounds.endKey });
  // exec_details_v2: the execution timed, a read's result counted (see exec-details.ts)
  const t0 = performance.now();
  const res = spec.exec(env, req, { start: bounds.startKey, end: bounds.endKey });
  const fill = (resp: Resp) => fillExecDetails(resp, t0, details.count?.(req, resp));
  return isThenable<Resp>(res) ? res.then(fill) : fill(res);
}

/** Reports the response (once known) to the request log. */
function logged<Resp>(pending: PendingRequest, res: Resp | Promise<Resp>): Resp | Promise<Resp> {
  if (!isThenable<Resp>(res)) {
    pending.done(res);
    return res;
  }
  return res.then((r) => {
    pending.done(r);
    return r;
  });
}

function finish<Resp>(
  env: PipelineEnv,
  spec: CommandSpec<unknown, Resp>,
  req: unknown,
  d: FaultDecision | undefined,
  pending: PendingRequest | undefined,
): Outcome<Resp> | Promise<Outcome<Resp>> {
  if (d?.error) {
    const injected = faultResponse(spec, d.error);
    pending?.done(injected);
    return injected;
  }
  const res = pending ? logged(pending, execute(env, spec, req)) : execute(env, spec, req);
  const drop = d?.dropReply;
  if (drop === undefined) return res;
  const dropped = (): Outcome<Resp> => {
    if (drop === "hang") return HANG;
    throw new GrpcStatusError(drop.grpcStatus, drop.message ?? "reply dropped after apply");
  };
  return isThenable<Resp>(res) ? res.then(dropped) : dropped();
}

/**
 * Runs `req` as the store would. Returns the response (synchronously on the fast path), HANG
 * when the reply must be dropped, or throws/rejects with GrpcStatusError.
 */
export function runCommand<Req, Resp>(
  env: PipelineEnv,
  spec: CommandSpec<Req, Resp>,
  req: Req,
): Outcome<Resp> | Promise<Outcome<Resp>> {
  const ctx = (req as { context?: kv.Context }).context;
  const d = env.faults.decide({
    rpc: spec.rpc,
    storeId: env.storeId,
    regionId: ctx?.regionId,
    keys: spec.keys(req),
    request: req,
  });
  const s = spec as CommandSpec<unknown, Resp>;
  env.metrics?.count(spec.rpc);
  // The log's only cost while nothing records: this check.
  const pending = env.requestLog.active
    ? env.requestLog.begin(env.topology, env.storeId, spec.rpc, ctx, env.forwardedBy)
    : undefined;
  if (d && d.delayMs > 0) return sleep(d.delayMs).then(() => finish(env, s, req, d, pending));
  return finish(env, s, req, d, pending);
}

export { isThenable };
