// The request-unit cost of a KV request, after PD's KVCalculator (client/resource_group/
// controller/model.go) with client-go's request/response info (internal/resourcecontrol):
// before a request, a read pays its base cost and a write its base cost plus its bytes, times
// the region's replicas; after it, a read pays for the bytes TiKV read and the CPU it spent.
// Only prewrite and commit count write bytes, as client-go's MakeRequestInfo.

import type { ExecDetailsV2 } from "../../proto/kvrpcpb.js";
import type { Consumption } from "../../proto/resource_manager.js";

/** The RU cost parameters (PD client RequestUnitConfig; defaults = DefaultRequestUnitConfig). */
export interface RequestUnitConfig {
  /** RU of one read request (default 1/8). */
  readBaseCost: number;
  /** RU of one read batch, weighted by the average batch proportion (default 1/2). */
  readPerBatchBaseCost: number;
  /** RU per byte read (default 1/64 KiB). */
  readCostPerByte: number;
  /** RU of one write request (default 1). */
  writeBaseCost: number;
  /** RU of one write batch (default 1). */
  writePerBatchBaseCost: number;
  /** RU per byte written (default 1/1 KiB). */
  writeCostPerByte: number;
  /** RU per millisecond of TiKV CPU of a read (default 1/3). */
  cpuMsCost: number;
}

/** PD's DefaultRequestUnitConfig. */
export const DEFAULT_REQUEST_UNIT_CONFIG: Readonly<RequestUnitConfig> = Object.freeze({
  readBaseCost: 1 / 8,
  readPerBatchBaseCost: 1 / 2,
  readCostPerByte: 1 / (64 * 1024),
  writeBaseCost: 1,
  writePerBatchBaseCost: 1,
  writeCostPerByte: 1 / 1024,
  cpuMsCost: 1 / 3,
});

/** PD defaultAvgBatchProportion: the share of a batch's base cost one request pays. */
const AVG_BATCH_PROPORTION = 0.7;

// client-go Request.IsTxnWriteRequest / IsRawWriteRequest
const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  "PessimisticLock",
  "Prewrite",
  "Commit",
  "BatchRollback",
  "PessimisticRollback",
  "CheckTxnStatus",
  "CheckSecondaryLocks",
  "Cleanup",
  "TxnHeartBeat",
  "ResolveLock",
  "FlashbackToVersion",
  "PrepareFlashbackToVersion",
  "Flush",
  "RawPut",
  "RawBatchPut",
  "RawDelete",
]);

/** What the cost model needs to know of a request (client-go resourcecontrol.RequestInfo). */
export interface KvRequestInfo {
  isWrite: boolean;
  /** Bytes written (prewrite mutations, primary and secondaries; commit keys); 0 otherwise. */
  writeBytes: number;
  /** Voters and learners of the region (≥ 1). */
  replicaCount: number;
  storeId: bigint;
}

/** What the cost model needs to know of a response (client-go resourcecontrol.ResponseInfo). */
export interface KvResponseInfo {
  readBytes: number;
  kvCpuMs: number;
}

type Bytes = Uint8Array | undefined;
const len = (b: Bytes): number => b?.length ?? 0;

/** The request info of `command` (client-go MakeRequestInfo). */
export function requestInfo(
  command: string,
  request: unknown,
  replicaCount: number,
  storeId: bigint,
): KvRequestInfo {
  if (!WRITE_COMMANDS.has(command)) return { isWrite: false, writeBytes: 0, replicaCount, storeId };
  let writeBytes = 0;
  if (command === "Prewrite") {
    const r = request as {
      mutations?: { key?: Bytes; value?: Bytes }[];
      primaryLock?: Bytes;
      secondaries?: Bytes[];
    };
    for (const m of r.mutations ?? []) writeBytes += len(m.key) + len(m.value);
    writeBytes += len(r.primaryLock);
    for (const s of r.secondaries ?? []) writeBytes += len(s);
  } else if (command === "Commit") {
    for (const k of (request as { keys?: Bytes[] }).keys ?? []) writeBytes += len(k);
  }
  return { isWrite: true, writeBytes, replicaCount: Math.max(1, replicaCount), storeId };
}

/**
 * The response info (client-go MakeResponseInfo): Get and BatchGet report their read bytes and
 * CPU in exec details; a Scan pays for its pairs (client-go: the encoded response size; here the
 * keys and values returned); other responses cost nothing more.
 */
export function responseInfo(command: string, response: unknown): KvResponseInfo {
  let readBytes = 0;
  let details: ExecDetailsV2 | undefined;
  if (command === "Get" || command === "BatchGet") {
    details = (response as { execDetailsV2?: ExecDetailsV2 }).execDetailsV2;
  } else if (command === "Scan") {
    for (const p of (response as { pairs?: { key?: Bytes; value?: Bytes }[] }).pairs ?? [])
      readBytes += len(p.key) + len(p.value);
  } else {
    return { readBytes: 0, kvCpuMs: 0 };
  }
  const scanned = details?.scanDetailV2?.processedVersionsSize;
  if (scanned !== undefined && scanned > 0n) readBytes = Number(scanned);
  let kvCpuMs = 0;
  if (details?.timeDetailV2) kvCpuMs = Number(details.timeDetailV2.processWallTimeNs) / 1e6;
  else if (details?.timeDetail) kvCpuMs = Number(details.timeDetail.processWallTimeMs);
  return { readBytes, kvCpuMs };
}

/** Adds the cost known before sending (PD KVCalculator.BeforeKVRequest) to `c`. */
export function costBefore(cfg: RequestUnitConfig, info: KvRequestInfo, c: Consumption): void {
  if (info.isWrite) {
    c.kvWriteRpcCount += 1;
    c.writeBytes += info.writeBytes;
    c.wRU +=
      (cfg.writeBaseCost +
        cfg.writePerBatchBaseCost * AVG_BATCH_PROPORTION +
        cfg.writeCostPerByte * info.writeBytes) *
      info.replicaCount;
  } else {
    c.kvReadRpcCount += 1;
    c.rRU += cfg.readBaseCost + cfg.readPerBatchBaseCost * AVG_BATCH_PROPORTION;
  }
}

/** Adds the cost known from the response (PD KVCalculator.AfterKVRequest) to `c`. */
export function costAfter(
  cfg: RequestUnitConfig,
  info: KvRequestInfo,
  resp: KvResponseInfo,
  c: Consumption,
): void {
  if (!info.isWrite) {
    c.totalCpuTimeMs += resp.kvCpuMs;
    c.rRU += cfg.cpuMsCost * resp.kvCpuMs;
  }
  // a write may read too (e.g. a prewrite's constraint checks)
  c.readBytes += resp.readBytes;
  c.rRU += cfg.readCostPerByte * resp.readBytes;
}

/** RU of a consumption record (PD getRUValueFromConsumption). */
export function ruOf(c: Consumption): number {
  return c.rRU + c.wRU;
}
