// Shared pessimistic locks (Op::SharedPessimisticLock / Op::SharedLock) in the txn engine,
// request by request. Ports of TiKV's shared-lock tests (see test/ported/engine-txn.md and
// engine-pessimistic.md); lock waiting on shared locks is in pessimistic/shared-lock-wait.test.ts.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MvccReader } from "../../../../src/cluster/engine/mvcc/reader.js";
import { MvccTxn } from "../../../../src/cluster/engine/mvcc/txn.js";
import { newLock, newSharedLocks, withSharedLock } from "../../../../src/cluster/engine/mvcc/types.js";
import { prewriteOne } from "../../../../src/cluster/engine/txn/actions/prewrite.js";
import type { TxnEngine } from "../../../../src/cluster/engine/txn/txn-engine.js";
import {
  AssertionLevel,
  CheckSecondaryLocksRequest,
  CleanupRequest,
  type KeyError,
  type LockInfo,
  MvccGetByKeyRequest,
  Op,
  PrewriteRequest_PessimisticAction as PA,
  PessimisticRollbackRequest,
  ResolveLockRequest,
  ScanLockRequest,
  TxnHeartBeatRequest,
} from "../../../../src/proto/kvrpcpb.js";
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
  rollback,
  scanKV,
  sharedLocksOf,
  tsAt,
  writesOf,
} from "./helpers.js";
import { type LockOpts, lockRequest } from "./pessimistic/fixture.js";

let e: TxnEngine;
beforeEach(() => {
  e = newEngine();
});
afterEach(() => e.close());

/** KvPessimisticLock of one key, shared unless `o.shared === false`, without waiting. */
function lock(key: string, primary: string, startTs: number, forUpdateTs: number, o: LockOpts = {}) {
  return e.pessimisticLock(
    lockRequest([key], startTs, forUpdateTs, { primary, shared: true, waitTimeout: 0n, ...o }),
  );
}

async function mustSharedLock(
  key: string,
  primary: string,
  startTs: number,
  forUpdateTs: number,
  o: LockOpts = {},
) {
  const r = await lock(key, primary, startTs, forUpdateTs, o);
  expect(r.errors).toEqual([]);
  return r;
}

async function mustLockErr(
  key: string,
  primary: string,
  startTs: number,
  forUpdateTs: number,
  o: LockOpts = {},
) {
  const r = await lock(key, primary, startTs, forUpdateTs, o);
  expect(r.errors).toHaveLength(1);
  return r.errors[0] as KeyError;
}

/** The holders of key's shared locks as [start_ts, sub-lock type, for_update_ts]. */
function holders(key: string): [number, string, number][] {
  return (sharedLocksOf(e, key)?.locks ?? []).map((l) => [
    Number(l.startTs),
    l.lockType,
    Number(l.forUpdateTs),
  ]);
}

/** Pessimistic prewrite of Op::SharedLock on key (DoPessimisticCheck). */
function sharedPrewrite(key: string, primary: string, startTs: number, forUpdateTs: number, extra = {}) {
  return pessimisticPrewrite(
    e,
    [mut(Op.SharedLock, key)],
    primary,
    BigInt(startTs),
    BigInt(forUpdateTs),
    PA.DO_PESSIMISTIC_CHECK,
    extra,
  );
}

function mustSharedPrewrite(key: string, primary: string, startTs: number, forUpdateTs: number): void {
  expect(sharedPrewrite(key, primary, startTs, forUpdateTs).errors).toEqual([]);
}

/** [start_ts, lock type] of each holder listed in a shared LockInfo. */
function infoHolders(info: LockInfo | undefined): [number, Op][] {
  return (info?.sharedLockInfos ?? []).map((l) => [Number(l.lockVersion), l.lockType]);
}

/** Asserts the LockInfo TiKV reports for shared locks: only key, type and holders are set. */
function expectSharedInfo(info: LockInfo | undefined, key: string, expected: [number, Op][]): void {
  expect(info).toMatchObject({
    key: b(key),
    lockType: Op.SharedLock,
    lockVersion: 0n,
    primaryLock: Buffer.alloc(0),
    lockTtl: 0n,
  });
  expect(infoHolders(info)).toEqual(expected);
}

function cleanupAt(key: string, startTs: bigint, currentTs: bigint) {
  return e.cleanup(CleanupRequest.fromPartial({ key: b(key), startVersion: startTs, currentTs }));
}

