// Execution details of a call (client-go util/execdetails.go): what the client measured (RPC
// wait, backoffs by kind) merged with what TiKV reported in each response's exec_details_v2
// (time detail, scan detail). Collected only when the caller asks for them: a call without a
// details object pays one undefined check per RPC. Times are in milliseconds (fractional).

import type {
  ExecDetailsV2,
  ScanDetailV2,
  TimeDetail as TimeDetailPb,
  TimeDetailV2,
} from "../../proto/kvrpcpb.js";

/** TiKV's time breakdown of the requests (client-go TimeDetail), summed over requests. */
export interface TimeDetail {
  /** Wall time TiKV spent processing the payload (excludes waits). */
  processTimeMs: number;
  /** Time a task yielded (coprocessor). */
  suspendTimeMs: number;
  /** Time TiKV waited (queues, latches...). */
  waitTimeMs: number;
  /** Time spent in the KV read (get / scan). */
  kvReadWallTimeMs: number;
  /** gRPC processing from receipt to the start of handling. */
  kvGrpcProcessTimeMs: number;
  /** gRPC wait from a ready response to the start of sending. */
  kvGrpcWaitTimeMs: number;
  /** Total wall time of the RPCs inside TiKV. */
  totalRpcWallTimeMs: number;
}

/** TiKV's storage scan statistics (client-go ScanDetail), summed over requests. */
export interface ScanDetail {
  /** MVCC versions met (includes deleted versions). */
  totalKeys: number;
  /** User keys read from storage (no deleted versions). */
  processedKeys: number;
  /** Bytes of the user key-value pairs read. */
  processedKeysSize: number;
  rocksdbDeleteSkippedCount: number;
  rocksdbKeySkippedCount: number;
  rocksdbBlockCacheHitCount: number;
  rocksdbBlockReadCount: number;
  rocksdbBlockReadByte: number;
  rocksdbBlockReadTimeMs: number;
  /** Time taken to get an engine snapshot. */
  getSnapshotTimeMs: number;
}

/** Backoffs of one kind: how many, and how long they slept. */
export interface BackoffDetail {
  count: number;
  sleepMs: number;
}

/** An empty {@link TimeDetail}. */
export function newTimeDetail(): TimeDetail {
  return {
    processTimeMs: 0,
    suspendTimeMs: 0,
    waitTimeMs: 0,
    kvReadWallTimeMs: 0,
    kvGrpcProcessTimeMs: 0,
    kvGrpcWaitTimeMs: 0,
    totalRpcWallTimeMs: 0,
  };
}

/** An empty {@link ScanDetail}. */
export function newScanDetail(): ScanDetail {
  return {
    totalKeys: 0,
    processedKeys: 0,
    processedKeysSize: 0,
    rocksdbDeleteSkippedCount: 0,
    rocksdbKeySkippedCount: 0,
    rocksdbBlockCacheHitCount: 0,
    rocksdbBlockReadCount: 0,
    rocksdbBlockReadByte: 0,
    rocksdbBlockReadTimeMs: 0,
    getSnapshotTimeMs: 0,
  };
}

/** Adds `b` into `a` (client-go TimeDetail.Merge); `undefined` adds nothing. */
export function mergeTimeDetail(a: TimeDetail, b: TimeDetail | undefined): TimeDetail {
  if (b === undefined) return a;
  for (const k of Object.keys(a) as (keyof TimeDetail)[]) a[k] += b[k];
  return a;
}

/** Adds `b` into `a` (client-go ScanDetail.Merge); `undefined` adds nothing. */
export function mergeScanDetail(a: ScanDetail, b: ScanDetail | undefined): ScanDetail {
  if (b === undefined) return a;
  for (const k of Object.keys(a) as (keyof ScanDetail)[]) a[k] += b[k];
  return a;
}

const ns = (v: bigint) => Number(v) / 1e6;

/**
 * Adds TiKV's time detail to `td` (client-go MergeFromTimeDetail): the nanosecond V2 form when
 * present, else the older millisecond form.
 */
