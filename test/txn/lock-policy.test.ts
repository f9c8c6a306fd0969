// The pure lock-resolution policy (src/machines/lock-policy.ts), case by case as client-go's
// lock_resolver.go decides, and the async-commit fold of CheckSecondaryLocks answers.

import { describe, expect, it } from "vitest";
import type { LockDetails } from "../../src/errors/txn.js";
import {
  addSecondaryCheck,
  decideOnStatus,
  decideOnTxnNotFound,
  isRolledBack,
  NonAsyncCommitLockError,
  planCleanup,
  readVerdict,
  type TxnStatus,
} from "../../src/machines/lock-policy.js";
import { Action, Op } from "../../src/proto/kvrpcpb.js";

function lock(over: Partial<LockDetails> = {}): LockDetails {
  return {
    key: Buffer.from("k"),
    primary: Buffer.from("p"),
    startTs: 10n,
    ttl: 3000n,
    txnSize: 1n,
    lockType: Op.Put,
    lockForUpdateTs: 0n,
    useAsyncCommit: false,
    minCommitTs: 11n,
    secondaries: [],
    durationToLastUpdateMs: 0n,
    isTxnFile: false,
    sharedLocks: [],
    ...over,
  };
}
const status = (over: Partial<TxnStatus> = {}): TxnStatus => ({
  ttl: 0n,
  commitTs: 0n,
  action: Action.NoAction,
  primaryLock: undefined,
  ...over,
});

describe("lock policy", () => {
  it("a live lock is waited for, an expired async-commit primary goes to its secondaries", () => {
    expect(decideOnStatus(status({ ttl: 100n }), false, false)).toEqual({ kind: "alive" });
    const ac = status({ ttl: 100n, primaryLock: lock({ useAsyncCommit: true }) });
    expect(decideOnStatus(ac, false, true)).toEqual({ kind: "asyncCommit" });
    // forced sync commit (a secondary was not async-commit): treated as a normal live lock
    expect(decideOnStatus(ac, true, true)).toEqual({ kind: "alive" });
    expect(decideOnStatus(ac, false, false)).toEqual({ kind: "alive" });
    expect(decideOnStatus(status({ commitTs: 20n }), false, true)).toEqual({ kind: "resolve" });
  });

  it("TxnNotFound: expired locks are rolled back, live pessimistic locks keep their TTL, others back off", () => {
    expect(decideOnTxnNotFound(lock(), true)).toEqual({ kind: "rollbackIfNotExist" });
    expect(decideOnTxnNotFound(lock({ lockType: Op.PessimisticLock }), false)).toEqual({
      kind: "aliveWithLockTtl",
    });
    expect(decideOnTxnNotFound(lock(), false)).toEqual({ kind: "backoff" });
  });

  it("read verdicts: pushed / rolled back / committed later are ignored, committed earlier read through", () => {
    expect(readVerdict(status({ ttl: 5n, action: Action.MinCommitTSPushed }), 100n)).toBe("ignore");
    expect(readVerdict(status({ action: Action.TTLExpireRollback }), 100n)).toBe("ignore");
    expect(readVerdict(status({ commitTs: 101n }), 100n)).toBe("ignore");
    expect(readVerdict(status({ commitTs: 100n }), 100n)).toBe("access");
    expect(readVerdict(status({ ttl: 5n }), 100n)).toBe("wait");
    expect(isRolledBack(status({ action: Action.LockNotExistRollback }))).toBe(true);
    expect(isRolledBack(status({ action: Action.MinCommitTSPushed }))).toBe(false);
  });

  it("cleanup: small txns by key in one batch (primary skipped), large ones by region, pessimistic one by one", () => {
    const small = [
      lock({ key: Buffer.from("p") }),
      lock({ key: Buffer.from("a") }),
      lock({ key: Buffer.from("b") }),
    ];
    expect(planCleanup(small, false)).toEqual([
      { kind: "resolveKeys", keys: [Buffer.from("a"), Buffer.from("b")] },
    ]);
    const big = lock({ txnSize: 1000n });
    expect(planCleanup([big], false)).toEqual([{ kind: "resolveRegion", key: big.key }]);
    expect(planCleanup([big], true)).toEqual([{ kind: "resolveKeys", keys: [big.key] }]);
    const pess = lock({ lockType: Op.PessimisticLock, lockForUpdateTs: 0n });
    expect(planCleanup([pess], false)).toEqual([
      { kind: "pessimisticRollback", key: pess.key, forUpdateTs: 0xffffffffffffffffn, regionWide: false },
    ]);
    // region-wide (client-go PessimisticRegionResolve): the same task, for the key's whole region
    expect(planCleanup([pess], false, true)).toEqual([
      { kind: "pessimisticRollback", key: pess.key, forUpdateTs: 0xffffffffffffffffn, regionWide: true },
    ]);
    // a pessimistic primary needs nothing: CheckTxnStatus already rolled it back
    expect(planCleanup([lock({ lockType: Op.PessimisticLock, key: Buffer.from("p") })], false)).toEqual([]);
  });

  it("async-commit fold: max min_commit_ts while all locks exist; a missing lock fixes the commit ts", () => {
    const st = { commitTs: 11n, keys: [] as Buffer[], missingLock: false };
    addSecondaryCheck(
      st,
      10n,
      [lock({ useAsyncCommit: true, minCommitTs: 15n, key: Buffer.from("a") })],
      1,
      0n,
    );
    expect(st).toMatchObject({ commitTs: 15n, missingLock: false });
    addSecondaryCheck(st, 10n, [], 1, 20n);
    expect(st).toMatchObject({ commitTs: 20n, missingLock: true });
    expect(() => addSecondaryCheck(st, 10n, [], 1, 21n)).toThrow(/mismatch/);
    const fresh = { commitTs: 11n, keys: [] as Buffer[], missingLock: false };
    expect(() => addSecondaryCheck(fresh, 10n, [lock()], 1, 0n)).toThrow(NonAsyncCommitLockError);
    expect(() => addSecondaryCheck(fresh, 10n, [lock({ startTs: 9n, useAsyncCommit: true })], 1, 0n)).toThrow(
      /unexpected timestamp/,
    );
  });
});
