// KvPessimisticLock without waiting. Cases ported from tikv
// src/storage/txn/actions/acquire_pessimistic_lock.rs and
// src/storage/txn/commands/acquire_pessimistic_lock.rs tests (test names cited per case).
import { describe, expect, it } from "vitest";
import { Op, PessimisticLockKeyResultType, WriteConflict_Reason } from "../../../../../src/proto/kvrpcpb.js";
import { b, Fixture, lockRequest } from "./fixture.js";

const NORMAL = PessimisticLockKeyResultType.LockResultNormal;
const WITH_CONFLICT = PessimisticLockKeyResultType.LockResultLockedWithConflict;
const FAILED = PessimisticLockKeyResultType.LockResultFailed;

describe("KvPessimisticLock (tikv test_pessimistic_lock)", () => {
  it("locks, is idempotent and does not lower for_update_ts", async () => {
    const f = new Fixture();
    const r = await f.mustLock("k1", 1, 1);
    expect(r.values).toEqual([]);
    expect(r.notFounds).toEqual([]);
    expect(r.results).toEqual([]);
    const l = f.mustPessimisticLocked("k1", 1, 1);
    expect(l.primary).toEqual(b("k1"));
    expect(l.ttl).toBe(3000n);
    // Duplicated request.
    await f.mustLock("k1", 1, 1);
    f.mustPessimisticLocked("k1", 1, 1);
    // Different for_update_ts: only a larger one is written.
    await f.mustLock("k2", 35, 36);
    await f.mustLock("k2", 35, 35);
    f.mustPessimisticLocked("k2", 35, 36);
    await f.mustLock("k2", 35, 37, { ttl: 5000n, minCommitTs: 40n });
    const l2 = f.mustPessimisticLocked("k2", 35, 37);
    expect([l2.ttl, l2.minCommitTs]).toEqual([5000n, 40n]);
  });

  it("reports another txn's lock as KeyError.locked", async () => {
    const f = new Fixture();
    f.prewrite("k1", "Put", 3, "v");
    const e = await f.lockErr("k1", 4, 4);
    expect(e.locked).toMatchObject({
      key: b("k1"),
      lockVersion: 3n,
      primaryLock: b("k1"),
      lockType: Op.Put,
      lockTtl: 3000n,
    });
    expect(e.conflict).toBeUndefined();
    f.rollback("k1", 3);
    await f.mustLock("k1", 5, 5);
    const e2 = await f.lockErr("k1", 6, 6);
    expect(e2.locked).toMatchObject({ lockVersion: 5n, lockType: Op.PessimisticLock, lockForUpdateTs: 5n });
  });

  it("fails with WriteConflict(PessimisticRetry) when a newer commit exists", async () => {
    const f = new Fixture();
    f.put("k1", "v", 7, 9);
    const e = await f.lockErr("k1", 8, 8, { primary: "pk" });
    expect(e.conflict).toEqual({
      startTs: 8n,
      conflictTs: 7n,
      conflictCommitTs: 9n,
      key: b("k1"),
      primary: b("pk"),
      reason: WriteConflict_Reason.PessimisticRetry,
    });
    expect(e.retryable).toContain("write conflict");
    expect(f.lockOf("k1")).toBeUndefined();
    await f.mustLock("k1", 8, 9);
  });

  it("refuses to lock again after the txn was rolled back", async () => {
    const f = new Fixture();
    await f.mustLock("k1", 11, 11);
    f.rollback("k1", 11);
    const e = await f.lockErr("k1", 11, 11);
    expect(e.abort).toContain("pessimistic lock already rollbacked");
    // A rollback hidden under a newer commit is found too.
    f.rollback("k1", 18);
    f.put("k1", "v", 19, 20);
    const e2 = await f.lockErr("k1", 18, 21);
    expect(e2.abort).toContain("rollbacked");
    expect(f.lockOf("k1")).toBeUndefined();
  });

  it("rejects a pessimistic lock over the txn's own prewrite lock (LockTypeNotMatch)", async () => {
    const f = new Fixture();
    f.prewrite("k1", "Put", 23, "v");
    const e = await f.lockErr("k1", 23, 23);
    expect(e.abort).toContain("lock type not match");
  });

  it("locks everything or nothing", async () => {
    const f = new Fixture();
    f.prewrite("k3", "Put", 5, "v");
    const r = await f.lock(["k1", "k2", "k3"], 10, 10);
    expect(r.errors[0]?.locked?.lockVersion).toBe(5n);
    expect(f.lockOf("k1")).toBeUndefined();
    expect(f.lockOf("k2")).toBeUndefined();
  });

  it("rejects ForceLock with several keys and non-PessimisticLock ops", async () => {
    const f = new Fixture();
    const r = await f.lock(["k1", "k2"], 10, 10, { force: true });
    expect(r.errors[0]?.abort).toContain("allowed_lock_with_conflict");
    expect(r.results).toEqual([]);
    const req = lockRequest(["k1"], 10, 10);
    (req.mutations[0] as { op: Op }).op = Op.Put;
    expect((await f.engine.pessimisticLock(req)).errors[0]?.abort).toContain("mismatch Op");
    expect(f.lockOf("k1")).toBeUndefined();
  });
});

