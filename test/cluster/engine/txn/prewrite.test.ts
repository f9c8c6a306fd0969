// KvPrewrite, ported from tikv src/storage/txn/commands/prewrite.rs and
// src/storage/txn/actions/prewrite.rs tests (cases named after the TiKV test they follow).
import { describe, expect, it } from "vitest";
import { isProtectedRollback } from "../../../../src/cluster/engine/mvcc/types.js";
import { Assertion, AssertionLevel, Op, WriteConflict_Reason } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  commit,
  commitRecord,
  lockOf,
  mustCommit,
  mustGet,
  mustPrewrite,
  mustPut,
  mut,
  newEngine,
  PA,
  pessimisticPrewrite,
  prewrite,
  putPessimisticLock,
  puts,
  rollback,
  writesOf,
} from "./helpers.js";

describe("optimistic prewrite", () => {
  it("writes locks with inline short values and default-CF long values", () => {
    const e = newEngine();
    const long = "x".repeat(300);
    mustPrewrite(e, puts("a", "short", "b", long), 10n, { lockTtl: 50n, txnSize: 2n });
    expect(lockOf(e, "a")).toMatchObject({
      lockType: "Put",
      primary: b("a"),
      startTs: 10n,
      ttl: 50n,
      txnSize: 2n,
    });
    expect(lockOf(e, "a")?.shortValue).toEqual(b("short"));
    expect(lockOf(e, "b")?.shortValue).toBeUndefined();
    expect(e.store.defaultCf.get("b")?.[0]).toEqual({ startTs: 10n, value: b(long) });
    mustCommit(e, ["a", "b"], 10n, 11n);
    expect(mustGet(e, "b", 11n)).toBe(long);
    // 255 bytes is still a short value.
    mustPrewrite(e, puts("c", "y".repeat(255)), 20n);
    expect(lockOf(e, "c")?.shortValue?.length).toBe(255);
  });

  it("reports every locked key and writes nothing when any key is locked", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k2", "v"), 5n, { lockTtl: 100n, txnSize: 1n });
    const r = prewrite(e, puts("k1", "v1", "k2", "v2", "k3", "v3"), 10n);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]?.locked).toMatchObject({
      key: b("k2"),
      primaryLock: b("k2"),
      lockVersion: 5n,
      lockTtl: 100n,
      lockType: Op.Put,
    });
    expect(lockOf(e, "k1")).toBeUndefined();
    expect(lockOf(e, "k3")).toBeUndefined();
  });

  it("detects write conflicts with commit records newer than start_ts", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 10n, 20n);
    const errs = prewrite(e, puts("k", "v2"), 15n, { primaryLock: b("p") }).errors;
    expect(errs).toHaveLength(1);
    expect(errs[0]?.conflict).toEqual({
      startTs: 15n,
      conflictTs: 10n,
      conflictCommitTs: 20n,
      key: b("k"),
      primary: b("p"),
      reason: WriteConflict_Reason.Optimistic,
    });
    expect(errs[0]?.retryable).toMatch(/write conflict/);
    // skip_constraint_check skips it.
    mustPrewrite(e, puts("k", "v2"), 15n, { skipConstraintCheck: true });
  });

  it("is idempotent when re-sent", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k", "v"), 10n, { lockTtl: 10n });
    mustPrewrite(e, puts("k", "v"), 10n, { lockTtl: 99n });
    expect(lockOf(e, "k")?.ttl).toBe(10n);
  });

  it("fails with SelfRolledBack after its own rollback (test_prewrite_rolledback_transaction)", () => {
    const e = newEngine();
    expect(rollback(e, ["k"], 10n)).toBeUndefined();
    const errs = prewrite(e, puts("k", "v"), 10n).errors;
    expect(errs[0]?.conflict).toMatchObject({
      startTs: 10n,
      conflictTs: 10n,
      conflictCommitTs: 10n,
      reason: WriteConflict_Reason.SelfRolledBack,
    });
  });

  it("Insert and CheckNotExists fail with AlreadyExist (test_prewrite_should_not_exist)", () => {
    const e = newEngine();
    e.store.maxTs.update(5n);
    mustPut(e, "k", "val", 3n, 5n);
    const errs = prewrite(e, [mut(Op.CheckNotExists, "k")], 15n).errors;
    expect(errs).toEqual([expect.objectContaining({ alreadyExist: { key: b("k") } })]);
    // The existence check is a read at start_ts.
    expect(e.store.maxTs.value).toBe(15n);
    mustPrewrite(e, [mut(Op.Del, "k")], 8n, { skipConstraintCheck: true });
    mustCommit(e, ["k"], 8n, 16n);
    expect(prewrite(e, [mut(Op.CheckNotExists, "k")], 10n).errors[0]?.conflict?.reason).toBe(
      WriteConflict_Reason.Optimistic,
    );
    // After the delete the key may be inserted.
    mustPrewrite(e, [mut(Op.Insert, "k", "new")], 20n);
    expect(lockOf(e, "k")?.lockType).toBe("Put");
  });

  it("AlreadyExist looks through Lock/Rollback records to the data version", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 1n, 2n);
    mustPrewrite(e, [mut(Op.Lock, "k")], 3n);
    mustCommit(e, ["k"], 3n, 4n);
    expect(rollback(e, ["k"], 5n)).toBeUndefined();
    expect(prewrite(e, [mut(Op.Insert, "k", "x")], 6n).errors[0]?.alreadyExist).toEqual({ key: b("k") });
    // CheckNotExists writes nothing.
    mustPrewrite(e, [mut(Op.CheckNotExists, "z")], 6n);
    expect(lockOf(e, "z")).toBeUndefined();
  });

  it("rejects ops that are not prewrite mutations", () => {
    const e = newEngine();
    const errs = prewrite(e, [mut(Op.Rollback, "k")], 6n).errors;
    expect(errs[0]?.abort).toMatch(/mismatch Op/);
  });
});