function scanLockTs(maxVersion: number, limit = 0): [string, number[]][] {
  const r = e.scanLock(ScanLockRequest.fromPartial({ maxVersion: BigInt(maxVersion), limit }));
  return r.locks.map((l) => [
    l.key.toString(),
    l.lockType === Op.SharedLock
      ? l.sharedLockInfos.map((s) => Number(s.lockVersion))
      : [Number(l.lockVersion)],
  ]);
}

describe("acquiring shared pessimistic locks", () => {
  it("creates a shared-lock record with one Pessimistic sub-lock (tikv test_acquire_shared_lock_creates_shared_entry)", async () => {
    const r = await mustSharedLock("k", "pk", 5, 15);
    expect(r.values).toEqual([]);
    const s = sharedLocksOf(e, "k");
    expect(s?.shrinkOnly).toBe(false);
    expect(s?.locks).toHaveLength(1);
    expect(s?.locks[0]).toMatchObject({
      lockType: "Pessimistic",
      primary: b("pk"),
      startTs: 5n,
      forUpdateTs: 15n,
    });
  });

  it("merges holders of several txns into one record (tikv test_acquire_shared_lock_merges_existing_entries)", async () => {
    await mustSharedLock("k", "pk1", 10, 20, { ttl: 1500n });
    await mustSharedLock("k", "pk2", 12, 18, { ttl: 2500n });
    expect(holders("k")).toEqual([
      [10, "Pessimistic", 20],
      [12, "Pessimistic", 18],
    ]);
    expect(sharedLocksOf(e, "k")?.locks.map((l) => [l.primary.toString(), l.ttl])).toEqual([
      ["pk1", 1500n],
      ["pk2", 2500n],
    ]);
  });

  it("is idempotent for the same txn and only raises for_update_ts (tikv test_acquire_shared_lock_idempotent_for_same_txn)", async () => {
    await mustSharedLock("k", "pk", 25, 35);
    await mustSharedLock("k", "pk", 25, 45);
    expect(holders("k")).toEqual([[25, "Pessimistic", 45]]);
    await mustSharedLock("k", "pk", 25, 40);
    expect(holders("k")).toEqual([[25, "Pessimistic", 45]]);
  });

  it("reads no value for a held shared lock: return_values says not found, check_existence says absent", async () => {
    mustPut(e, "k", "v", 1n, 2n);
    const first = await mustSharedLock("k", "pk", 10, 10, { returnValues: true });
    expect(first.values).toEqual([b("v")]);
    expect(first.notFounds).toEqual([false]);
    const again = await mustSharedLock("k", "pk", 10, 12, { returnValues: true });
    expect(again.notFounds).toEqual([true]);
    const existence = await mustSharedLock("k", "pk", 10, 14, { checkExistence: true });
    expect(existence.notFounds).toEqual([true]);
  });

  it("checks conflicts, rollbacks and existence like an exclusive lock", async () => {
    mustPut(e, "k", "v", 1n, 20n);
    const conflict = await mustLockErr("k", "pk", 10, 15);
    expect(conflict.conflict).toMatchObject({ startTs: 10n, conflictTs: 1n, conflictCommitTs: 20n });
    const exists = await mustLockErr("k", "pk", 30, 30, { shouldNotExist: true });
    expect(exists.alreadyExist?.key).toEqual(b("k"));
    expect(rollback(e, ["r"], 40n)).toBeUndefined();
    const rolledBack = await mustLockErr("r", "pk", 40, 40);
    expect(rolledBack.abort).toContain("pessimistic lock already rollbacked");
  });

  it("takes a shared lock even with lock_only_if_exists on a missing key (as TiKV does)", async () => {
    await mustSharedLock("k", "pk", 10, 10, { lockOnlyIfExists: true, returnValues: true });
    expect(holders("k")).toEqual([[10, "Pessimistic", 10]]);
  });

  it("refuses upgrading a shared lock and downgrading an exclusive one (tikv test_lock_upgrade_and_downgrade_blocked)", async () => {
    await mustSharedLock("s", "pk", 25, 35);
    const upgrade = await mustLockErr("s", "pk", 25, 45, { shared: false });
    expectSharedInfo(upgrade.locked, "s", [[25, Op.PessimisticLock]]);
    expect(sharedLocksOf(e, "s")?.shrinkOnly).toBe(true);

    await mustSharedLock("x", "pk", 25, 35, { shared: false });
    const downgrade = await mustLockErr("x", "pk", 25, 45);
    expect(downgrade.locked).toMatchObject({ key: b("x"), lockVersion: 25n, lockType: Op.PessimisticLock });
    expect(lockOf(e, "x")?.forUpdateTs).toBe(35n);
  });

  it("an exclusive request makes shared locks shrink-only and fails at once, even when it may wait (tikv test_xlock_meet_slock_without_shrink_only, commands test_shared_locks)", async () => {
    await mustSharedLock("k", "pk", 5, 5);
    await mustSharedLock("k", "pk", 7, 7);
    const r = await mustLockErr("k", "pk", 10, 10, { shared: false, waitTimeout: 1000n });
    expectSharedInfo(r.locked, "k", [
      [5, Op.PessimisticLock],
      [7, Op.PessimisticLock],
    ]);
    expect(sharedLocksOf(e, "k")?.shrinkOnly).toBe(true);
    expect(e.pessimistic.lockManager.waiterCount).toBe(0);
    // Once shrink-only, neither exclusive nor new shared requests get in.
    expectSharedInfo((await mustLockErr("k", "pk", 12, 12, { shared: false })).locked, "k", [
      [5, Op.PessimisticLock],
      [7, Op.PessimisticLock],
    ]);
    expect((await mustLockErr("k", "pk", 15, 15)).locked?.lockType).toBe(Op.SharedLock);
    // Current holders may still re-lock.
    await mustSharedLock("k", "pk", 5, 9);
    expect(holders("k")).toEqual([
      [5, "Pessimistic", 9],
      [7, "Pessimistic", 7],
    ]);
  });

  it("a shared request on a shrink-only record is KeyIsLocked (tikv test_slock_meet_slock_with_shrink_only)", async () => {
    await mustSharedLock("k", "pk", 5, 15);
    const txn = new MvccTxn(1n);
    txn.putSharedLocks(b("k"), { ...(sharedLocksOf(e, "k") ?? newSharedLocks()), shrinkOnly: true }, false);
    e.store.write(txn);
    expectSharedInfo((await mustLockErr("k", "pk", 20, 20)).locked, "k", [[5, Op.PessimisticLock]]);
  });

  it("a shared request meeting an exclusive lock reports that lock", async () => {
    await mustSharedLock("k", "pk", 5, 5, { shared: false });
    const r = await mustLockErr("k", "pk", 6, 6);
    expect(r.locked).toMatchObject({ lockVersion: 5n, lockType: Op.PessimisticLock, primaryLock: b("pk") });
  });

  it("an exclusive request writes nothing for its other keys when it meets shared locks", async () => {
    await mustSharedLock("b", "pk", 5, 5);
    const r = await e.pessimisticLock(lockRequest(["a", "b"], 10, 10, { waitTimeout: 0n }));
    expect(r.errors[0]?.locked?.lockType).toBe(Op.SharedLock);
    expect(lockOf(e, "a")).toBeUndefined();
  });
});

