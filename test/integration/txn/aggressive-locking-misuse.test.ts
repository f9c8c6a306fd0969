// Aggressive locking: what each misuse gets (client-go panics or returns plain errors; ours are
// AggressiveLockingError with a reason, and the refused call changes nothing), and behaviour of
// ours beyond client-go's tests: rollbacks at a conflict's for_update_ts, runTransaction
// releasing a session's locks, reads served by a lock taken over.

import { describe, expect } from "vitest";
import { AggressiveLockingError, InvalidTxnError, type Transaction } from "../../../src/index.js";
import type { PessimisticLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { attemptKeys, expectLocked, maxConflictTs } from "./aggressive-locking-support.js";
import { recordRequests, settleWithin } from "./ported-2pc-support.js";
import { lockOn } from "./ported-pessimistic-support.js";

// the call throws AggressiveLockingError with this reason
function refused(fn: () => unknown, reason: AggressiveLockingError["reason"]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AggressiveLockingError);
  expect(err).toBeInstanceOf(InvalidTxnError);
  expect((err as AggressiveLockingError).reason).toBe(reason);
}

async function refusedAsync(p: Promise<unknown>, reason: AggressiveLockingError["reason"]): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AggressiveLockingError);
  expect((err as AggressiveLockingError).reason).toBe(reason);
}

describe.skipIf(skipOnRealCluster("v1"))("aggressive locking: misuse", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  itFault("start twice, or retry / cancel / done while off: refused, the state unchanged", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin({ pessimistic: true });
    refused(() => txn.retryAggressiveLocking(), "notStarted");
    refused(() => txn.cancelAggressiveLocking(), "notStarted");
    refused(() => txn.doneAggressiveLocking(), "notStarted");
    txn.startAggressiveLocking();
    refused(() => txn.startAggressiveLocking(), "alreadyStarted");
    expect(txn.isInAggressiveLockingMode).toBe(true);
    txn.doneAggressiveLocking();
    refused(() => txn.doneAggressiveLocking(), "notStarted");
    await txn.rollback();
  });

  itFault("an optimistic transaction, or one that ended, cannot start it", async () => {
    const t = (await env.connect()).txn();
    const optimistic = await t.begin();
    refused(() => optimistic.startAggressiveLocking(), "optimistic");
    await optimistic.rollback();
    const ended = await t.begin({ pessimistic: true });
    await ended.rollback();
    expect(() => ended.startAggressiveLocking()).toThrow(InvalidTxnError);
    expect(() => ended.startAggressiveLocking()).not.toThrow(AggressiveLockingError);
  });

  itFault("commit and rollback with pending locks are refused; after done / cancel they work", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agpend");
    const [k1, k2] = [`a${p}k1`, `h${p}k2`];

    const txn = await t.begin({ pessimistic: true });
    txn.startAggressiveLocking();
    await txn.lockKeys([k1]);
    txn.set(k1, "v1");
    await refusedAsync(txn.commit(), "pending");
    await refusedAsync(txn.rollback(), "pending");
    expect(txn.state).toBe("active");
    txn.doneAggressiveLocking();
    const commitTs = await txn.commit();
    expect((await (await t.snapshot(commitTs)).get(k1))?.toString()).toBe("v1");

    const other = await t.begin({ pessimistic: true });
    other.startAggressiveLocking();
    await other.lockKeys([k2]);
    await refusedAsync(other.rollback(), "pending");
    other.cancelAggressiveLocking();
    await other.rollback();
    await expectLocked(env, other, [k2], []);
  });

  itFault(
    "commit or rollback of a session that holds nothing ends it, releasing the previous attempt's locks",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("agidle");
      const [k1, k2] = [`a${p}k1`, `h${p}k2`];
      const txn = await t.begin({ pessimistic: true });
      await txn.lockKeys([k1]);
      txn.startAggressiveLocking();
      await txn.lockKeys([k2]);
      txn.retryAggressiveLocking(); // k2 now belongs to the previous attempt; the current one is empty
      txn.set(k1, "v1");
      await txn.commit();
      expect(txn.isInAggressiveLockingMode).toBe(false);
      await t.whenIdle();
      await expectLocked(env, txn, [k1, k2], []);
      expect(await (await t.snapshot()).get(k2)).toBeUndefined();
    },
  );

  itFault("shared locks are refused while it is on; nothing is locked", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agsh");
    const [k1, k2] = [`a${p}k1`, `h${p}k2`];
    const txn = await t.begin({ pessimistic: true });
    await txn.lockKeys([k1]);
    txn.startAggressiveLocking();
    await refusedAsync(txn.lockKeys([k2], { shared: true }), "sharedLock");
    await refusedAsync(txn.getForUpdate(k2, { shared: true }), "sharedLock");
    expect(txn.isInAggressiveLockingMode).toBe(true);
    await expectLocked(env, txn, [k1, k2], [k1]);
    txn.cancelAggressiveLocking();
    await txn.rollback();
  });

  itFault("while a lock call is in flight: no state change, no second lock call", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("agfly");
    const [k1, k2] = [`a${p}k1`, `h${p}k2`];
    const holder = await t.begin({ pessimistic: true });
    await holder.lockKeys([k1]);

    const txn = await t.begin({ pessimistic: true });
    txn.startAggressiveLocking();
    const waiting = txn.lockKeys([k1], { waitTimeoutMs: 5_000 });
    expect((await settleWithin(waiting, 100)).kind).toBe("pending");
    refused(() => txn.retryAggressiveLocking(), "lockInFlight");
    refused(() => txn.cancelAggressiveLocking(), "lockInFlight");
    refused(() => txn.doneAggressiveLocking(), "lockInFlight");
    await refusedAsync(txn.lockKeys([k2]), "lockInFlight");
    await holder.rollback();
    await waiting;
    expect(attemptKeys(txn)).toEqual([k1]);
    txn.doneAggressiveLocking();

    // starting it while a normal lock call waits is refused too
    const holder2 = await t.begin({ pessimistic: true });
    await holder2.lockKeys([k2]);
    const normal = txn.lockKeys([k2], { waitTimeoutMs: 5_000 });
    expect((await settleWithin(normal, 100)).kind).toBe("pending");
    refused(() => txn.startAggressiveLocking(), "lockInFlight");
    await holder2.rollback();
    await normal;
    expect(txn.isInAggressiveLockingMode).toBe(false);
    await txn.rollback();
    await expectLocked(env, txn, [k1, k2], []);
  });

  itFault(
    "a retry locking below the for_update_ts of a conflict it met is refused before any primary is chosen",
    async () => {
      const t = (await env.connect()).txn();
      const k1 = `a${uniquePrefix("agstale")}k1`;
      const txn = await t.begin({ pessimistic: true });
      txn.startAggressiveLocking();
      const writer = await t.begin();
      writer.set(k1, "v");
      await writer.commit();
      await txn.lockKeys([k1], { forUpdateTs: txn.startTs });
      expect(maxConflictTs(txn)).toBe(writer.commitTs);
      txn.retryAggressiveLocking();
      expect(txn.lockControl?.primary).toBeUndefined();
      await refusedAsync(txn.lockKeys([k1], { forUpdateTs: txn.startTs }), "staleForUpdateTs");
      expect(txn.lockControl?.primary).toBeUndefined();
      // at a ts past the conflict the lock is taken over
      await txn.lockKeys([k1], { forUpdateTs: writer.commitTs });
      expect(attemptKeys(txn)).toEqual([k1]);
      txn.cancelAggressiveLocking();
      await txn.rollback();
      await expectLocked(env, txn, [k1], []);
    },
  );
});