describe("assertions (test_prewrite_with_assertion)", () => {
  it("checks Exist / NotExist when the write is loaded", () => {
    const e = newEngine();
    mustPut(e, "exists", "v", 1n, 2n);
    const lvl = { assertionLevel: AssertionLevel.Fast };
    mustPrewrite(e, [mut(Op.Put, "exists", "v2", Assertion.Exist)], 10n, lvl);
    mustPrewrite(e, [mut(Op.Put, "absent", "v2", Assertion.NotExist)], 10n, lvl);
    mustCommit(e, ["exists", "absent"], 10n, 11n);
    const r1 = prewrite(e, [mut(Op.Put, "exists", "v2", Assertion.NotExist)], 20n, {
      ...lvl,
      primaryLock: b("p"),
    });
    expect(r1.errors).toEqual([
      expect.objectContaining({
        assertionFailed: {
          startTs: 20n,
          key: b("exists"),
          assertion: Assertion.NotExist,
          existingStartTs: 10n,
          existingCommitTs: 11n,
        },
      }),
    ]);
    const r2 = prewrite(e, [mut(Op.Put, "none", "v2", Assertion.Exist)], 20n, lvl);
    expect(r2.errors[0]?.assertionFailed).toMatchObject({
      assertion: Assertion.Exist,
      existingStartTs: 0n,
      existingCommitTs: 0n,
    });
    // Level Off ignores assertions.
    mustPrewrite(e, [mut(Op.Put, "none2", "v2", Assertion.Exist)], 20n);
  });

  it("other errors win over assertion failures", () => {
    const e = newEngine();
    mustPut(e, "a", "v", 1n, 2n);
    mustPrewrite(e, puts("locked", "v"), 3n);
    const r = prewrite(e, [mut(Op.Put, "a", "x", Assertion.NotExist), mut(Op.Put, "locked", "x")], 10n, {
      assertionLevel: AssertionLevel.Strict,
    });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]?.assertionFailed).toBeDefined();
    mustPut(e, "b", "v", 5n, 6n);
    const r2 = prewrite(
      e,
      [mut(Op.Put, "b", "x", Assertion.NotExist), mut(Op.Put, "c", "x", Assertion.None)],
      4n,
      {
        assertionLevel: AssertionLevel.Strict,
      },
    );
    // The write conflict on "b" is reported instead of its assertion failure.
    expect(r2.errors[0]?.conflict).toMatchObject({ startTs: 4n, conflictCommitTs: 6n });
    // A retried prewrite of a txn that already committed the key succeeds (check_committed_record_on_err).
    expect(
      prewrite(e, [mut(Op.Put, "a", "x", Assertion.NotExist)], 1n, { assertionLevel: AssertionLevel.Strict })
        .errors,
    ).toEqual([]);
    expect(lockOf(e, "a")).toBeUndefined();
  });

  it("Strict level checks keys whose constraint check is skipped (pessimistic)", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 1n, 2n);
    putPessimisticLock(e, "k", "k", 10n, 10n);
    const r = pessimisticPrewrite(
      e,
      [mut(Op.Put, "k", "x", Assertion.NotExist)],
      "k",
      10n,
      10n,
      PA.DO_PESSIMISTIC_CHECK,
      {
        assertionLevel: AssertionLevel.Strict,
      },
    );
    expect(r.errors[0]?.assertionFailed).toMatchObject({ existingStartTs: 1n, existingCommitTs: 2n });
    const fast = pessimisticPrewrite(
      e,
      [mut(Op.Put, "k", "x", Assertion.NotExist)],
      "k",
      10n,
      10n,
      PA.DO_PESSIMISTIC_CHECK,
      {
        assertionLevel: AssertionLevel.Fast,
      },
    );
    expect(fast.errors).toEqual([]);
  });
});

