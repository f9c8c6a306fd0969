// Reads: KvGet / KvBatchGet / KvScan lock checks and options. Cases follow tikv
// components/txn_types/src/lock.rs (test_check_ts_conflict, test_check_ts_conflict_rc_check_ts),
// src/storage/mvcc/reader/point_getter.rs and scanner tests, and src/storage/mod.rs (max_ts).
import { describe, expect, it } from "vitest";
import { MvccError } from "../../../../src/cluster/engine/mvcc/errors.js";
import { newLock, TS_MAX } from "../../../../src/cluster/engine/mvcc/types.js";
import { checkTsConflict } from "../../../../src/cluster/engine/txn/actions/read.js";
import { IsolationLevel, Op, WriteConflict_Reason } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  get,
  mustCommit,
  mustGet,
  mustGetLocked,
  mustPrewrite,
  mustPut,
  mut,
  newEngine,
  putPessimisticLock,
  puts,
  scanKV,
} from "./helpers.js";

const SI = IsolationLevel.SI;

function conflicts(lock: ReturnType<typeof newLock>, ts: bigint, bypass: bigint[] = [], iso = SI): boolean {
  try {
    checkTsConflict(lock, b("foo"), ts, new Set(bypass), iso);
    return false;
  } catch (e) {
    expect(e).toBeInstanceOf(MvccError);
    return true;
  }
}

describe("check_ts_conflict (test_check_ts_conflict)", () => {
  it("SI", () => {
    let lock = newLock({ lockType: "Put", primary: b(""), startTs: 100n, ttl: 3n, txnSize: 1n });
    expect(conflicts(lock, 50n)).toBe(false);
    expect(conflicts(lock, 110n)).toBe(true);
    expect(conflicts(lock, 110n, [109n])).toBe(true);
    expect(conflicts(lock, 110n, [110n])).toBe(true);
    expect(conflicts(lock, 110n, [100n])).toBe(false);
    expect(conflicts(lock, 110n, [99n, 101n, 102n, 100n, 80n])).toBe(false);
    expect(conflicts({ ...lock, lockType: "Lock" }, 110n)).toBe(false);
    expect(conflicts({ ...lock, lockType: "Pessimistic" }, 110n)).toBe(false);
    lock = { ...lock, primary: b("foo") };
    expect(conflicts(lock, TS_MAX)).toBe(false);
    expect(conflicts({ ...lock, useAsyncCommit: true }, TS_MAX)).toBe(true);
    expect(conflicts({ ...lock, useOnePc: true }, TS_MAX)).toBe(true);
    // Replica reads may not skip the primary (check_ts_conflict_for_replica_read).
    expect(() => checkTsConflict(lock, b("foo"), TS_MAX, new Set(), SI, true)).toThrow(MvccError);
    lock = { ...lock, primary: b("bar") };
    expect(conflicts(lock, TS_MAX)).toBe(true);
    lock = { ...lock, minCommitTs: 150n };
    expect(conflicts(lock, 140n)).toBe(false);
    expect(conflicts(lock, 150n)).toBe(true);
    expect(conflicts(lock, 160n)).toBe(true);
  });

  it("RC ignores locks; RCCheckTS reports Put/Delete locks as RcCheckTs write conflicts", () => {
    const lock = newLock({ lockType: "Put", primary: b("p"), startTs: 100n });
    expect(conflicts(lock, 110n, [], IsolationLevel.RC)).toBe(false);
    expect(conflicts(lock, 50n, [], IsolationLevel.RCCheckTS)).toBe(true);
    expect(conflicts({ ...lock, lockType: "Lock" }, 110n, [], IsolationLevel.RCCheckTS)).toBe(false);
    expect(conflicts(lock, 110n, [100n], IsolationLevel.RCCheckTS)).toBe(false);
  });
});

