// KvCheckTxnStatus, ported from tikv src/storage/txn/commands/check_txn_status.rs tests
// (test_check_txn_status_impl, test_check_async_commit_txn_status,
// test_check_txn_status_resolving_pessimistic_lock, test_verify_is_primary,
// test_check_txn_status_resolving_primary_pessimistic_lock,
// test_check_txn_status_rollback_optimistic).
import { describe, expect, it } from "vitest";
import { isProtectedRollback, TS_MAX } from "../../../../src/cluster/engine/mvcc/types.js";
import {
  Action,
  type CheckTxnStatusResponse,
  Op,
  WriteConflict_Reason,
} from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  checkTxnStatus,
  commitRecord,
  lockOf,
  mustCommit,
  mustPrewrite,
  newEngine,
  PA,
  pessimisticPrewrite,
  prewrite,
  putPessimisticLock,
  puts,
  rollback,
  seekWrite,
  tsAt as ts,
  writesOf,
} from "./helpers.js";

type Engine = ReturnType<typeof newEngine>;

/** check_txn_status as TiKV's test helper calls it (verify_is_primary = true). */
function check(
  e: Engine,
  key: string,
  lockTs: bigint,
  caller: bigint,
  current: bigint,
  rollbackIfNotExist: boolean,
  forceSyncCommit = false,
  resolvingPessimisticLock = false,
): CheckTxnStatusResponse {
  return checkTxnStatus(e, key, lockTs, caller, current, {
    rollbackIfNotExist,
    forceSyncCommit,
    resolvingPessimisticLock,
    verifyIsPrimary: true,
  });
}

function expectUncommitted(r: CheckTxnStatusResponse, ttl: bigint, minCommitTs: bigint, pushed: boolean) {
  expect(r.error).toBeUndefined();
  expect(r.lockInfo).toBeDefined();
  expect([r.lockTtl, r.lockInfo?.minCommitTs, r.action]).toEqual([
    ttl,
    minCommitTs,
    pushed ? Action.MinCommitTSPushed : Action.NoAction,
  ]);
}

function expectCommitted(r: CheckTxnStatusResponse, commitTs: bigint) {
  expect([r.error, r.commitVersion, r.action, r.lockInfo]).toEqual([
    undefined,
    commitTs,
    Action.NoAction,
    undefined,
  ]);
}

function expectAction(r: CheckTxnStatusResponse, action: Action) {
  expect([r.error, r.commitVersion, r.lockTtl, r.action]).toEqual([undefined, 0n, 0n, action]);
}

/** must_prewrite_put_for_large_txn: min_commit_ts = start_ts + 1. */
function prewriteLarge(e: Engine, key: string, startTs: bigint, ttl: bigint) {
  mustPrewrite(e, puts(key, "v1"), startTs, { lockTtl: ttl, minCommitTs: startTs + 1n, txnSize: 1000n });
}

function lockedLarge(
  e: Engine,
  key: string,
  startTs: bigint,
  ttl: bigint,
  minCommitTs: bigint,
  pessimistic: boolean,
) {
  const l = lockOf(e, key);
  expect(l).toMatchObject({ startTs, ttl, minCommitTs });
  expect(l?.lockType === "Pessimistic").toBe(pessimistic);
}

function protectedRollbackAt(e: Engine, key: string, startTs: bigint) {
  const rec = commitRecord(e, key, startTs);
  expect(rec.kind).toBe("single");
  if (rec.kind === "single") {
    expect(rec.write.writeType).toBe("Rollback");
    expect(isProtectedRollback(rec.write)).toBe(true);
  }
}

