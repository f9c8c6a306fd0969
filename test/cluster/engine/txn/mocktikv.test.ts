// Port of client-go internal/mockstore/mocktikv/mock_tikv_test.go to the txn engine (the
// engine answers as TiKV does; where mocktikv differed, the TiKV behaviour is asserted).
import { describe, expect, it } from "vitest";
import { TS_MAX } from "../../../../src/cluster/engine/mvcc/types.js";
import { Action, IsolationLevel } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  checkTxnStatus,
  commit,
  mustCommit,
  mustDelete,
  mustGet,
  mustGetLocked,
  mustPrewrite,
  mustPut,
  mut,
  newEngine,
  Op,
  prewrite,
  puts,
  rollback,
  scanKV,
} from "./helpers.js";

const lockSummary = (l: { key: Buffer; primaryLock: Buffer; lockVersion: bigint }) => [
  l.key.toString(),
  l.primaryLock.toString(),
  l.lockVersion,
];

function scanLocks(e: ReturnType<typeof newEngine>, maxTs: bigint, start = "", end = "") {
  return e
    .scanLock({ context: undefined, maxVersion: maxTs, startKey: b(start), endKey: b(end), limit: 0 })
    .locks.map(lockSummary);
}

function resolve(e: ReturnType<typeof newEngine>, startTs: bigint, commitTs: bigint) {
  return e.resolveLock({
    context: undefined,
    startVersion: startTs,
    commitVersion: commitTs,
    txnInfos: [],
    keys: [],
    isAsync: false,
    isTxnFile: false,
  }).error;
}

