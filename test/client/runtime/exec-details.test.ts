// Execution details: the merge rules of client-go util/execdetails.go, ported by meaning
// (execdetails_test.go), and how a call's details sink adds TiKV's exec_details_v2.
import { describe, expect, it } from "vitest";
import {
  addScanDetailPb,
  addTimeDetailPb,
  type CommitDetails,
  cloneCommitDetails,
  commitPhaseSink,
  ExecDetails,
  mergeCommitDetails,
  mergeScanDetail,
  mergeTimeDetail,
  newCommitDetails,
  newScanDetail,
  newTimeDetail,
  type ScanDetail,
} from "../../../src/actors/runtime/exec-details.js";
import { ExecDetailsV2, ScanDetailV2, TimeDetail, TimeDetailV2 } from "../../../src/proto/kvrpcpb.js";

const commit = (o: Partial<CommitDetails>): CommitDetails => ({ ...newCommitDetails(), ...o });
const req = (ms: number, regionId: bigint) => ({
  reqTotalTimeMs: ms,
  regionId,
  storeId: 1n,
  timeDetail: newTimeDetail(),
});

describe("exec details merges (client-go execdetails_test.go)", () => {
  it("commit details add up, backoff kinds append, the slower request wins (TestCommitDetailsMerge)", () => {
    const a = commit({
      getCommitTsTimeMs: 10,
      getLatestTsTimeMs: 5,
      prewriteTimeMs: 20,
      commitTimeMs: 15,
      localLatchTimeMs: 2,
      writeKeys: 100,
      writeSize: 2000,
      prewriteRegionNum: 4,
      txnRetry: 1,
      resolveLockTimeMs: 50,
      commitBackoffTimeMs: 100,
      prewriteBackoffTypes: ["txnLock"],
      commitBackoffTypes: ["regionMiss"],
      slowestPrewrite: req(5, 1n),
      commitPrimary: req(3, 2n),
    });
    const b = commit({
      getCommitTsTimeMs: 12,
      getLatestTsTimeMs: 6,
      prewriteTimeMs: 25,
      commitTimeMs: 18,
      localLatchTimeMs: 3,
      writeKeys: 150,
      writeSize: 3000,
      prewriteRegionNum: 5,
      txnRetry: 2,
      resolveLockTimeMs: 60,
      commitBackoffTimeMs: 200,
      prewriteBackoffTypes: ["tikvRPC"],
      commitBackoffTypes: ["txnLock"],
      slowestPrewrite: req(8, 10n),
      commitPrimary: req(6, 20n),
    });
    mergeCommitDetails(a, b);
    expect(a).toMatchObject({
      getCommitTsTimeMs: 22,
      getLatestTsTimeMs: 11,
      prewriteTimeMs: 45,
      commitTimeMs: 33,
      localLatchTimeMs: 5,
      writeKeys: 250,
      writeSize: 5000,
      prewriteRegionNum: 9,
      txnRetry: 3,
      resolveLockTimeMs: 110,
      commitBackoffTimeMs: 300,
      prewriteBackoffTypes: ["txnLock", "tikvRPC"],
      commitBackoffTypes: ["regionMiss", "txnLock"],
    });
    expect(a.slowestPrewrite?.regionId).toBe(10n);
    expect(a.slowestPrewrite?.reqTotalTimeMs).toBe(8);
    expect(a.commitPrimary?.regionId).toBe(20n);
    // adopted as a copy: changing b later leaves a alone
    (b.slowestPrewrite as { reqTotalTimeMs: number }).reqTotalTimeMs = 99;
    expect(a.slowestPrewrite?.reqTotalTimeMs).toBe(8);
  });

  it("a faster request does not replace the slowest (TestCommitDetailsMergeSlowestNotReplaced)", () => {
    const a = commit({ slowestPrewrite: req(10, 1n), commitPrimary: req(10, 2n) });
    mergeCommitDetails(a, commit({ slowestPrewrite: req(5, 3n), commitPrimary: req(5, 4n) }));
    expect(a.slowestPrewrite?.regionId).toBe(1n);
    expect(a.commitPrimary?.regionId).toBe(2n);
  });

  it("a clone is deep (TestCommitDetailsClone)", () => {
    const orig = commit({
      getCommitTsTimeMs: 10,
      writeKeys: 100,
      prewriteBackoffTypes: ["txnLock", "regionMiss"],
      commitBackoffTypes: ["tikvRPC"],
      slowestPrewrite: req(5, 1n),
    });
    const c = cloneCommitDetails(orig);
    expect(c).toEqual(orig);
    c.prewriteBackoffTypes.push("extra");
    c.commitBackoffTypes.push("extra");
    (c.slowestPrewrite as { reqTotalTimeMs: number }).reqTotalTimeMs = 1;
    c.getCommitTsTimeMs = 999;
    expect(orig.prewriteBackoffTypes).toHaveLength(2);
    expect(orig.commitBackoffTypes).toHaveLength(1);
    expect(orig.slowestPrewrite?.reqTotalTimeMs).toBe(5);
    expect(orig.getCommitTsTimeMs).toBe(10);
  });

  it("scan details add field by field (TestScanDetailMerge)", () => {
    const a: ScanDetail = {
      totalKeys: 100,
      processedKeys: 50,
      processedKeysSize: 1000,
      rocksdbDeleteSkippedCount: 10,
      rocksdbKeySkippedCount: 20,
      rocksdbBlockCacheHitCount: 30,
      rocksdbBlockReadCount: 40,
      rocksdbBlockReadByte: 5000,
      rocksdbBlockReadTimeMs: 1,
      getSnapshotTimeMs: 2,
    };
    const b: ScanDetail = {
      totalKeys: 200,
      processedKeys: 80,
      processedKeysSize: 2000,
      rocksdbDeleteSkippedCount: 15,
      rocksdbKeySkippedCount: 25,
      rocksdbBlockCacheHitCount: 35,
      rocksdbBlockReadCount: 45,
      rocksdbBlockReadByte: 6000,
      rocksdbBlockReadTimeMs: 3,
      getSnapshotTimeMs: 4,
    };
    expect(mergeScanDetail(a, b)).toEqual({
      totalKeys: 300,
      processedKeys: 130,
      processedKeysSize: 3000,
      rocksdbDeleteSkippedCount: 25,
      rocksdbKeySkippedCount: 45,
      rocksdbBlockCacheHitCount: 65,
      rocksdbBlockReadCount: 85,
      rocksdbBlockReadByte: 11000,
      rocksdbBlockReadTimeMs: 4,
      getSnapshotTimeMs: 6,
    });
  });

  it("TiKV's ScanDetailV2 maps onto the scan detail (TestScanDetailMergeFromScanDetailV2IncludesIAFields)", () => {
    const sd = addScanDetailPb(
      newScanDetail(),
      ScanDetailV2.fromPartial({
        processedVersions: 10n,
        processedVersionsSize: 20n,
        totalVersions: 30n,
        rocksdbDeleteSkippedCount: 4n,
        rocksdbKeySkippedCount: 5n,
        rocksdbBlockCacheHitCount: 6n,
        rocksdbBlockReadCount: 7n,
        rocksdbBlockReadByte: 8n,
        rocksdbBlockReadNanos: 9_000n,
        getSnapshotNanos: 7_000n,
      }),
    );
    expect(sd).toEqual({
      totalKeys: 30,
      processedKeys: 10,
      processedKeysSize: 20,
      rocksdbDeleteSkippedCount: 4,
      rocksdbKeySkippedCount: 5,
      rocksdbBlockCacheHitCount: 6,
      rocksdbBlockReadCount: 7,
      rocksdbBlockReadByte: 8,
      rocksdbBlockReadTimeMs: 0.009,
      getSnapshotTimeMs: 0.007,
    });
  });

  it("time details add up; nothing merges from nothing (TestTimeDetailMerge, TestTimeDetailMergeNil)", () => {
    const a = {
      processTimeMs: 10,
      suspendTimeMs: 2,
      waitTimeMs: 5,
      kvReadWallTimeMs: 3,
      kvGrpcProcessTimeMs: 1,
      kvGrpcWaitTimeMs: 4,
      totalRpcWallTimeMs: 20,
    };
    mergeTimeDetail(a, {
      processTimeMs: 15,
      suspendTimeMs: 3,
      waitTimeMs: 7,
      kvReadWallTimeMs: 4,
      kvGrpcProcessTimeMs: 2,
      kvGrpcWaitTimeMs: 5,
      totalRpcWallTimeMs: 30,
    });
    expect(a).toEqual({
      processTimeMs: 25,
      suspendTimeMs: 5,
      waitTimeMs: 12,
      kvReadWallTimeMs: 7,
      kvGrpcProcessTimeMs: 3,
      kvGrpcWaitTimeMs: 9,
      totalRpcWallTimeMs: 50,
    });
    mergeTimeDetail(a, undefined);
    expect(a.processTimeMs).toBe(25);
  });

  it("TiKV's time detail: the nanosecond V2 form wins, else the millisecond one (MergeFromTimeDetail)", () => {
    const v2 = TimeDetailV2.fromPartial({
      waitWallTimeNs: 1_000_000n,
      processWallTimeNs: 2_500_000n,
      kvReadWallTimeNs: 500_000n,
      totalRpcWallTimeNs: 4_000_000n,
    });
    const v1 = TimeDetail.fromPartial({ processWallTimeMs: 99n, waitWallTimeMs: 99n });
    expect(addTimeDetailPb(newTimeDetail(), v2, v1)).toMatchObject({
      waitTimeMs: 1,
      processTimeMs: 2.5,
      kvReadWallTimeMs: 0.5,
      totalRpcWallTimeMs: 4,
    });
    expect(addTimeDetailPb(newTimeDetail(), undefined, v1)).toMatchObject({
      processTimeMs: 99,
      waitTimeMs: 99,
    });
  });
});