describe("return_values / check_existence", () => {
  // tikv test_pessimistic_lock_return_value
  it("returns the latest committed value, skipping Lock and Rollback records", async () => {
    const f = new Fixture();
    let r = await f.mustLock("k", 10, 10, { returnValues: true });
    expect([r.values, r.notFounds]).toEqual([[Buffer.alloc(0)], [true]]);
    f.pessimisticRollback("k", 10, 10);
    f.prewrite("k", "Put", 10, "v");
    expect((await f.lockErr("k", 20, 20, { returnValues: true })).locked).toBeDefined();
    f.commit("k", 10, 20);
    expect((await f.lockErr("k", 15, 15, { returnValues: true })).conflict).toBeDefined();
    r = await f.mustLock("k", 25, 25, { returnValues: true });
    expect([r.values, r.notFounds]).toEqual([[b("v")], [false]]);
    f.pessimisticRollback("k", 25, 25);
    f.put("k", undefined, 30, 40, "Lock");
    r = await f.mustLock("k", 45, 45, { returnValues: true });
    expect(r.values).toEqual([b("v")]);
    f.pessimisticRollback("k", 45, 45);
    f.rollback("k", 50);
    r = await f.mustLock("k", 55, 55, { returnValues: true });
    expect(r.values).toEqual([b("v")]);
    f.pessimisticRollback("k", 55, 55);
    f.put("k", undefined, 60, 70, "Delete");
    r = await f.mustLock("k", 75, 75, { returnValues: true });
    expect(r.notFounds).toEqual([true]);
    // Duplicated requests read at their own for_update_ts.
    r = await f.mustLock("k", 75, 75, { returnValues: true });
    expect(r.notFounds).toEqual([true]);
    r = await f.mustLock("k", 75, 55, { returnValues: true });
    expect([r.values, r.notFounds]).toEqual([[b("v")], [false]]);
    f.mustPessimisticLocked("k", 75, 75);
  });

  // tikv commands/acquire_pessimistic_lock.rs test_pessimistic_with_return_values
  it("returns values and not_founds for several keys in request order", async () => {
    const f = new Fixture();
    f.put("a", "va", 1, 2);
    f.put("c", "vc", 1, 2);
    const r = await f.lock(["a", "b", "c"], 10, 10, { returnValues: true });
    expect(r.errors).toEqual([]);
    expect(r.values).toEqual([b("va"), Buffer.alloc(0), b("vc")]);
    expect(r.notFounds).toEqual([false, true, false]);
    const r2 = await f.lock(["a", "b", "c"], 11, 11, { checkExistence: true, waitTimeout: -1n });
    expect(r2.errors[0]?.locked?.lockVersion).toBe(10n);
  });

  // tikv test_check_existence (without the GC-fence key)
  it("reports existence without values", async () => {
    const f = new Fixture();
    f.put("k2", "v2", 5, 20);
    f.put("k3", "v3", 5, 6);
    f.put("k3", undefined, 7, 20, "Delete");
    f.put("k4", "v4", 5, 15);
    f.put("k4", undefined, 16, 17, "Lock");
    f.rollback("k4", 20, true);
    for (const startTs of [30, 10]) {
      for (const repeated of [false, true]) {
        if (repeated) for (const k of ["k1", "k2", "k3", "k4"]) await f.mustLock(k, startTs, 30);
        const r = await f.lock(["k1", "k2", "k3", "k4"], startTs, 30, { checkExistence: true });
        expect(r.errors).toEqual([]);
        expect(r.values).toEqual([]);
        expect(r.notFounds).toEqual([true, false, true, false]);
        const v = await f.lock(["k1", "k2", "k3", "k4"], startTs, 30, {
          checkExistence: true,
          returnValues: true,
        });
        expect(v.values).toEqual([Buffer.alloc(0), b("v2"), Buffer.alloc(0), b("v4")]);
        for (const k of ["k1", "k2", "k3", "k4"]) f.pessimisticRollback(k, startTs, 30);
      }
    }
  });

  // tikv test_pessimistic_lock_only_if_exists
  it("lock_only_if_exists locks only existing keys and needs return_values", async () => {
    const f = new Fixture();
    let r = await f.mustLock("k", 10, 10, { returnValues: true, lockOnlyIfExists: true });
    expect(r.notFounds).toEqual([true]);
    expect(f.lockOf("k")).toBeUndefined();
    const e = await f.lockErr("k", 10, 10, { lockOnlyIfExists: true });
    expect(e.abort).toContain("Lock_only_if_exists");
    f.put("k", "v", 10, 20);
    r = await f.mustLock("k", 25, 25, { returnValues: true, lockOnlyIfExists: true });
    expect(r.values).toEqual([b("v")]);
    f.mustPessimisticLocked("k", 25, 25);
    f.pessimisticRollback("k", 25, 25);
    f.put("k", undefined, 30, 40, "Lock");
    f.rollback("k", 50);
    r = await f.mustLock("k", 55, 55, { returnValues: true, lockOnlyIfExists: true });
    expect(r.values).toEqual([b("v")]);
    f.pessimisticRollback("k", 55, 55);
    f.put("k", undefined, 60, 70, "Delete");
    r = await f.mustLock("k", 75, 75, { returnValues: true, lockOnlyIfExists: true });
    expect(r.notFounds).toEqual([true]);
    expect(f.lockOf("k")).toBeUndefined();
    await f.mustLock("k", 75, 75, { returnValues: true });
    r = await f.mustLock("k", 75, 85, { returnValues: true, lockOnlyIfExists: true });
    expect(r.notFounds).toEqual([true]);
    f.mustPessimisticLocked("k", 75, 85);
  });
});