export function addTimeDetailPb(
  td: TimeDetail,
  v2: TimeDetailV2 | undefined,
  v1: TimeDetailPb | undefined,
): TimeDetail {
  if (v2 !== undefined) {
    td.waitTimeMs += ns(v2.waitWallTimeNs);
    td.processTimeMs += ns(v2.processWallTimeNs);
    td.suspendTimeMs += ns(v2.processSuspendWallTimeNs);
    td.kvReadWallTimeMs += ns(v2.kvReadWallTimeNs);
    td.kvGrpcProcessTimeMs += ns(v2.kvGrpcProcessTimeNs);
    td.kvGrpcWaitTimeMs += ns(v2.kvGrpcWaitTimeNs);
    td.totalRpcWallTimeMs += ns(v2.totalRpcWallTimeNs);
  } else if (v1 !== undefined) {
    td.waitTimeMs += Number(v1.waitWallTimeMs);
    td.processTimeMs += Number(v1.processWallTimeMs);
    td.kvReadWallTimeMs += Number(v1.kvReadWallTimeMs);
    td.totalRpcWallTimeMs += ns(v1.totalRpcWallTimeNs);
  }
  return td;
}

/** Adds TiKV's scan detail to `sd` (client-go MergeFromScanDetailV2). */
export function addScanDetailPb(sd: ScanDetail, pb: ScanDetailV2 | undefined): ScanDetail {
  if (pb === undefined) return sd;
  sd.totalKeys += Number(pb.totalVersions);
  sd.processedKeys += Number(pb.processedVersions);
  sd.processedKeysSize += Number(pb.processedVersionsSize);
  sd.rocksdbDeleteSkippedCount += Number(pb.rocksdbDeleteSkippedCount);
  sd.rocksdbKeySkippedCount += Number(pb.rocksdbKeySkippedCount);
  sd.rocksdbBlockCacheHitCount += Number(pb.rocksdbBlockCacheHitCount);
  sd.rocksdbBlockReadCount += Number(pb.rocksdbBlockReadCount);
  sd.rocksdbBlockReadByte += Number(pb.rocksdbBlockReadByte);
  sd.rocksdbBlockReadTimeMs += ns(pb.rocksdbBlockReadNanos);
  sd.getSnapshotTimeMs += ns(pb.getSnapshotNanos);
  return sd;
}

/**
 * Where the routing layer reports what a call's RPCs did (set on a call's control block only
 * when details were asked for).
 */
export interface DetailsSink {
  /**
   * Ask TiKV to record time and scan statistics (kvrpcpb.Context record_time_stat /
   * record_scan_stat). Writes report their exec details anyway: commit phases leave it off.
   */
  readonly recordStats: boolean;
  /** One request answered (without a region error) after `ms`, with TiKV's details if any. */
  response(
    cmd: string,
    regionId: bigint,
    storeId: bigint,
    ms: number,
    details: ExecDetailsV2 | undefined,
  ): void;
  /** One backoff of `kind` sleeping `ms`. */
  backoff(kind: string, ms: number): void;
}

/**
 * Execution details of one or more calls (client-go ExecDetails with TiKV's TimeDetail and
 * ScanDetail). Pass one as the `execDetails` option of a read; the call adds what it did
 * (reuse it across calls to sum them).
 *
 * @example
 * ```ts
 * const d = new ExecDetails();
 * await snapshot.batchGet(["a", "b"], { execDetails: d });
 * console.log(d.requests, d.scanDetail.processedKeys, d.timeDetail.processTimeMs);
 * ```
 */
export class ExecDetails {
  /** @internal */
  readonly recordStats = true;
  /** RPCs answered (client-go counts the same in its runtime stats). */
  requests = 0;
  /** Time spent waiting for TiKV's answers, in ms (client-go WaitKVRespDuration). */
  requestTimeMs = 0;
  /** Backoffs taken (client-go BackoffCount). */
  backoffCount = 0;
  /** Time slept in backoffs, in ms (client-go BackoffDuration). */
  backoffTimeMs = 0;
  /** Backoffs by kind ("regionMiss", "txnLock"...). */
  readonly backoffs: Record<string, BackoffDetail> = {};
  /** TiKV's time detail, summed over the responses. */
  readonly timeDetail: TimeDetail = newTimeDetail();
  /** TiKV's scan detail, summed over the responses. */
  readonly scanDetail: ScanDetail = newScanDetail();