describe("client-go mocktikv tests (ported)", () => {
  it("TestGet", () => {
    const e = newEngine();
    expect(mustGet(e, "x", 10n)).toBeUndefined();
    mustPut(e, "x", "x", 5n, 10n);
    expect(mustGet(e, "x", 9n)).toBeUndefined();
    expect(mustGet(e, "x", 10n)).toBe("x");
    expect(mustGet(e, "x", 11n)).toBe("x");
  });

  it("TestGetWithLock", () => {
    const e = newEngine();
    mustPut(e, "key", "value", 5n, 10n);
    // A Lock-type lock never blocks readers.
    mustPrewrite(e, [mut(Op.Lock, "key")], 20n);
    expect(mustGet(e, "key", 25n)).toBe("value");
    mustCommit(e, ["key"], 20n, 30n);
    mustPrewrite(e, puts("key", "value2", "key2", "v5"), 40n);
    mustGetLocked(e, "key", 41n);
    // At ts = max the primary lock of a 2PC txn is ignored, secondaries still block.
    mustGetLocked(e, "key2", TS_MAX);
    expect(mustGet(e, "key", TS_MAX)).toBe("value");
  });

  it("TestDelete", () => {
    const e = newEngine();
    mustPut(e, "x", "x5-10", 5n, 10n);
    mustDelete(e, "x", 15n, 20n);
    expect(mustGet(e, "x", 5n)).toBeUndefined();
    expect(mustGet(e, "x", 9n)).toBeUndefined();
    expect(mustGet(e, "x", 10n)).toBe("x5-10");
    expect(mustGet(e, "x", 19n)).toBe("x5-10");
    expect(mustGet(e, "x", 20n)).toBeUndefined();
    expect(mustGet(e, "x", 21n)).toBeUndefined();
  });

  it("TestCleanupRollback", () => {
    const e = newEngine();
    mustPut(e, "secondary", "s-0", 1n, 2n);
    mustPrewrite(e, puts("primary", "p-5", "secondary", "s-5"), 5n);
    mustGetLocked(e, "secondary", 8n);
    mustGetLocked(e, "secondary", 12n);
    mustCommit(e, ["primary"], 5n, 10n);
    const err = rollback(e, ["primary"], 5n);
    expect(err?.abort).toMatch(/already committed/);
  });

  it("TestReverseScan", () => {
    const e = newEngine();
    const rev = (start: string, end: string, limit: number, ts: bigint) =>
      scanKV(e, end, start, limit, ts, { reverse: true });
    mustPut(e, "A", "A10", 5n, 10n);
    mustPut(e, "C", "C10", 5n, 10n);
    mustPut(e, "E", "E10", 5n, 10n);
    const checkV10 = () => {
      expect(rev("", "Z", 0, 10n)).toEqual([]);
      expect(rev("", "Z", 1, 10n)).toEqual(["E", "E10"]);
      expect(rev("", "Z", 2, 10n)).toEqual(["E", "E10", "C", "C10"]);
      expect(rev("", "Z", 3, 10n)).toEqual(["E", "E10", "C", "C10", "A", "A10"]);
      expect(rev("", "Z", 4, 10n)).toEqual(["E", "E10", "C", "C10", "A", "A10"]);
      expect(rev("", "E\x00", 3, 10n)).toEqual(["E", "E10", "C", "C10", "A", "A10"]);
      expect(rev("", "C\x00", 3, 10n)).toEqual(["C", "C10", "A", "A10"]);
      expect(rev("", "C\x00", 4, 10n)).toEqual(["C", "C10", "A", "A10"]);
      expect(rev("", "B", 1, 10n)).toEqual(["A", "A10"]);
      expect(rev("", "E", 5, 10n)).toEqual(["C", "C10", "A", "A10"]);
      expect(rev("A\x00", "C", 5, 10n)).toEqual([]);
    };
    checkV10();
    mustPut(e, "B", "B20", 15n, 20n);
    mustPut(e, "D", "D20", 15n, 20n);
    const checkV20 = () => {
      expect(rev("", "Z", 5, 20n)).toEqual(["E", "E10", "D", "D20", "C", "C10", "B", "B20", "A", "A10"]);
      expect(rev("", "C\x00", 5, 20n)).toEqual(["C", "C10", "B", "B20", "A", "A10"]);
      expect(rev("", "A\x00", 1, 20n)).toEqual(["A", "A10"]);
      expect(rev("B", "D", 5, 20n)).toEqual(["C", "C10", "B", "B20"]);
      expect(rev("B", "D\x00", 5, 20n)).toEqual(["D", "D20", "C", "C10", "B", "B20"]);
      expect(rev("B\x00", "D\x00", 5, 20n)).toEqual(["D", "D20", "C", "C10"]);
    };
    checkV10();
    checkV20();
    mustDelete(e, "A", 25n, 30n);
    mustDelete(e, "D", 25n, 30n);
    const checkV30 = () => {
      expect(rev("", "Z", 5, 30n)).toEqual(["E", "E10", "C", "C10", "B", "B20"]);
      expect(rev("", "C", 1, 30n)).toEqual(["B", "B20"]);
      expect(rev("", "C\x00", 5, 30n)).toEqual(["C", "C10", "B", "B20"]);
    };
    checkV10();
    checkV20();
    checkV30();
    mustDelete(e, "B", 35n, 40n);
    mustPut(e, "C", "C40", 35n, 40n);
    mustPut(e, "D", "D40", 35n, 40n);
    checkV10();
    checkV20();
    checkV30();
    expect(rev("", "Z", 5, 40n)).toEqual(["E", "E10", "D", "D40", "C", "C40"]);
    expect(rev("", "Z", 5, 100n)).toEqual(["E", "E10", "D", "D40", "C", "C40"]);
  });

  it("TestScan", () => {
    const e = newEngine();
    const fwd = (start: string, end: string, limit: number, ts: bigint) => scanKV(e, start, end, limit, ts);
    mustPut(e, "A", "A10", 5n, 10n);
    mustPut(e, "C", "C10", 5n, 10n);
    mustPut(e, "E", "E10", 5n, 10n);
    const checkV10 = () => {
      expect(fwd("", "", 0, 10n)).toEqual([]);
      expect(fwd("", "", 1, 10n)).toEqual(["A", "A10"]);
      expect(fwd("", "", 2, 10n)).toEqual(["A", "A10", "C", "C10"]);
      expect(fwd("", "", 3, 10n)).toEqual(["A", "A10", "C", "C10", "E", "E10"]);
      expect(fwd("", "", 4, 10n)).toEqual(["A", "A10", "C", "C10", "E", "E10"]);
      expect(fwd("A", "", 3, 10n)).toEqual(["A", "A10", "C", "C10", "E", "E10"]);
      expect(fwd("A\x00", "", 3, 10n)).toEqual(["C", "C10", "E", "E10"]);
      expect(fwd("C", "", 4, 10n)).toEqual(["C", "C10", "E", "E10"]);
      expect(fwd("F", "", 1, 10n)).toEqual([]);
      expect(fwd("", "E", 5, 10n)).toEqual(["A", "A10", "C", "C10"]);
      expect(fwd("", "C\x00", 5, 10n)).toEqual(["A", "A10", "C", "C10"]);
      expect(fwd("A\x00", "C", 5, 10n)).toEqual([]);
    };
    checkV10();
    mustPut(e, "B", "B20", 15n, 20n);
    mustPut(e, "D", "D20", 15n, 20n);
    const checkV20 = () => {
      expect(fwd("", "", 5, 20n)).toEqual(["A", "A10", "B", "B20", "C", "C10", "D", "D20", "E", "E10"]);
      expect(fwd("C", "", 5, 20n)).toEqual(["C", "C10", "D", "D20", "E", "E10"]);
      expect(fwd("D\x00", "", 1, 20n)).toEqual(["E", "E10"]);
      expect(fwd("B", "D", 5, 20n)).toEqual(["B", "B20", "C", "C10"]);
      expect(fwd("B", "D\x00", 5, 20n)).toEqual(["B", "B20", "C", "C10", "D", "D20"]);
      expect(fwd("B\x00", "D\x00", 5, 20n)).toEqual(["C", "C10", "D", "D20"]);
    };
    checkV10();
    checkV20();
    mustDelete(e, "A", 25n, 30n);
    mustDelete(e, "D", 25n, 30n);
    const checkV30 = () => {
      expect(fwd("", "", 5, 30n)).toEqual(["B", "B20", "C", "C10", "E", "E10"]);
      expect(fwd("A", "", 1, 30n)).toEqual(["B", "B20"]);
      expect(fwd("C\x00", "", 5, 30n)).toEqual(["E", "E10"]);
    };
    checkV10();
    checkV20();
    checkV30();
    mustDelete(e, "B", 35n, 40n);
    mustPut(e, "C", "C40", 35n, 40n);
    mustPut(e, "D", "D40", 35n, 40n);
    checkV10();
    checkV20();
    checkV30();
    expect(fwd("", "", 5, 40n)).toEqual(["C", "C40", "D", "D40", "E", "E10"]);
    expect(fwd("", "", 5, 100n)).toEqual(["C", "C40", "D", "D40", "E", "E10"]);
  });

  it("TestBatchGet", () => {
    const e = newEngine();
    mustPut(e, "k1", "v1", 1n, 2n);
    mustPut(e, "k2", "v2", 1n, 2n);
    mustPut(e, "k2", "v2", 3n, 4n);
    mustPut(e, "k3", "v3", 1n, 2n);
    const r = e.batchGet({
      context: undefined,
      keys: [b("k1"), b("k2"), b("k3")],
      version: 5n,
      needCommitTs: false,
    });
    expect(r.pairs.map((p) => [p.error, p.key.toString(), p.value.toString()])).toEqual([
      [undefined, "k1", "v1"],
      [undefined, "k2", "v2"],
      [undefined, "k3", "v3"],
    ]);
  });

  it("TestScanLock", () => {
    const e = newEngine();
    mustPut(e, "k1", "v1", 1n, 2n);
    mustPrewrite(e, puts("p1", "v5", "s1", "v5"), 5n);
    mustPrewrite(e, puts("p2", "v10", "s2", "v10"), 10n);
    mustPrewrite(e, puts("p3", "v20", "s3", "v20"), 20n);
    expect(scanLocks(e, 12n, "a", "r")).toEqual([
      ["p1", "p1", 5n],
      ["p2", "p2", 10n],
    ]);
    expect(scanLocks(e, 10n)).toEqual([
      ["p1", "p1", 5n],
      ["p2", "p2", 10n],
      ["s1", "p1", 5n],
      ["s2", "p2", 10n],
    ]);
  });

  it("TestScanWithResolvedLock", () => {
    const e = newEngine();
    mustPrewrite(e, puts("p1", "v5", "s1", "v5"), 5n);
    mustPrewrite(e, puts("p2", "v10", "s2", "v10"), 5n, { primaryLock: b("p1") });
    const scan = (resolvedLocks: bigint[]) =>
      e.scan({
        context: { resolvedLocks } as never,
        startKey: b("p1"),
        endKey: b(""),
        limit: 3,
        version: 10n,
        keyOnly: false,
        reverse: false,
        sampleStep: 0,
      });
    const locked = scan([]);
    expect(locked.pairs[0]?.error?.locked?.lockVersion).toBe(5n);
    expect(locked.pairs[1]?.error?.locked).toBeDefined();
    const resolved = scan([5n]);
    // Resolved (bypassed) locks are skipped; the keys have no committed data.
    expect(resolved.pairs.every((p) => p.error === undefined)).toBe(true);
  });

  it("TestCommitConflict", () => {
    const e = newEngine();
    mustPrewrite(e, puts("x", "A"), 5n);
    expect(prewrite(e, puts("x", "B"), 10n).errors[0]?.locked?.lockVersion).toBe(5n);
    expect(rollback(e, ["x"], 5n)).toBeUndefined();
    expect(commit(e, ["x"], 5n, 10n)?.txnLockNotFound).toBeDefined();
    mustPrewrite(e, puts("x", "B"), 10n);
    expect(commit(e, ["x"], 5n, 20n)?.txnLockNotFound).toBeDefined();
    mustCommit(e, ["x"], 10n, 20n);
    mustCommit(e, ["x"], 10n, 20n);
  });

  it("TestResolveLock", () => {
    const e = newEngine();
    mustPrewrite(e, puts("p1", "v5", "s1", "v5"), 5n);
    mustPrewrite(e, puts("p2", "v10", "s2", "v10"), 10n);
    expect(resolve(e, 5n, 0n)).toBeUndefined();
    expect(resolve(e, 10n, 20n)).toBeUndefined();
    expect(mustGet(e, "p1", 20n)).toBeUndefined();
    expect(mustGet(e, "s1", 30n)).toBeUndefined();
    expect(mustGet(e, "p2", 20n)).toBe("v10");
    expect(mustGet(e, "s2", 30n)).toBe("v10");
    expect(scanLocks(e, 30n)).toEqual([]);
  });

  it("TestBatchResolveLock", () => {
    const e = newEngine();
    mustPrewrite(e, puts("p1", "v11", "s1", "v11"), 11n);
    mustPrewrite(e, puts("p2", "v12", "s2", "v12"), 12n);
    mustPrewrite(e, puts("p3", "v13"), 13n);
    mustPrewrite(e, puts("p4", "v14", "s3", "v14", "s4", "v14"), 14n);
    mustPrewrite(e, puts("p5", "v15", "s5", "v15"), 15n);
    const batch = (infos: [bigint, bigint][]) =>
      e.resolveLock({
        context: undefined,
        startVersion: 0n,
        commitVersion: 0n,
        txnInfos: infos.map(([txn, status]) => ({ txn, status, isTxnFile: false })),
        keys: [],
        isAsync: false,
        isTxnFile: false,
      }).error;
    expect(
      batch([
        [11n, 0n],
        [12n, 22n],
        [13n, 0n],
        [14n, 24n],
      ]),
    ).toBeUndefined();
    expect(mustGet(e, "p1", 20n)).toBeUndefined();
    expect(mustGet(e, "p3", 30n)).toBeUndefined();
    expect(mustGet(e, "p2", 30n)).toBe("v12");
    expect(mustGet(e, "s4", 30n)).toBe("v14");
    expect(scanLocks(e, 30n)).toEqual([
      ["p5", "p5", 15n],
      ["s5", "p5", 15n],
    ]);
    expect(batch([[15n, 0n]])).toBeUndefined();
    expect(scanLocks(e, 30n)).toEqual([]);
  });

  it("TestGC", () => {
    const e = newEngine();
    mustPut(e, "k1", "v1", 1n, 2n);
    mustPut(e, "k1", "v2", 11n, 12n);
    mustPut(e, "k2", "v1", 1n, 2n);
    mustPut(e, "k2", "v2", 11n, 12n);
    mustPut(e, "k2", "v3", 101n, 102n);
    mustPut(e, "k3", "v1", 1n, 2n);
    mustPut(e, "k3", "v2", 11n, 12n);
    mustDelete(e, "k3", 101n, 102n);
    mustPut(e, "k4", "v1", 1n, 2n);
    mustDelete(e, "k4", 11n, 12n);
    expect(mustGet(e, "k1", 5n)).toBe("v1");
    expect(mustGet(e, "k4", 5n)).toBe("v1");
    e.gc(100n);
    expect(mustGet(e, "k1", 5n)).toBeUndefined();
    expect(mustGet(e, "k1", 15n)).toBe("v2");
    expect(mustGet(e, "k2", 5n)).toBeUndefined();
    expect(mustGet(e, "k2", 15n)).toBe("v2");
    expect(mustGet(e, "k2", 105n)).toBe("v3");
    expect(mustGet(e, "k3", 5n)).toBeUndefined();
    expect(mustGet(e, "k3", 15n)).toBe("v2");
    expect(mustGet(e, "k3", 105n)).toBeUndefined();
    expect(mustGet(e, "k4", 5n)).toBeUndefined();
    expect(mustGet(e, "k4", 105n)).toBeUndefined();
  });

  it("TestRollbackAndWriteConflict", () => {
    const e = newEngine();
    mustPut(e, "test", "test", 1n, 3n);
    const errs = prewrite(e, puts("lock", "lock", "test", "test1"), 2n, {
      primaryLock: b("test"),
      lockTtl: 2n,
    }).errors;
    // TiKV fails the whole request with the conflict (mocktikv reported it per key).
    expect(errs).toHaveLength(1);
    expect(errs[0]?.conflict).toMatchObject({ startTs: 2n, conflictTs: 1n, conflictCommitTs: 3n });
    mustPut(e, "test", "test2", 5n, 8n);
    // getTxnStatus for txn 2 (cleanup at current_ts = max).
    const c = e.cleanup({ context: undefined, key: b("test"), startVersion: 2n, currentTs: TS_MAX });
    expect(c.error).toBeUndefined();
    const errs2 = prewrite(e, puts("test", "test3"), 6n, { lockTtl: 1n }).errors;
    expect(errs2[0]?.conflict).toMatchObject({ startTs: 6n, conflictTs: 5n, conflictCommitTs: 8n });
  });

  it("TestDeleteRange", () => {
    const e = newEngine();
    for (let i = 1; i <= 5; i++) mustPut(e, String(i), `v${i}`, BigInt(1 + 2 * i), BigInt(2 + 2 * i));
    const del = (s: string, t: string) =>
      e.deleteRange({ context: undefined, startKey: b(s), endKey: b(t), notifyOnly: false });
    expect(scanKV(e, "0", "", 10, 20n)).toEqual(["1", "v1", "2", "v2", "3", "v3", "4", "v4", "5", "v5"]);
    del("2", "4");
    expect(scanKV(e, "0", "", 10, 30n)).toEqual(["1", "v1", "4", "v4", "5", "v5"]);
    del("5", "5");
    expect(scanKV(e, "0", "", 10, 40n)).toEqual(["1", "v1", "4", "v4", "5", "v5"]);
    del("41", "42");
    expect(scanKV(e, "0", "", 10, 50n)).toEqual(["1", "v1", "4", "v4", "5", "v5"]);
    del("4\x00", "5\x00");
    expect(scanKV(e, "0", "", 10, 60n)).toEqual(["1", "v1", "4", "v4"]);
    del("0", "9");
    expect(scanKV(e, "0", "", 10, 70n)).toEqual([]);
  });

  it("TestRC", () => {
    const e = newEngine();
    mustPut(e, "key", "v1", 5n, 10n);
    mustPrewrite(e, puts("key", "v2"), 15n);
    mustGetLocked(e, "key", 20n);
    expect(mustGet(e, "key", 12n, { isolationLevel: IsolationLevel.RC })).toBe("v1");
    expect(mustGet(e, "key", 20n, { isolationLevel: IsolationLevel.RC })).toBe("v1");
  });

  it("TestCheckTxnStatus", () => {
    const e = newEngine();
    const startTs = 5n << 18n;
    mustPrewrite(e, puts("pk", "val"), startTs, { lockTtl: 666n, minCommitTs: startTs + 1n });
    let r = checkTxnStatus(e, "pk", startTs, startTs + 100n, 666n);
    expect([r.error, r.lockTtl, r.commitVersion, r.action]).toEqual([
      undefined,
      666n,
      0n,
      Action.MinCommitTSPushed,
    ]);
    // caller_start_ts = max does not push min_commit_ts but reports MinCommitTSPushed.
    r = checkTxnStatus(e, "pk", startTs, TS_MAX, 666n);
    expect([r.error, r.lockTtl, r.commitVersion, r.action]).toEqual([
      undefined,
      666n,
      0n,
      Action.MinCommitTSPushed,
    ]);
    mustCommit(e, ["pk"], startTs, startTs + 101n);
    r = checkTxnStatus(e, "pk", startTs, 0n, 666n);
    expect([r.error, r.lockTtl, r.commitVersion]).toEqual([undefined, 0n, startTs + 101n]);

    mustPrewrite(e, puts("pk1", "val"), startTs, { lockTtl: 666n, minCommitTs: startTs + 1n });
    expect(rollback(e, ["pk1"], startTs)).toBeUndefined();
    r = checkTxnStatus(e, "pk1", startTs, 0n, 666n);
    expect([r.error, r.lockTtl, r.commitVersion, r.action]).toEqual([undefined, 0n, 0n, Action.NoAction]);

    mustPrewrite(e, puts("pk2", "val"), startTs, { lockTtl: 666n, minCommitTs: startTs + 1n });
    r = checkTxnStatus(e, "pk2", startTs, 0n, 777n << 18n);
    expect([r.error, r.lockTtl, r.commitVersion, r.action]).toEqual([
      undefined,
      0n,
      0n,
      Action.TTLExpireRollback,
    ]);

    r = checkTxnStatus(e, "txnNotFound", 5n, 0n, 666n);
    expect(r.error?.txnNotFound).toEqual({ startTs: 5n, primaryKey: b("txnNotFound") });
    r = checkTxnStatus(e, "txnNotFound", 5n, 0n, 666n, { rollbackIfNotExist: true });
    expect([r.error, r.lockTtl, r.commitVersion, r.action]).toEqual([
      undefined,
      0n,
      0n,
      Action.LockNotExistRollback,
    ]);
    // The rollback record written at ts 5 blocks a prewrite with a smaller start_ts.
    expect(prewrite(e, puts("txnNotFound", "val"), 4n, { minCommitTs: 6n }).errors).not.toEqual([]);
  });

  it("TestRejectCommitTS", () => {
    const e = newEngine();
    mustPrewrite(e, puts("x", "A"), 5n, { minCommitTs: 6n });
    expect(checkTxnStatus(e, "x", 5n, 100n, 100n).error).toBeUndefined();
    const err = commit(e, ["x"], 5n, 10n);
    expect(err?.commitTsExpired).toEqual({
      startTs: 5n,
      attemptedCommitTs: 10n,
      key: b("x"),
      minCommitTs: 101n,
    });
  });

  it("TestMvccGetByKey", () => {
    const e = newEngine();
    mustPrewrite(e, puts("q1", "v5"), 5n, { primaryLock: b("p1") });
    const info = e.mvccGetByKey({ context: undefined, key: b("q1") }).info;
    expect(info?.lock).toMatchObject({ type: Op.Put, startTs: 5n, primary: b("p1"), shortValue: b("v5") });
    expect(info?.writes).toEqual([]);
    expect(info?.values).toEqual([]);
  });

  it("TestTxnHeartBeat", () => {
    const e = newEngine();
    mustPrewrite(e, puts("pk", "val"), 5n, { lockTtl: 666n });
    const hb = (ttl: bigint) =>
      e.txnHeartBeat({
        context: undefined,
        primaryLock: b("pk"),
        startVersion: 5n,
        adviseLockTtl: ttl,
        minCommitTs: 0n,
        isTxnFile: false,
      });
    expect(hb(888n)).toMatchObject({ error: undefined, lockTtl: 888n });
    expect(hb(300n)).toMatchObject({ error: undefined, lockTtl: 888n });
    expect(
      e.cleanup({ context: undefined, key: b("pk"), startVersion: 5n, currentTs: TS_MAX }).error,
    ).toBeUndefined();
    expect(hb(1000n).error?.txnNotFound).toEqual({ startTs: 5n, primaryKey: b("pk") });
  });
});