describe("GC fences (tikv test_pessimistic_lock_check_gc_fence)", () => {
  it("a version whose newer version was GC-ed counts as deleted", async () => {
    const f = new Fixture();
    f.put("k1", "v1", 10, 30);
    f.setGcFence("k1", 30, 40);
    f.put("k2", "v2", 11, 30);
    f.setGcFence("k2", 30, 0);
    f.put("k3", "v3", 12, 30);
    f.put("k3", undefined, 37, 38, "Lock");
    f.setGcFence("k3", 30, 40);
    f.put("k3", undefined, 42, 43, "Lock");
    f.put("k4", "v4", 13, 30);
    f.put("k4", undefined, 37, 38, "Lock");
    f.put("k4", undefined, 42, 43, "Lock");
    f.setGcFence("k4", 30, 0);
    f.put("k5", "v5", 14, 20);
    f.put("k5", "v5x", 21, 30);
    f.setGcFence("k5", 20, 30);
    f.setGcFence("k5", 30, 40);
    f.put("k6", "v6", 15, 20);
    f.put("k6", "v6x", 22, 30);
    f.setGcFence("k6", 20, 30);
    f.setGcFence("k6", 30, 0);
    f.put("k7", "v7", 16, 30);
    f.put("k7", undefined, 37, 38, "Lock");
    f.setGcFence("k7", 30, 40);
    const cases: [string, string | undefined][] = [
      ["k1", undefined],
      ["k2", "v2"],
      ["k3", undefined],
      ["k4", "v4"],
      ["k5", undefined],
      ["k6", "v6x"],
      ["k7", undefined],
    ];
    for (const [k, expected] of cases) {
      // Constraint check.
      if (expected === undefined) {
        await f.mustLock(k, 50, 50, { shouldNotExist: true, minCommitTs: 51n });
        f.pessimisticRollback(k, 50, 51);
      } else {
        expect((await f.lockErr(k, 50, 50, { shouldNotExist: true })).alreadyExist).toBeDefined();
      }
      expect(f.lockOf(k)).toBeUndefined();
      // Reading the value, first without then with an existing lock.
      const r = await f.mustLock(k, 50, 50, { returnValues: true });
      expect(r.notFounds, k).toEqual([expected === undefined]);
      if (expected !== undefined) expect(r.values).toEqual([b(expected)]);
      f.pessimisticRollback(k, 50, 51);
      await f.mustLock(k, 50, 51);
      const r2 = await f.mustLock(k, 50, 50, { returnValues: true });
      expect(r2.notFounds, k).toEqual([expected === undefined]);
      if (expected !== undefined) expect(r2.values).toEqual([b(expected)]);
      f.pessimisticRollback(k, 50, 51);
    }
  });
});

