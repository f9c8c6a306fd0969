// Ported by meaning from client-go integration_tests/2pc_test.go and lock_test.go: the TTL of
// pessimistic locks — counted from the transaction's start (elapsed time included, by the local
// clock), renewed by the TTL manager from the primary's lock on, recomputed when a lock is taken
// after a wait — and a secondary whose own TTL passed while its primary is kept alive.
// client-go shortens ManagedLockTTL (and so the heartbeat period) to make these quick; we have
// no such option: the heartbeat tests wait for the real 10 s period (they run concurrently),
// and an old start ts makes locks expire at once. Mapping: test/ported/txn-2pc.md, txn-lock.md.

import { describe, expect } from "vitest";
import { MANAGED_LOCK_TTL_MS } from "../../../src/actors/txn/committer.js";
import { LockAcquireFailAndNoWaitSetError, LockWaitTimeoutError } from "../../../src/index.js";
import { composeTs, physicalOf, untilExpiredMs } from "../../../src/kv/timestamp.js";
import { TxnHeartBeatRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, eventually, recordRequests, settleWithin } from "./ported-2pc-support.js";
import { sleep } from "./ported-lock-helpers.js";
import { lockOn, locksOf, tsAt } from "./ported-pessimistic-support.js";

const HEARTBEAT_WAIT_MS = 12_500;