describe("get", () => {
  it("returns the locked error with the full LockInfo", () => {
    const e = newEngine();
    mustPrewrite(e, puts("p", "v", "s", "v"), 10n, {
      lockTtl: 1234n,
      txnSize: 2n,
      useAsyncCommit: true,
      secondaries: [b("s")],
    });
    const info = mustGetLocked(e, "p", 100n);
    expect(info).toEqual({
      primaryLock: b("p"),
      lockVersion: 10n,
      key: b("p"),
      lockTtl: 1234n,
      txnSize: 2n,
      lockType: Op.Put,
      lockForUpdateTs: 0n,
      useAsyncCommit: true,
      minCommitTs: 11n,
      secondaries: [b("s")],
      durationToLastUpdateMs: 0n,
      sharedLockInfos: [],
      isTxnFile: false,
    });
    // Below min_commit_ts the async-commit lock does not block.
    expect(mustGet(e, "p", 10n)).toBeUndefined();
  });

  it("reads push max_ts (not stale reads), so async commit lands above them", () => {
    const e = newEngine();
    mustGet(e, "x", 500n);
    expect(e.store.maxTs.value).toBe(500n);
    mustGet(e, "x", 900n, { staleRead: true });
    expect(e.store.maxTs.value).toBe(500n);
    get(e, "x", TS_MAX);
    expect(e.store.maxTs.value).toBe(500n);
    const r = mustPrewrite(e, puts("x", "v"), 100n, { useAsyncCommit: true, secondaries: [] });
    expect(r.minCommitTs).toBe(501n);
  });

  it("need_commit_ts returns the commit ts", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 10n, 20n);
    const r = e.get({ context: undefined, key: b("k"), version: 30n, needCommitTs: true });
    expect([r.value.toString(), r.commitTs, r.notFound]).toEqual(["v", 20n, false]);
    expect(e.get({ context: undefined, key: b("k"), version: 30n, needCommitTs: false }).commitTs).toBe(0n);
    expect(e.get({ context: undefined, key: b("none"), version: 30n, needCommitTs: true })).toMatchObject({
      notFound: true,
      commitTs: 0n,
    });
  });

  it("resolved_locks bypass and committed_locks read through the lock", () => {
    const e = newEngine();
    mustPut(e, "k", "old", 1n, 2n);
    mustPrewrite(e, puts("k", "new", "big", "x".repeat(400)), 10n);
    mustPrewrite(e, [mut(Op.Del, "d")], 10n, { primaryLock: b("k") });
    expect(mustGet(e, "k", 20n, { resolvedLocks: [10n] })).toBe("old");
    expect(mustGet(e, "k", 20n, { committedLocks: [10n] })).toBe("new");
    expect(mustGet(e, "big", 20n, { committedLocks: [10n] })).toBe("x".repeat(400));
    expect(mustGet(e, "d", 20n, { committedLocks: [10n] })).toBeUndefined();
    // With need_commit_ts the commit ts is unknown through a lock: still locked.
    const r = e.get({
      context: { committedLocks: [10n] } as never,
      key: b("k"),
      version: 20n,
      needCommitTs: true,
    });
    expect(r.error?.locked).toBeDefined();
  });

  it("ignores Lock and Pessimistic locks and locks newer than the read", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 1n, 2n);
    putPessimisticLock(e, "k", "k", 5n, 5n);
    expect(mustGet(e, "k", 10n)).toBe("v");
    mustPut(e, "l", "v", 1n, 2n);
    mustPrewrite(e, [mut(Op.Lock, "l")], 5n);
    expect(mustGet(e, "l", 10n)).toBe("v");
    mustPrewrite(e, puts("n", "v"), 50n);
    expect(mustGet(e, "n", 10n)).toBeUndefined();
  });

  it("RCCheckTS fails on newer committed versions", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 10n, 20n);
    const r = get(e, "k", 15n, { isolationLevel: IsolationLevel.RCCheckTS });
    expect(r.error?.conflict).toMatchObject({
      startTs: 15n,
      conflictCommitTs: 20n,
      reason: WriteConflict_Reason.RcCheckTs,
    });
    expect(mustGet(e, "k", 25n, { isolationLevel: IsolationLevel.RCCheckTS })).toBe("v");
  });

  it("batch get keeps request order, omits missing keys and gives locked keys an error pair", () => {
    const e = newEngine();
    mustPut(e, "a", "va", 1n, 2n);
    mustPut(e, "c", "vc", 1n, 3n);
    mustPrewrite(e, puts("b", "vb"), 5n);
    const r = e.batchGet({
      context: undefined,
      keys: [b("c"), b("missing"), b("b"), b("a")],
      version: 10n,
      needCommitTs: true,
    });
    expect(r.error).toBeUndefined();
    expect(
      r.pairs.map((p) => [p.key.toString(), p.value.toString(), p.commitTs, p.error?.locked?.key.toString()]),
    ).toEqual([
      ["c", "vc", 3n, undefined],
      ["", "", 0n, "b"],
      ["a", "va", 2n, undefined],
    ]);
  });
});