describe("async commit and 1PC", () => {
  it("computes min_commit_ts from max_ts, start_ts, for_update_ts and the request (test_async_commit_prewrite_min_commit_ts)", () => {
    const e = newEngine();
    e.store.maxTs.update(41n);
    const r = mustPrewrite(e, puts("k1", "v1", "k2", "v2"), 10n, {
      useAsyncCommit: true,
      secondaries: [b("k2")],
      maxCommitTs: 50n,
    });
    expect(r.minCommitTs).toBe(42n);
    expect(lockOf(e, "k1")).toMatchObject({ useAsyncCommit: true, minCommitTs: 42n, secondaries: [b("k2")] });
    expect(lockOf(e, "k2")).toMatchObject({ useAsyncCommit: true, minCommitTs: 42n, secondaries: [] });
    // start_ts and the request's min_commit_ts bound it from below.
    const r2 = mustPrewrite(e, puts("k3", "v"), 44n, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 46n,
    });
    expect(r2.minCommitTs).toBe(46n);
    const r3 = mustPrewrite(e, puts("k4", "v"), 47n, { useAsyncCommit: true, secondaries: [] });
    expect(r3.minCommitTs).toBe(48n);
    // A CheckNotExists does not consult max_ts: max(min_commit_ts, start_ts + 1).
    e.store.maxTs.update(100n);
    const r4 = mustPrewrite(e, [mut(Op.CheckNotExists, "k0")], 60n, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 61n,
    });
    expect(r4.minCommitTs).toBe(61n);
  });

  it("falls back to 2PC when min_commit_ts exceeds max_commit_ts (test_prewrite_async_commit)", () => {
    const e = newEngine();
    e.store.maxTs.update(50n);
    for (let i = 0; i < 2; i++) {
      const r = mustPrewrite(e, puts("k1", "v1", "k2", "v2"), 20n, {
        useAsyncCommit: true,
        secondaries: [b("k2")],
        minCommitTs: 21n,
        maxCommitTs: 40n,
      });
      expect([r.minCommitTs, r.onePcCommitTs]).toEqual([0n, 0n]);
      expect(lockOf(e, "k1")?.useAsyncCommit).toBe(false);
      expect(lockOf(e, "k2")?.useAsyncCommit).toBe(false);
    }
  });

  it("keeps async locks written before the fallback key (test_async_commit_prewrite_check_max_commit_ts)", () => {
    const e = newEngine();
    e.store.maxTs.update(42n);
    mustPrewrite(e, puts("k1", "v1"), 10n, {
      useAsyncCommit: true,
      secondaries: [b("k2")],
      maxCommitTs: 50n,
    });
    e.store.maxTs.update(60n);
    const r = mustPrewrite(e, puts("k2", "v2"), 10n, {
      primaryLock: b("k1"),
      useAsyncCommit: true,
      secondaries: [],
      maxCommitTs: 50n,
    });
    expect(r.minCommitTs).toBe(0n);
    expect(lockOf(e, "k1")?.useAsyncCommit).toBe(true);
    expect(lockOf(e, "k2")?.useAsyncCommit).toBe(false);
  });

  it("1PC commits directly at max(max_ts, start_ts) + 1 (test_prewrite_1pc)", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    const r = mustPrewrite(e, puts("k", "v"), 10n, { tryOnePc: true, maxCommitTs: 15n });
    expect([r.onePcCommitTs, r.minCommitTs]).toEqual([11n, 0n]);
    expect(lockOf(e, "k")).toBeUndefined();
    expect(mustGet(e, "k", 12n)).toBe("v");
    expect(commitRecord(e, "k", 10n)).toMatchObject({ kind: "single", commitTs: 11n });

    e.store.maxTs.update(50n);
    for (let i = 0; i < 2; i++) {
      const f = mustPrewrite(e, puts("k", "v"), 20n, { tryOnePc: true, maxCommitTs: 30n });
      expect([f.minCommitTs, f.onePcCommitTs]).toEqual([0n, 0n]);
      expect(lockOf(e, "k")).toMatchObject({ startTs: 20n, useOnePc: false });
    }
    expect(rollback(e, ["k"], 20n)).toBeUndefined();
    const c = mustPrewrite(e, [mut(Op.Put, "k", "v"), mut(Op.CheckNotExists, "non_exist")], 40n, {
      tryOnePc: true,
      maxCommitTs: 60n,
    });
    expect(c.onePcCommitTs).toBe(51n);

    // A 1PC request failing halfway writes nothing.
    mustPrewrite(e, puts("k2", "v2"), 50n);
    const fail = prewrite(e, puts("k1", "v1", "k2", "v2"), 60n, { tryOnePc: true, maxCommitTs: 70n });
    expect(fail.errors[0]?.locked?.lockVersion).toBe(50n);
    expect(lockOf(e, "k1")).toBeUndefined();
    expect(commitRecord(e, "k1", 60n).kind).toBe("none");
  });

  it("1PC of a pessimistic txn removes its pessimistic locks (test_prewrite_pessimsitic_1pc)", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    const released: bigint[] = [];
    e.store.onLocksReleased((ls) => released.push(...ls.map((l) => l.commitTs)));
    putPessimisticLock(e, "k", "k", 8n, 12n);
    const r = pessimisticPrewrite(e, puts("k", "v", "k2", "v2"), "k", 8n, 12n, PA.DO_PESSIMISTIC_CHECK, {
      tryOnePc: true,
      maxCommitTs: 15n,
      pessimisticActions: [PA.DO_PESSIMISTIC_CHECK, PA.SKIP_PESSIMISTIC_CHECK],
    });
    expect(r.errors).toEqual([]);
    expect(r.onePcCommitTs).toBe(13n);
    expect(lockOf(e, "k")).toBeUndefined();
    expect(lockOf(e, "k2")).toBeUndefined();
    expect(mustGet(e, "k2", 16n)).toBe("v2");
    expect(released).toEqual([13n]);
  });

  it("a repeated 1PC prewrite reports the original commit ts (test_repeated_pessimistic_prewrite_1pc)", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    putPessimisticLock(e, "k2", "k2", 5n, 5n);
    const req = {
      tryOnePc: true,
      maxCommitTs: 100n,
      pessimisticActions: [PA.SKIP_PESSIMISTIC_CHECK, PA.DO_PESSIMISTIC_CHECK],
    };
    const first = pessimisticPrewrite(
      e,
      puts("k1", "v1", "k2", "v2"),
      "k2",
      5n,
      5n,
      PA.DO_PESSIMISTIC_CHECK,
      req,
    );
    expect(first.errors).toEqual([]);
    e.store.maxTs.update(first.onePcCommitTs + 1n);
    const again = pessimisticPrewrite(
      e,
      puts("k1", "v1", "k2", "v2"),
      "k2",
      5n,
      5n,
      PA.DO_PESSIMISTIC_CHECK,
      req,
    );
    expect(again.onePcCommitTs).toBe(first.onePcCommitTs);
    expect(writesOf(e, "k1")).toHaveLength(1);
  });

  it("a retried prewrite of a committed txn returns its commit ts (test_optimistic_prewrite_committed_transaction)", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    mustPrewrite(e, puts("k", "v1"), 5n, { useAsyncCommit: true, secondaries: [], minCommitTs: 10n });
    mustCommit(e, ["k"], 5n, 10n);
    const onePc = mustPrewrite(e, puts("k", "v2"), 15n, { tryOnePc: true }).onePcCommitTs;
    mustPut(e, "k", "v3", 20n, 25n);
    const retry1 = mustPrewrite(e, puts("k", "v1"), 5n, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 10n,
      lockTtl: 200n,
    });
    expect([retry1.minCommitTs, retry1.onePcCommitTs]).toEqual([10n, 0n]);
    const retry2 = mustPrewrite(e, puts("k", "v2"), 15n, { tryOnePc: true });
    expect([retry2.minCommitTs, retry2.onePcCommitTs]).toEqual([0n, onePc]);
    expect(lockOf(e, "k")).toBeUndefined();
  });

  it("test_prewrite_committed_encounter_newer_lock", () => {
    const e = newEngine();
    mustPrewrite(e, puts("k1", "v1"), 5n, { useAsyncCommit: true, secondaries: [], minCommitTs: 10n });
    mustCommit(e, ["k1"], 5n, 15n);
    mustPrewrite(e, puts("k1", "v2"), 20n);
    e.store.maxTs.update(20n);
    const r = mustPrewrite(e, puts("k1", "v1"), 5n, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 5n,
      maxCommitTs: 1000n,
      lockTtl: 2000n,
    });
    expect(r.minCommitTs).toBe(15n);
    expect(lockOf(e, "k1")?.startTs).toBe(20n);
  });

  it("CommitTsTooLarge on a committed retry returns the commit ts (test_repeated_prewrite_commit_ts_too_large)", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    putPessimisticLock(e, "k1", "k1", 5n, 10n);
    pessimisticPrewrite(e, puts("k1", "v1"), "k1", 5n, 10n, PA.DO_PESSIMISTIC_CHECK, {
      useAsyncCommit: true,
      secondaries: [b("k2")],
      minCommitTs: 15n,
    });
    pessimisticPrewrite(e, puts("k2", "v2"), "k1", 5n, 10n, PA.SKIP_PESSIMISTIC_CHECK, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 15n,
      maxCommitTs: 20n,
    });
    mustCommit(e, ["k1", "k2"], 5n, 18n);
    e.store.maxTs.update(50n);
    const r = pessimisticPrewrite(e, puts("k2", "v2"), "k1", 5n, 10n, PA.SKIP_PESSIMISTIC_CHECK, {
      useAsyncCommit: true,
      secondaries: [],
      minCommitTs: 15n,
      maxCommitTs: 20n,
    });
    expect(r.errors).toEqual([]);
    expect(r.minCommitTs).toBe(18n);
    expect(lockOf(e, "k2")).toBeUndefined();
  });
});