describe("prewriting shared locks (Op::SharedLock)", () => {
  it("turns the txn's Pessimistic sub-lock into a Lock sub-lock (tikv test_prewrite_shared_lock_merges_sub_lock)", async () => {
    await mustSharedLock("k", "pk", 10, 20, { ttl: 2000n });
    const r = sharedPrewrite("k", "pk", 10, 20, { lockTtl: 2500n });
    expect(r).toMatchObject({ errors: [], minCommitTs: 0n, onePcCommitTs: 0n });
    const sub = sharedLocksOf(e, "k")?.locks[0];
    expect(sub).toMatchObject({
      lockType: "Lock",
      primary: b("pk"),
      startTs: 10n,
      forUpdateTs: 20n,
      ttl: 2500n,
    });
    // A retried prewrite is a no-op.
    expect(sharedPrewrite("k", "pk", 10, 20).errors).toEqual([]);
    expect(sharedLocksOf(e, "k")?.locks).toEqual([sub]);
  });

  it("refuses async commit and 1PC (tikv test_prewrite_shared_lock_rejects_async_commit_and_one_pc)", async () => {
    await mustSharedLock("k", "pk", 10, 20);
    const asyncCommit = sharedPrewrite("k", "pk", 10, 20, {
      useAsyncCommit: true,
      secondaries: [b("s")],
      maxCommitTs: 50n,
    });
    expect(asyncCommit.errors[0]?.abort).toContain("shared lock prewrite cannot use async-commit");
    const onePc = sharedPrewrite("k", "pk", 10, 20, { tryOnePc: true, maxCommitTs: 50n });
    expect(onePc.errors[0]?.abort).toContain("shared lock prewrite is incompatible with one-phase commit");
    expect(holders("k")).toEqual([[10, "Pessimistic", 20]]);
  });

  it("refuses a pipelined generation (tikv test_prewrite_shared_lock_rejects_generation)", async () => {
    await mustSharedLock("k", "pk", 10, 20);
    const txn = new MvccTxn(10n);
    const props = {
      startTs: 10n,
      kind: { type: "pessimistic", forUpdateTs: 20n },
      commitKind: { type: "2pc" },
      primary: b("pk"),
      txnSize: 1n,
      lockTtl: 100n,
      minCommitTs: 0n,
      isRetryRequest: false,
      assertionLevel: AssertionLevel.Off,
      txnSource: 0n,
      isTxnFile: false,
    } as const;
    expect(() =>
      prewriteOne(txn, new MvccReader(e.store), e.store.maxTs, props, {
        mutation: mut(Op.SharedLock, "k"),
        secondaryKeys: undefined,
        pessimisticAction: PA.DO_PESSIMISTIC_CHECK,
        expectedForUpdateTs: undefined,
        generation: 1n,
      }),
    ).toThrow(/shared lock prewrite does not support non-zero generation, generation: 1/);
  });

  it("refuses any other op on the txn's own shared lock (tikv test_prewrite_shared_lock_invalid_mutations)", async () => {
    await mustSharedLock("k", "pk", 10, 20);
    for (const op of [Op.Put, Op.Del, Op.Lock, Op.Insert]) {
      const r = pessimisticPrewrite(e, [mut(op, "k", "value")], "pk", 10n, 20n);
      expect(r.errors[0]?.abort).toContain("use Op::SharedLock to prewrite on a shared lock");
    }
    const check = pessimisticPrewrite(e, [mut(Op.CheckNotExists, "k")], "pk", 10n, 20n);
    expect(check.errors[0]?.abort).toContain("cannot handle checkNotExists in pessimistic prewrite");
    expect(holders("k")).toEqual([[10, "Pessimistic", 20]]);
  });

  it("blocks other txns' prewrites with the holders' LockInfo (tikv test_prewrite_shared_lock_rejects_optimistic_prewrite)", async () => {
    await mustSharedLock("k", "pk", 10, 20);
    const before = mustPrewriteErrs(20);
    expectSharedInfo(before[0]?.locked, "k", [[10, Op.PessimisticLock]]);
    mustSharedPrewrite("k", "pk", 10, 20);
    const after = mustPrewriteErrs(30);
    expectSharedInfo(after[0]?.locked, "k", [[10, Op.Lock]]);
    // The holders keep their ttl in a pessimistic txn's prewrite error too.
    const pess = pessimisticPrewrite(e, [mut(Op.Put, "k", "v")], "k", 40n, 40n, PA.SKIP_PESSIMISTIC_CHECK);
    expect(pess.errors[0]?.locked?.sharedLockInfos[0]?.lockTtl).toBe(3000n);
  });

  it("cannot amend a missing shared pessimistic lock (tikv commands test_shared_lock_prewrite_cannot_amend_pessimistic_lock)", async () => {
    const missing = sharedPrewrite("k", "k", 10, 10);
    expect(missing.errors[0]?.abort).toContain("pessimistic lock not found");
    expect(missing.errors[0]?.abort).toContain("LockMissingAmendFail");
    await mustSharedLock("k", "k", 11, 11);
    const others = sharedPrewrite("k", "k", 10, 10);
    expect(others.errors[0]?.abort).toContain("LockMissingAmendFail");
    expect(holders("k")).toEqual([[11, "Pessimistic", 11]]);
  });

  it("a shared prewrite meeting an exclusive lock reports it, even the txn's own", async () => {
    await mustSharedLock("k", "pk", 10, 10, { shared: false });
    expect(sharedPrewrite("k", "pk", 10, 10).errors[0]?.locked).toMatchObject({
      lockVersion: 10n,
      lockType: Op.PessimisticLock,
      lockTtl: 3000n,
    });
  });
});

