// The pure parts of shared pessimistic locks: which mutations shared-locked keys become and
// which key may be the primary (client-go initKeysAndMutations), how a shared lock expands into
// its holders (client-go expands shared_lock_infos wherever it meets a Locked error), and the
// commit modes a transaction holding shared locks may use (client-go checkAsyncCommit /
// checkOnePC).

import { describe, expect, it } from "vitest";
import { buildMutations, checkSharedLockPrimary } from "../../src/actors/txn/mutations.js";
import { SharedLockMisuseError } from "../../src/errors/shared-lock.js";
import type { LockDetails } from "../../src/errors/txn.js";
import { FlagsOp } from "../../src/kv/memdb/key-flags.js";
import { MemDb } from "../../src/kv/memdb/memdb.js";
import { chooseCommitModes } from "../../src/machines/commit-mode.js";
import { isBareSharedLock, lockHolders } from "../../src/machines/lock-policy.js";
import { locksToResolve } from "../../src/machines/pessimistic-policy.js";
import { Op } from "../../src/proto/kvrpcpb.js";

const b = (s: string) => Buffer.from(s);
const SHARED = [FlagsOp.setKeyLocked, FlagsOp.setKeyLockedInShareMode];

function lock(over: Partial<LockDetails> = {}): LockDetails {
  return {
    key: b("k"),
    primary: b("p"),
    startTs: 10n,
    ttl: 3000n,
    txnSize: 1n,
    lockType: Op.PessimisticLock,
    lockForUpdateTs: 10n,
    useAsyncCommit: false,
    minCommitTs: 11n,
    secondaries: [],
    durationToLastUpdateMs: 0n,
    isTxnFile: false,
    sharedLocks: [],
    ...over,
  } as LockDetails;
}

describe("mutations of shared-locked keys", () => {
  it("a shared-locked key without a write is a SharedLock, never the primary", () => {
    const db = new MemDb();
    db.updateFlags(b("a"), SHARED);
    db.updateFlags(b("b"), [FlagsOp.setKeyLocked]);
    const built = buildMutations(db, { pessimistic: true });
    expect(built.mutations.map((m) => [m.key.toString(), m.op])).toEqual([
      ["a", Op.SharedLock],
      ["b", Op.Lock],
    ]);
    expect(built.sharedLocks).toBe(1);
    expect(built.primaryIndex).toBe(1);
    expect(() => checkSharedLockPrimary(built, 1)).not.toThrow();
    // a primary chosen elsewhere that is the shared key is refused
    expect(() => checkSharedLockPrimary(built, 0)).toThrow(SharedLockMisuseError);
  });

  it("shared locks with nothing fit to be the primary are refused", () => {
    const db = new MemDb();
    db.updateFlags(b("a"), SHARED);
    const built = buildMutations(db, { pessimistic: true });
    expect(built.primaryIndex).toBe(-1);
    let err: unknown;
    try {
      checkSharedLockPrimary(built, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SharedLockMisuseError);
    expect(err).toMatchObject({ reason: "sharedPrimary", key: b("a"), code: "INVALID_TXN" });
  });

  it("without shared locks the check lets anything through (CheckNotExists-only commits included)", () => {
    const db = new MemDb();
    db.delete(b("a"), [FlagsOp.setPresumeKeyNotExists]);
    const built = buildMutations(db, {});
    expect(built.mutations.map((m) => m.op)).toEqual([Op.CheckNotExists]);
    expect(() => checkSharedLockPrimary(built, 0)).not.toThrow();
  });
});

describe("holders of shared locks", () => {
  const h1 = lock({ startTs: 5n, primary: b("p1") });
  const h2 = lock({ startTs: 7n, primary: b("p2"), durationToLastUpdateMs: 100n });
  const wrapper = lock({
    startTs: 0n,
    primary: Buffer.alloc(0),
    lockType: Op.SharedLock,
    sharedLocks: [h1, h2],
  });

  it("a shared lock stands for its holders; any other lock for itself", () => {
    expect(lockHolders(wrapper)).toEqual([h1, h2]);
    const plain = lock();
    expect(lockHolders(plain)).toEqual([plain]);
  });

  it("only a SharedLock listing no holder is bare", () => {
    expect(isBareSharedLock(wrapper)).toBe(false);
    expect(isBareSharedLock({ ...wrapper, sharedLocks: [] })).toBe(true);
    expect(isBareSharedLock(lock({ lockType: Op.SharedPessimisticLock }))).toBe(false);
  });

  it("a pessimistic lock request resolves the holders not updated in the last 300 ms", () => {
    expect(locksToResolve([wrapper])).toEqual([h1]);
  });
});

describe("commit modes with shared locks", () => {
  it("shared locks rule out async commit and 1PC", () => {
    const base = { asyncCommit: true, onePC: true, keyCount: 2, keyBytes: 10 };
    expect(chooseCommitModes(base)).toEqual({ asyncCommit: true, onePC: true });
    expect(chooseCommitModes({ ...base, hasSharedLocks: true })).toEqual({
      asyncCommit: false,
      onePC: false,
    });
  });
});