describe("pessimistic prewrite", () => {
  it("turns the pessimistic lock into a prewrite lock, inheriting ttl and min_commit_ts", () => {
    const e = newEngine();
    putPessimisticLock(e, "k", "k", 10n, 12n, 500n, 13n);
    expect(
      pessimisticPrewrite(e, puts("k", "v"), "k", 10n, 12n, PA.DO_PESSIMISTIC_CHECK, { lockTtl: 100n })
        .errors,
    ).toEqual([]);
    expect(lockOf(e, "k")).toMatchObject({ lockType: "Put", forUpdateTs: 12n, ttl: 500n, minCommitTs: 13n });
  });

  it("reports PessimisticLockNotFound as an abort when the lock belongs to another txn", () => {
    const e = newEngine();
    putPessimisticLock(e, "k", "k", 20n, 20n);
    const r = pessimisticPrewrite(e, puts("k", "v"), "k", 10n, 10n);
    expect(r.errors[0]?.abort).toMatch(/pessimistic lock not found.*LockTsMismatch/);
  });

  it("locks of other txns met by a pessimistic txn carry ttl 0", () => {
    const e = newEngine();
    mustPrewrite(e, puts("idx", "v"), 5n, { lockTtl: 3000n });
    const r = pessimisticPrewrite(e, puts("idx", "v"), "row", 10n, 10n, PA.SKIP_PESSIMISTIC_CHECK);
    expect(r.errors[0]?.locked).toMatchObject({ lockVersion: 5n, lockTtl: 0n });
  });

  it("amends a missing pessimistic lock when nothing was committed since start_ts (test_amend_pessimistic_lock)", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 1n, 2n);
    expect(pessimisticPrewrite(e, puts("k", "v2"), "k", 10n, 10n).errors).toEqual([]);
    expect(lockOf(e, "k")).toMatchObject({ startTs: 10n, forUpdateTs: 10n });
    mustPut(e, "k2", "v", 15n, 16n);
    const r = pessimisticPrewrite(e, puts("k2", "v2"), "k", 10n, 10n);
    expect(r.errors[0]?.abort).toMatch(/LockMissingAmendFail/);
  });

  it("a newer non-rollback write on a non-locked key means the row lock was lost", () => {
    const e = newEngine();
    mustPut(e, "idx", "v", 15n, 20n);
    const retry = { context: { isRetryRequest: true } as never };
    const r = pessimisticPrewrite(e, puts("idx", "v2"), "row", 10n, 12n, PA.SKIP_PESSIMISTIC_CHECK, retry);
    expect(r.errors[0]?.abort).toMatch(/NonLockKeyConflict/);
    // Newer rollback records are not conflicts.
    expect(rollback(e, ["idx2"], 30n)).toBeUndefined();
    expect(
      pessimisticPrewrite(e, puts("idx2", "v2"), "row", 10n, 12n, PA.SKIP_PESSIMISTIC_CHECK, retry).errors,
    ).toEqual([]);
  });

  it("DoConstraintCheck reports LazyUniquenessCheck conflicts (test_deferred_constraint_check)", () => {
    const e = newEngine();
    mustPut(e, "k", "v", 15n, 20n);
    const r = pessimisticPrewrite(e, [mut(Op.Insert, "k", "v2")], "p", 10n, 30n, PA.DO_CONSTRAINT_CHECK);
    expect(r.errors[0]?.conflict).toMatchObject({
      startTs: 10n,
      conflictCommitTs: 20n,
      reason: WriteConflict_Reason.LazyUniquenessCheck,
    });
    const r2 = pessimisticPrewrite(e, [mut(Op.Insert, "k", "v2")], "p", 25n, 30n, PA.DO_CONSTRAINT_CHECK);
    expect(r2.errors[0]?.alreadyExist).toEqual({ key: b("k") });
  });

  it("checks for_update_ts constraints (test_pessimistic_prewrite_check_for_update_ts)", () => {
    const e = newEngine();
    putPessimisticLock(e, "k1", "k1", 10n, 10n);
    putPessimisticLock(e, "k2", "k1", 10n, 20n);
    const bad = pessimisticPrewrite(e, puts("k1", "v", "k2", "v"), "k1", 10n, 20n, PA.DO_PESSIMISTIC_CHECK, {
      forUpdateTsConstraints: [{ index: 1, expectedForUpdateTs: 15n }],
    });
    expect(bad.errors[0]?.abort).toMatch(/LockForUpdateTsMismatch/);
    expect(lockOf(e, "k1")?.lockType).toBe("Pessimistic");
    const ok = pessimisticPrewrite(e, puts("k1", "v", "k2", "v"), "k1", 10n, 20n, PA.DO_PESSIMISTIC_CHECK, {
      forUpdateTsConstraints: [
        { index: 0, expectedForUpdateTs: 10n },
        { index: 1, expectedForUpdateTs: 20n },
      ],
    });
    expect(ok.errors).toEqual([]);
    expect(lockOf(e, "k1")?.forUpdateTs).toBe(20n);
  });

  it("an optimistic prewrite over a pessimistic lock is LockTypeNotMatch", () => {
    const e = newEngine();
    putPessimisticLock(e, "k", "k", 10n, 10n);
    expect(prewrite(e, puts("k", "v"), 10n).errors[0]?.abort).toMatch(/lock type not match/);
  });

  it("CheckNotExists is refused in pessimistic prewrite", () => {
    const e = newEngine();
    const r = pessimisticPrewrite(e, [mut(Op.CheckNotExists, "k")], "k", 10n, 10n, PA.SKIP_PESSIMISTIC_CHECK);
    expect(r.errors[0]?.abort).toMatch(/checkNotExists/);
  });

  it("test_repeated_prewrite_non_pessimistic_lock", () => {
    const e = newEngine();
    e.store.maxTs.update(1n);
    putPessimisticLock(e, "k1", "k1", 10n, 10n);
    const retry = (startTs: bigint, isRetryRequest: boolean) =>
      pessimisticPrewrite(e, puts("k2", "v2"), "k1", startTs, startTs, PA.SKIP_PESSIMISTIC_CHECK, {
        context: { isRetryRequest } as never,
        useAsyncCommit: true,
        secondaries: [],
        minCommitTs: startTs + 1n,
        lockTtl: 100n,
      });
    pessimisticPrewrite(e, puts("k1", "v1"), "k1", 10n, 10n, PA.DO_PESSIMISTIC_CHECK, {
      useAsyncCommit: true,
      secondaries: [b("k2")],
      minCommitTs: 15n,
    });
    expect(retry(10n, false).errors).toEqual([]);
    mustCommit(e, ["k1", "k2"], 10n, 20n);
    expect(retry(10n, true).errors).toEqual([]);
    mustCommit(e, ["k1", "k2"], 10n, 25n);
    expect(writesOf(e, "k2").map((w) => w.commitTs)).toEqual([20n]);
    mustPut(e, "k2", "v22", 35n, 40n);
    expect(retry(10n, true).errors).toEqual([]);
    expect(lockOf(e, "k2")).toBeUndefined();
    expect(retry(11n, true).errors[0]?.abort).toMatch(/NonLockKeyConflict/);
    // TiKV's txn status cache knows txn 10 committed, so even a non-retry request re-checks.
    expect(retry(10n, false).errors).toEqual([]);
    expect(lockOf(e, "k2")).toBeUndefined();
  });
});

describe("rollback records and prewrite", () => {
  it("a protected rollback on the primary blocks a late prewrite (test_mvcc_txn_rollback_before_prewrite)", () => {
    const e = newEngine();
    const c = e.cleanup({ context: undefined, key: b("k"), startVersion: 5n, currentTs: 0n });
    expect(c.error).toBeUndefined();
    const rec = commitRecord(e, "k", 5n);
    expect(rec.kind === "single" && isProtectedRollback(rec.write)).toBe(true);
    expect(prewrite(e, puts("k", "v"), 5n).errors[0]?.conflict?.reason).toBe(
      WriteConflict_Reason.SelfRolledBack,
    );
    expect(commit(e, ["k"], 5n, 6n)?.txnLockNotFound).toEqual({ key: b("k") });
  });
});