describe("should_not_exist (Insert)", () => {
  // tikv test_acquire_pessimistic_lock_should_not_exist
  it("fails with AlreadyExist and pushes max_ts to for_update_ts", async () => {
    const f = new Fixture();
    f.put("k", "val", 3, 5);
    const e = await f.lockErr("k", 15, 15, { shouldNotExist: true });
    expect(e.alreadyExist).toEqual({ key: b("k") });
    expect(f.store.maxTs.value).toBe(15n);
  });

  // tikv test_repeated_request_check_should_not_exist
  it("looks through Lock records to the last Put / Delete, also for a repeated request", async () => {
    for (const [returnValues, checkExistence] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const f = new Fixture();
      const o = { shouldNotExist: true, returnValues, checkExistence };
      await f.mustLock("k", 10, 10);
      await f.mustLock("k", 10, 10, o);
      f.prewrite("k", "Lock", 10, undefined, 10);
      f.commit("k", 10, 19);
      await f.mustLock("k", 20, 20);
      await f.mustLock("k", 20, 20, o);
      f.prewrite("k", "Put", 20, "v1", 20);
      f.commit("k", 20, 29);
      await f.mustLock("k", 30, 30);
      expect((await f.lockErr("k", 30, 30, o)).alreadyExist).toBeDefined();
      f.prewrite("k", "Lock", 30, undefined, 30);
      f.commit("k", 30, 39);
      await f.mustLock("k", 40, 40);
      expect((await f.lockErr("k", 40, 40, o)).alreadyExist).toBeDefined();
      f.prewrite("k", "Delete", 40, undefined, 40);
      f.commit("k", 40, 49);
      await f.mustLock("k", 50, 50);
      await f.mustLock("k", 50, 50, o);
      f.prewrite("k", "Lock", 50, undefined, 50);
      f.commit("k", 50, 59);
      await f.mustLock("k", 60, 60);
      await f.mustLock("k", 60, 60, o);
    }
  });
});