  /** @internal */
  response(
    _cmd: string,
    _regionId: bigint,
    _storeId: bigint,
    ms: number,
    pb: ExecDetailsV2 | undefined,
  ): void {
    this.requests++;
    this.requestTimeMs += ms;
    if (pb === undefined) return;
    addTimeDetailPb(this.timeDetail, pb.timeDetailV2, pb.timeDetail);
    addScanDetailPb(this.scanDetail, pb.scanDetailV2);
  }

  /** @internal */
  backoff(kind: string, ms: number): void {
    this.backoffCount++;
    this.backoffTimeMs += ms;
    const b = this.backoffOf(kind);
    b.count++;
    b.sleepMs += ms;
  }

  private backoffOf(kind: string): BackoffDetail {
    let b = this.backoffs[kind];
    if (b === undefined) {
      b = { count: 0, sleepMs: 0 };
      this.backoffs[kind] = b;
    }
    return b;
  }

  /** Adds `other` into this one. */
  merge(other: ExecDetails): this {
    this.requests += other.requests;
    this.requestTimeMs += other.requestTimeMs;
    this.backoffCount += other.backoffCount;
    this.backoffTimeMs += other.backoffTimeMs;
    for (const [k, v] of Object.entries(other.backoffs)) {
      const b = this.backoffOf(k);
      b.count += v.count;
      b.sleepMs += v.sleepMs;
    }
    mergeTimeDetail(this.timeDetail, other.timeDetail);
    mergeScanDetail(this.scanDetail, other.scanDetail);
    return this;
  }
}

/** The slowest request of a commit phase (client-go ReqDetailInfo). */
export interface ReqDetailInfo {
  /** Wall time of the request as the client saw it, in ms. */
  reqTotalTimeMs: number;
  regionId: bigint;
  storeId: bigint;
  /** TiKV's time detail of that request. */
  timeDetail: TimeDetail;
}

/** What a transaction's commit did (client-go CommitDetails). Times in ms. */
export interface CommitDetails {
  /** Waiting for the TSO before an async-commit / 1PC prewrite (client-go GetLatestTsTime). */
  getLatestTsTimeMs: number;
  /** Waiting for the commit ts. */
  getCommitTsTimeMs: number;
  /** The prewrite phase. */
  prewriteTimeMs: number;
  /** Committing the primary (2PC; 0 for async commit and 1PC). */
  commitTimeMs: number;
  /** Waiting for the client's local latches. */
  localLatchTimeMs: number;
  /** Resolving locks met by the prewrite. */
  resolveLockTimeMs: number;
  /** Keys written. */
  writeKeys: number;
  /** Bytes written (keys + values). */
  writeSize: number;
  /** Distinct regions prewritten. */
  prewriteRegionNum: number;
  /** Prewrite requests answered. */
  prewriteReqNum: number;
  /** Times the transaction was run again after a retryable failure (set by runTransaction; else 0). */
  txnRetry: number;
  /** Time slept in backoffs during prewrite and commit. */
  commitBackoffTimeMs: number;
  /** Backoff kinds taken by the prewrite, one entry per backoff. */
  prewriteBackoffTypes: string[];
  /** Backoff kinds taken committing the primary, one entry per backoff. */
  commitBackoffTypes: string[];
  /** The slowest prewrite request. */
  slowestPrewrite: ReqDetailInfo | undefined;
  /** The primary's commit request (2PC). */
  commitPrimary: ReqDetailInfo | undefined;
}

/** An empty {@link CommitDetails}. */
export function newCommitDetails(): CommitDetails {
  return {
    getLatestTsTimeMs: 0,
    getCommitTsTimeMs: 0,
    prewriteTimeMs: 0,
    commitTimeMs: 0,
    localLatchTimeMs: 0,
    resolveLockTimeMs: 0,
    writeKeys: 0,
    writeSize: 0,
    prewriteRegionNum: 0,
    prewriteReqNum: 0,
    txnRetry: 0,
    commitBackoffTimeMs: 0,
    prewriteBackoffTypes: [],
    commitBackoffTypes: [],
    slowestPrewrite: undefined,
    commitPrimary: undefined,
  };
}