describe("exec details sinks", () => {
  it("ExecDetails counts requests, backoffs by kind and TiKV's details; merge sums two", () => {
    const d = new ExecDetails();
    const pb = ExecDetailsV2.fromPartial({
      timeDetailV2: { processWallTimeNs: 1_000_000n },
      scanDetailV2: { processedVersions: 2n, totalVersions: 3n, processedVersionsSize: 40n },
    });
    d.response("Get", 1n, 1n, 5, pb);
    d.response("Get", 2n, 1n, 7, undefined);
    d.backoff("regionMiss", 2);
    d.backoff("regionMiss", 4);
    d.backoff("txnLock", 10);
    expect(d.requests).toBe(2);
    expect(d.requestTimeMs).toBe(12);
    expect(d.backoffCount).toBe(3);
    expect(d.backoffTimeMs).toBe(16);
    expect(d.backoffs).toEqual({ regionMiss: { count: 2, sleepMs: 6 }, txnLock: { count: 1, sleepMs: 10 } });
    expect(d.scanDetail).toMatchObject({ processedKeys: 2, totalKeys: 3, processedKeysSize: 40 });
    expect(d.timeDetail.processTimeMs).toBe(1);
    const sum = new ExecDetails().merge(d).merge(d);
    expect(sum.requests).toBe(4);
    expect(sum.backoffs.regionMiss).toEqual({ count: 4, sleepMs: 12 });
    expect(sum.scanDetail.processedKeys).toBe(4);
  });

  it("a prewrite phase counts distinct regions and keeps the slowest request; the commit phase the primary's", () => {
    const d = newCommitDetails();
    const pre = commitPhaseSink(d, "prewrite");
    pre.response("Prewrite", 1n, 1n, 3, undefined);
    pre.response(
      "Prewrite",
      1n,
      1n,
      9,
      ExecDetailsV2.fromPartial({ timeDetailV2: { processWallTimeNs: 2_000_000n } }),
    );
    pre.response("Prewrite", 2n, 2n, 4, undefined);
    // requests of other commands in the phase (lock resolution) are not prewrites
    pre.response("CheckTxnStatus", 3n, 1n, 50, undefined);
    pre.backoff("txnLock", 6);
    const com = commitPhaseSink(d, "commit");
    com.response("Commit", 2n, 2n, 1, undefined);
    com.backoff("regionMiss", 2);
    expect(d.prewriteReqNum).toBe(3);
    expect(d.prewriteRegionNum).toBe(2);
    expect(d.slowestPrewrite).toMatchObject({ reqTotalTimeMs: 9, regionId: 1n });
    expect(d.slowestPrewrite?.timeDetail.processTimeMs).toBe(2);
    expect(d.commitPrimary).toMatchObject({ reqTotalTimeMs: 1, regionId: 2n });
    expect(d.prewriteBackoffTypes).toEqual(["txnLock"]);
    expect(d.commitBackoffTypes).toEqual(["regionMiss"]);
    expect(d.commitBackoffTimeMs).toBe(8);
  });
});