describe.skipIf(skipOnRealCluster("v1"))("client-go: pessimistic lock TTL", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // 2pc_test TestPessimisticTTL
  itFault.concurrent(
    "lock TTLs count the time since the start; the primary's TTL is renewed while the txn lives",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pttl");
      const [key, key2] = [`a${p}key`, `h${p}key2`];
      const txn = await t.begin({ pessimistic: true });
      await sleep(100);
      await txn.lockKeys([key], { forUpdateTs: txn.startTs });
      await sleep(100);
      await txn.lockKeys([key2], { forUpdateTs: txn.startTs });
      const first = lockOn(env, key);
      const now = await t.currentTimestamp();
      expect(untilExpiredMs(txn.startTs, first.lockTtl, now)).toBeGreaterThanOrEqual(100);
      expect(first.lockTtl).toBeGreaterThanOrEqual(BigInt(MANAGED_LOCK_TTL_MS + 100));
      // the later lock's TTL includes the time elapsed since
      expect(lockOn(env, key2).lockTtl).toBeGreaterThanOrEqual(first.lockTtl + 100n);
      // asked on the primary (TiKV's verify_is_primary rolls a secondary's pessimistic lock back)
      const status = await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(key));
      expect(status.commitTs).toBe(0n);
      expect(status.ttl).toBeGreaterThanOrEqual(first.lockTtl);
      // the TTL manager renews the primary, to a reasonable range
      const renewed = await eventually(
        () => lockOn(env, key).lockTtl > first.lockTtl,
        HEARTBEAT_WAIT_MS,
        100,
      );
      expect(renewed).toBe(true);
      const current = await t.currentTimestamp();
      const expire = physicalOf(txn.startTs) + Number(lockOn(env, key).lockTtl);
      expect(expire).toBeGreaterThan(physicalOf(current));
      expect(expire - physicalOf(current)).toBeLessThanOrEqual(MANAGED_LOCK_TTL_MS + 50);
      await txn.rollback();
      expect(locksOf(env, txn.startTs, [key, key2]).size).toBe(0);
    },
    30_000,
  );

  // lock_test TestStartHeartBeatAfterLockingPrimary (the heartbeat half; the failed call's
  // cleanup is in ported-pessimistic-wait.test.ts)
  itFault.concurrent(
    "the TTL manager starts once the primary is locked, while a secondary still waits",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("hb");
      const [a, bKey] = [`a${p}a`, `h${p}b`];
      const holder = await t.begin({ pessimistic: true });
      await holder.lockKeys([bKey]);
      const heartbeats = recordRequests<TxnHeartBeatRequest>(env, "KvTxnHeartBeat");
      const txn = await t.begin({ pessimistic: true });
      // the primary a is locked first; the secondary b waits for the holder past a heartbeat
      const failed = txn
        .lockKeys([a, bKey], { waitTimeoutMs: HEARTBEAT_WAIT_MS - 1_500 })
        .catch((e: unknown) => e);
      expect(await eventually(() => locksOf(env, txn.startTs, [a]).size === 1, 2_000)).toBe(true);
      const ttlBefore = lockOn(env, a).lockTtl;
      // a's TTL is renewed while b is still waiting
      const beat = () =>
        heartbeats.seen.some((s) => s.req.primaryLock.toString() === a && s.req.startVersion === txn.startTs);
      expect(await eventually(beat, HEARTBEAT_WAIT_MS, 100)).toBe(true);
      const st = await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(a));
      expect(st.ttl).toBeGreaterThan(ttlBefore);
      expect(await failed).toBeInstanceOf(LockWaitTimeoutError);
      heartbeats.stop();
      // the failed call released a and gave it up as the primary
      await t.whenIdle();
      expect(locksOf(env, txn.startTs, [a, bKey]).size).toBe(0);
      await txn.rollback();
      await holder.rollback();
    },
    30_000,
  );

  // 2pc_test TestElapsedTTL
  itFault(
    "the elapsed part of a lock TTL is local time since begin, even with a start ts ahead",
    async () => {
      const t = (await env.connect()).txn();
      const key = `a${uniquePrefix("elapsed")}key`;
      const startTs = tsAt(10_000) + 1n;
      const began = Date.now();
      const txn = await t.begin({ pessimistic: true, startTs });
      await sleep(100);
      await txn.lockKeys([key], { forUpdateTs: composeTs(physicalOf(startTs) + 100, 1) });
      const extra = lockOn(env, key).lockTtl - BigInt(MANAGED_LOCK_TTL_MS);
      expect(extra).toBeGreaterThanOrEqual(100n);
      // at most the local time elapsed (client-go: < 150 ms; bounded by the measured time here,
      // as a loaded machine adds to it), and nothing of the 10 s by which the start ts is ahead
      expect(extra).toBeLessThanOrEqual(BigInt(Date.now() - began));
      await txn.rollback();
    },
  );

  // 2pc_test TestRetryPushTTL
  itFault(
    "a lock taken after waiting gets a TTL counting the wait, so the next waiter still waits",
    async () => {
      const t = (await env.connect()).txn();
      const k = `h${uniquePrefix("rpttl")}k`;
      const txn1 = await t.begin({ pessimistic: true });
      await txn1.lockKeys([k], { forUpdateTs: txn1.startTs });
      const txn2 = await t.begin({ pessimistic: true });
      const got2 = txn2.lockKeys([k]);
      await sleep(1_500);
      expect((await settleWithin(got2, 0)).kind).toBe("pending");
      await txn1.rollback();
      await got2;
      const lock = lockOn(env, k);
      expect(lock.lockVersion).toBe(txn2.startTs);
      expect(lock.lockTtl).toBeGreaterThanOrEqual(BigInt(MANAGED_LOCK_TTL_MS + 1_400));
      // txn3 must wait for txn2 (its lock is alive), then gets the lock once txn2 rolls back
      const txn3 = await t.begin({ pessimistic: true });
      const got3 = txn3.lockKeys([k]);
      expect((await settleWithin(got3, 1_000)).kind).toBe("pending");
      await txn2.rollback();
      await got3;
      expect(lockOn(env, k).lockVersion).toBe(txn3.startTs);
      await txn3.rollback();
    },
    20_000,
  );

  // 2pc_test TestAcquireFalseTimeoutLock
  itFault(
    "a secondary past its own TTL whose primary is kept alive is not taken: no-wait and timed waits fail",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("false-to");
      const [k1, k2] = [`a${p}k1`, `q${p}k2`];
      // a start ts older than the managed TTL: txn1's locks are past their own TTL at once
      const txn1 = await t.begin({ pessimistic: true, startTs: tsAt(-(MANAGED_LOCK_TTL_MS + 5_000)) });
      await txn1.lockKeys([k1]);
      await txn1.lockKeys([k2]);
      // the primary is kept alive (what txn1's heartbeat does)
      const hb = env.cluster.txnEngine.txnHeartBeat(
        TxnHeartBeatRequest.fromPartial({
          primaryLock: b(k1),
          startVersion: txn1.startTs,
          adviseLockTtl: BigInt(MANAGED_LOCK_TTL_MS * 3),
        }),
      );
      expect(hb.error).toBeUndefined();
      const now = await t.currentTimestamp();
      expect(untilExpiredMs(txn1.startTs, lockOn(env, k2).lockTtl, now)).toBeLessThan(0);

      const txn2 = await t.begin({ pessimistic: true });
      await expect(txn2.lockKeys([k2], { noWait: true })).rejects.toBeInstanceOf(
        LockAcquireFailAndNoWaitSetError,
      );
      const started = Date.now();
      await expect(txn2.lockKeys([k2], { waitTimeoutMs: 200 })).rejects.toBeInstanceOf(LockWaitTimeoutError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(180);
      expect(lockOn(env, k2).lockVersion).toBe(txn1.startTs);
      await txn2.rollback();
      await txn1.rollback();
    },
  );
});
