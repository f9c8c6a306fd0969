// Ported by meaning from client-go integration_tests/2pc_test.go and ticlient_test.go: what
// LockKeys does to a transaction — the locks and values it asks TiKV for, keys locked twice, the
// primary given up by a failed first lock, and what locked keys become at prewrite (pessimistic
// checks, Lock mutations, flags). Mapping: test/ported/txn-2pc.md. Flags without a public API
// (newly inserted, presume-not-exists) are written through the transaction's internal buffer.

import { describe, expect } from "vitest";
import { KeyAlreadyExistsError } from "../../../src/index.js";
import {
  FlagsOp,
  hasLocked,
  hasLockedValueExists,
  hasLockedValueKnown,
  hasNewlyInserted,
} from "../../../src/kv/memdb/key-flags.js";
import {
  type CheckTxnStatusRequest,
  Op,
  PrewriteRequest_PessimisticAction as PA,
  type PessimisticLockRequest,
  type PrewriteRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, locksOn, recordRequests, str } from "./ported-2pc-support.js";
import { locksOf } from "./ported-pessimistic-support.js";

describe.skipIf(skipOnRealCluster("v1"))("client-go 2pc_test: LockKeys and what it leaves", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // 2pc_test TestPessimisticPrewriteRequest
  itFault(
    "a pessimistic prewrite carries one pessimistic action per mutation and the for_update_ts",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ppr");
      const [locked, plain] = [`a${p}locked`, `a${p}plain`];
      const txn = await t.begin({ pessimistic: true });
      const forUpdateTs = await t.currentTimestamp();
      await txn.lockKeys([locked], { forUpdateTs });
      expect(txn.forUpdateTs).toBe(forUpdateTs);
      txn.set(locked, "v1");
      txn.set(plain, "v2"); // written without a lock: no pessimistic check
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      expect(prewrites.seen).toHaveLength(1);
      const req = prewrites.seen[0]?.req as PrewriteRequest;
      expect(req.forUpdateTs).toBe(forUpdateTs);
      expect(req.mutations.map((m) => m.key.toString())).toEqual([locked, plain]);
      expect(req.pessimisticActions).toEqual([PA.DO_PESSIMISTIC_CHECK, PA.SKIP_PESSIMISTIC_CHECK]);
      expect(req.minCommitTs).toBeGreaterThan(forUpdateTs);
    },
  );

  // 2pc_test TestUnsetPrimaryKey: the lock of a key presumed absent asserts it is absent
  itFault(
    "a first lock that fails gives its primary up: the transaction commits later with another primary",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("unset");
      const [key, key2] = [`a${p}key`, `h${p}key2`];
      await t.runTransaction(async (w) => w.set(key, key));
      const txn = await t.begin({ pessimistic: true });
      txn.buffer.set(b(key), b(key), [FlagsOp.setPresumeKeyNotExists]);
      await expect(txn.lockKeys([key], { forUpdateTs: txn.startTs })).rejects.toBeInstanceOf(
        KeyAlreadyExistsError,
      );
      expect(locksOf(env, txn.startTs, [key]).size).toBe(0);
      txn.delete(key);
      txn.set(key2, key2);
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      // the failed key is not the primary: every prewrite names the one it chose at commit
      const primaries = new Set(prewrites.seen.map((s) => s.req.primaryLock.toString()));
      expect(primaries.size).toBe(1);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([key, key2]))).toEqual([undefined, key2]);
    },
  );

  // 2pc_test TestPessimisticLockedKeysDedup
  itFault(
    "keys locked twice (or twice in one call) are locked once: no second request, two locks",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("dedup");
      const [abc, def] = [`a${p}abc`, `h${p}def`];
      const txn = await t.begin({ pessimistic: true });
      const locks = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      await txn.lockKeys([def, abc, def], { forUpdateTs: txn.startTs });
      const first = locks.seen.length;
      const sentKeys = locks.seen.flatMap((s) => s.req.mutations.map((m) => m.key.toString()));
      expect(sentKeys.sort()).toEqual([abc, def]);
      await txn.lockKeys([abc, def], { forUpdateTs: txn.startTs });
      locks.stop();
      expect(locks.seen.length).toBe(first);
      expect([...locksOf(env, txn.startTs, [abc, def]).keys()].sort()).toEqual([abc, def]);
      // both reach the commit as Lock mutations, once each
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      const muts = prewrites.seen.flatMap((s) => s.req.mutations).map((m) => [m.key.toString(), m.op]);
      expect(muts.sort()).toEqual([
        [abc, Op.Lock],
        [def, Op.Lock],
      ]);
    },
  );

  // 2pc_test TestPessimisticLockReturnValues
  itFault("locking with values returns each key's committed value", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("rv");
    const [key, key2] = [`a${p}key`, `q${p}key2`];
    await t.runTransaction(async (w) => {
      w.set(key, key);
      w.set(key2, key2);
    });
    const txn = await t.begin({ pessimistic: true });
    const locks = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
    const values = await txn.batchGetForUpdate([key, key2], { forUpdateTs: txn.startTs });
    locks.stop();
    expect(str(values)).toEqual([key, key2]);
    expect(locks.seen.every((s) => s.req.returnValues)).toBe(true);
    expect(locksOf(env, txn.startTs, [key, key2]).size).toBe(2);
    await txn.rollback();
  });

  // 2pc_test TestPessimisticLockCheckExistence
  itFault("check existence learns whether each locked key exists, without values unless asked", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("ce");
    const [key, key2] = [`a${p}key`, `h${p}key2`];
    await t.runTransaction(async (w) => w.set(key, key));

    const txn = await t.begin({ pessimistic: true });
    const locks = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
    await txn.lockKeys([key, key2], { forUpdateTs: txn.startTs, checkExistence: true });
    locks.stop();
    expect(locks.seen.every((s) => s.req.checkExistence && !s.req.returnValues)).toBe(true);
    const flags = (k: string) => txn.buffer.getFlags(b(k)) ?? 0;
    expect(hasLockedValueKnown(flags(key)) && hasLockedValueExists(flags(key))).toBe(true);
    expect(hasLockedValueKnown(flags(key2)) && !hasLockedValueExists(flags(key2))).toBe(true);
    await txn.rollback();

    const txn2 = await t.begin({ pessimistic: true });
    const values = await txn2.batchGetForUpdate([key, key2], {
      forUpdateTs: txn2.startTs,
      checkExistence: true,
    });
    expect(str(values)).toEqual([key, undefined]);
    const flags2 = (k: string) => txn2.buffer.getFlags(b(k)) ?? 0;
    expect(hasLockedValueExists(flags2(key))).toBe(true);
    expect(hasLockedValueKnown(flags2(key2)) && !hasLockedValueExists(flags2(key2))).toBe(true);
    await txn2.rollback();
  });

  // 2pc_test TestNewlyInsertedMemDBFlag (the LockKeys halves)
  itFault(
    "a locked key written as an insert keeps the newly-inserted flag; locked, deleted, written again does not",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("nil");
      const [k1, k2] = [`a${p}k1`, `h${p}k2`];
      const txn = await t.begin();
      const flags = (k: string) => txn.buffer.getFlags(b(k)) ?? 0;
      await txn.lockKeys([k1], { forUpdateTs: txn.startTs });
      txn.buffer.set(b(k1), b("v1"), [FlagsOp.setNewlyInserted]);
      expect(hasNewlyInserted(flags(k1))).toBe(true);
      expect(hasLocked(flags(k1))).toBe(true);
      await txn.lockKeys([k2], { forUpdateTs: txn.startTs });
      txn.delete(k2);
      expect(hasNewlyInserted(flags(k2))).toBe(false);
      txn.set(k2, "v2");
      expect(hasNewlyInserted(flags(k2))).toBe(false);
      await txn.commit();
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([k1, k2]))).toEqual(["v1", "v2"]);
    },
  );

  // 2pc_test TestFlagsInMemBufferMutations (the isPessimisticLock flag)
  itFault(
    "in a pessimistic transaction exactly the locked keys are prewritten with the pessimistic check",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("fpl");
      const txn = await t.begin({ pessimistic: true });
      const expected: Array<{ key: string; op: Op; action: PA }> = [];
      let i = 0;
      for (const op of [Op.Put, Op.Del]) {
        for (const locked of [false, true]) {
          const key = `a${p}flags_${String(i++).padStart(5, "0")}`;
          if (locked) await txn.lockKeys([key]);
          if (op === Op.Put) txn.set(key, `v${i}`);
          else txn.delete(key);
          expected.push({ key, op, action: locked ? PA.DO_PESSIMISTIC_CHECK : PA.SKIP_PESSIMISTIC_CHECK });
        }
      }
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      const sent = prewrites.seen.flatMap((s) =>
        s.req.mutations.map((m, j) => ({
          key: m.key.toString(),
          op: m.op,
          action: s.req.pessimisticActions[j],
        })),
      );
      expect(sent.sort((x, y) => x.key.localeCompare(y.key))).toEqual(expected);
    },
  );

  // ticlient_test TestSingleKey (with its LockKeys call)
  itFault("one key set, locked, committed, read back and deleted (optimistic lockKeys)", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("single")}key`;
    const txn = await t.begin();
    txn.set(key, "value");
    await txn.lockKeys([key]);
    await txn.commit();
    expect((await (await t.begin()).get(key))?.toString()).toBe("value");
    const del = await t.begin();
    del.delete(key);
    await del.commit();
    await t.whenIdle();
    expect(await (await t.snapshot()).get(key)).toBeUndefined();
  });

  // 2pc_test TestResolvePessimisticLock
  itFault(
    "a locked key the KV filter drops is still committed as a Lock, as is a locked key with no value",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("kvf");
      const untouched = `a${p}t00000001_i000000001`;
      const noValue = `a${p}t00000001_i000000002`;
      const value = Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 49]);
      const txn = await t.begin({ kvFilter: (k) => k.toString() === untouched });
      txn.set(untouched, value);
      await txn.lockKeys([untouched, noValue], { noWait: true });
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      const muts = prewrites.seen.flatMap((s) => s.req.mutations).map((m) => [m.key.toString(), m.op]);
      expect(muts).toEqual([
        [untouched, Op.Lock],
        [noValue, Op.Lock],
      ]);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([untouched, noValue]))).toEqual([undefined, undefined]);
    },
  );

  // 2pc_test TestDeleteAllYourWritesWithSFU
  itFault(
    "an insert deleted again is only checked; the locked keys carry the transaction and its primary",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sfu");
      const [k1, k2, k3] = [`a${p}`, `h${p}`, `q${p}`];
      const txn1 = await t.begin();
      txn1.buffer.set(b(k1), Buffer.from([0]), [FlagsOp.setPresumeKeyNotExists]);
      txn1.delete(k1);
      await txn1.lockKeys([k2, k3]); // SELECT ... FOR UPDATE
      // hold txn1's secondary k3 after its primary committed
      const hold = env.cluster.faults.delay({ rpc: "KvCommit", key: b(k3), ms: 800, count: 1 });
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn1.commit();
      prewrites.stop();
      const ops = prewrites.seen.flatMap((s) => s.req.mutations).map((m) => [m.key.toString(), m.op]);
      expect(ops.sort()).toEqual([
        [k1, Op.CheckNotExists],
        [k2, Op.Lock],
        [k3, Op.Lock],
      ]);
      expect(new Set(prewrites.seen.map((s) => s.req.primaryLock.toString()))).toEqual(new Set([k2]));
      expect(locksOf(env, txn1.startTs, [k3]).size).toBe(1);
      // txn2 writes k3 and meets txn1's lock: it asks k2, the primary, and then commits
      const checks = recordRequests<CheckTxnStatusRequest>(env, "KvCheckTxnStatus");
      const txn2 = await t.begin();
      txn2.set(k3, Buffer.from([33]));
      await txn2.commit();
      checks.stop();
      expect(checks.seen.map((s) => s.req.primaryKey.toString())).toContain(k2);
      expect(checks.seen.every((s) => s.req.lockTs === txn1.startTs)).toBe(true);
      await t.whenIdle();
      expect(hold.fired).toBe(1);
      expect(locksOn(env, [k1, k2, k3])).toEqual([]);
      expect((await (await t.snapshot()).get(k3))?.[0]).toBe(33);
    },
  );
});
