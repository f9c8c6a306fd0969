// KvCommit, KvBatchRollback and KvCleanup, ported from tikv src/storage/txn/actions/commit.rs
// and src/storage/mvcc/txn.rs tests (test_commit_ok/err, test_min_commit_ts,
// test_commit_rollback_pessimistic_lock, test_rollback_overlapped, test_collapse_prev_rollback,
// test_txn_timestamp_overlapping, test_rollback_while_other_transaction_running, test_gc_fence).
import { describe, expect, it } from "vitest";
import { isProtectedRollback } from "../../../../src/cluster/engine/mvcc/types.js";
import { CommitRole, Op, WriteConflict_Reason } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  checkTxnStatus,
  commit,
  commitRecord,
  lockOf,
  mustCommit,
  mustGet,
  mustPrewrite,
  mustPut,
  mut,
  newEngine,
  pessimisticPrewrite,
  prewrite,
  putPessimisticLock,
  puts,
  rollback,
  tsAt as ts,
  writesOf,
} from "./helpers.js";

type Engine = ReturnType<typeof newEngine>;

/** TiKV's must_cleanup: KvCleanup (protected rollback) at current_ts. */
function cleanup(e: Engine, key: string, startTs: bigint, currentTs = 0n) {
  return e.cleanup({ context: undefined, key: b(key), startVersion: startTs, currentTs });
}

function checkSecondary(e: Engine, key: string, startTs: bigint) {
  return e.checkSecondaryLocks({ context: undefined, keys: [b(key)], startVersion: startTs });
}

/** The write at commitTs (must exist). */
function writtenAt(e: Engine, key: string, commitTs: bigint) {
  const w = writesOf(e, key).find((v) => v.commitTs === commitTs);
  expect(w).toBeDefined();
  return w?.write;
}

describe("commit", () => {
  it("commits, is idempotent, and reports TxnLockNotFound with retryable text (test_commit_ok / test_commit_err)", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k", "v"), 10n);
    mustCommit(e, ["k"], 10n, 15n);
    mustCommit(e, ["k"], 10n, 15n);
    // A duplicate commit with another ts still succeeds without writing.
    mustCommit(e, ["k"], 10n, 16n);
    expect(writesOf(e, "k").map((w) => w.commitTs)).toEqual([15n]);
    const err = commit(e, ["missing"], 10n, 15n);
    expect(err?.txnLockNotFound).toEqual({ key: b("missing") });
    expect(err?.retryable).toMatch(/txn lock not found/);
  });

  it("attaches the key's MVCC state to errors of unexpected cases (commit of a secondary)", () => {
    const e = newEngine();
    mustPut(e, "s", "old", 1n, 2n);
    const req = (keys: string[], startTs: bigint, commitTs: bigint) => ({
      context: undefined,
      startVersion: startTs,
      keys: keys.map(b),
      commitVersion: commitTs,
      commitRole: CommitRole.Secondary,
      primaryKey: b("p"),
      useAsyncCommit: false,
      isTxnFile: false,
    });
    const lost = e.commit(req(["s"], 10n, 20n)).error;
    expect(lost?.txnLockNotFound).toEqual({ key: b("s") });
    expect(lost?.debugInfo?.mvccInfo[0]?.key).toEqual(b("s"));
    expect(lost?.debugInfo?.mvccInfo[0]?.mvcc?.writes.map((w) => w.commitTs)).toEqual([2n]);
    // The primary is expected to lose its lock: no debug info.
    expect(commit(e, ["s"], 10n, 20n)?.debugInfo).toBeUndefined();
    mustPrewrite(e, puts("p", "v", "s", "v"), 30n, { minCommitTs: 40n });
    const expired = e.commit(req(["s"], 30n, 35n)).error;
    expect(expired?.commitTsExpired?.minCommitTs).toBe(40n);
    expect(expired?.debugInfo?.mvccInfo[0]?.mvcc?.lock?.startTs).toBe(30n);
    expect(commit(e, ["p"], 30n, 35n)?.debugInfo).toBeUndefined();
  });

  it("rejects commit_ts <= start_ts as InvalidTxnTso", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k", "v"), 10n);
    expect(commit(e, ["k"], 10n, 10n)?.abort).toMatch(/InvalidTxnTso/);
    expect(lockOf(e, "k")).toBeDefined();
  });

  it("fails after a rollback (committed keys stay committed)", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k1", "v", "k2", "v"), 10n);
    expect(rollback(e, ["k2"], 10n)).toBeUndefined();
    expect(commit(e, ["k1", "k2"], 10n, 20n)?.txnLockNotFound?.key).toEqual(b("k2"));
    // The whole request failed: k1 is still locked.
    expect(lockOf(e, "k1")).toBeDefined();
  });

  it("refuses commit_ts below min_commit_ts (test_min_commit_ts)", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k", "v"), ts(10), { minCommitTs: ts(20), lockTtl: 100n });
    const err = commit(e, ["k"], ts(10), ts(15));
    expect(err?.commitTsExpired).toEqual({
      startTs: ts(10),
      attemptedCommitTs: ts(15),
      key: b("k"),
      minCommitTs: ts(20),
    });
    checkTxnStatus(e, "k", ts(10), ts(25), ts(25));
    expect(commit(e, ["k"], ts(10), ts(25))?.commitTsExpired?.minCommitTs).toBe(ts(25, 1));
    mustCommit(e, ["k"], ts(10), ts(26));
  });

  it("removes a leftover pessimistic lock instead of committing it (test_commit_rollback_pessimistic_lock)", () => {
    const e = newEngine();
    putPessimisticLock(e, "k1", "k1", 10n, 10n);
    putPessimisticLock(e, "k2", "k1", 10n, 10n);
    expect(pessimisticPrewrite(e, puts("k1", "v"), "k1", 10n, 10n).errors).toEqual([]);
    mustCommit(e, ["k1", "k2"], 10n, 20n);
    expect(lockOf(e, "k2")).toBeUndefined();
    expect(writesOf(e, "k2")).toEqual([]);
    expect(mustGet(e, "k1", 20n)).toBe("v");
  });

  it("commits Lock and Delete locks into Lock and Delete records", () => {
    const e = newEngine();
    mustPut(e, "d", "v", 1n, 2n);
    mustPrewrite(e, [mut(Op.Lock, "l"), mut(Op.Del, "d")], 10n);
    mustCommit(e, ["l", "d"], 10n, 11n);
    expect(writtenAt(e, "l", 11n)?.writeType).toBe("Lock");
    expect(writtenAt(e, "d", 11n)?.writeType).toBe("Delete");
    expect(mustGet(e, "d", 11n)).toBeUndefined();
  });

  it("wakes lock waiters with the commit ts", () => {
    const e = newEngine();
    const seen: [string, bigint, bigint, boolean][] = [];
    e.store.onLocksReleased((ls) => {
      for (const l of ls) seen.push([l.key.toString(), l.startTs, l.commitTs, l.pessimistic]);
    });
    mustPrewrite(e, puts("a", "v", "b", "v"), 10n);
    mustCommit(e, ["a"], 10n, 12n);
    expect(rollback(e, ["b"], 10n)).toBeUndefined();
    expect(seen).toEqual([
      ["a", 10n, 12n, false],
      ["b", 10n, 0n, false],
    ]);
  });
});