describe.each([false, true])("check_txn_status (rollback_if_not_exist = %s)", (r) => {
  it("test_check_txn_status_impl", () => {
    const e = newEngine();
    const k = "k1";
    const notExist = check(e, k, ts(3), ts(3, 1), ts(3, 2), r);
    if (r) {
      expectAction(notExist, Action.LockNotExistRollback);
      protectedRollbackAt(e, k, ts(3));
    } else {
      expect(notExist.error?.txnNotFound).toEqual({ startTs: ts(3), primaryKey: b(k) });
    }

    prewriteLarge(e, k, ts(5), 100n);
    lockedLarge(e, k, ts(5), 100n, ts(5, 1), false);
    expectUncommitted(check(e, k, ts(5), 0n, 0n, r), 100n, ts(5, 1), false);
    // Pushed to current_ts.
    expectUncommitted(check(e, k, ts(5), ts(6), ts(7), r), 100n, ts(7), true);
    lockedLarge(e, k, ts(5), 100n, ts(7), false);
    // caller_start_ts + 1 when current_ts < caller_start_ts.
    expectUncommitted(check(e, k, ts(5), ts(9), ts(8), r), 100n, ts(9, 1), true);
    // caller_start_ts < min_commit_ts: unchanged but pushed.
    expectUncommitted(check(e, k, ts(5), ts(8), ts(10), r), 100n, ts(9, 1), true);
    expectUncommitted(check(e, k, ts(5), ts(11), ts(9), r), 100n, ts(11, 1), true);
    expectUncommitted(check(e, k, ts(5), ts(12), ts(12), r), 100n, ts(12, 1), true);
    expectUncommitted(check(e, k, ts(5), ts(13, 1), ts(13, 3), r), 100n, ts(13, 3), true);
    lockedLarge(e, k, ts(5), 100n, ts(13, 3), false);

    mustCommit(e, [k], ts(5), ts(15));
    expect(lockOf(e, k)).toBeUndefined();
    expectCommitted(check(e, k, ts(5), ts(12), ts(12), r), ts(15));

    prewriteLarge(e, k, ts(20), 100n);
    // A committed txn is found even under another txn's lock.
    expectCommitted(check(e, k, ts(5), ts(12), ts(12), r), ts(15));
    const missing = check(e, k, ts(6), ts(12), ts(12), r);
    if (r) {
      expectAction(missing, Action.LockNotExistRollback);
      expect(seekWrite(e, k, ts(6))).toMatchObject({
        commitTs: ts(6),
        write: { writeType: "Rollback", startTs: ts(6) },
      });
    } else {
      expect(missing.error?.txnNotFound).toBeDefined();
    }

    // TTL compares physical time only.
    expectUncommitted(check(e, k, ts(20), ts(21, 105), ts(21, 105), r), 100n, ts(21, 106), true);
    expectAction(check(e, k, ts(20), ts(121), ts(121), r), Action.TTLExpireRollback);
    expect(lockOf(e, k)).toBeUndefined();
    expect(seekWrite(e, k, TS_MAX)).toMatchObject({ commitTs: ts(20), write: { writeType: "Rollback" } });
    protectedRollbackAt(e, k, ts(20));

    // min_commit_ts of a large txn's pessimistic lock is pushed too.
    putPessimisticLock(e, k, k, ts(4), ts(130), 200n, ts(130, 1));
    expectUncommitted(check(e, k, ts(4), ts(135), ts(135), r), 200n, ts(135, 1), true);
    lockedLarge(e, k, ts(4), 200n, ts(135, 1), true);
    expect(pessimisticPrewrite(e, puts(k, "v1"), k, ts(4), ts(130)).errors).toEqual([]);
    mustCommit(e, [k], ts(4), ts(140));
    expect(commitRecord(e, k, ts(4))).toMatchObject({ kind: "single", commitTs: ts(140) });

    // Intersecting txns: 5 -> 15, 20 rolled back, 4 -> 140.
    expectCommitted(check(e, k, ts(4), ts(10), ts(10), r), ts(140));
    expectCommitted(check(e, k, ts(5), ts(10), ts(10), r), ts(15));
    expectAction(check(e, k, ts(20), ts(10), ts(10), r), Action.NoAction);

    // Expired pessimistic lock is rolled back with a Rollback record.
    putPessimisticLock(e, k, k, ts(150), ts(150), 100n, ts(150, 1));
    expectUncommitted(check(e, k, ts(150), ts(160), ts(160), r), 100n, ts(160, 1), true);
    expectAction(check(e, k, ts(150), ts(160), ts(260), r), Action.TTLExpireRollback);
    expect(seekWrite(e, k, TS_MAX)).toMatchObject({ commitTs: ts(150), write: { writeType: "Rollback" } });

    // current_ts = max expires any lock.
    prewriteLarge(e, k, ts(270), 100n);
    expectAction(check(e, k, ts(270), ts(271), TS_MAX, r), Action.TTLExpireRollback);
    expect(seekWrite(e, k, TS_MAX)).toMatchObject({ commitTs: ts(270), write: { writeType: "Rollback" } });
    putPessimisticLock(e, k, k, ts(280), ts(280), 100n, ts(280, 1));
    expectAction(check(e, k, ts(280), ts(281), TS_MAX, r), Action.TTLExpireRollback);
    expect(lockOf(e, k)).toBeUndefined();

    // min_commit_ts 0 (not a large txn) is never pushed.
    putPessimisticLock(e, k, k, ts(290), ts(290), 100n, 0n);
    expectUncommitted(check(e, k, ts(290), ts(300), ts(300), r), 100n, 0n, false);
    e.pessimisticRollback({ context: undefined, startVersion: ts(290), forUpdateTs: ts(290), keys: [b(k)] });
    expect(lockOf(e, k)).toBeUndefined();
    mustPrewrite(e, puts(k, "v1"), ts(300), { lockTtl: 100n });
    expectUncommitted(check(e, k, ts(300), ts(310), ts(310), r), 100n, 0n, false);
    expect(rollback(e, [k], ts(300))).toBeUndefined();

    // caller_start_ts = max: not pushed, but reported as pushed.
    prewriteLarge(e, k, ts(310), 100n);
    expectUncommitted(check(e, k, ts(310), TS_MAX, ts(320), r), 100n, ts(310, 1), true);
    mustCommit(e, [k], ts(310), ts(315));
    expectCommitted(check(e, k, ts(310), TS_MAX, ts(320), r), ts(315));
  });

  it("test_check_async_commit_txn_status", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    // Async-commit primary: never pushed nor rolled back, whatever the timestamps.
    mustPrewrite(e, puts("k1", "v"), 1n, { lockTtl: 100n, useAsyncCommit: true, secondaries: [] });
    expect(lockOf(e, "k1")).toMatchObject({ minCommitTs: 2n, useAsyncCommit: true });
    for (const [caller, current] of [
      [0n, 0n],
      [5n, 0n],
      [0n, 8n],
      [10n, 12n],
      [TS_MAX, 12n],
      [12n, TS_MAX],
    ] as const) {
      expectUncommitted(check(e, "k1", 1n, caller, current, r), 100n, 2n, false);
    }
    // force_sync_commit treats it as a normal txn: expired at current_ts = max.
    expectAction(check(e, "k1", 1n, 12n, TS_MAX, r, true), Action.TTLExpireRollback);
    expect(lockOf(e, "k1")).toBeUndefined();
    protectedRollbackAt(e, "k1", 1n);

    // Pessimistic async-commit primary.
    putPessimisticLock(e, "k2", "k2", 15n, 15n, 100n);
    e.store.maxTs.update(16n);
    expect(
      pessimisticPrewrite(e, puts("k2", "v"), "k2", 15n, 16n, PA.DO_PESSIMISTIC_CHECK, {
        lockTtl: 100n,
        useAsyncCommit: true,
        secondaries: [],
      }).errors,
    ).toEqual([]);
    expect(lockOf(e, "k2")?.minCommitTs).toBe(17n);
    expectUncommitted(check(e, "k2", 15n, 19n, 20n, r), 100n, 17n, false);
    expectAction(check(e, "k2", 15n, 20n, TS_MAX, r, true), Action.TTLExpireRollback);
    protectedRollbackAt(e, "k2", 15n);

    // Pessimistic large txn whose async-commit secondary is prewritten first: the primary is
    // still a pessimistic lock and is not pushed by a caller_start_ts of 0.
    putPessimisticLock(e, "k3", "k3", 20n, 20n, 100n, 21n);
    putPessimisticLock(e, "k4", "k3", 20n, 25n, 100n, 26n);
    const pre = (key: string, primary: string, startTs: bigint, forUpdateTs: bigint, minCommitTs: bigint) =>
      pessimisticPrewrite(e, puts(key, "v"), primary, startTs, forUpdateTs, PA.DO_PESSIMISTIC_CHECK, {
        lockTtl: 100n,
        useAsyncCommit: true,
        secondaries: [],
        minCommitTs,
      });
    expect(pre("k4", "k3", 20n, 25n, 28n).errors).toEqual([]);
    expectUncommitted(check(e, "k3", 20n, 0n, 0n, r), 100n, 21n, false);
    // Not a large txn: min_commit_ts stays 0.
    putPessimisticLock(e, "k5", "k5", 30n, 30n, 100n);
    putPessimisticLock(e, "k6", "k5", 30n, 35n, 100n);
    expect(pre("k6", "k5", 30n, 35n, 36n).errors).toEqual([]);
    expectUncommitted(check(e, "k5", 30n, 0n, 0n, r), 100n, 0n, false);
  });
});