const slower = (a: ReqDetailInfo | undefined, b: ReqDetailInfo | undefined) =>
  b !== undefined && (a === undefined || b.reqTotalTimeMs > a.reqTotalTimeMs) ? cloneReq(b) : a;

const cloneReq = (r: ReqDetailInfo): ReqDetailInfo => ({ ...r, timeDetail: { ...r.timeDetail } });

/**
 * Adds `b` into `a` (client-go CommitDetails.Merge): sums, backoff kinds appended, the slower
 * of each slowest request kept.
 */
export function mergeCommitDetails(a: CommitDetails, b: CommitDetails): CommitDetails {
  a.getLatestTsTimeMs += b.getLatestTsTimeMs;
  a.getCommitTsTimeMs += b.getCommitTsTimeMs;
  a.prewriteTimeMs += b.prewriteTimeMs;
  a.commitTimeMs += b.commitTimeMs;
  a.localLatchTimeMs += b.localLatchTimeMs;
  a.resolveLockTimeMs += b.resolveLockTimeMs;
  a.writeKeys += b.writeKeys;
  a.writeSize += b.writeSize;
  a.prewriteRegionNum += b.prewriteRegionNum;
  a.prewriteReqNum += b.prewriteReqNum;
  a.txnRetry += b.txnRetry;
  a.commitBackoffTimeMs += b.commitBackoffTimeMs;
  a.prewriteBackoffTypes.push(...b.prewriteBackoffTypes);
  a.commitBackoffTypes.push(...b.commitBackoffTypes);
  a.slowestPrewrite = slower(a.slowestPrewrite, b.slowestPrewrite);
  a.commitPrimary = slower(a.commitPrimary, b.commitPrimary);
  return a;
}

/** A deep copy of `d` (client-go CommitDetails.Clone). */
export function cloneCommitDetails(d: CommitDetails): CommitDetails {
  return {
    ...d,
    prewriteBackoffTypes: [...d.prewriteBackoffTypes],
    commitBackoffTypes: [...d.commitBackoffTypes],
    slowestPrewrite: d.slowestPrewrite && cloneReq(d.slowestPrewrite),
    commitPrimary: d.commitPrimary && cloneReq(d.commitPrimary),
  };
}

/**
 * The {@link DetailsSink} of one commit phase: prewrite requests feed the slowest prewrite and
 * the region count, the primary's commit feeds commitPrimary, backoffs go to the phase's list.
 */
export function commitPhaseSink(d: CommitDetails, phase: "prewrite" | "commit"): DetailsSink {
  const regions = new Set<bigint>();
  return {
    recordStats: false,
    response(cmd, regionId, storeId, ms, pb) {
      const info = (): ReqDetailInfo => ({
        reqTotalTimeMs: ms,
        regionId,
        storeId,
        timeDetail: addTimeDetailPb(newTimeDetail(), pb?.timeDetailV2, pb?.timeDetail),
      });
      if (phase === "prewrite" && cmd === "Prewrite") {
        d.prewriteReqNum++;
        if (!regions.has(regionId)) {
          regions.add(regionId);
          d.prewriteRegionNum++;
        }
        if (d.slowestPrewrite === undefined || ms > d.slowestPrewrite.reqTotalTimeMs)
          d.slowestPrewrite = info();
      } else if (phase === "commit" && cmd === "Commit") {
        if (d.commitPrimary === undefined || ms > d.commitPrimary.reqTotalTimeMs) d.commitPrimary = info();
      }
    },
    backoff(kind, ms) {
      d.commitBackoffTimeMs += ms;
      (phase === "prewrite" ? d.prewriteBackoffTypes : d.commitBackoffTypes).push(kind);
    },
  };
}

// ExecDetails is a DetailsSink through its @internal methods, which the published declarations
// strip: checked here instead of with `implements` (a stripped member would break that in .d.ts)
const asSink = (d: ExecDetails): DetailsSink => d;
void asSink;
