// Ported by meaning from client-go integration_tests/2pc_test.go: aggressive (fair) locking —
// ForceLock locks that succeed "with a conflict", locks of one attempt taken over by the next,
// released when no longer needed, the primary chosen again per attempt, and the exit to normal
// locking. client-go's lockCtx.Values / MaxLockedWithConflictTS are read here from
// txn.aggressiveLockedKeys(). Mapping: test/ported/txn-aggressive.md.

import { describe, expect } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { KeyAlreadyExistsError, LockWaitTimeoutError, WriteConflictError } from "../../../src/index.js";
import { FlagsOp } from "../../../src/kv/memdb/key-flags.js";
import { type PessimisticLockRequest, PessimisticLockWakeUpMode } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { attemptEntry, attemptKeys, expectLocked, maxConflictTs } from "./aggressive-locking-support.js";
import { b, recordRequests } from "./ported-2pc-support.js";
import { lockOn } from "./ported-pessimistic-support.js";

describe.skipIf(skipOnRealCluster("v1"))("client-go 2pc_test: aggressive locking", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // 2pc_test TestPessimisticLockAllowLockWithConflict
  itFault(
    "ForceLock: a lock without conflict reports what was asked; one with a conflict reads the newer value",
    async () => {
      const t = (await env.connect()).txn();
      const key = `a${uniquePrefix("alwc")}key`;
      const txn0 = await t.begin({ pessimistic: true });
      txn0.set(key, key);
      await txn0.commit();

      for (const returnValues of [false, true]) {
        for (const checkExistence of [false, true]) {
          const txn = await t.begin({ pessimistic: true });
          txn.startAggressiveLocking();
          const requests = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
          const opts = { forUpdateTs: txn.startTs, checkExistence };
          if (returnValues) expect((await txn.getForUpdate(key, opts))?.toString()).toBe(key);
          else await txn.lockKeys([key], opts);
          requests.stop();
          expect(requests.seen.map((s) => s.req.wakeUpMode)).toEqual([
            PessimisticLockWakeUpMode.WakeUpModeForceLock,
          ]);
          const e = attemptEntry(txn, key);
          expect(e.exists).toBe(returnValues || checkExistence ? true : undefined);
          expect(e.value?.toString()).toBe(returnValues ? key : undefined);
          expect(e.lockedWithConflictTs).toBe(0n);
          expect(e.actualForUpdateTs).toBe(txn.startTs);
          txn.doneAggressiveLocking();
          await txn.rollback();
        }
      }

      for (const returnValues of [false, true]) {
        for (const checkExistence of [false, true]) {
          const value = `value-${returnValues}-${checkExistence}`;
          const writer = await t.begin({ pessimistic: true });
          writer.set(key, value);
          const txn = await t.begin({ pessimistic: true });
          txn.startAggressiveLocking();
          await writer.commit();
          expect(writer.commitTs).toBeGreaterThan(txn.startTs);
          const opts = { forUpdateTs: txn.startTs, checkExistence };
          // the newer version does not fail the lock: it is read and its commit ts reported
          if (returnValues) expect((await txn.getForUpdate(key, opts))?.toString()).toBe(value);
          else await txn.lockKeys([key], opts);
          expect(maxConflictTs(txn)).toBe(writer.commitTs);
          const e = attemptEntry(txn, key);
          expect(e.lockedWithConflictTs).toBe(writer.commitTs);
          expect(e.actualForUpdateTs).toBe(writer.commitTs);
          expect(e.exists).toBe(true);
          expect(e.value?.toString()).toBe(value);
          // the lock on TiKV holds the conflict's ts
          expect(lockOn(env, key).lockForUpdateTs).toBe(writer.commitTs);
          txn.cancelAggressiveLocking();
          await txn.rollback();
          await expectLocked(env, txn, [key], []);
        }
      }
    },
  );

  // 2pc_test TestPessimisticLockAllowLockWithConflictError
  itFault("ForceLock errors: a lock wait timeout locks nothing; a region error is retried", async () => {
    const t = (await env.connect()).txn();
    const key = `a${uniquePrefix("alwce")}key`;
    for (const returnValues of [false, true]) {
      for (const checkExistence of [false, true]) {
        const holder = await t.begin({ pessimistic: true });
        await holder.lockKeys([key], { forUpdateTs: holder.startTs });

        const txn = await t.begin({ pessimistic: true });
        txn.startAggressiveLocking();
        const opts = { forUpdateTs: txn.startTs, waitTimeoutMs: 10, checkExistence };
        const lock = () => (returnValues ? txn.getForUpdate(key, opts) : txn.lockKeys([key], opts));
        await expect(lock()).rejects.toBeInstanceOf(LockWaitTimeoutError);
        expect(attemptKeys(txn)).toEqual([]);

        await holder.rollback();
        const fault = env.cluster.faults.failNext({
          rpc: "KvPessimisticLock",
          key: b(key),
          error: { regionError: RegionErrors.notLeader(1) },
        });
        await lock();
        expect(fault.fired).toBe(1);
        expect(attemptKeys(txn)).toEqual([key]);
        txn.cancelAggressiveLocking();
        await txn.rollback();
        await expectLocked(env, txn, [key], []);
      }
    }
  });

  // 2pc_test TestAggressiveLocking
  itFault("locks of an attempt are taken over by the next one; unneeded ones are released", async () => {
    const t = (await env.connect()).txn();
    for (const finalIsDone of [false, true]) {
      const p = uniquePrefix("agg");
      const k = (n: number) => `${"ahqz"[n % 4]}${p}k${n}`;
      const all = [1, 2, 3, 4, 5, 6].map(k);
      const txn = await t.begin({ pessimistic: true });
      expect(txn.isInAggressiveLockingMode).toBe(false);
      const opts = { forUpdateTs: txn.startTs };

      // some keys locked the normal way
      await txn.lockKeys([k(1), k(2)], opts);
      await expectLocked(env, txn, all, [k(1), k(2)]);

      txn.startAggressiveLocking();
      expect(txn.isInAggressiveLockingMode).toBe(true);
      for (const key of [k(2), k(3), k(4)]) await txn.lockKeys([key], opts);
      await expectLocked(env, txn, all, [k(1), k(2), k(3), k(4)]);
      // k2 was locked before: it is not the session's
      expect(attemptKeys(txn)).toEqual([k(3), k(4)].sort());

      // retry, locking other keys: nothing is released yet
      txn.retryAggressiveLocking();
      await expectLocked(env, txn, all, [k(1), k(2), k(3), k(4)]);
      await txn.lockKeys([k(4)], opts);
      await txn.lockKeys([k(5)], opts);
      await expectLocked(env, txn, all, [k(1), k(2), k(3), k(4), k(5)]);

      // retry again: k3, unneeded by the previous attempt, is released
      txn.retryAggressiveLocking();
      await expectLocked(env, txn, all, [k(1), k(2), k(4), k(5)]);

      for (const key of [k(2), k(5), k(6)]) await txn.lockKeys([key], opts);
      if (finalIsDone) {
        txn.doneAggressiveLocking();
        await expectLocked(env, txn, all, [k(1), k(2), k(5), k(6)]);
      } else {
        txn.cancelAggressiveLocking();
        await expectLocked(env, txn, all, [k(1), k(2)]);
      }
      expect(txn.isInAggressiveLockingMode).toBe(false);
      await txn.rollback();
      await expectLocked(env, txn, all, []);
    }
  });

  // 2pc_test TestAggressiveLockingInsert
  itFault(
    "locks of keys presumed absent: existing keys fail, conflicts are reported as write conflicts",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("agins");
      const k = (n: number) => `${"ahqz"[n % 4]}${p}k${n}`;
      const seed = await t.begin();
      for (const n of [1, 3, 6, 8]) seed.set(k(n), `v${n}`);
      await seed.commit();

      const txn = await t.begin({ pessimistic: true });
      await txn.batchGetForUpdate([k(1), k(2)], { forUpdateTs: txn.startTs });
      txn.set(k(5), "v5");
      txn.delete(k(6));
      // client-go SetPresumeKeyNotExists then LockKeys (no public API for the flag alone)
      const insertLock = (key: string, forUpdateTs = txn.startTs) => {
        txn.buffer.updateFlags(b(key), [FlagsOp.setPresumeKeyNotExists]);
        return txn.lockKeys([key], { forUpdateTs });
      };

      txn.startAggressiveLocking();
      // locked before aggressive locking, found to exist / not
      await expect(insertLock(k(1))).rejects.toBeInstanceOf(KeyAlreadyExistsError);
      await insertLock(k(2));
      // new locks
      await expect(insertLock(k(3))).rejects.toBeInstanceOf(KeyAlreadyExistsError);
      await insertLock(k(4));
      // (client-go skips k5 / k6, written by the transaction itself: TiDB checks them before)

      // newer versions: an insert over one is a write conflict (the existence may be stale),
      // over a newer delete the lock is taken with a conflict
      const writer = await t.begin();
      writer.set(k(7), "v7");
      writer.delete(k(8));
      await writer.commit();
      await expect(insertLock(k(7))).rejects.toBeInstanceOf(WriteConflictError);
      await insertLock(k(8));
      expect(attemptEntry(txn, k(8)).lockedWithConflictTs).toBe(writer.commitTs);
      expect(maxConflictTs(txn)).toBe(writer.commitTs);

      // the statement's retry at a fresh for_update_ts
      const newForUpdateTs = await t.currentTimestamp();
      expect(newForUpdateTs).toBeGreaterThanOrEqual(writer.commitTs);
      await expect(insertLock(k(7), newForUpdateTs)).rejects.toBeInstanceOf(KeyAlreadyExistsError);
      await insertLock(k(8), newForUpdateTs);

      txn.cancelAggressiveLocking();
      await txn.rollback();
    },
  );

  // 2pc_test TestAggressiveLockingLockOnlyIfExists
  itFault(
    "lock-only-if-exists: an existing key is locked with a conflict; a deleted one is a write conflict",
    async () => {
      const t = (await env.connect()).txn();
      const k1 = `a${uniquePrefix("aglie")}k1`;
      const opts = (txn: { startTs: bigint }) => ({ forUpdateTs: txn.startTs, lockOnlyIfExists: true });

      let txn = await t.begin({ pessimistic: true });
      let writer = await t.begin();
      writer.set(k1, "v1");
      await writer.commit();
      txn.startAggressiveLocking();
      expect((await txn.getForUpdate(k1, opts(txn)))?.toString()).toBe("v1");
      const e = attemptEntry(txn, k1);
      expect(e.exists).toBe(true);
      expect(e.value?.toString()).toBe("v1");
      expect(e.lockedWithConflictTs).toBe(writer.commitTs);
      expect(attemptKeys(txn)).toEqual([k1]);
      txn.cancelAggressiveLocking();
      await txn.rollback();

      txn = await t.begin({ pessimistic: true });
      writer = await t.begin();
      writer.delete(k1);
      await writer.commit();
      txn.startAggressiveLocking();
      await expect(txn.getForUpdate(k1, opts(txn))).rejects.toBeInstanceOf(WriteConflictError);
      expect(attemptKeys(txn)).toEqual([]);
      txn.cancelAggressiveLocking();
      await txn.rollback();
      await expectLocked(env, txn, [k1], []);
    },
  );

  // 2pc_test TestAggressiveLockingSwitchPrimary
  itFault("each attempt chooses its primary, preferring the previous attempt's", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agsw");
    const k = (n: number) => `${"ahqz"[n % 4]}${p}k${n}`;
    const all = [1, 2, 3, 4, 5, 6, 7].map(k);
    const primaryOf = (key: string) => lockOn(env, key).primaryLock.toString();

    let txn = await t.begin({ pessimistic: true });
    let forUpdateTs = txn.startTs;
    const lock = (key: string) => txn.lockKeys([key], { forUpdateTs });
    txn.startAggressiveLocking();
    await lock(k(1));
    await lock(k(2));
    expect([primaryOf(k(1)), primaryOf(k(2))]).toEqual([k(1), k(1)]);

    // the primary stays
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(1));
    await lock(k(3));
    expect([primaryOf(k(1)), primaryOf(k(3))]).toEqual([k(1), k(1)]);

    // a new primary, not locked before
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(4));
    await lock(k(5));
    expect([primaryOf(k(4)), primaryOf(k(5))]).toEqual([k(4), k(4)]);
    await expectLocked(env, txn, [k(2)], []);

    // a new primary among the previous attempt's keys: locked again, pointing to itself
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(5));
    await lock(k(6));
    expect([primaryOf(k(5)), primaryOf(k(6))]).toEqual([k(5), k(5)]);
    await expectLocked(env, txn, [k(1), k(3)], []);

    // a primary locked two attempts ago
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(7));
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(6));
    await lock(k(5));
    expect([primaryOf(k(5)), primaryOf(k(6))]).toEqual([k(6), k(6)]);

    txn.cancelAggressiveLocking();
    await expectLocked(env, txn, all, []);
    expect(txn.lockControl?.primary).toBeUndefined();
    await txn.rollback();

    // a primary chosen before aggressive locking is kept throughout
    txn = await t.begin({ pessimistic: true });
    forUpdateTs = txn.startTs;
    await txn.lockKeys([k(1), k(2)], { forUpdateTs });
    txn.startAggressiveLocking();
    await lock(k(2));
    await lock(k(3));
    expect([primaryOf(k(2)), primaryOf(k(3))]).toEqual([k(1), k(1)]);
    forUpdateTs++;
    txn.retryAggressiveLocking();
    await lock(k(3));
    await lock(k(4));
    expect([primaryOf(k(3)), primaryOf(k(4))]).toEqual([k(1), k(1)]);
    txn.cancelAggressiveLocking();
    await expectLocked(env, txn, all, [k(1), k(2)]);
    expect(txn.lockControl?.primary?.toString()).toBe(k(1));
    await txn.rollback();
    await expectLocked(env, txn, all, []);
  });

  // 2pc_test TestAggressiveLockingLoadValueOptionChanges
  itFault("a lock taken over must have learned what the retry asks; else it is taken again", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agopt");
    const [k0, k1, k2] = [`a${p}k0`, `h${p}k1`, `q${p}k2`];
    const seed = await t.begin();
    seed.set(k2, "v2");
    await seed.commit();

    for (const firstAttemptLockedWithConflict of [false, true]) {
      const txn = await t.begin({ pessimistic: true });
      // a primary chosen before, so that no attempt chooses one
      await txn.lockKeys([k0], { forUpdateTs: txn.startTs });
      let forUpdateTs = txn.startTs;
      txn.startAggressiveLocking();
      let writerCommitTs = 0n;
      if (firstAttemptLockedWithConflict) {
        const writer = await t.begin();
        writer.delete(k1);
        writer.set(k2, "v2");
        await writer.commit();
        writerCommitTs = writer.commitTs;
      }
      await txn.lockKeys([k1], { forUpdateTs });
      await txn.lockKeys([k2], { forUpdateTs });
      if (firstAttemptLockedWithConflict) {
        expect(maxConflictTs(txn)).toBe(writerCommitTs);
        expect(attemptEntry(txn, k1).lockedWithConflictTs).toBe(writerCommitTs);
        expect(attemptEntry(txn, k2).lockedWithConflictTs).toBe(writerCommitTs);
      }

      // existence asked: known only after a conflict (the lock read the key), else locked again
      forUpdateTs = firstAttemptLockedWithConflict ? writerCommitTs + 1n : forUpdateTs + 1n;
      txn.retryAggressiveLocking();
      const requests = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      await txn.lockKeys([k1], { forUpdateTs, checkExistence: true });
      await txn.lockKeys([k2], { forUpdateTs, checkExistence: true });
      requests.stop();
      expect(requests.seen).toHaveLength(firstAttemptLockedWithConflict ? 0 : 2);
      expect(maxConflictTs(txn)).toBe(0n);
      expect(attemptEntry(txn, k1).exists).toBe(false);
      expect(attemptEntry(txn, k2).exists).toBe(true);

      // values asked: none was kept, so both are locked again
      forUpdateTs++;
      txn.retryAggressiveLocking();
      const again = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      expect(await txn.getForUpdate(k1, { forUpdateTs })).toBeUndefined();
      expect((await txn.getForUpdate(k2, { forUpdateTs }))?.toString()).toBe("v2");
      again.stop();
      expect(again.seen).toHaveLength(2);
      expect(maxConflictTs(txn)).toBe(0n);
      expect(attemptEntry(txn, k1).exists).toBe(false);
      expect(attemptEntry(txn, k2).exists).toBe(true);
      expect(attemptEntry(txn, k2).value?.toString()).toBe("v2");

      txn.cancelAggressiveLocking();
      await txn.rollback();
    }
  });

  // 2pc_test TestAggressiveLockingExitIfInapplicable
  itFault("a lock of several keys ends aggressive locking as done and locks them normally", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agexit");
    const [k1, k2, k3, k4] = [`a${p}k1`, `h${p}k2`, `q${p}k3`, `z${p}k4`];
    const txn = await t.begin({ pessimistic: true });
    const opts = { forUpdateTs: txn.startTs };
    txn.startAggressiveLocking();
    await txn.lockKeys([k1], opts);
    txn.retryAggressiveLocking();
    await txn.lockKeys([k2], opts);
    expect(txn.isInAggressiveLockingMode).toBe(true);

    const requests = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
    await txn.lockKeys([k3, k4], opts);
    requests.stop();
    expect(txn.isInAggressiveLockingMode).toBe(false);
    expect(requests.seen.every((s) => s.req.wakeUpMode === PessimisticLockWakeUpMode.WakeUpModeNormal)).toBe(
      true,
    );
    await expectLocked(env, txn, [k1, k2, k3, k4], [k2, k3, k4]);
    await txn.rollback();
    await expectLocked(env, txn, [k1, k2, k3, k4], []);
  });
});