describe("check_txn_status special paths", () => {
  it("test_check_txn_status_resolving_pessimistic_lock", () => {
    const e = newEngine();
    const k = "k1";
    // No record, resolving a pessimistic lock: nothing is written.
    expectAction(check(e, k, ts(3), ts(3), ts(4), true, false, true), Action.LockNotExistDoNothing);
    expect(writesOf(e, k)).toEqual([]);
    expect(check(e, k, ts(3), ts(5), ts(5), false, false, true).error?.txnNotFound).toBeDefined();

    putPessimisticLock(e, k, k, ts(10), ts(10), 10n);
    expectUncommitted(check(e, k, ts(10), ts(11), ts(11), true, false, true), 10n, 0n, false);
    // Expired primary pessimistic lock: removed without a rollback record.
    expectAction(check(e, k, ts(10), ts(21), ts(21), true, false, true), Action.TTLExpirePessimisticRollback);
    expect(lockOf(e, k)).toBeUndefined();
    expect(writesOf(e, k)).toEqual([]);

    mustPrewrite(e, puts(k, "v1"), ts(30), { lockTtl: 10n });
    expectUncommitted(check(e, k, ts(30), ts(31), ts(31), true, false, true), 10n, 0n, false);
    expectAction(check(e, k, ts(30), ts(41), ts(41), true, false, true), Action.TTLExpireRollback);
    expect(commitRecord(e, k, ts(30))).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });

    // Not resolving a pessimistic lock: the txn is in its commit phase, a rollback is written.
    putPessimisticLock(e, k, k, ts(50), ts(50), 10n);
    expectAction(check(e, k, ts(50), ts(61), ts(61), true, false, false), Action.TTLExpireRollback);
    expect(commitRecord(e, k, ts(50))).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
  });

  it("test_verify_is_primary", () => {
    const e = newEngine();
    putPessimisticLock(e, "k1", "k2", 1n, 1n);
    let r = check(e, "k1", 1n, 1n, 0n, true, false, true);
    expect(r.error?.primaryMismatch?.lockInfo).toMatchObject({
      key: b("k1"),
      primaryLock: b("k2"),
      lockType: Op.PessimisticLock,
    });
    expect(lockOf(e, "k1")?.lockType).toBe("Pessimistic");
    expect(pessimisticPrewrite(e, puts("k1", "v1"), "k2", 1n, 1n).errors).toEqual([]);
    r = check(e, "k1", 1n, 1n, 0n, true, false, true);
    expect(r.error?.primaryMismatch?.lockInfo).toMatchObject({
      key: b("k1"),
      primaryLock: b("k2"),
      lockType: Op.Put,
    });
    expect(lockOf(e, "k1")?.lockType).toBe("Put");
  });

  it("test_check_txn_status_resolving_primary_pessimistic_lock", () => {
    const e = newEngine();
    putPessimisticLock(e, "k1", "k1", ts(1), ts(1), 10n);
    putPessimisticLock(e, "k2", "k1", ts(1), ts(1), 10n);
    expect(pessimisticPrewrite(e, puts("k1", "v1", "k2", "v2"), "k1", ts(1), ts(1)).errors).toEqual([]);
    mustCommit(e, ["k1"], ts(1), ts(2));
    // 1. A stale force-acquired (locked-with-conflict) primary lock: the commit record decides.
    putPessimisticLock(e, "k1", "k1", ts(1), ts(2), 10n, 0n, true);
    expectCommitted(check(e, "k1", ts(1), ts(5), ts(5), false), ts(2));
    expect(lockOf(e, "k1")).toBeUndefined();
    mustCommit(e, ["k2"], ts(1), ts(2));

    // 2. A normal pessimistic primary.
    putPessimisticLock(e, "k1", "k1", ts(11), ts(11), 10n);
    putPessimisticLock(e, "k2", "k1", ts(11), ts(11), 10n);
    expectUncommitted(check(e, "k1", ts(11), ts(15), ts(15), false), 10n, 0n, false);
    expectAction(
      check(e, "k1", ts(11), ts(25), ts(25), false, false, true),
      Action.TTLExpirePessimisticRollback,
    );
    putPessimisticLock(e, "k1", "k1", ts(11), ts(11), 10n);
    expectAction(check(e, "k1", ts(11), ts(25), ts(25), false), Action.TTLExpireRollback);
    protectedRollbackAt(e, "k1", ts(11));
    expect(rollback(e, ["k2"], ts(11))).toBeUndefined();

    // 3. A pessimistic lock on k2 whose primary is k1, checked as if k2 were the primary.
    putPessimisticLock(e, "k2", "k1", ts(12), ts(12), 10n);
    expect(check(e, "k2", ts(12), ts(25), ts(25), false, false, true).error?.primaryMismatch).toBeDefined();
    expect(check(e, "k2", ts(12), ts(25), ts(25), false).error?.txnNotFound).toBeDefined();
    expectAction(check(e, "k2", ts(12), ts(25), ts(25), true), Action.LockNotExistRollback);
    expect(lockOf(e, "k2")).toBeUndefined();
    protectedRollbackAt(e, "k2", ts(12));
  });

  it("test_check_txn_status_rollback_optimistic", () => {
    const e = newEngine();
    const k = "k1";
    mustPrewrite(e, puts(k, "v1"), ts(1), {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: ts(1, 1),
      lockTtl: 0n,
    });
    mustCommit(e, [k], ts(1), ts(2));
    mustPrewrite(e, puts(k, "v2"), ts(2), { lockTtl: 0n });
    expect(writesOf(e, k)[0]?.write.hasOverlappedRollback).toBe(false);
    expectAction(check(e, k, ts(2), ts(3), ts(3), true), Action.TTLExpireRollback);
    // The rollback of txn 2 is merged into txn 1's record committed at ts 2.
    expect(writesOf(e, k)[0]).toMatchObject({
      commitTs: ts(2),
      write: { writeType: "Put", startTs: ts(1), hasOverlappedRollback: true, gcFence: 0n },
    });
    const errs = prewrite(e, puts(k, "v2"), ts(2)).errors;
    expect(errs[0]?.conflict).toEqual({
      startTs: ts(2),
      conflictTs: ts(1),
      conflictCommitTs: ts(2),
      key: b(k),
      primary: b(k),
      reason: WriteConflict_Reason.SelfRolledBack,
    });
  });

  it("verify_is_primary = false skips the primary check", () => {
    const e = newEngine();
    mustPrewrite(e, puts("s", "v"), ts(10), { primaryLock: b("p"), lockTtl: 100n });
    const r = checkTxnStatus(e, "s", ts(10), 0n, ts(11), { verifyIsPrimary: false });
    expect(r.error).toBeUndefined();
    expect(r.lockInfo).toMatchObject({ primaryLock: b("p"), key: b("p"), lockVersion: ts(10) });
  });

  it("a protected rollback under another async-commit txn's lock is recorded in that lock", () => {
    const e = newEngine();
    e.store.maxTs.update(20n);
    mustPrewrite(e, puts("k", "v"), 10n, { useAsyncCommit: true, secondaries: [] });
    expect(lockOf(e, "k")?.minCommitTs).toBe(21n);
    // Txn 25 is unknown on k: rolled back (protected), and 25 >= min_commit_ts is remembered.
    expectAction(check(e, "k", 25n, 0n, 0n, true), Action.LockNotExistRollback);
    expect(lockOf(e, "k")?.rollbackTs).toEqual([25n]);
    mustCommit(e, ["k"], 10n, 25n);
    expect(writesOf(e, "k")[0]).toMatchObject({
      commitTs: 25n,
      write: { startTs: 10n, hasOverlappedRollback: true },
    });
    expect(commitRecord(e, "k", 25n)).toEqual({ kind: "overlappedRollback", commitTs: 25n });
  });

  it("a flushed (pipelined) lock is rolled back with a protected record even on a secondary", () => {
    const e = newEngine();
    e.flush({
      context: undefined,
      mutations: [{ op: Op.Put, key: b("s"), value: b("v"), assertion: 0 }],
      primaryKey: b("p"),
      startTs: 10n,
      minCommitTs: 0n,
      generation: 1n,
      lockTtl: 100n,
      assertionLevel: 0,
    });
    expect(rollback(e, ["s"], 10n)).toBeUndefined();
    protectedRollbackAt(e, "s", 10n);
  });
});
