// Ported by meaning from client-go integration_tests/2pc_test.go (optimistic 2PC core): commit and
// rollback across regions, a reader meeting a prewritten transaction, commit-ts renewal, conflicts
// and what is rolled back after them, lock contents (txn size, primary), and how buffered keys
// and their flags turn into mutations. The mapping is in test/ported/txn-2pc.md.
//
// Where client-go drives the committer phase by phase (PrewriteAllMutations, then a read, then
// CommitMutations), we keep a transaction between phases by holding its primary (or secondary)
// commit at the store with an injected delay. Inserts (client-go SetPresumeKeyNotExists) and the
// newly-inserted / assertion flags have no public API yet: those tests write through the
// transaction's internal buffer, which is what the committer reads its mutations from.

import { describe, expect, it } from "vitest";
import {
  AssertionFailedError,
  isRetryable,
  KeyAlreadyExistsError,
  ResultUndeterminedError,
  TikvError,
  WriteConflictError,
} from "../../../src/index.js";
import { FlagsOp, hasNewlyInserted } from "../../../src/kv/memdb/key-flags.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  Assertion,
  BatchRollbackRequest,
  type CommitRequest,
  Op,
  PrewriteRequest,
  WriteConflict_Reason,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import {
  arrival,
  b,
  eventually,
  locksOn,
  recordRequests,
  settleWithin,
  str,
  touches,
} from "./ported-2pc-support.js";

