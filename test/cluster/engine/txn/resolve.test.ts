// KvCheckSecondaryLocks, KvResolveLock, KvTxnHeartBeat and KvScanLock. Cases follow tikv
// src/storage/txn/commands/check_secondary_locks.rs (test_check_async_commit_secondary_locks),
// txn_heart_beat.rs (test_txn_heart_beat, test_heartbeat_piggyback_min_commit_ts),
// resolve_lock*.rs and src/storage/mod.rs scan_lock.
import { describe, expect, it } from "vitest";
import { isProtectedRollback } from "../../../../src/cluster/engine/mvcc/types.js";
import { Op } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  commitRecord,
  lockOf,
  mustCommit,
  mustGet,
  mustPrewrite,
  mut,
  newEngine,
  putPessimisticLock,
  puts,
  rollback,
  writesOf,
} from "./helpers.js";

type Engine = ReturnType<typeof newEngine>;

function checkSecondary(e: Engine, keys: string[], startTs: bigint) {
  return e.checkSecondaryLocks({ context: undefined, keys: keys.map(b), startVersion: startTs });
}

function protectedRollbackAt(e: Engine, key: string, startTs: bigint) {
  const rec = commitRecord(e, key, startTs);
  expect(rec.kind === "single" && rec.write.writeType === "Rollback" && isProtectedRollback(rec.write)).toBe(
    true,
  );
}

function resolve(
  e: Engine,
  req: { start?: bigint; commit?: bigint; keys?: string[]; infos?: [bigint, bigint][] },
  range?: { start: Buffer; end: Buffer },
) {
  return e.resolveLock(
    {
      context: undefined,
      startVersion: req.start ?? 0n,
      commitVersion: req.commit ?? 0n,
      txnInfos: (req.infos ?? []).map(([txn, status]) => ({ txn, status, isTxnFile: false })),
      keys: (req.keys ?? []).map(b),
      isAsync: false,
      isTxnFile: false,
    },
    range,
  );
}

function heartBeat(e: Engine, key: string, startTs: bigint, ttl: bigint, minCommitTs = 0n) {
  return e.txnHeartBeat({
    context: undefined,
    primaryLock: b(key),
    startVersion: startTs,
    adviseLockTtl: ttl,
    minCommitTs,
    isTxnFile: false,
  });
}

function scanLock(
  e: Engine,
  maxTs: bigint,
  start = "",
  end = "",
  limit = 0,
  range?: { start: Buffer; end: Buffer },
) {
  return e.scanLock(
    { context: undefined, maxVersion: maxTs, startKey: b(start), endKey: b(end), limit },
    range,
  ).locks;
}