describe("rollback and cleanup", () => {
  it("BatchRollback protects only the primary's rollback, removes long values, and fails on committed keys", () => {
    const e = newEngine();
    const long = "x".repeat(300);
    mustPrewrite(e, puts("p", long, "s", "v"), 10n);
    expect(rollback(e, ["p", "s", "never"], 10n)).toBeUndefined();
    expect(lockOf(e, "p")).toBeUndefined();
    expect(e.store.defaultCf.get("p")).toBeUndefined();
    for (const [k, prot] of [
      ["p", true],
      ["s", false],
      ["never", false],
    ] as const) {
      const rec = commitRecord(e, k, 10n);
      expect(rec.kind === "single" && rec.write.writeType === "Rollback").toBe(true);
      expect(rec.kind === "single" && isProtectedRollback(rec.write)).toBe(prot);
    }
    // Idempotent.
    expect(rollback(e, ["p"], 10n)).toBeUndefined();
    mustPut(e, "c", "v", 20n, 21n);
    const err = rollback(e, ["c"], 20n);
    expect(err?.abort).toMatch(/txn already committed, start_ts: 20, commit_ts: 21/);
  });

  it("Cleanup protects the rollback and answers commit_version for committed txns", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k", "v"), ts(10), { lockTtl: 100n });
    // Not expired at current_ts: KeyIsLocked.
    expect(cleanup(e, "k", ts(10), ts(50)).error?.locked?.lockVersion).toBe(ts(10));
    expect(cleanup(e, "k", ts(10), ts(200)).error).toBeUndefined();
    const rec = commitRecord(e, "k", ts(10));
    expect(rec.kind === "single" && isProtectedRollback(rec.write)).toBe(true);
    mustPut(e, "c", "v", 20n, 21n);
    expect(cleanup(e, "c", 20n)).toMatchObject({ error: undefined, commitVersion: 21n });
    // Cleanup pushes max_ts to the cleaned txn's start_ts.
    expect(e.store.maxTs.value).toBeGreaterThanOrEqual(ts(10));
  });

  it("test_rollback_overlapped: only protected rollbacks are merged into an overlapping commit record", () => {
    const e = newEngine();
    mustPrewrite(e, puts("key1", "v1"), 10n);
    mustPrewrite(e, puts("key2", "v2"), 11n);
    mustCommit(e, ["key1"], 10n, 20n);
    mustCommit(e, ["key2"], 11n, 20n);
    expect(cleanup(e, "key1", 20n).error).toBeUndefined();
    expect(rollback(e, ["key2"], 20n)).toBeUndefined();
    expect(writtenAt(e, "key1", 20n)).toMatchObject({
      writeType: "Put",
      startTs: 10n,
      hasOverlappedRollback: true,
    });
    expect(writtenAt(e, "key2", 20n)).toMatchObject({
      writeType: "Put",
      startTs: 11n,
      hasOverlappedRollback: false,
    });
    expect(commitRecord(e, "key1", 20n)).toEqual({ kind: "overlappedRollback", commitTs: 20n });
  });

  it("test_collapse_prev_rollback: an unprotected rollback collapses the previous one", () => {
    const e = newEngine();
    mustPrewrite(e, puts("key", "value"), 1n, { primaryLock: b("pk") });
    expect(rollback(e, ["key"], 1n)).toBeUndefined();
    expect(commitRecord(e, "key", 1n).kind).toBe("single");
    mustPrewrite(e, puts("key", "value"), 2n, { primaryLock: b("pk") });
    expect(rollback(e, ["key"], 2n)).toBeUndefined();
    expect(commitRecord(e, "key", 2n).kind).toBe("single");
    expect(commitRecord(e, "key", 1n).kind).toBe("none");
    expect(rollback(e, ["key"], 3n)).toBeUndefined();
    expect(commitRecord(e, "key", 3n).kind).toBe("single");
    expect(commitRecord(e, "key", 2n).kind).toBe("none");
    // Protected rollbacks are never collapsed.
    expect(cleanup(e, "key", 4n).error).toBeUndefined();
    expect(rollback(e, ["key"], 5n)).toBeUndefined();
    expect(commitRecord(e, "key", 4n).kind).toBe("single");
  });

  it("test_txn_timestamp_overlapping", () => {
    const e = newEngine();
    mustPut(e, "k1", "v1", 10n, 20n);
    // A start_ts equal to another txn's commit_ts is fine...
    mustPrewrite(e, puts("k1", "v1"), 20n);
    mustCommit(e, ["k1"], 20n, 30n);
    // ...but a protected rollback merged into that record rejects it.
    expect(cleanup(e, "k1", 30n).error).toBeUndefined();
    expect(writtenAt(e, "k1", 30n)?.hasOverlappedRollback).toBe(true);
    const errs = prewrite(e, puts("k1", "v1"), 30n).errors;
    expect(errs[0]?.conflict?.reason).toBe(WriteConflict_Reason.SelfRolledBack);
    expect(lockOf(e, "k1")).toBeUndefined();
  });

  it("test_rollback_while_other_transaction_running: rollback_ts recorded in async-commit locks", () => {
    const e = newEngine();
    const asyncPut = (startTs: bigint, minCommitTs = 0n) =>
      mustPrewrite(e, puts("k1", "v1"), startTs, { useAsyncCommit: true, secondaries: [], minCommitTs });
    asyncPut(10n);
    expect(cleanup(e, "k1", 15n).error).toBeUndefined();
    mustCommit(e, ["k1"], 10n, 15n);
    expect(writtenAt(e, "k1", 15n)).toMatchObject({ hasOverlappedRollback: true, gcFence: undefined });

    asyncPut(20n);
    checkTxnStatus(e, "k1", 25n, 0n, 0n, { rollbackIfNotExist: true, verifyIsPrimary: true });
    mustCommit(e, ["k1"], 20n, 25n);
    expect(writtenAt(e, "k1", 25n)).toMatchObject({ hasOverlappedRollback: true, gcFence: undefined });

    asyncPut(30n);
    expect(checkSecondary(e, "k1", 35n)).toMatchObject({ error: undefined, locks: [], commitTs: 0n });
    mustCommit(e, ["k1"], 30n, 35n);
    expect(writtenAt(e, "k1", 35n)?.hasOverlappedRollback).toBe(true);

    asyncPut(40n);
    expect(cleanup(e, "k1", 44n).error).toBeUndefined();
    mustCommit(e, ["k1"], 40n, 45n);
    expect(writtenAt(e, "k1", 45n)?.hasOverlappedRollback).toBe(false);

    // Not recorded for non-async locks, nor for rollbacks below the lock's start_ts.
    mustPrewrite(e, puts("k1", "v1"), 50n);
    expect(cleanup(e, "k1", 55n).error).toBeUndefined();
    expect(lockOf(e, "k1")?.rollbackTs).toEqual([]);
    mustCommit(e, ["k1"], 50n, 56n);
    asyncPut(60n);
    expect(cleanup(e, "k1", 59n).error).toBeUndefined();
    expect(lockOf(e, "k1")?.rollbackTs).toEqual([]);
    mustCommit(e, ["k1"], 60n, 65n);

    // Below min_commit_ts it is not recorded; at or above it is.
    asyncPut(70n, 75n);
    expect(cleanup(e, "k1", 74n).error).toBeUndefined();
    expect(cleanup(e, "k1", 75n).error).toBeUndefined();
    expect(lockOf(e, "k1")).toMatchObject({ minCommitTs: 75n, rollbackTs: [75n] });
  });

  describe.each([
    ["cleanup", (e: Engine, k: string, t: bigint) => expect(cleanup(e, k, t).error).toBeUndefined()],
    [
      "check_txn_status",
      (e: Engine, k: string, t: bigint) =>
        expect(
          checkTxnStatus(e, k, t, 0n, 0n, { rollbackIfNotExist: true, verifyIsPrimary: true }).error,
        ).toBeUndefined(),
    ],
    [
      "check_secondary_locks",
      (e: Engine, k: string, t: bigint) => expect(checkSecondary(e, k, t).error).toBeUndefined(),
    ],
  ])("test_gc_fence via %s", (_name, rb) => {
    it("records the next Put/Delete version as gc_fence", () => {
      const e = newEngine();
      const fence = (commitTs: bigint) => writtenAt(e, "k1", commitTs)?.gcFence;
      mustPut(e, "k1", "v1", 101n, 102n);
      rb(e, "k1", 102n);
      expect(writtenAt(e, "k1", 102n)).toMatchObject({
        startTs: 101n,
        hasOverlappedRollback: true,
        gcFence: 0n,
      });
      mustPut(e, "k1", "v1", 103n, 104n);
      mustPut(e, "k1", "v1", 105n, 106n);
      rb(e, "k1", 104n);
      expect(fence(104n)).toBe(106n);
      mustPut(e, "k1", "v1", 107n, 108n);
      mustPrewrite(e, [mut(Op.Del, "k1")], 109n);
      mustCommit(e, ["k1"], 109n, 110n);
      rb(e, "k1", 108n);
      expect(fence(108n)).toBe(110n);
      // Newer Rollback / Lock records are skipped.
      mustPut(e, "k1", "v1", 111n, 112n);
      mustPrewrite(e, puts("k1", "v1"), 113n);
      expect(rollback(e, ["k1"], 113n)).toBeUndefined();
      mustPrewrite(e, [mut(Op.Lock, "k1")], 115n);
      mustCommit(e, ["k1"], 115n, 116n);
      rb(e, "k1", 112n);
      expect(fence(112n)).toBe(0n);
      mustPut(e, "k1", "v1", 121n, 122n);
      mustPrewrite(e, puts("k1", "v1"), 123n);
      expect(rollback(e, ["k1"], 123n)).toBeUndefined();
      mustPrewrite(e, [mut(Op.Lock, "k1")], 125n);
      mustCommit(e, ["k1"], 125n, 126n);
      mustPut(e, "k1", "v1", 127n, 128n);
      rb(e, "k1", 122n);
      expect(fence(122n)).toBe(128n);
      // Other keys never count.
      mustPut(e, "k1", "v1", 131n, 132n);
      mustPut(e, "k0", "v1", 133n, 134n);
      mustPut(e, "k2", "v1", 133n, 134n);
      rb(e, "k1", 132n);
      expect(fence(132n)).toBe(0n);
    });
  });

  it("reads treat a fenced record as deleted when its fence version is gone", () => {
    const e = newEngine();
    mustPut(e, "k", "v1", 10n, 20n);
    mustPrewrite(e, [mut(Op.Del, "k")], 25n);
    mustCommit(e, ["k"], 25n, 30n);
    expect(cleanup(e, "k", 20n).error).toBeUndefined();
    expect(writtenAt(e, "k", 20n)?.gcFence).toBe(30n);
    // Simulate the Delete at 30 being GC-ed on a lagging replica.
    e.store.deleteWrite("k", 30n);
    expect(mustGet(e, "k", 25n)).toBe("v1");
    expect(mustGet(e, "k", 35n)).toBeUndefined();
  });
});