// Regions: ["", g) holds the "a…" keys, [g, p) the "h…" keys, [p, "") the "q…" keys.
describe.skipIf(skipOnRealCluster("v1"))("ported client-go 2pc_test: optimistic 2PC", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // 2pc_test TestCommitRollback
  itFault("a conflicting commit leaves every key of the losing transaction as it was, unlocked", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("cr");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const [ka, kb, kc] = keys as [string, string, string];
    await t.runTransaction(async (w) => {
      w.set(ka, "a");
      w.set(kb, "b");
      w.set(kc, "c");
    });
    const txn = await t.begin();
    txn.set(ka, "a1");
    txn.set(kb, "b1");
    txn.set(kc, "c1");
    await t.runTransaction(async (w) => w.set(kc, "c2"));
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect((err as WriteConflictError).key.toString()).toBe(kc);
    expect((err as WriteConflictError).conflictCommitTs).toBeGreaterThan(txn.startTs);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["a", "b", "c2"]);
    expect(locksOn(env, keys)).toEqual([]);
  });

  // 2pc_test TestPrewriteRollback
  itFault(
    "a reader meeting a prewritten transaction reads the old values; the writer still commits",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pr");
      const keys = [`a${p}`, `h${p}`];
      const [ka, kb] = keys as [string, string];
      await t.runTransaction(async (w) => {
        w.set(ka, "a0");
        w.set(kb, "b0");
      });
      // hold the primary commit: the transaction stays prewritten meanwhile
      const held = arrival(env, "KvCommit", ka);
      env.cluster.faults.delay({ rpc: "KvCommit", key: ka, ms: 800, count: 1 });
      const txn1 = await t.begin();
      txn1.set(ka, "a1");
      txn1.set(kb, "b1");
      const committing = txn1.commit();
      await held.arrived;
      held.stop();
      expect(locksOn(env, keys).map((l) => l.lockVersion)).toEqual([txn1.startTs, txn1.startTs]);
      const txn2 = await t.begin();
      expect((await txn2.get(ka))?.toString()).toBe("a0");
      // the reader pushed the writer's commit past its own start ts
      const commitTs = await committing;
      expect(commitTs).toBeGreaterThan(txn2.startTs);
      await t.whenIdle();
      const txn3 = await t.begin();
      expect(str(await txn3.batchGet(keys))).toEqual(["a1", "b1"]);
      // and the reader's snapshot stays as it was
      expect(str(await txn2.batchGet(keys))).toEqual(["a0", "b0"]);
      await txn2.rollback();
    },
  );

  // 2pc_test TestRejectCommitTS
  itFault(
    "a commit ts below the primary's min commit ts is rejected; the committer retries with a newer one",
    async () => {
      const t = (await env.connect()).txn();
      const key = `h${uniquePrefix("rej")}`;
      const commits = recordRequests<CommitRequest>(env, "KvCommit");
      const held = arrival(env, "KvCommit", key);
      env.cluster.faults.delay({ rpc: "KvCommit", key, ms: 800, count: 1 });
      const txn = await t.begin();
      txn.set(key, "v");
      const committing = txn.commit();
      await held.arrived;
      held.stop();
      // a reader at a later ts raises the lock's min commit ts above itself
      const reader = await t.snapshot();
      expect(await reader.get(key)).toBeUndefined();
      const commitTs = await committing;
      commits.stop();
      const versions = commits.seen.filter((s) => touches(s.call, key)).map((s) => s.req.commitVersion);
      expect(versions).toHaveLength(2);
      expect(versions[0]).toBeLessThan(reader.ts);
      expect(versions[1]).toBe(commitTs);
      expect(commitTs).toBeGreaterThan(reader.ts);
      expect(txn.commitTs).toBe(commitTs);
      // just below the final commit ts nothing is visible; at the latest ts the value is
      expect(await (await t.snapshot(commitTs - 1n)).get(key)).toBeUndefined();
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("v");
    },
  );

  // 2pc_test TestPrewritePrimaryKeyFailed
  itFault(
    "a primary that fails prewrite makes the commit fail and its prewritten secondary is rolled back",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ppf");
      const keys = [`a${p}`, `h${p}`];
      const [ka, kb] = keys as [string, string];
      const txn1 = await t.begin();
      txn1.set(ka, "a1");
      await txn1.commit();
      // txn2 starts "before" txn1: its primary conflicts with txn1's commit, its secondary does not
      const txn2 = await t.begin({ startTs: txn1.startTs - 1n });
      txn2.set(ka, "a2");
      txn2.set(kb, "b2");
      const err = await txn2.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriteConflictError);
      expect((err as WriteConflictError).key.toString()).toBe(ka);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["a1", undefined]);
      expect(locksOn(env, keys)).toEqual([]);
      // a second rollback of the same transaction is harmless
      const again = env.cluster.txnEngine.batchRollback(
        BatchRollbackRequest.fromPartial({ startVersion: txn2.startTs, keys: keys.map(b) }),
      );
      expect(again.error).toBeUndefined();
      const txn3 = await t.begin();
      expect(str(await txn3.batchGet(keys))).toEqual(["a1", undefined]);
      txn3.set(ka, "a3");
      await txn3.commit();
      expect((await (await t.snapshot()).get(ka))?.toString()).toBe("a3");
    },
  );

  // 2pc_test TestCommitBeforePrewrite
  itFault("a transaction rolled back before it prewrote cannot prewrite any more", async () => {
    const t = (await env.connect()).txn();
    const key = `a${uniquePrefix("cbp")}`;
    const txn = await t.begin();
    txn.set(key, "a1");
    // someone rolls it back first (as a lock resolver does when it finds no lock of it)
    const rb = env.cluster.txnEngine.batchRollback(
      BatchRollbackRequest.fromPartial({ startVersion: txn.startTs, keys: [b(key)] }),
    );
    expect(rb.error).toBeUndefined();
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect(err).not.toBeInstanceOf(ResultUndeterminedError);
    expect((err as WriteConflictError).reason).toBe(WriteConflict_Reason.SelfRolledBack);
    await t.whenIdle();
    expect(await (await t.snapshot()).get(key)).toBeUndefined();
    expect(locksOn(env, [key])).toEqual([]);
  });

  // 2pc_test TestWrittenKeysOnConflict
  itFault(
    "the keys prewritten before a conflict are rolled back, so a reader does not wait on them",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("wk");
      let readMs = 0;
      for (let i = 0; i < 5; i++) {
        const x = `h${p}x${i}`;
        const y = `q${p}y${i}`;
        const txn1 = await t.begin();
        const txn2 = await t.begin();
        txn2.set(x, "1");
        await txn2.commit();
        const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
        txn1.set(x, "1");
        txn1.set(y, "2");
        await expect(txn1.commit()).rejects.toBeInstanceOf(WriteConflictError);
        prewrites.stop();
        // y was prewritten (its region had no conflict), then cleaned up
        expect(prewrites.seen.some((s) => touches(s.call, y))).toBe(true);
        await t.whenIdle();
        expect(locksOn(env, [y])).toEqual([]);
        const txn3 = await t.begin();
        const started = Date.now();
        expect(await txn3.get(y)).toBeUndefined();
        readMs += Date.now() - started;
      }
      expect(readMs).toBeLessThan(1000);
    },
  );

  // 2pc_test TestPrewriteTxnSize
  itFault("each lock records how many of the transaction's keys fall in its region", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("ts");
    const inH = Array.from({ length: 50 }, (_, i) => `h${p}${String(i).padStart(2, "0")}`);
    const inQ = Array.from({ length: 20 }, (_, i) => `q${p}${String(i).padStart(2, "0")}`);
    const value = Buffer.alloc(1024, 0x76);
    const held = arrival(env, "KvCommit", inH[0] as string);
    env.cluster.faults.delay({ rpc: "KvCommit", key: inH[0] as string, ms: 300, count: 1 });
    const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
    const txn = await t.begin();
    for (const k of [...inH, ...inQ]) txn.set(k, value);
    const committing = txn.commit();
    await held.arrived;
    held.stop();
    prewrites.stop();
    // 50 KiB in region h went out in several batches (16 KiB each at most), yet every lock of
    // that region counts the region's 50 keys
    const hBatches = prewrites.seen.filter((s) =>
      s.req.mutations.some((m) => inH.includes(m.key.toString())),
    );
    expect(hBatches.length).toBeGreaterThan(1);
    const locks = locksOn(env, [...inH, ...inQ]);
    expect(locks).toHaveLength(70);
    for (const l of locks) expect(l.txnSize).toBe(inH.includes(l.key.toString()) ? 50n : 20n);
    await committing;
  });

  // 2pc_test TestDeleteYourWriteCauseGhostPrimary
  itFault(
    "an insert deleted again is never the primary: a reader commits the secondary lock it meets",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ghost");
      const [k1, k2, k3] = [`a${p}`, `h${p}`, `q${p}`];
      const txn1 = await t.begin();
      expect(await txn1.get(k1)).toBeUndefined();
      txn1.buffer.set(b(k1), Buffer.from([0]), [FlagsOp.setPresumeKeyNotExists]);
      txn1.set(k2, Buffer.from([1]));
      txn1.set(k3, Buffer.from([2]));
      txn1.delete(k1);
      // hold k3's secondary commit: the transaction is committed, k3 still locked
      const held = arrival(env, "KvCommit", k3);
      env.cluster.faults.delay({ rpc: "KvCommit", key: k3, ms: 400, count: 1 });
      await txn1.commit();
      await held.arrived;
      held.stop();
      const [lock] = locksOn(env, [k3]);
      expect(lock?.primaryLock.toString()).toBe(k2);
      expect(locksOn(env, [k1])).toEqual([]);
      const txn2 = await t.begin();
      expect(await txn2.get(k3)).toEqual(Buffer.from([2]));
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([k1, k2, k3]))).toEqual([undefined, "\x01", "\x02"]);
    },
  );

  // 2pc_test TestDeleteAllYourWrites
  itFault(
    "a transaction whose every write is an insert deleted again commits without writing anything",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("dall");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      const insertThenDelete = async () => {
        const txn = await t.begin();
        for (const [i, k] of keys.entries()) {
          txn.buffer.set(b(k), Buffer.from([i]), [FlagsOp.setPresumeKeyNotExists]);
          txn.delete(k);
        }
        return txn;
      };
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      const commits = recordRequests<CommitRequest>(env, "KvCommit");
      await (await insertThenDelete()).commit();
      prewrites.stop();
      commits.stop();
      // only existence checks were sent, and nothing was committed
      const sent = prewrites.seen.flatMap((s) => s.req.mutations);
      expect(sent.map((m) => m.key.toString()).sort()).toEqual(keys);
      expect(sent.every((m) => m.op === Op.CheckNotExists)).toBe(true);
      expect(commits.seen.filter((s) => keys.some((k) => touches(s.call, k)))).toEqual([]);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([undefined, undefined, undefined]);
      expect(locksOn(env, keys)).toEqual([]);
      // the checks are real: once one of the keys exists, the same transaction fails
      await t.runTransaction(async (w) => w.set(keys[1] as string, "there"));
      const err = await (await insertThenDelete()).commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyAlreadyExistsError);
      expect((err as KeyAlreadyExistsError).key.toString()).toBe(keys[1]);
    },
  );

  // 2pc_test TestCommitDeadLock (without its primary / txn-size knobs: see the mapping)
  it("two transactions writing the same keys of two regions at once: exactly one commits, all its writes win", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("dl");
    for (let round = 0; round < 3; round++) {
      const keys = [`a${p}${round}`, `q${p}${round}`];
      const [t1, t2] = await Promise.all([t.begin(), t.begin()]);
      for (const k of keys) {
        t1.set(k, "t1");
        t2.set(k, "t2");
      }
      const results = await Promise.allSettled([t1.commit(), t2.commit()]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(WriteConflictError);
      const winner = results[0]?.status === "fulfilled" ? "t1" : "t2";
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([winner, winner]);
    }
  });

  // 2pc_test TestCommitMultipleRegions
  itFault(
    "commits 100 small and then 50 large values spread over every region, in many batches",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("mr");
      const letters = "abc";
      const rand = (n: number) =>
        Array.from({ length: n }, () => letters[Math.floor(Math.random() * 3)]).join("");
      const region = () => "ahq"[Math.floor(Math.random() * 3)] as string;
      const mustCommit = async (m: Map<string, string>) => {
        const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
        const txn = await t.begin();
        for (const [k, v] of m) txn.set(k, v);
        await txn.commit();
        prewrites.stop();
        await t.whenIdle();
        const keys = [...m.keys()];
        expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map((k) => m.get(k)));
        return prewrites.seen.filter((s) => s.req.startVersion === txn.startTs).length;
      };
      const small = new Map<string, string>();
      for (let i = 0; i < 100; i++) small.set(`${region()}${p}${rand(10)}`, rand(10));
      expect(await mustCommit(small)).toBeGreaterThanOrEqual(3);
      // values of a seventh of a commit batch (16 KiB): each region needs several batches
      const large = new Map<string, string>();
      for (let i = 0; i < 50; i++) large.set(`${region()}${p}${rand(11)}`, rand(Math.floor((16 * 1024) / 7)));
      expect(await mustCommit(large)).toBeGreaterThan(3);
    },
  );

  // 2pc_test TestNewlyInsertedMemDBFlag (the parts without LockKeys)
  itFault(
    "the newly-inserted flag is set only when asked; a newly inserted key deleted again is not written",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ni");
      const [k0, k1, k2, k3] = [`h${p}0`, `h${p}1`, `h${p}2`, `h${p}3`];
      await t.runTransaction(async (w) => w.set(k3, "old"));
      const txn = await t.begin();
      const flagsOf = (k: string) => txn.buffer.getFlags(b(k)) ?? 0;
      // a write after a delete is not an insert
      txn.delete(k0);
      txn.set(k0, "v0");
      expect(hasNewlyInserted(flagsOf(k0))).toBe(false);
      // a write flagged as an insert is
      txn.buffer.set(b(k1), b("v1"), [FlagsOp.setNewlyInserted]);
      expect(hasNewlyInserted(flagsOf(k1))).toBe(true);
      // delete then write again: still not an insert
      txn.delete(k2);
      expect(hasNewlyInserted(flagsOf(k2))).toBe(false);
      txn.set(k2, "v2");
      expect(hasNewlyInserted(flagsOf(k2))).toBe(false);
      // an insert deleted again in the same transaction is nothing to write
      txn.buffer.set(b(k3), b("new"), [FlagsOp.setNewlyInserted]);
      txn.delete(k3);
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await txn.commit();
      prewrites.stop();
      const sent = prewrites.seen.flatMap((s) => s.req.mutations).map((m) => [m.key.toString(), m.op]);
      expect(sent).toEqual([
        [k0, Op.Put],
        [k1, Op.Put],
        [k2, Op.Put],
      ]);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([k0, k1, k2, k3]))).toEqual(["v0", "v1", "v2", "old"]);
    },
  );

  // 2pc_test TestFlagsInMemBufferMutations (ops and assertion flags; the pessimistic flag is later)
  itFault("each buffered key reaches prewrite with its op and assertion, in key order", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("fl");
    const assertions: Array<[FlagsOp[], Assertion]> = [
      [[], Assertion.None],
      [[FlagsOp.setAssertExist], Assertion.Exist],
      [[FlagsOp.setAssertNotExist], Assertion.NotExist],
      [[FlagsOp.setAssertUnknown], Assertion.None],
    ];
    // assertions are sent at fast / strict level only (off drops them, as client-go); TiKV
    // checks them, and the Exist ones on fresh keys fail: the requests are what is checked here
    const txn = await t.begin({ assertionLevel: "fast" });
    const expected: Array<{ key: string; op: Op; assertion: Assertion }> = [];
    let i = 0;
    for (const op of [Op.Put, Op.Del, Op.CheckNotExists]) {
      for (const [ops, assertion] of assertions) {
        const key = `h${p}flags_${String(i++).padStart(5, "0")}`;
        if (op === Op.Put) txn.buffer.set(b(key), b(`v${i}`), ops);
        else if (op === Op.Del) txn.buffer.delete(b(key), ops);
        else {
          txn.buffer.set(b(key), b(`v${i}`), [FlagsOp.setPresumeKeyNotExists, ...ops]);
          txn.delete(key);
        }
        expected.push({ key, op, assertion });
      }
    }
    const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
    await expect(txn.commit()).rejects.toBeInstanceOf(AssertionFailedError);
    prewrites.stop();
    const sent = prewrites.seen
      .flatMap((s) => s.req.mutations)
      .map((m) => ({ key: m.key.toString(), op: m.op, assertion: m.assertion }));
    expect(sent).toEqual(expected);
    // the primary is the first key that takes a lock
    expect(prewrites.seen[0]?.req.primaryLock.toString()).toBe(expected[0]?.key);
  });

  // 2pc_test TestExtractKeyExistsErr
  itFault(
    "inserting an existing key fails with KeyAlreadyExistsError naming it and leaves nothing behind",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ex");
      const [key, other] = [`h${p}de`, `q${p}other`];
      await t.runTransaction(async (w) => w.set(key, "ef"));
      const txn = await t.begin();
      txn.buffer.set(b(key), b("fg"), [FlagsOp.setPresumeKeyNotExists]);
      txn.set(other, "x");
      const err = await txn.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyAlreadyExistsError);
      expect((err as KeyAlreadyExistsError).key.toString()).toBe(key);
      expect(isRetryable(err)).toBe(false);
      await t.whenIdle();
      expect(locksOn(env, [key, other])).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet([key, other]))).toEqual(["ef", undefined]);
    },
  );

  // 2pc_test TestPrewriteCancel
  itFault(
    "a conflict in one region fails the commit; a slower region's prewrite is rolled back soon after",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pc");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      const [ka, kb, kc] = keys as [string, string, string];
      const txn1 = await t.begin();
      const txn2 = await t.begin();
      txn2.set(kb, "b2");
      await txn2.commit();
      env.cluster.faults.delay({ rpc: "KvPrewrite", key: kc, ms: 200, count: 1 });
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      txn1.set(ka, "a1");
      txn1.set(kb, "b1");
      txn1.set(kc, "c1");
      const err = await txn1.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriteConflictError);
      expect((err as WriteConflictError).key.toString()).toBe(kb);
      // without waiting for the client to go idle: every lock is gone within a second
      expect(await eventually(() => locksOn(env, keys).length === 0, 1000)).toBe(true);
      prewrites.stop();
      expect(prewrites.seen.some((s) => touches(s.call, kc))).toBe(true);
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([undefined, "b2", undefined]);
    },
  );

  // 2pc_test TestContextCancel2 (its meaning without a cancellable context: see the mapping)
  itFault(
    "commit() returns once the primary is committed; the secondaries follow in the background",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("bg");
      const [ka, kb] = [`a${p}`, `q${p}`];
      env.cluster.faults.delay({ rpc: "KvCommit", key: kb, ms: 500, count: 1 });
      const txn = await t.begin();
      txn.set(ka, "a");
      txn.set(kb, "b");
      await txn.commit();
      expect(txn.state).toBe("committed");
      // the secondary is still locked when commit() returns, and unlocked soon after
      expect(locksOn(env, [ka])).toEqual([]);
      expect(locksOn(env, [kb]).map((l) => l.lockVersion)).toEqual([txn.startTs]);
      expect(await eventually(() => locksOn(env, [kb]).length === 0, 2000)).toBe(true);
      expect(str(await (await t.snapshot()).batchGet([ka, kb]))).toEqual(["a", "b"]);
    },
  );

  // 2pc_test TestContextCancelRetryable
  itFault(
    "a write conflict in one region is reported at once, while another region waits on a live lock",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ccr");
      const [ka, kb, kc] = [`a${p}`, `h${p}`, `q${p}`];
      // txn1 holds a live lock on kb (prewritten, then gone quiet for 10 s)
      const txn1Ts = await t.currentTimestamp();
      const pre = env.cluster.txnEngine.prewrite(
        PrewriteRequest.fromPartial({
          mutations: [{ op: Op.Put, key: b(kb), value: b("b1") }],
          primaryLock: b(kb),
          startVersion: txn1Ts,
          lockTtl: 10_000n,
          txnSize: 1n,
          minCommitTs: txn1Ts + 1n,
        }),
      );
      expect(pre.errors).toEqual([]);
      const txn2 = await t.begin();
      await t.runTransaction(async (w) => w.set(kc, "c3"));
      txn2.set(ka, "a2");
      txn2.set(kb, "b2");
      txn2.set(kc, "c2");
      const started = Date.now();
      const err = await txn2.commit().catch((e: unknown) => e);
      const tookMs = Date.now() - started;
      env.cluster.txnEngine.batchRollback(
        BatchRollbackRequest.fromPartial({ startVersion: txn1Ts, keys: [b(kb)] }),
      );
      expect(err).toBeInstanceOf(WriteConflictError);
      expect((err as WriteConflictError).key.toString()).toBe(kc);
      expect(isRetryable(err)).toBe(true);
      expect(tookMs).toBeLessThan(3000);
    },
  );

  // 2pc_test TestIllegalTso
  itFault("a transaction at the largest start ts fails to commit at once and writes nothing", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("tso");
    const keys = [`a${p}name`, `a${p}age`];
    const txn = await t.begin({ startTs: MAX_TS });
    txn.set(keys[0] as string, "aa");
    txn.set(keys[1] as string, "12");
    const r = await settleWithin(txn.commit(), 3000);
    expect(r.kind).toBe("rejected");
    const err = (r as { error: unknown }).error;
    expect(err).toBeInstanceOf(TikvError);
    expect(isRetryable(err)).toBe(false);
    expect(locksOn(env, keys)).toEqual([]);
  });
});