describe("WakeUpModeForceLock (tikv test_lock_with_conflict*)", () => {
  it("locks with conflict at the newest commit_ts and reports it in results", async () => {
    const f = new Fixture();
    f.put("k1", "v1", 10, 20);
    let r = await f.mustLock("k1", 10, 30, { force: true });
    expect(r.results).toEqual([
      {
        type: NORMAL,
        value: Buffer.alloc(0),
        existence: false,
        lockedWithConflictTs: 0n,
        skipResolvingLock: false,
      },
    ]);
    f.pessimisticRollback("k1", 10, 30);
    r = await f.mustLock("k1", 10, 30, { force: true, checkExistence: true });
    expect(r.results[0]).toMatchObject({ type: NORMAL, existence: true });
    f.pessimisticRollback("k1", 10, 30);
    r = await f.mustLock("k1", 10, 30, { force: true, returnValues: true });
    expect(r.results[0]).toMatchObject({ type: NORMAL, existence: true, value: b("v1") });
    f.pessimisticRollback("k1", 10, 30);
    for (const [returnValues, checkExistence] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      r = await f.mustLock("k1", 10, 15, { force: true, returnValues, checkExistence });
      expect(r.results[0]).toMatchObject({
        type: WITH_CONFLICT,
        value: b("v1"),
        existence: true,
        lockedWithConflictTs: 20n,
      });
      expect(f.mustPessimisticLocked("k1", 10, 20).isLockedWithConflict).toBe(true);
      f.pessimisticRollback("k1", 10, 20);
      expect(f.lockOf("k1")).toBeUndefined();
    }
    // Idempotency: an older request on an existing lock reports the lock's for_update_ts.
    await f.mustLock("k1", 10, 50, { force: true });
    r = await f.mustLock("k1", 10, 40, { force: true });
    expect(r.results[0]).toMatchObject({ type: WITH_CONFLICT, value: b("v1"), lockedWithConflictTs: 50n });
    expect(f.mustPessimisticLocked("k1", 10, 50).isLockedWithConflict).toBe(false);
    // Another txn's lock: the key result is Failed and the error says locked.
    r = await f.lock(["k1"], 11, 55, { force: true });
    expect(r.results).toHaveLength(1);
    expect(r.results[0]?.type).toBe(FAILED);
    expect(r.errors[0]?.locked?.lockVersion).toBe(10n);
  });

  it("turns AlreadyExist under a conflict into WriteConflict (tikv test_lock_with_conflict_should_not_exist)", async () => {
    const f = new Fixture();
    f.put("k1", "v1", 20, 30);
    expect((await f.lockErr("k1", 10, 10, { force: true, shouldNotExist: true })).conflict).toBeDefined();
    expect(f.lockOf("k1")).toBeUndefined();
    await f.mustLock("k1", 10, 30);
    expect((await f.lockErr("k1", 10, 10, { force: true, shouldNotExist: true })).conflict).toBeDefined();
    f.mustPessimisticLocked("k1", 10, 30);
    f.prewrite("k1", "Delete", 10, undefined, 40);
    f.commit("k1", 10, 60);
    const r = await f.mustLock("k1", 50, 50, { force: true, shouldNotExist: true });
    expect(r.results[0]).toMatchObject({ type: WITH_CONFLICT, existence: false, lockedWithConflictTs: 60n });
    f.mustPessimisticLocked("k1", 50, 60);
  });

  it("lock_only_if_exists under a conflict (tikv test_lock_with_conflict_lock_only_if_exists)", async () => {
    const f = new Fixture();
    f.put("k1", "v1", 20, 30);
    const o = { force: true, returnValues: true, lockOnlyIfExists: true };
    let r = await f.mustLock("k1", 10, 10, o);
    expect(r.results[0]).toMatchObject({ type: WITH_CONFLICT, value: b("v1"), lockedWithConflictTs: 30n });
    expect(f.mustPessimisticLocked("k1", 10, 30).isLockedWithConflict).toBe(true);
    await f.mustLock("k1", 10, 40);
    r = await f.mustLock("k1", 10, 10, o);
    expect(r.results[0]).toMatchObject({ type: WITH_CONFLICT, value: b("v1"), lockedWithConflictTs: 40n });
    expect(f.mustPessimisticLocked("k1", 10, 40).isLockedWithConflict).toBe(true);
    f.prewrite("k1", "Delete", 10, undefined, 40);
    f.commit("k1", 10, 60);
    expect((await f.lockErr("k1", 50, 50, o)).conflict).toMatchObject({
      conflictTs: 10n,
      conflictCommitTs: 60n,
    });
    expect(f.lockOf("k1")).toBeUndefined();
  });
});
