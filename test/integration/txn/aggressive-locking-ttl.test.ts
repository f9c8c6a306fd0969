// Ported by meaning from client-go integration_tests/2pc_test.go and lock_test.go: the primary
// and TTL manager across aggressive-locking attempts (kept while an attempt may choose the same
// primary again, stopped when it is replaced or given up), and the prewrite for_update_ts
// constraints that catch a kept lock lost and taken again meanwhile. client-go's
// GetCommitter().IsTTLRunning() / GetPrimaryKey() are read from txn.lockControl, GetLockedCount
// from the engine's locks. Mapping: test/ported/txn-aggressive.md.

import { describe, expect } from "vitest";
import { LockWaitTimeoutError } from "../../../src/index.js";
import { PessimisticRollbackRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { attemptEntry, attemptKeys, expectLocked, maxConflictTs } from "./aggressive-locking-support.js";
import { b, settleWithin } from "./ported-2pc-support.js";
import { locksOf } from "./ported-pessimistic-support.js";

describe.skipIf(skipOnRealCluster("v1"))("client-go: aggressive locking, primary and TTL manager", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // 2pc_test TestAggressiveLockingResetTTLManager
  itFault("the TTL manager runs from the first lock, survives a retry, stops on cancel", async () => {
    const t = (await env.connect()).txn();
    const k1 = `a${uniquePrefix("agttl")}k1`;

    let txn = await t.begin({ pessimistic: true });
    txn.startAggressiveLocking();
    expect(txn.lockControl).toBeUndefined(); // no committer before the first lock
    await txn.lockKeys([k1], { forUpdateTs: txn.startTs });
    expect(txn.lockControl?.ttlRunning).toBe(true);
    txn.cancelAggressiveLocking();
    expect(txn.isInAggressiveLockingMode).toBe(false);
    expect(txn.lockControl?.ttlRunning).toBe(false);
    await txn.rollback();

    // blocked by another transaction, which then commits: locked with a conflict
    txn = await t.begin({ pessimistic: true });
    txn.startAggressiveLocking();
    const holder = await t.begin({ pessimistic: true });
    await holder.lockKeys([k1], { forUpdateTs: holder.startTs });
    const locking = txn.lockKeys([k1], { forUpdateTs: txn.startTs });
    expect((await settleWithin(locking, 100)).kind).toBe("pending");
    holder.set(k1, "v1");
    await holder.commit();
    expect((await settleWithin(locking, 1_000)).kind).toBe("resolved");
    expect(maxConflictTs(txn)).toBe(holder.commitTs);
    expect(maxConflictTs(txn)).toBeGreaterThan(txn.startTs);
    expect(txn.lockControl?.ttlRunning).toBe(true);

    txn.retryAggressiveLocking();
    expect(txn.lockControl?.ttlRunning).toBe(true);
    await txn.lockKeys([k1], { forUpdateTs: await t.currentTimestamp() });
    expect(txn.lockControl?.ttlRunning).toBe(true);
    txn.cancelAggressiveLocking();
    expect(txn.lockControl?.ttlRunning).toBe(false);
    // released at the conflict's for_update_ts, which the lock holds
    await expectLocked(env, txn, [k1], []);
    await txn.rollback();
  });

  // 2pc_test TestAggressiveLockingKeepAliveAfterMultiLockKeysOperation
  itFault("after done, the primary of the last attempt keeps its heartbeat and the locks hold", async () => {
    const t = (await env.connect()).txn();
    for (const [isRetried, isPrimaryChanged] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      const p = uniquePrefix("agka");
      const [k0, k1, k2] = [`a${p}k0`, `h${p}k1`, `q${p}k2`];
      const txn = await t.begin({ pessimistic: true });
      expect(txn.lockControl).toBeUndefined();
      txn.startAggressiveLocking();
      const opts = { forUpdateTs: txn.startTs, waitTimeoutMs: 1_000 };
      if (isRetried) {
        const lastPrimary = isPrimaryChanged ? k0 : k1;
        await txn.lockKeys([lastPrimary], opts);
        expect(txn.lockControl?.primary?.toString()).toBe(lastPrimary);
        txn.retryAggressiveLocking();
        // the primary is forgotten, its heartbeat kept for the next attempt
        expect(txn.lockControl?.primary).toBeUndefined();
        expect(txn.lockControl?.ttlRunning).toBe(true);
      }
      await txn.lockKeys([k1], opts);
      expect(txn.isInAggressiveLockingMode).toBe(true);
      expect(attemptKeys(txn)).toEqual([k1]);
      expect(txn.lockControl?.ttlRunning).toBe(true);
      expect(txn.lockControl?.primary?.toString()).toBe(k1);
      await txn.lockKeys([k2], opts);
      expect(attemptKeys(txn)).toEqual([k1, k2]);
      expect(txn.lockControl?.ttlRunning).toBe(true);
      expect(txn.lockControl?.primary?.toString()).toBe(k1);

      txn.doneAggressiveLocking();
      expect(txn.lockControl?.ttlRunning).toBe(true);
      const other = await t.begin({ pessimistic: true });
      for (const key of [k1, k2]) {
        await expect(other.lockKeys([key], { waitTimeoutMs: 100 })).rejects.toBeInstanceOf(
          LockWaitTimeoutError,
        );
      }
      await other.rollback();
      await txn.rollback();
      await expectLocked(env, txn, [k0, k1, k2], []);
    }
  });

  // 2pc_test TestAggressiveLockingResetPrimaryAndTTLManagerAfterExit
  itFault(
    "whenever aggressive locking ends, the primary and TTL manager match the locks kept",
    async () => {
      const t = (await env.connect()).txn();
      const phases = ["onEnter", "onFirstLock", "onRetry", "onSecondLock"] as const;
      for (const done of [false, true]) {
        for (const exitPhase of phases) {
          for (const retryDifferentKey of [false, true]) {
            const p = uniquePrefix("agexit");
            const [k1, k2] = [`a${p}k1`, `h${p}k2`];
            const keys = [k1, k2];
            const txn = await t.begin({ pessimistic: true });
            const locked = () => locksOf(env, txn.startTs, keys).size;
            const exit = () => (done ? txn.doneAggressiveLocking() : txn.cancelAggressiveLocking());
            const sub = `done=${done} exit=${exitPhase} retryDifferentKey=${retryDifferentKey}`;
            txn.startAggressiveLocking();
            expect(txn.lockControl, sub).toBeUndefined();
            try {
              if (exitPhase === "onEnter") {
                exit();
                expect(txn.isInAggressiveLockingMode, sub).toBe(false);
                expect(txn.lockControl, sub).toBeUndefined();
                continue;
              }
              await txn.lockKeys([k1], { forUpdateTs: txn.startTs });
              expect(txn.lockControl?.ttlRunning, sub).toBe(true);
              expect(locked(), sub).toBe(1);
              if (exitPhase === "onFirstLock") {
                exit();
                expect(txn.isInAggressiveLockingMode, sub).toBe(false);
                expect(txn.lockControl?.ttlRunning, sub).toBe(done);
                await expectLocked(env, txn, keys, done ? [k1] : []);
                continue;
              }
              txn.retryAggressiveLocking();
              if (exitPhase === "onRetry") {
                exit();
                expect(txn.isInAggressiveLockingMode, sub).toBe(false);
                expect(txn.lockControl?.ttlRunning, sub).toBe(false);
                expect(txn.lockControl?.primary, sub).toBeUndefined();
                await expectLocked(env, txn, keys, []);
                continue;
              }
              const key = retryDifferentKey ? k2 : k1;
              await txn.lockKeys([key], { forUpdateTs: await t.currentTimestamp() });
              expect(txn.lockControl?.ttlRunning, sub).toBe(true);
              expect(txn.lockControl?.primary?.toString(), sub).toBe(key);
              // k1 of the previous attempt is released only when the attempt ends
              expect(locked(), sub).toBe(retryDifferentKey ? 2 : 1);
              exit();
              expect(txn.isInAggressiveLockingMode, sub).toBe(false);
              expect(txn.lockControl?.ttlRunning, sub).toBe(done);
              await expectLocked(env, txn, keys, done ? [key] : []);
            } finally {
              await txn.rollback();
            }
          }
        }
      }
    },
    30_000,
  );
});

