// Ported by meaning from client-go integration_tests/shared_lock_test.go (run there against a real
// TiKV only: no client-go mock has shared locks) and txnkv/transaction/txn_test.go
// TestSharedLockCommitterIncompatibilities, on the embedded cluster, whose engine models TiKV
// master's shared locks. client-go's short ManagedLockTTL and CloseTTLManager become an old start
// ts (the locks' TTL counts from it, so they are expired at once); its failpoint skipping the
// secondaries becomes an injected error on their commit. Lock calls that must fail when woken
// fix their for_update_ts: lockKeys otherwise locks again at a fresh one, as TiDB retries the
// statement. Mapping: test/ported/txn-shared-locks.md.

import { describe, expect, it } from "vitest";
import { SharedLockInPipelinedTxnError } from "../../../src/actors/txn/pipelined/pipelined-committer.js";
import type { PipelinedTransaction } from "../../../src/api/pipelined-transaction.js";
import type { Transaction } from "../../../src/api/transaction.js";
import type { TxnClient } from "../../../src/api/txn-client.js";
import { lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import { SharedLockMisuseError, WriteConflictError } from "../../../src/index.js";
import { FlagsOp, hasLocked, hasLockedInShareMode } from "../../../src/kv/memdb/key-flags.js";
import {
  MvccGetByKeyRequest,
  Op,
  type PessimisticLockRequest,
  PessimisticLockWakeUpMode,
  type PrewriteRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, eventually, locksOn, recordRequests, settleWithin } from "./ported-2pc-support.js";
import { control } from "./ported-lock-helpers.js";
import { tsAt } from "./ported-pessimistic-support.js";
import { holdersOn, holderTs, withPrimary } from "./shared-locks-support.js";

/** A start ts old enough that locks taken now are already past their TTL. */
const OLD = () => tsAt(-25_000);

/** Settles `p` to its error (undefined on success) and the time it settled. */
function settledAt(p: Promise<unknown>): Promise<{ error: unknown; at: number }> {
  return p.then(
    () => ({ error: undefined, at: Date.now() }),
    (error: unknown) => ({ error, at: Date.now() }),
  );
}

describe.skipIf(skipOnRealCluster("v1"))("client-go: shared pessimistic locks", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const client = async (): Promise<TxnClient> => (await env.connect()).txn();
  const end = (commit: boolean, txn: Transaction) => (commit ? txn.commit() : txn.rollback());

  // shared_lock_test TestSharedLockBlockExclusiveLock
  itFault("an exclusive lock waits until every shared holder committed or rolled back", async () => {
    const t = await client();
    for (const commit of [true, false]) {
      const p = uniquePrefix("sbx");
      const [pk1, pk2, pk3, key] = [`a${p}pk1`, `a${p}pk2`, `a${p}pk3`, `h${p}shared`];
      const txn1 = await withPrimary(t, pk1);
      await txn1.lockKeys([key], { shared: true });
      const txn2 = await withPrimary(t, pk2);
      await txn2.lockKeys([key], { shared: true });
      expect(hasLockedInShareMode(txn2.buffer.getFlags(b(key)) ?? 0)).toBe(true);
      expect(holderTs(env, key)).toEqual([txn1.startTs, txn2.startTs]);

      const txn3 = await withPrimary(t, pk3);
      const forUpdateTs = await t.currentTimestamp();
      const locking = settledAt(txn3.lockKeys([key], { forUpdateTs, waitTimeoutMs: 10_000 }));
      expect((await settleWithin(locking, 500)).kind).toBe("pending");
      const released = Date.now();
      await end(commit, txn1);
      await end(commit, txn2);
      const { error, at } = await locking;
      expect(error, `commit=${commit}`).toBeInstanceOf(WriteConflictError);
      expect(at).toBeGreaterThanOrEqual(released);
      await txn3.rollback();
    }
  });

  // shared_lock_test TestExclusiveLockBlockSharedLock
  itFault("shared locks wait until the exclusive holder committed or rolled back", async () => {
    const t = await client();
    for (const commit of [true, false]) {
      const p = uniquePrefix("xbs");
      const [pk1, pk2, pk3, key] = [`a${p}pk1`, `a${p}pk2`, `a${p}pk3`, `h${p}shared`];
      const txn1 = await withPrimary(t, pk1);
      await txn1.lockKeys([key]);
      const txn2 = await withPrimary(t, pk2);
      const txn3 = await withPrimary(t, pk3);
      const forUpdateTs = await t.currentTimestamp();
      const sharedLock = (txn: Transaction) =>
        settledAt(txn.lockKeys([key], { shared: true, forUpdateTs, waitTimeoutMs: 10_000 }));
      const [w2, w3] = [sharedLock(txn2), sharedLock(txn3)];
      expect((await settleWithin(Promise.race([w2, w3]), 500)).kind).toBe("pending");
      const released = Date.now();
      await end(commit, txn1);
      for (const w of [await w2, await w3]) {
        expect(w.error, `commit=${commit}`).toBeInstanceOf(WriteConflictError);
        expect(w.at).toBeGreaterThanOrEqual(released);
      }
      await txn2.rollback();
      await txn3.rollback();
    }
  });

  // shared_lock_test TestResolveSharedLock
  itFault(
    "a committed shared lock whose secondary commit was lost is committed by the next locker",
    async () => {
      const t = await client();
      const p = uniquePrefix("rsl");
      const [pk, key] = [`a${p}pk`, `h${p}shared`]; // two regions
      const txn1 = await withPrimary(t, pk);
      await txn1.lockKeys([key], { shared: true });
      const skip = env.cluster.faults.failNext({
        rpc: "KvCommit",
        key,
        error: { keyError: { abort: "secondary commit lost by the test" } },
      });
      await txn1.commit();
      await t.whenIdle();
      expect(skip.fired).toBe(1);

      // the prewritten shared lock is left: one holder, a Lock pointing to the primary
      const left = holdersOn(env, key);
      expect(left).toHaveLength(1);
      expect(left[0]).toMatchObject({ key: b(key), primaryLock: b(pk), lockVersion: txn1.startTs });
      expect(left[0]?.lockType).toBe(Op.Lock);

      // an exclusive lock meets it, resolves it (its primary committed: it commits it) and gets in
      const txn2 = await withPrimary(t, pk);
      await txn2.lockKeys([key], { waitTimeoutMs: 5_000 });
      const now = holdersOn(env, key);
      expect(now).toHaveLength(1);
      expect(now[0]).toMatchObject({ key: b(key), primaryLock: b(pk), lockVersion: txn2.startTs });
      expect(now[0]?.lockType).toBe(Op.PessimisticLock);
      const info = env.cluster.txnEngine.mvccGetByKey(MvccGetByKeyRequest.fromPartial({ key: b(key) })).info;
      expect(info?.writes.some((w) => w.startTs === txn1.startTs && w.commitTs > txn1.startTs)).toBe(true);

      await txn2.rollback();
      expect(await eventually(() => holdersOn(env, key).length === 0, 2_000)).toBe(true);
    },
  );

  // shared_lock_test TestScanSharedLock
  itFault("a lock scan lists each holder whose start ts is at most its max ts", async () => {
    const t = await client();
    const p = uniquePrefix("scan");
    const key = `h${p}shared`;
    const txns: Transaction[] = [];
    for (const i of [1, 2, 3]) {
      const txn = await withPrimary(t, `a${p}pk${i}`);
      await txn.lockKeys([key], { shared: true });
      txns.push(txn);
    }
    const [t1, t2, t3] = txns.map((x) => x.startTs) as [bigint, bigint, bigint];
    for (const [maxTs, n] of [
      [t1 - 1n, 0],
      [t1, 1],
      [t2, 2],
      [t3, 3],
    ] as const) {
      const locks = holdersOn(env, key, maxTs);
      expect(locks, `maxTs ${maxTs}`).toHaveLength(n);
      for (const l of locks) {
        expect(l.key.toString()).toBe(key);
        expect(l.lockVersion).toBeLessThanOrEqual(maxTs);
      }
    }
    for (const txn of txns) await txn.rollback();
    expect(holdersOn(env, key)).toEqual([]);
  });

  // shared_lock_test TestGCSharedLock
  itFault("resolving a shared lock resolves each holder: the dead ones go, the live one stays", async () => {
    const t = await client();
    const p = uniquePrefix("gcs");
    const key = `h${p}shared`;
    // txn1 and txn2 are past their TTL (their heartbeats stopped); txn3 is alive
    const txn1 = await withPrimary(t, `a${p}pk1`, { startTs: OLD() });
    const txn2 = await withPrimary(t, `a${p}pk2`, { startTs: OLD() });
    const txn3 = await withPrimary(t, `a${p}pk3`);
    for (const txn of [txn1, txn2, txn3]) await txn.lockKeys([key], { shared: true });
    const holders = holdersOn(env, key);
    expect(holders).toHaveLength(3);
    for (const l of holders) {
      expect(l.key.toString()).toBe(key);
      expect(l.lockType).toBe(Op.PessimisticLock);
    }

    // the resolver is given the shared lock as TiKV reports it (one LockInfo with its holders)
    const [wrapper] = locksOn(env, [key]);
    expect(wrapper?.lockType).toBe(Op.SharedLock);
    const r = await t.lockResolver.resolveLocks([lockDetailsFromLockInfo(wrapper as never)], {
      callerStartTs: 0n,
      ctl: control(),
    });
    // client-go's test expects 0 here; the live holder's TTL is what is left to wait
    expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
    expect(holderTs(env, key)).toEqual([txn3.startTs]);
    for (const txn of [txn3, txn1, txn2]) await txn.rollback();
    expect(holdersOn(env, key)).toEqual([]);
  });

  // shared_lock_test TestSharedLockCommitAndRollback
  itFault("each holder's commit or rollback removes its own shared lock only", async () => {
    const t = await client();
    for (const commit of [true, false]) {
      const p = uniquePrefix("scr");
      const key = `h${p}shared`;
      const txns: Transaction[] = [];
      for (const i of [1, 2, 3]) txns.push(await withPrimary(t, `a${p}pk${i}`));
      for (const txn of txns) await txn.lockKeys([key], { shared: true });
      expect(holdersOn(env, key)).toHaveLength(3);
      for (const [i, txn] of txns.entries()) {
        await end(commit, txn);
        const left = txns.slice(i + 1).map((x) => x.startTs);
        // a commit removes the secondary lock in the background
        expect(
          await eventually(() => holderTs(env, key).join() === left.join(), 2_000),
          `after txn ${i + 1}`,
        ).toBe(true);
      }
      expect(holdersOn(env, key)).toEqual([]);
    }
  });

  // shared_lock_test TestPrewriteResolveExpiredSharedLock
  itFault("an optimistic write resolves an expired shared lock and commits", async () => {
    const t = await client();
    const p = uniquePrefix("pres");
    const [pk, key] = [`a${p}pk`, `h${p}key`];
    const txn1 = await withPrimary(t, pk, { startTs: OLD() });
    await txn1.lockKeys([key], { shared: true });
    expect(holdersOn(env, key)).toHaveLength(1);

    const txn2 = await t.begin();
    txn2.set(key, "value_from_txn2");
    const commitTs = await txn2.commit();
    expect((await (await t.snapshot(commitTs)).get(key))?.toString()).toBe("value_from_txn2");
    expect(holdersOn(env, key)).toEqual([]);
    await txn1.rollback();
  });

  // shared_lock_test TestForceLockRetryOnSharedLock
  itFault(
    "an aggressive (ForceLock) exclusive lock waits for a shared lock and gets it after a rollback",
    async () => {
      const t = await client();
      const p = uniquePrefix("fls");
      const [pk1, pk2, key] = [`a${p}pk1`, `a${p}pk2`, `h${p}key`];
      const txn1 = await withPrimary(t, pk1);
      await txn1.lockKeys([key], { shared: true });
      expect(holdersOn(env, key)).toHaveLength(1);

      const txn2 = await withPrimary(t, pk2);
      txn2.startAggressiveLocking();
      // one key in aggressive mode: WakeUpModeForceLock; the shared lock fails it until released
      const sent = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      const locking = settledAt(txn2.lockKeys([key], { waitTimeoutMs: 10_000 }));
      expect((await settleWithin(locking, 100)).kind).toBe("pending");
      await txn1.rollback();
      expect((await locking).error).toBeUndefined();
      sent.stop();
      expect(sent.seen.length).toBeGreaterThan(0);
      expect(
        sent.seen.every(({ req }) => req.wakeUpMode === PessimisticLockWakeUpMode.WakeUpModeForceLock),
      ).toBe(true);
      txn2.doneAggressiveLocking();
      expect(holdersOn(env, key).map((l) => l.lockVersion)).toEqual([txn2.startTs]);
      await txn2.rollback();
    },
  );

  // txn_test TestSharedLockCommitterIncompatibilities/RejectSharedLockPrimaryKey
  itFault("a commit whose only lock to be primary is a shared lock fails before any RPC", async () => {
    const t = await client();
    const p = uniquePrefix("rpk");
    const key = `a${p}shared`;
    const txn = await t.begin({ pessimistic: true });
    // the buffer as if the key had been locked in share mode (lockKeys never lets it be the primary)
    txn.buffer.updateFlags(b(key), [FlagsOp.setKeyLocked, FlagsOp.setKeyLockedInShareMode]);
    const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
    const err = await txn.commit().catch((e: unknown) => e);
    prewrites.stop();
    expect(err).toBeInstanceOf(SharedLockMisuseError);
    expect(err).toMatchObject({ reason: "sharedPrimary", code: "INVALID_TXN" });
    expect(prewrites.seen).toEqual([]);
  });

  // txn_test TestSharedLockCommitterIncompatibilities/DisableAsyncCommitAndOnePC
  itFault("shared locks turn async commit and 1PC off; without them 1PC is used", async () => {
    const t = await client();
    const p = uniquePrefix("nac");
    const [pk, key] = [`a${p}pk`, `a${p}shared`]; // one region: 1PC would apply
    const opts = { pessimistic: true, asyncCommit: true, onePC: true } as const;

    const plain = await t.begin(opts);
    await plain.lockKeys([pk]);
    await plain.commit();
    expect(plain.commitInfo?.mode).toBe("onePC");

    const shared = await t.begin(opts);
    await shared.lockKeys([pk]);
    await shared.lockKeys([key], { shared: true });
    const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
    await shared.commit();
    prewrites.stop();
    expect(shared.commitInfo?.mode).toBe("2pc");
    expect(prewrites.seen.length).toBeGreaterThan(0);
    for (const { req } of prewrites.seen) {
      expect(req.useAsyncCommit).toBe(false);
      expect(req.tryOnePc).toBe(false);
    }
    const ops = prewrites.seen.flatMap(({ req }) => req.mutations.map((m) => [m.key.toString(), m.op]));
    expect(ops).toEqual(
      expect.arrayContaining([
        [pk, Op.Lock],
        [key, Op.SharedLock],
      ]),
    );
    await t.whenIdle();
    expect(holdersOn(env, key)).toEqual([]);
  });

  // txn_test TestSharedLockCommitterIncompatibilities/RejectPipelinedFlush
  // any key flagged share-mode, written or not, is refused by the flush (client-go)
  it("a pipelined flush refuses a key locked in share mode", async () => {
    const t = await client();
    const p = uniquePrefix("pfl");
    const key = `a${p}shared`;
    const txn = (await t.begin({ pipelined: true })) as PipelinedTransaction;
    txn.pipeline.set(b(key), b("value"), [FlagsOp.setKeyLocked, FlagsOp.setKeyLockedInShareMode]);
    expect(hasLocked(txn.pipeline.getFlags(b(key)) ?? 0)).toBe(true);
    await txn.flush(true);
    await expect(txn.flushWait()).rejects.toBeInstanceOf(SharedLockInPipelinedTxnError);
    await txn.rollback();
  });
});