describe("check_secondary_locks (test_check_async_commit_secondary_locks)", () => {
  it("reports committed, rolled back and locked secondaries", () => {
    const e = newEngine();
    const lockAt = (startTs: bigint) =>
      mustPrewrite(e, [mut(Op.Lock, "k1")], startTs, { primaryLock: b("key") });
    lockAt(1n);
    mustCommit(e, ["k1"], 1n, 3n);
    expect(rollback(e, ["k1"], 5n)).toBeUndefined();
    lockAt(7n);
    mustCommit(e, ["k1"], 7n, 9n);

    expect(checkSecondary(e, ["k1"], 7n)).toMatchObject({ error: undefined, locks: [], commitTs: 9n });
    expect(checkSecondary(e, ["k1"], 5n)).toMatchObject({ error: undefined, locks: [], commitTs: 0n });
    expect(checkSecondary(e, ["k1"], 1n).commitTs).toBe(3n);
    // Unknown txn: a protected rollback is written so it can never commit this key.
    expect(checkSecondary(e, ["k1"], 6n)).toMatchObject({ locks: [], commitTs: 0n });
    protectedRollbackAt(e, "k1", 6n);
    // A pessimistic lock means the key was never prewritten: rolled back.
    putPessimisticLock(e, "k1", "key", 11n, 11n);
    expect(checkSecondary(e, ["k1"], 11n)).toMatchObject({ locks: [], commitTs: 0n });
    expect(lockOf(e, "k1")).toBeUndefined();
    protectedRollbackAt(e, "k1", 11n);
    // A prewrite lock is reported.
    lockAt(13n);
    const locked = checkSecondary(e, ["k1"], 13n);
    expect(locked.locks).toEqual([
      expect.objectContaining({ key: b("k1"), primaryLock: b("key"), lockVersion: 13n, lockType: Op.Lock }),
    ]);
    expect(lockOf(e, "k1")?.startTs).toBe(13n);
    mustCommit(e, ["k1"], 13n, 15n);
    expect(checkSecondary(e, ["k1"], 14n)).toMatchObject({ locks: [], commitTs: 0n });
    protectedRollbackAt(e, "k1", 14n);
    // A rollback at 15 merges into txn 13's record committed at 15.
    expect(checkSecondary(e, ["k1"], 15n)).toMatchObject({ locks: [], commitTs: 0n });
    expect(writesOf(e, "k1")[0]).toMatchObject({
      commitTs: 15n,
      write: { writeType: "Lock", startTs: 13n, hasOverlappedRollback: true, gcFence: 0n },
    });
    // check_secondary_locks pushes max_ts to the txn's start_ts.
    expect(e.store.maxTs.value).toBeGreaterThanOrEqual(15n);
  });

  it("stops at the first key that is not locked", () => {
    const e = newEngine();
    mustPrewrite(e, puts("a", "v", "b", "v"), 10n, { useAsyncCommit: true, secondaries: [] });
    const all = checkSecondary(e, ["a", "b"], 10n);
    expect(all.locks.map((l) => l.key.toString())).toEqual(["a", "b"]);
    expect(all.locks[0]?.useAsyncCommit).toBe(true);
    // "c" was never prewritten: rolled back, and "d" after it is not visited.
    const r = checkSecondary(e, ["a", "c", "d"], 10n);
    expect(r).toMatchObject({ locks: [], commitTs: 0n });
    protectedRollbackAt(e, "c", 10n);
    expect(commitRecord(e, "d", 10n).kind).toBe("none");
    // A stale force-acquired pessimistic lock of a committed txn is dropped.
    mustCommit(e, ["a", "b"], 10n, 20n);
    putPessimisticLock(e, "a", "a", 10n, 20n, 100n, 0n, true);
    expect(checkSecondary(e, ["a"], 10n).commitTs).toBe(20n);
    expect(lockOf(e, "a")).toBeUndefined();
  });
});

describe("resolve_lock", () => {
  it("lite: commits or rolls back the given keys", () => {
    const e = newEngine();
    mustPrewrite(e, puts("p", "v", "s1", "v", "s2", "v"), 10n);
    expect(resolve(e, { start: 10n, commit: 20n, keys: ["s1"] }).error).toBeUndefined();
    expect(mustGet(e, "s1", 20n)).toBe("v");
    expect(lockOf(e, "s2")).toBeDefined();
    expect(resolve(e, { start: 10n, commit: 0n, keys: ["s2"] }).error).toBeUndefined();
    expect(commitRecord(e, "s2", 10n)).toMatchObject({ kind: "single", write: { writeType: "Rollback" } });
    // Rolling back a committed key fails.
    expect(resolve(e, { start: 10n, commit: 0n, keys: ["s1"] }).error?.abort).toMatch(/already committed/);
  });

  it("scans only the region range when no keys are given", () => {
    const e = newEngine();
    mustPrewrite(e, puts("a", "v", "m", "v", "z", "v"), 10n);
    const range = { start: b("b"), end: b("n") };
    expect(resolve(e, { start: 10n, commit: 20n }, range).error).toBeUndefined();
    expect(lockOf(e, "a")).toBeDefined();
    expect(lockOf(e, "m")).toBeUndefined();
    expect(lockOf(e, "z")).toBeDefined();
    expect(mustGet(e, "m", 20n)).toBe("v");
  });

  it("resolves more than one batch of locks", () => {
    const e = newEngine();
    const keys = Array.from({ length: 600 }, (_, i) => `k${String(i).padStart(4, "0")}`);
    mustPrewrite(
      e,
      keys.flatMap((k) => [mut(Op.Put, k, "v")]),
      10n,
    );
    expect(resolve(e, { start: 10n, commit: 11n }).error).toBeUndefined();
    expect(scanLock(e, 100n)).toEqual([]);
    expect(mustGet(e, "k0599", 11n)).toBe("v");
  });

  it("drops pessimistic locks of a committed txn and rejects commit_ts <= start_ts", () => {
    const e = newEngine();
    putPessimisticLock(e, "x", "p", 10n, 10n);
    expect(resolve(e, { start: 10n, commit: 20n }).error).toBeUndefined();
    expect(lockOf(e, "x")).toBeUndefined();
    expect(writesOf(e, "x")).toEqual([]);
    mustPrewrite(e, puts("y", "v"), 30n);
    expect(resolve(e, { start: 30n, commit: 30n }).error?.abort).toMatch(/InvalidTxnTso/);
    expect(lockOf(e, "y")).toBeDefined();
  });

  it("releases resolved locks to waiters", () => {
    const e = newEngine();
    const released: string[] = [];
    e.store.onLocksReleased((ls) => released.push(...ls.map((l) => `${l.key}@${l.commitTs}`)));
    mustPrewrite(e, puts("a", "v", "b", "v"), 10n);
    resolve(e, { infos: [[10n, 15n]] });
    expect(released.sort()).toEqual(["a@15", "b@15"]);
  });
});