describe.skipIf(skipOnRealCluster("v1"))("client-go lock_test: prewrite for_update_ts constraints", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // lock_test TestPrewriteCheckForUpdateTS
  itFault(
    "a kept lock lost and taken again at another for_update_ts fails the prewrite",
    async () => {
      const t = (await env.connect()).txn();
      const protocols = [
        { asyncCommit: false, onePC: false, causalConsistency: false },
        { asyncCommit: true, onePC: false, causalConsistency: false },
        { asyncCommit: true, onePC: true, causalConsistency: false },
        { asyncCommit: true, onePC: false, causalConsistency: true },
      ];
      for (const protocol of protocols) {
        const p = uniquePrefix("agpc");
        const [k1, k2, k3, k4] = [`a${p}k1`, `h${p}k2`, `q${p}k3`, `z${p}k4`];

        // failing case
        let txn = await t.begin({ pessimistic: true, ...protocol });
        txn.startAggressiveLocking();
        for (const key of [k1, k2, k3]) await txn.lockKeys([key], { forUpdateTs: txn.startTs });
        txn.doneAggressiveLocking();
        txn.set(k1, "v1");

        // the lock of k1 is lost (another client's resolver, say)
        env.cluster.txnEngine.pessimistic.pessimisticRollback(
          PessimisticRollbackRequest.fromPartial({
            startVersion: txn.startTs,
            forUpdateTs: txn.startTs,
            keys: [b(k1)],
          }),
        );
        await expectLocked(env, txn, [k1], []);
        // another transaction writes the key
        const writer = await t.begin();
        writer.set(k1, "v2");
        await writer.commit();
        // a stale lock request of the transaction is replayed: it locks k1 with a conflict
        const replay = await t.begin({ pessimistic: true, startTs: txn.startTs });
        replay.startAggressiveLocking();
        await replay.lockKeys([k1], { forUpdateTs: txn.startTs });
        expect(attemptEntry(replay, k1).actualForUpdateTs).toBe(writer.commitTs);
        replay.doneAggressiveLocking();

        // without the constraint, the prewrite would take that lock and overwrite v2
        const err = await txn.commit().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/pessimistic ?lock ?not ?found/i);
        expect((await (await t.snapshot(writer.commitTs)).get(k1))?.toString()).toBe("v2");
        expect(await (await t.snapshot(writer.commitTs - 1n)).get(k1)).toBeUndefined();
        await replay.rollback();

        // passing case: k2 conflicts, k3 does not, k4 is locked at a later for_update_ts
        txn = await t.begin({ pessimistic: true, ...protocol });
        const w2 = await t.begin();
        w2.set(k2, "v2");
        await w2.commit();
        txn.startAggressiveLocking();
        await txn.lockKeys([k2], { forUpdateTs: txn.startTs });
        await txn.lockKeys([k3], { forUpdateTs: txn.startTs });
        await txn.lockKeys([k4], { forUpdateTs: await t.currentTimestamp() });
        txn.set(k2, "v1");
        txn.set(k3, "v1");
        txn.doneAggressiveLocking();
        const commitTs = await txn.commit();
        const at = await t.snapshot(commitTs);
        expect((await at.get(k2))?.toString()).toBe("v1");
        expect((await at.get(k3))?.toString()).toBe("v1");
        const before = await t.snapshot(commitTs - 1n);
        expect((await before.get(k2))?.toString()).toBe("v2");
        expect(await before.get(k3)).toBeUndefined();
      }
    },
    30_000,
  );
});
