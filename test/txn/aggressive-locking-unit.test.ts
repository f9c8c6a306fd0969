// Unit tests of aggressive locking's pure parts: reading a ForceLock response
// (src/actors/txn/force-lock.ts) and the session's take-over rule (trySkipLockingOnRetry,
// src/api/internal/aggressive-locking.ts).

import { describe, expect, it } from "vitest";
import { forceLockOutcome } from "../../src/actors/txn/force-lock.js";
import { type AttemptLock, trySkipLockingOnRetry } from "../../src/api/internal/aggressive-locking.js";
import { BodyMissingError, DeadlockError, KeyAlreadyExistsError } from "../../src/index.js";
import {
  KeyError,
  LockInfo,
  PessimisticLockResponse,
  PessimisticLockKeyResultType as R,
} from "../../src/proto/kvrpcpb.js";

const key = Buffer.from("k");
const want = { returnValues: false, checkExistence: false };
const resp = (p: Parameters<typeof PessimisticLockResponse.fromPartial>[0]) =>
  PessimisticLockResponse.fromPartial(p);
const lockedError = (shared = false) =>
  KeyError.fromPartial({
    locked: LockInfo.fromPartial({
      key,
      primaryLock: key,
      lockVersion: 5n,
      lockTtl: 3000n,
      sharedLockInfos: shared ? [LockInfo.fromPartial({ key, primaryLock: key, lockVersion: 6n })] : [],
    }),
  });

describe("forceLockOutcome", () => {
  it("Normal: learns values / existence only when asked", () => {
    const r = resp({ results: [{ type: R.LockResultNormal, existence: true, value: Buffer.from("v") }] });
    expect(forceLockOutcome(r, want)).toEqual({ kind: "locked", learned: undefined });
    expect(forceLockOutcome(r, { returnValues: false, checkExistence: true })).toEqual({
      kind: "locked",
      learned: { value: undefined, exists: true, lockedWithConflictTs: 0n },
    });
    const absent = resp({ results: [{ type: R.LockResultNormal, existence: false }] });
    expect(forceLockOutcome(absent, { returnValues: true, checkExistence: false })).toEqual({
      kind: "locked",
      learned: { value: undefined, exists: false, lockedWithConflictTs: 0n },
    });
  });

  it("LockedWithConflict: the value and the conflict's ts, whatever was asked", () => {
    const r = resp({
      results: [
        {
          type: R.LockResultLockedWithConflict,
          existence: true,
          value: Buffer.from("v"),
          lockedWithConflictTs: 9n,
        },
      ],
    });
    expect(forceLockOutcome(r, want)).toEqual({
      kind: "locked",
      learned: { value: Buffer.from("v"), exists: true, lockedWithConflictTs: 9n },
    });
  });

  it("Failed with a lock: blocked on it; with shared locks: blocked whatever the result", () => {
    const failed = forceLockOutcome(
      resp({ results: [{ type: R.LockResultFailed }], errors: [lockedError()] }),
      want,
    );
    expect(failed.kind).toBe("blocked");
    expect(failed.kind === "blocked" && failed.locks.map((l) => l.startTs)).toEqual([5n]);
    const shared = forceLockOutcome(
      resp({ results: [{ type: R.LockResultNormal }], errors: [lockedError(true)] }),
      want,
    );
    expect(shared.kind).toBe("blocked");
    // failed without a reason: ask again
    expect(forceLockOutcome(resp({ results: [{ type: R.LockResultFailed }] }), want)).toEqual({
      kind: "blocked",
      locks: [],
    });
  });

  it("other key errors are thrown typed", () => {
    const exists = resp({ errors: [KeyError.fromPartial({ alreadyExist: { key } })] });
    expect(() => forceLockOutcome(exists, want)).toThrow(KeyAlreadyExistsError);
    const deadlock = resp({
      results: [{ type: R.LockResultFailed }],
      errors: [KeyError.fromPartial({ deadlock: { lockTs: 1n, lockKey: key, deadlockKeyHash: 2n } })],
    });
    expect(() => forceLockOutcome(deadlock, want)).toThrow(DeadlockError);
  });

  it("responses TiKV does not send are refused", () => {
    const two = resp({ results: [{ type: R.LockResultNormal }, { type: R.LockResultNormal }] });
    expect(() => forceLockOutcome(two, want)).toThrow(BodyMissingError);
    const lockBesideSuccess = resp({ results: [{ type: R.LockResultNormal }], errors: [lockedError()] });
    expect(() => forceLockOutcome(lockBesideSuccess, want)).toThrow(BodyMissingError);
    expect(() => forceLockOutcome(resp({}), want)).toThrow(BodyMissingError);
  });
});

describe("trySkipLockingOnRetry", () => {
  const entry = (o: Partial<AttemptLock> = {}): AttemptLock => ({
    key,
    hasReturnValue: false,
    hasCheckExistence: false,
    value: undefined,
    exists: true,
    lockedWithConflictTs: 0n,
    actualForUpdateTs: 1n,
    ...o,
  });

  it("a lock that learned less than asked is taken again", () => {
    expect(trySkipLockingOnRetry(entry(), true, false)).toBe(false);
    expect(trySkipLockingOnRetry(entry(), false, true)).toBe(false);
    expect(trySkipLockingOnRetry(entry({ hasCheckExistence: true }), true, false)).toBe(false);
  });

  it("a lock that learned enough is taken over, forgetting what is not asked", () => {
    const e = entry({ hasReturnValue: true, hasCheckExistence: true, value: Buffer.from("v") });
    expect(trySkipLockingOnRetry(e, false, true)).toBe(true);
    expect(e.hasReturnValue).toBe(false);
    expect(e.value).toBeUndefined();
    expect(e.hasCheckExistence).toBe(true);
    expect(trySkipLockingOnRetry(e, false, false)).toBe(true);
    expect(e.hasCheckExistence).toBe(false);
  });

  it("a lock with a conflict becomes a plain lock that read the key", () => {
    const e = entry({ lockedWithConflictTs: 7n, value: undefined, exists: false });
    expect(trySkipLockingOnRetry(e, true, false)).toBe(true);
    expect(e.lockedWithConflictTs).toBe(0n);
    expect(e.hasReturnValue).toBe(true);
    expect(e.exists).toBe(false);
  });
});