describe("txn_heart_beat (test_txn_heart_beat)", () => {
  it("only grows the TTL and fails without the txn's lock", () => {
    const e = newEngine();
    const k = "k1";
    expect(heartBeat(e, k, 5n, 100n).error?.txnNotFound).toEqual({ startTs: 5n, primaryKey: b(k) });
    mustPrewrite(e, puts(k, "v1"), 5n, { lockTtl: 0n });
    const check = (startTs: bigint) => {
      expect(heartBeat(e, k, startTs, 100n)).toMatchObject({ error: undefined, lockTtl: 100n });
      expect(heartBeat(e, k, startTs, 90n)).toMatchObject({ error: undefined, lockTtl: 100n });
      expect(heartBeat(e, k, startTs, 110n)).toMatchObject({ error: undefined, lockTtl: 110n });
      expect(heartBeat(e, k, startTs, 90n).lockTtl).toBe(110n);
      expect(heartBeat(e, k, startTs - 1n, 150n).error?.txnNotFound).toBeDefined();
      expect(heartBeat(e, k, startTs + 1n, 150n).error?.txnNotFound).toBeDefined();
      expect(lockOf(e, k)?.ttl).toBe(110n);
    };
    check(5n);
    mustCommit(e, [k], 5n, 10n);
    expect(heartBeat(e, k, 5n, 100n).error?.txnNotFound).toBeDefined();
    putPessimisticLock(e, k, k, 8n, 15n, 0n);
    check(8n);
    expect(lockOf(e, k)?.lockType).toBe("Pessimistic");
  });

  it("piggybacks min_commit_ts only for pipelined, non-async txns (test_heartbeat_piggyback_min_commit_ts)", () => {
    const e = newEngine();
    e.flush({
      context: undefined,
      mutations: [mut(Op.Put, "k1", "v1")],
      primaryKey: b("k1"),
      startTs: 5n,
      minCommitTs: 0n,
      generation: 1n,
      lockTtl: 100n,
      assertionLevel: 0,
    });
    expect(heartBeat(e, "k1", 5n, 3333n, 10n)).toMatchObject({ error: undefined, lockTtl: 3333n });
    expect(lockOf(e, "k1")).toMatchObject({ ttl: 3333n, minCommitTs: 10n });
    mustPrewrite(e, puts("k2", "v"), 5n, { lockTtl: 100n, minCommitTs: 6n });
    heartBeat(e, "k2", 5n, 100n, 50n);
    expect(lockOf(e, "k2")?.minCommitTs).toBe(6n);
  });
});

describe("scan_lock", () => {
  it("filters by max_version, bounds the range and honours limit", () => {
    const e = newEngine();
    mustPrewrite(e, puts("a", "v"), 5n);
    mustPrewrite(e, puts("b", "v"), 10n);
    mustPrewrite(e, puts("c", "v"), 15n);
    putPessimisticLock(e, "d", "d", 7n, 7n);
    const keys = (ls: { key: Buffer }[]) => ls.map((l) => l.key.toString());
    expect(keys(scanLock(e, 10n))).toEqual(["a", "b", "d"]);
    expect(keys(scanLock(e, 10n, "b"))).toEqual(["b", "d"]);
    expect(keys(scanLock(e, 100n, "a", "c"))).toEqual(["a", "b"]);
    expect(keys(scanLock(e, 100n, "", "", 2))).toEqual(["a", "b"]);
    expect(keys(scanLock(e, 100n, "", "", 0, { start: b("b"), end: b("d") }))).toEqual(["b", "c"]);
    expect(scanLock(e, 100n)[3]).toMatchObject({
      lockType: Op.PessimisticLock,
      lockForUpdateTs: 7n,
      primaryLock: b("d"),
    });
    // GC's scan pushes max_ts.
    expect(e.store.maxTs.value).toBe(100n);
  });
});