describe("scan", () => {
  it("reports locked keys as error pairs counted in the limit", () => {
    const e = newEngine();
    for (const k of ["a", "b", "c", "d"]) mustPut(e, k, `v${k}`, 1n, 2n);
    mustPrewrite(e, puts("b", "x"), 5n);
    mustPrewrite(e, puts("bb", "x"), 5n, { primaryLock: b("b") });
    const r = e.scan({
      context: undefined,
      startKey: b("a"),
      endKey: b(""),
      limit: 3,
      version: 10n,
      keyOnly: false,
      reverse: false,
      sampleStep: 0,
    });
    expect(r.pairs.map((p) => (p.error ? `!${p.error.locked?.key}` : p.key.toString()))).toEqual([
      "a",
      "!b",
      "!bb",
    ]);
    const rev = e.scan({
      context: undefined,
      startKey: b("z"),
      endKey: b(""),
      limit: 3,
      version: 10n,
      keyOnly: false,
      reverse: true,
      sampleStep: 0,
    });
    expect(rev.pairs.map((p) => (p.error ? `!${p.error.locked?.key}` : p.key.toString()))).toEqual([
      "d",
      "c",
      "!bb",
    ]);
    // RC skips the lock check.
    expect(scanKV(e, "a", "", 10, 10n, { ctx: { isolationLevel: IsolationLevel.RC } })).toEqual([
      "a",
      "va",
      "b",
      "vb",
      "c",
      "vc",
      "d",
      "vd",
    ]);
  });

  it("key_only, sample_step and the region range", () => {
    const e = newEngine();
    for (const k of ["a", "b", "c", "d", "e"]) mustPut(e, k, `v${k}`, 1n, 2n);
    expect(scanKV(e, "", "", 10, 5n, { keyOnly: true })).toEqual([
      "a",
      "",
      "b",
      "",
      "c",
      "",
      "d",
      "",
      "e",
      "",
    ]);
    const sampled = e.scan({
      context: undefined,
      startKey: b(""),
      endKey: b(""),
      limit: 10,
      version: 5n,
      keyOnly: false,
      reverse: false,
      sampleStep: 2,
    });
    expect(sampled.pairs.map((p) => p.key.toString())).toEqual(["a", "c", "e"]);
    const region = { start: b("b"), end: b("d") };
    const inRegion = e.scan(
      {
        context: undefined,
        startKey: b("a"),
        endKey: b(""),
        limit: 10,
        version: 5n,
        keyOnly: false,
        reverse: false,
        sampleStep: 0,
      },
      region,
    );
    expect(inRegion.pairs.map((p) => p.key.toString())).toEqual(["b", "c"]);
    const revRegion = e.scan(
      {
        context: undefined,
        startKey: b("z"),
        endKey: b(""),
        limit: 10,
        version: 5n,
        keyOnly: false,
        reverse: true,
        sampleStep: 0,
      },
      region,
    );
    expect(revRegion.pairs.map((p) => p.key.toString())).toEqual(["c", "b"]);
    // As in TiKV, a reverse scan's empty start_key is the empty key, not +inf.
    const revEmpty = e.scan({
      context: undefined,
      startKey: b(""),
      endKey: b(""),
      limit: 10,
      version: 5n,
      keyOnly: false,
      reverse: true,
      sampleStep: 0,
    });
    expect(revEmpty.pairs).toEqual([]);
  });

  it("reads long values and skips deleted keys and rolled-back versions", () => {
    const e = newEngine();
    const long = "L".repeat(1000);
    mustPut(e, "a", long, 1n, 2n);
    mustPut(e, "b", "v", 1n, 2n);
    mustPrewrite(e, [mut(Op.Del, "b")], 3n);
    mustCommit(e, ["b"], 3n, 4n);
    mustPrewrite(e, puts("c", "v"), 5n);
    e.batchRollback({ context: undefined, startVersion: 5n, keys: [b("c")], isTxnFile: false });
    expect(scanKV(e, "", "", 10, 10n)).toEqual(["a", long]);
  });
});