function mustPrewriteErrs(startTs: number): KeyError[] {
  const r = e.prewrite({
    context: undefined,
    mutations: [mut(Op.Lock, "k")],
    primaryLock: b("pk"),
    startVersion: BigInt(startTs),
    lockTtl: 3000n,
    skipConstraintCheck: false,
    pessimisticActions: [],
    txnSize: 1n,
    forUpdateTs: 0n,
    minCommitTs: 0n,
    useAsyncCommit: false,
    secondaries: [],
    tryOnePc: false,
    maxCommitTs: 0n,
    assertionLevel: AssertionLevel.Off,
    forUpdateTsConstraints: [],
    txnFileChunks: [],
  });
  expect(r.errors.length).toBeGreaterThan(0);
  return r.errors;
}

describe("committing and rolling back shared locks", () => {
  async function twoPrewrittenHolders(key: string, ts1 = 10, ts2 = 20) {
    await mustSharedLock(key, "pk1", ts1, ts1);
    await mustSharedLock(key, "pk2", ts2, ts2);
    mustSharedPrewrite(key, "pk1", ts1, ts1);
    mustSharedPrewrite(key, "pk2", ts2, ts2);
  }

  it("commits one holder at a time, removing the record with the last (tikv test_commit_shared_lock_keeps_remaining_entries)", async () => {
    await twoPrewrittenHolders("k");
    mustCommit(e, ["k"], 10n, 30n);
    expect(holders("k")).toEqual([[20, "Lock", 20]]);
    expect(commitRecord(e, "k", 10n)).toMatchObject({
      kind: "single",
      commitTs: 30n,
      write: { writeType: "Lock" },
    });
    mustCommit(e, ["k"], 20n, 40n);
    expect(e.store.lockCf.get("k")).toBeUndefined();
    expect(writesOf(e, "k").map((w) => [w.commitTs, w.write.writeType, w.write.startTs])).toEqual([
      [40n, "Lock", 20n],
      [30n, "Lock", 10n],
    ]);
    // Committing again is idempotent; a txn that holds nothing gets TxnLockNotFound.
    mustCommit(e, ["k"], 20n, 40n);
    expect(commit(e, ["k"], 50n, 60n)?.txnLockNotFound).toBeDefined();
  });

  it("a stale pessimistic sub-lock is dropped by commit, keeping the other holders (tikv test_commit_stale_pessimistic_lock_preserves_other_shared_locks)", async () => {
    await mustSharedLock("k", "pk1", 10, 10);
    await mustSharedLock("k", "pk2", 20, 20);
    mustSharedPrewrite("k", "pk2", 20, 20);
    mustCommit(e, ["k"], 10n, 30n);
    expect(holders("k")).toEqual([[20, "Lock", 20]]);
    expect(commitRecord(e, "k", 10n).kind).toBe("none");
  });

  it("CommitTsExpired below a holder's min_commit_ts", async () => {
    await mustSharedLock("k", "pk", 10, 10, { minCommitTs: 50n });
    mustSharedPrewrite("k", "pk", 10, 10);
    expect(commit(e, ["k"], 10n, 30n)?.commitTsExpired).toMatchObject({
      minCommitTs: 50n,
      attemptedCommitTs: 30n,
    });
  });

  it("batch rollback removes one holder with an unprotected rollback (tikv rollback.rs rollback_shared_lock)", async () => {
    await mustSharedLock("k", "pk1", 10, 30);
    await mustSharedLock("k", "pk2", 20, 40);
    expect(rollback(e, ["k"], 10n)).toBeUndefined();
    expect(holders("k")).toEqual([[20, "Pessimistic", 40]]);
    expect(commitRecord(e, "k", 10n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    expect(commitRecord(e, "k", 10n).kind === "single" && commitRecord(e, "k", 10n)).toMatchObject({
      write: { shortValue: undefined },
    });
    expect(rollback(e, ["k"], 20n)).toBeUndefined();
    expect(e.store.lockCf.get("k")).toBeUndefined();
    // A txn that is not a holder gets a plain rollback record.
    await mustSharedLock("k", "pk1", 50, 50);
    expect(rollback(e, ["k"], 45n)).toBeUndefined();
    expect(holders("k")).toEqual([[50, "Pessimistic", 50]]);
    expect(commitRecord(e, "k", 45n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
  });

  it("KvCleanup honours the holder's ttl and reports all holders (tikv test_cleanup_shared_lock)", async () => {
    await mustSharedLock("k", "pk", Number(tsAt(20)), Number(tsAt(20)), { ttl: 10n });
    const locked = cleanupAt("k", tsAt(20), tsAt(25));
    expectSharedInfo(locked.error?.locked, "k", [[Number(tsAt(20)), Op.PessimisticLock]]);
    expect(cleanupAt("k", tsAt(20), tsAt(40)).error).toBeUndefined();
    expect(e.store.lockCf.get("k")).toBeUndefined();
    const rec = commitRecord(e, "k", tsAt(20));
    expect(rec).toMatchObject({ kind: "single", write: { writeType: "Rollback", shortValue: undefined } });

    // A prewritten holder the same way.
    await mustSharedLock("k", "pk", Number(tsAt(30)), Number(tsAt(30)), { ttl: 10n });
    expect(sharedPrewrite("k", "pk", Number(tsAt(30)), Number(tsAt(35)), { lockTtl: 10n }).errors).toEqual(
      [],
    );
    expect(cleanupAt("k", tsAt(30), tsAt(40)).error?.locked?.lockType).toBe(Op.SharedLock);
    expect(cleanupAt("k", tsAt(30), tsAt(45)).error).toBeUndefined();
    expect(e.store.lockCf.get("k")).toBeUndefined();
  });

  it("KvCleanup of a committed holder answers its commit_ts", async () => {
    await mustSharedLock("k", "pk", 10, 10);
    await mustSharedLock("k", "pk", 11, 11);
    mustSharedPrewrite("k", "pk", 10, 10);
    mustCommit(e, ["k"], 10n, 15n);
    expect(cleanupAt("k", 10n, 0n).commitVersion).toBe(15n);
  });
});

describe("status checks on shared-locked keys", () => {
  it("CheckTxnStatus answers PrimaryMismatch with the shared LockInfo (tikv check_txn_status test_verify_is_primary)", async () => {
    await mustSharedLock("k2", "k3", 2, 2, { ttl: 100n });
    const r = checkTxnStatus(e, "k2", 1n, 3n, 3n, { rollbackIfNotExist: true, verifyIsPrimary: true });
    expectSharedInfo(r.error?.primaryMismatch?.lockInfo, "k2", [[2, Op.PessimisticLock]]);
    // Asked about the holder itself, the same.
    const own = checkTxnStatus(e, "k2", 2n, 3n, 3n);
    expect(own.error?.primaryMismatch?.lockInfo?.lockType).toBe(Op.SharedLock);
    expect(holders("k2")).toEqual([[2, "Pessimistic", 2]]);
  });

  it("TxnHeartBeat of a holder answers PrimaryMismatch and changes nothing (tikv test_txn_heartbeat_rejects_shared_lock_key)", async () => {
    await mustSharedLock("k1", "pk", 10, 10, { ttl: 100n });
    const hb = (startTs: bigint) =>
      e.txnHeartBeat(
        TxnHeartBeatRequest.fromPartial({ primaryLock: b("k1"), startVersion: startTs, adviseLockTtl: 200n }),
      );
    expectSharedInfo(hb(10n).error?.primaryMismatch?.lockInfo, "k1", [[10, Op.PessimisticLock]]);
    expect(sharedLocksOf(e, "k1")?.locks[0]?.ttl).toBe(100n);
    // A txn that holds nothing there: TxnNotFound.
    expect(hb(11n).error?.txnNotFound).toMatchObject({ startTs: 11n, primaryKey: b("k1") });
  });

  it("TxnHeartBeat rejects a pipelined-looking holder too (tikv test_txn_heartbeat_rejects_shared_lock_with_pipelined_fields)", async () => {
    const shared = withSharedLock(
      newSharedLocks(),
      newLock({
        lockType: "Pessimistic",
        primary: b("pk"),
        startTs: 10n,
        ttl: 100n,
        generation: 1n,
        minCommitTs: 20n,
      }),
    );
    const txn = new MvccTxn(10n);
    txn.putSharedLocks(b("k1"), shared, true);
    e.store.write(txn);
    const r = e.txnHeartBeat(
      TxnHeartBeatRequest.fromPartial({
        primaryLock: b("k1"),
        startVersion: 10n,
        adviseLockTtl: 250n,
        minCommitTs: 30n,
      }),
    );
    expect(r.error?.primaryMismatch?.lockInfo?.key).toEqual(b("k1"));
    expect(sharedLocksOf(e, "k1")?.locks[0]).toMatchObject({ ttl: 100n, minCommitTs: 20n, generation: 1n });
  });

  it("CheckSecondaryLocks on shared locks decides from the write CF only", async () => {
    await mustSharedLock("k", "pk", 10, 10);
    const r = e.checkSecondaryLocks(
      CheckSecondaryLocksRequest.fromPartial({ keys: [b("k")], startVersion: 20n }),
    );
    expect(r).toMatchObject({ locks: [], commitTs: 0n });
    expect(commitRecord(e, "k", 20n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    expect(holders("k")).toEqual([[10, "Pessimistic", 10]]);
  });
});

describe("reads, scans and debug info over shared locks", () => {
  it("reads are never blocked by shared locks", async () => {
    mustPut(e, "k", "v", 1n, 2n);
    await mustSharedLock("k", "pk", 10, 10);
    mustSharedPrewrite("k", "pk", 10, 10);
    expect(mustGet(e, "k", 100n)).toBe("v");
    expect(scanKV(e, "", "", 10, 100n)).toEqual(["k", "v"]);
    expect(scanKV(e, "z", "", 10, 100n, { reverse: true })).toEqual(["k", "v"]);
  });

  it("KvScanLock lists the holders with start_ts <= max_version (tikv test_scan_lock_shared_lock_infos_filtered_by_max_ts, test_scan_lock_with_shared_lock)", async () => {
    for (const t of [10, 20, 30]) await mustSharedLock("k", `pk${t}`, t, t + 1);
    expect(scanLockTs(15)).toEqual([["k", [10]]]);
    expect(scanLockTs(25)).toEqual([["k", [10, 20]]]);
    expect(scanLockTs(35)).toEqual([["k", [10, 20, 30]]]);
    for (const t of [10, 20, 30]) mustSharedPrewrite("k", `pk${t}`, t, t + 1);
    const r = e.scanLock(ScanLockRequest.fromPartial({ maxVersion: 25n }));
    expect(r.locks).toHaveLength(1);
    expect(r.locks[0]?.lockType).toBe(Op.SharedLock);
    expect(
      r.locks[0]?.sharedLockInfos.map((l) => [
        l.lockVersion,
        l.lockType,
        l.primaryLock.toString(),
        l.lockForUpdateTs,
      ]),
    ).toEqual([
      [10n, Op.Lock, "pk10", 11n],
      [20n, Op.Lock, "pk20", 21n],
    ]);
  });

  it("the scan limit counts holders and keeps the oldest (tikv test_scan_locks_shared_limit_across_keys_keeps_smallest_ts, test_scan_locks_from_storage_shared_locks_limit)", async () => {
    mustPrewrite(e, [mut(Op.Put, "a", "x")], 1n);
    for (const t of [5, 3, 4, 2]) await mustSharedLock("s", "pk", t, t);
    expect(scanLockTs(100, 3)).toEqual([
      ["a", [1]],
      ["s", [2, 3]],
    ]);
    expect(scanLockTs(100, 2)).toEqual([
      ["a", [1]],
      ["s", [2]],
    ]);
    expect(scanLockTs(100, 1)).toEqual([["a", [1]]]);
    expect(scanLockTs(100)).toEqual([
      ["a", [1]],
      ["s", [2, 3, 4, 5]],
    ]);
  });

  it("MvccGetByKey shows the oldest holder's sub-lock", async () => {
    await mustSharedLock("k", "pk1", 20, 20);
    await mustSharedLock("k", "pk2", 10, 10);
    const info = e.mvccGetByKey(MvccGetByKeyRequest.fromPartial({ key: b("k") })).info;
    expect(info?.lock).toMatchObject({ type: Op.PessimisticLock, startTs: 10n, primary: b("pk2") });
  });
});

describe("resolving shared locks", () => {
  function resolveScan(statuses: [number, number][]) {
    return e.resolveLock(
      ResolveLockRequest.fromPartial({
        txnInfos: statuses.map(([txn, status]) => ({ txn: BigInt(txn), status: BigInt(status) })),
      }),
    );
  }

  it("rolls back several holders of one key in one batch (tikv test_resolve_multiple_shared_locks_same_key)", async () => {
    await mustSharedLock("k", "pk1", 10, 15);
    mustSharedPrewrite("k", "pk1", 10, 15);
    await mustSharedLock("k", "pk2", 20, 25);
    mustSharedPrewrite("k", "pk2", 20, 25);
    expect(
      resolveScan([
        [10, 0],
        [20, 0],
      ]).error,
    ).toBeUndefined();
    expect(commitRecord(e, "k", 10n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    expect(commitRecord(e, "k", 20n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    expect(e.store.lockCf.get("k")).toBeUndefined();
  });

  it("commits and rolls back holders of one key in one batch, leaving the others (tikv test_resolve_shared_locks_same_key_mixed_commit_and_rollback, test_resolve_lock_read_shared_pessimistic)", async () => {
    for (const [t, f] of [
      [10, 15],
      [20, 25],
      [30, 35],
    ] as const) {
      await mustSharedLock("k", `pk${t}`, t, f);
      mustSharedPrewrite("k", `pk${t}`, t, f);
    }
    expect(
      resolveScan([
        [10, 0],
        [20, 25],
      ]).error,
    ).toBeUndefined();
    expect(commitRecord(e, "k", 10n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    expect(commitRecord(e, "k", 20n)).toMatchObject({
      kind: "single",
      commitTs: 25n,
      write: { writeType: "Lock" },
    });
    expect(holders("k")).toEqual([[30, "Lock", 35]]);
    expect(resolveScan([[30, 0]]).error).toBeUndefined();
    expect(e.store.lockCf.get("k")).toBeUndefined();
  });

  it("resolve-lock lite on a listed key resolves only that txn's holder", async () => {
    await mustSharedLock("k", "pk1", 10, 10);
    await mustSharedLock("k", "pk2", 20, 20);
    mustSharedPrewrite("k", "pk1", 10, 10);
    const r = e.resolveLock(
      ResolveLockRequest.fromPartial({ startVersion: 10n, commitVersion: 12n, keys: [b("k")] }),
    );
    expect(r.error).toBeUndefined();
    expect(holders("k")).toEqual([[20, "Pessimistic", 20]]);
    expect(commitRecord(e, "k", 10n)).toMatchObject({ kind: "single", commitTs: 12n });
  });

  it("makes progress over more holders than one batch holds (tikv test_resolve_lock_readphase_large_single_shared_key_progress)", async () => {
    const n = 256 + 64;
    const txn = new MvccTxn(0n);
    let shared = newSharedLocks();
    for (let i = 0; i < n; i++) {
      shared = withSharedLock(
        shared,
        newLock({
          lockType: "Lock",
          primary: b(`pk-${i}`),
          startTs: BigInt(100 + i),
          forUpdateTs: BigInt(100 + i),
        }),
      );
    }
    txn.putSharedLocks(b("big"), shared, true);
    e.store.write(txn);
    expect(
      resolveScan(Array.from({ length: n }, (_, i) => [100 + i, 0] as [number, number])).error,
    ).toBeUndefined();
    expect(e.store.lockCf.get("big")).toBeUndefined();
    // Batches of 256 holders: the second batch's first rollback (356) collapses the last
    // unprotected rollback of the first batch (355), as collapse_prev_rollback does.
    expect(writesOf(e, "big")).toHaveLength(n - 1);
    expect(commitRecord(e, "big", 355n).kind).toBe("none");
    expect(commitRecord(e, "big", 356n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
  });
});

describe("KvPessimisticRollback of shared locks", () => {
  const pessimisticRollback = (keys: string[], startTs: number, forUpdateTs: number) =>
    e.pessimisticRollback(
      PessimisticRollbackRequest.fromPartial({
        keys: keys.map(b),
        startVersion: BigInt(startTs),
        forUpdateTs: BigInt(forUpdateTs),
      }),
    );

  it("removes one holder, and the record with the last (tikv test_rollback_shared_pessimistic_lock)", async () => {
    await mustSharedLock("k", "pk1", 10, 30);
    await mustSharedLock("k", "pk2", 20, 20);
    expect(pessimisticRollback(["k"], 10, 30).errors).toEqual([]);
    expect(holders("k")).toEqual([[20, "Pessimistic", 20]]);
    expect(pessimisticRollback(["k"], 20, 20).errors).toEqual([]);
    expect(e.store.lockCf.get("k")).toBeUndefined();
  });

  it("leaves prewritten holders and newer for_update_ts alone; without keys it finds the holder (tikv test_read_shared_pessimistic_lock)", async () => {
    await mustSharedLock("k", "pk1", 10, 30);
    await mustSharedLock("k", "pk2", 20, 20);
    mustSharedPrewrite("k", "pk2", 20, 30);
    expect(pessimisticRollback(["k"], 20, 40).errors).toEqual([]);
    expect(pessimisticRollback([], 10, 20).errors).toEqual([]);
    expect(holders("k")).toEqual([
      [10, "Pessimistic", 30],
      [20, "Lock", 30],
    ]);
    expect(pessimisticRollback([], 10, 30).errors).toEqual([]);
    expect(holders("k")).toEqual([[20, "Lock", 30]]);
  });
});