describe.skipIf(skipOnRealCluster("v1"))("aggressive locking: ours", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  itFault(
    "a lock kept with a conflict is released by rollback (at the conflict's for_update_ts)",
    async () => {
      const t = (await env.connect()).txn();
      const k1 = `a${uniquePrefix("agrb")}k1`;
      const txn = await t.begin({ pessimistic: true });
      const writer = await t.begin();
      writer.set(k1, "v");
      await writer.commit();
      txn.startAggressiveLocking();
      await txn.lockKeys([k1], { forUpdateTs: txn.startTs });
      txn.doneAggressiveLocking();
      expect(lockOn(env, k1).lockForUpdateTs).toBe(writer.commitTs);
      // the transaction's for_update_ts covers the lock kept
      expect(txn.forUpdateTs).toBe(writer.commitTs);
      expect(txn.isReadOnly).toBe(false);
      await txn.rollback();
      await t.whenIdle();
      await expectLocked(env, txn, [k1], []);
    },
  );

  itFault("runTransaction releases the locks of a session its function left open", async () => {
    const t = (await env.connect()).txn();
    const k1 = `a${uniquePrefix("agrun")}k1`;
    let seen: Transaction | undefined;
    const boom = new Error("statement failed");
    await expect(
      t.runTransaction(
        async (txn) => {
          seen = txn;
          txn.startAggressiveLocking();
          await txn.lockKeys([k1]);
          throw boom;
        },
        { pessimistic: true },
      ),
    ).rejects.toBe(boom);
    expect(seen?.state).toBe("rolledBack");
    await t.whenIdle();
    await expectLocked(env, seen as Transaction, [k1], []);
  });

  itFault("a read of a key taken over from the previous attempt needs no RPC", async () => {
    const t = (await env.connect()).txn();
    const k1 = `a${uniquePrefix("agread")}k1`;
    const seed = await t.begin();
    seed.set(k1, "v1");
    await seed.commit();
    const txn = await t.begin({ pessimistic: true });
    txn.startAggressiveLocking();
    expect((await txn.getForUpdate(k1))?.toString()).toBe("v1");
    txn.retryAggressiveLocking();
    const requests = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
    const reads = recordRequests(env, "KvGet");
    const batchReads = recordRequests(env, "KvBatchGet");
    expect((await txn.getForUpdate(k1))?.toString()).toBe("v1");
    for (const r of [requests, reads, batchReads]) r.stop();
    expect(requests.seen.length + reads.seen.length + batchReads.seen.length).toBe(0);
    txn.doneAggressiveLocking();
    txn.set(k1, "v2");
    await txn.commit();
    expect((await (await t.snapshot()).get(k1))?.toString()).toBe("v2");
  });
});
