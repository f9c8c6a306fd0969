// Pipelined DML on the embedded cluster (client-go integration_tests/pipelined_memdb_test.go,
// ported by meaning, plus our own): many keys across regions in generations, reads of the
// transaction's own flushed writes, the batch-get cache, commit (primary first, the rest
// resolved by range in the background while others already read the committed values),
// rollback, conflicts with other transactions, and what pipelined mode refuses.

import { describe, expect, it } from "vitest";
import {
  InvalidArgumentError,
  InvalidTxnError,
  KeyAlreadyExistsError,
  PipelinedTransaction,
  PipelinedUnsupportedError,
  Transaction,
  WriteConflictError,
} from "../../../src/index.js";
import { type FlushRequest, Op, PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import { str } from "../../support/values.js";
import {
  eventually,
  locksOf,
  remoteBuffer,
  sleep,
  smallFlushes,
  spreadKeys,
  usePipelinedCluster,
  withKnobs,
} from "./pipelined-support.js";
import { recordRequests } from "./ported-2pc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("pipelined transactions", () => {
  const env = usePipelinedCluster();
  const calls = (rpc: "KvFlush" | "KvBufferBatchGet" | "KvResolveLock" | "BroadcastTxnStatus" | "KvCommit") =>
    env.cluster.faults.calls({ rpc });

  it("writes many keys across regions in generations; reads its own writes; others see them only after commit (TestPipelinedAndFlush)", async () => {
    const t = (await env.connect()).txn();
    const keys = spreadKeys(uniquePrefix("many"), 1500);
    const txn = await t.begin({ pipelined: true });
    expect(txn).toBeInstanceOf(PipelinedTransaction);
    expect(txn).toBeInstanceOf(Transaction);
    const other = await t.begin();
    env.cluster.faults.resetCounters();
    for (const [i, k] of keys.entries()) {
      txn.set(k, `v${i}`);
      if (i % 50 === 49) {
        await txn.flush();
        // its own writes, whether buffered, flushing or flushed
        expect((await txn.get(k))?.toString()).toBe(`v${i}`);
        expect((await txn.get(keys[i - 49] as string))?.toString()).toBe(`v${i - 49}`);
        // another transaction does not see them
        expect(await other.get(k)).toBeUndefined();
      }
    }
    await txn.flushWait();
    expect(txn.generation).toBeGreaterThanOrEqual(10);
    expect(calls("KvFlush")).toBeGreaterThanOrEqual(txn.generation);
    expect(txn.len).toBe(1500);
    // flushed writes are read back from TiKV's buffer of this transaction
    expect(str(await txn.batchGet(keys.slice(0, 300)))).toEqual(keys.slice(0, 300).map((_, i) => `v${i}`));
    expect(calls("KvBufferBatchGet")).toBeGreaterThan(0);
    const commitTs = await txn.commit();
    expect(commitTs).toBeGreaterThan(txn.startTs);
    expect(txn.state).toBe("committed");
    expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: false, onePCFallback: false });
    await t.whenIdle();
    const snap = await t.snapshot();
    expect(str(await snap.batchGet(keys))).toEqual(keys.map((_, i) => `v${i}`));
    // the range resolution left no lock behind
    expect(locksOf(env, txn.startTs)).toEqual([]);
    await other.rollback();
  });

  itFault(
    "flush requests carry the generation, the primary, min_commit_ts = start + 1 and a 20 s lock TTL",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("req");
      const seen: FlushRequest[] = [];
      const off = env.cluster.faults.onRequest((c) => {
        if (c.rpc === "KvFlush") seen.push(c.request as FlushRequest);
      });
      try {
        const txn = await t.begin({ pipelined: true });
        txn.set(`q${p}b`, "1", { presumeNotExists: true });
        txn.delete(`h${p}a`, { presumeNotExists: true }); // an absence check: never the primary
        await txn.flush(true);
        await txn.flushWait();
        txn.set(`a${p}c`, "2");
        await txn.flush(true);
        await txn.flushWait();
        expect(txn.committer.primary?.toString()).toBe(`q${p}b`);
        expect(seen.map((r) => r.generation)).toEqual([1n, 1n, 2n]);
        for (const r of seen) {
          expect(r.startTs).toBe(txn.startTs);
          expect(r.minCommitTs).toBe(txn.startTs + 1n);
          expect(r.lockTtl).toBe(20_000n);
          expect(r.primaryKey.toString()).toBe(`q${p}b`);
          expect(r.context?.requestSource).toBe("external_pdml");
        }
        const ops = seen.flatMap((r) =>
          r.mutations.map((m) => `${m.key.toString().slice(0, 1)}:${Op[m.op]}`),
        );
        expect(ops.sort()).toEqual(["a:Put", "h:CheckNotExists", "q:Insert"]);
        await txn.rollback();
      } finally {
        off();
      }
    },
  );

  it("reads every flushed key back from TiKV's buffer (TestPipelinedMemDBBufferGet)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("bg");
    const txn = await t.begin({ pipelined: true });
    for (let i = 0; i < 100; i++) {
      txn.set(`h${p}${i}`, String(i));
      expect(await txn.flush(true)).toBe(true);
    }
    await txn.flushWait();
    expect(txn.generation).toBe(100);
    const before = calls("KvBufferBatchGet");
    for (let i = 0; i < 100; i++) expect((await txn.get(`h${p}${i}`))?.toString()).toBe(String(i));
    expect(calls("KvBufferBatchGet") - before).toBeGreaterThanOrEqual(99);
    await txn.rollback();
  });

  itFault("a forced flush waits for the running one (TestPipelinedFlushBlock)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("blk");
    const txn = await t.begin({ pipelined: true });
    txn.set(`a${p}1`, "value1");
    const slow = env.cluster.faults.delay({ rpc: "KvFlush", ms: 400, count: 1 });
    expect(await txn.flush(true)).toBe(true);
    txn.set(`a${p}2`, "value2");
    const t0 = Date.now();
    expect(await txn.flush(true)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    slow.cancel();
    await txn.flushWait();
    await txn.rollback();
  });

  it("its snapshot skips its own flushed locks at once; the commit is seen by later transactions (TestPipelinedSkipFlushedLock)", async () => {
    const client = await env.connect();
    const t = client.txn();
    const k = `q${uniquePrefix("skip")}`;
    const txn = await t.begin({ pipelined: true });
    txn.set(k, "value1");
    await txn.flush(true);
    await txn.flushWait();
    const checks = t.lockResolver.stats().statusChecks;
    const t0 = Date.now();
    expect(await txn.snapshot.get(k, { timeoutMs: 1000 })).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(t.lockResolver.stats().statusChecks).toBe(checks); // not resolved: skipped
    await txn.commit();
    const later = await t.begin({ pipelined: true });
    expect((await later.get(k))?.toString()).toBe("value1");
    await later.rollback();
  });

  itFault(
    "commits the primary first; others read the committed values while the range is resolved (TestPipelinedCommit)",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const keys = spreadKeys(uniquePrefix("cm"), 100);
      const txn = await t.begin({ pipelined: true });
      for (const [i, k] of keys.entries()) txn.set(k, String(i));
      // the background resolution is held back
      const slow = env.cluster.faults.delay({ rpc: "KvResolveLock", ms: 600 });
      const commitTs = await txn.commit();
      expect(locksOf(env, txn.startTs).length).toBeGreaterThan(50); // secondaries still locked
      // another client reads through the locks: their primary is committed
      const reader = (await env.connect()).txn();
      const snap = await reader.snapshot();
      expect(snap.ts).toBeGreaterThan(commitTs);
      expect(str(await snap.batchGet(keys))).toEqual(keys.map((_, i) => String(i)));
      // a split meanwhile: the range walk still covers every piece
      env.cluster.topology.splitAt([Buffer.from(keys[50] as string)]);
      slow.cancel();
      await t.whenIdle();
      expect(locksOf(env, txn.startTs)).toEqual([]);
      expect(calls("BroadcastTxnStatus")).toBeGreaterThan(0);
      const later = await t.begin({ pipelined: true });
      expect(str(await later.batchGet(keys))).toEqual(keys.map((_, i) => String(i)));
      await later.rollback();
    },
  );

  it("rollback removes the flushed locks in the background; nothing is visible (TestPipelinedRollback)", async () => {
    const t = (await env.connect()).txn();
    const keys = spreadKeys(uniquePrefix("rb"), 100);
    const txn = await t.begin({ pipelined: true });
    for (const [i, k] of keys.entries()) txn.set(k, String(i));
    await txn.flush(true);
    await txn.flushWait();
    expect((await remoteBuffer(txn, keys)).size).toBe(100);
    await txn.rollback();
    expect(txn.state).toBe("rolledBack");
    const probe = (await t.begin({ startTs: txn.startTs, pipelined: true })) as PipelinedTransaction;
    expect(await eventually(async () => (await remoteBuffer(probe, keys)).size === 0)).toBe(true);
    await t.whenIdle();
    expect(locksOf(env, txn.startTs)).toEqual([]);
    const snap = await t.snapshot();
    expect(str(await snap.batchGet(keys))).toEqual(keys.map(() => undefined));
    await probe.rollback();
  });

  it("batch reads are cached until the next flush (TestPipelinedPrefetch)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("pf");
    const keys = Array.from({ length: 20 }, (_, i) => `h${p}${String(i).padStart(2, "0")}`);
    const txn = await t.begin({ pipelined: true });
    for (const [i, k] of keys.entries()) txn.set(k, String(i));
    await txn.flush(true);
    await txn.flushWait();
    const prefetched = keys.filter((_, i) => i % 2 === 0);
    const others = keys.filter((_, i) => i % 2 === 1);
    for (const k of prefetched) expect(str(await txn.batchGet([k]))).toEqual([String(keys.indexOf(k))]);
    let n = calls("KvBufferBatchGet");
    for (const k of prefetched) expect((await txn.get(k))?.toString()).toBe(String(keys.indexOf(k)));
    expect(calls("KvBufferBatchGet")).toBe(n); // from the cache
    for (const k of others) expect((await txn.get(k))?.toString()).toBe(String(keys.indexOf(k)));
    expect(calls("KvBufferBatchGet") - n).toBe(others.length); // not cached: TiKV's buffer
    await txn.flush(true); // clears the cache
    n = calls("KvBufferBatchGet");
    await txn.get(prefetched[0] as string);
    expect(calls("KvBufferBatchGet")).toBe(n + 1);
    await txn.commit();
    await t.whenIdle();

    // snapshot values, own writes and absent keys in one batch; absent ones are cached as such
    const txn2 = await t.begin({ pipelined: true });
    txn2.set(`h${p}new`, "new");
    expect(str(await txn2.batchGet([keys[19] as string, `h${p}new`, `h${p}none`]))).toEqual([
      "19",
      "new",
      undefined,
    ]);
    txn2.delete(keys[19] as string);
    await txn2.flush(true);
    await txn2.flushWait();
    expect(str(await txn2.batchGet([keys[19] as string]))).toEqual([undefined]); // its flushed delete
    n = calls("KvBufferBatchGet");
    expect(await txn2.get(keys[19] as string)).toBeUndefined();
    expect(calls("KvBufferBatchGet")).toBe(n);
    await txn2.rollback();
  });

  it("a reader is not blocked by a running pipelined transaction: it pushes its min commit ts and reads the old value", async () => {
    const t = (await env.connect()).txn();
    const k = `a${uniquePrefix("push")}`;
    const setup = await t.begin();
    setup.set(k, "old");
    await setup.commit();
    const txn = await t.begin({ pipelined: true });
    txn.set(k, "new");
    await txn.flush(true);
    await txn.flushWait();
    const reader = (await env.connect()).txn();
    const snap = await reader.snapshot();
    const t0 = Date.now();
    expect((await snap.get(k))?.toString()).toBe("old");
    expect(Date.now() - t0).toBeLessThan(2000);
    // the commit ts must pass the pushed min commit ts (TiKV says so: the commit is retried)
    const commitTs = await txn.commit();
    expect(commitTs).toBeGreaterThan(snap.ts);
    await t.whenIdle();
    expect((await (await t.snapshot()).get(k))?.toString()).toBe("new");
  });

  it("a flush meeting a newer committed write fails the transaction with a retryable write conflict", async () => {
    const t = (await env.connect()).txn();
    const k = `h${uniquePrefix("wc")}`;
    const txn = await t.begin({ pipelined: true });
    const other = await t.begin();
    other.set(k, "theirs");
    await other.commit();
    txn.set(k, "mine");
    txn.set(`${k}-2`, "mine");
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect((err as WriteConflictError).isRetryable).toBe(true);
    expect(txn.state).toBe("failed");
    await t.whenIdle();
    expect(locksOf(env, txn.startTs)).toEqual([]);
    expect((await (await t.snapshot()).get(k))?.toString()).toBe("theirs");
  });

  it("a flush meeting a newer transaction's lock fails at once with a write conflict", async () => {
    const t = (await env.connect()).txn();
    const k = `q${uniquePrefix("lk")}`;
    const txn = await t.begin({ pipelined: true });
    const newer = await t.currentTimestamp();
    const r = env.cluster.txnEngine.prewrite(
      PrewriteRequest.fromPartial({
        mutations: [{ op: Op.Put, key: Buffer.from(k), value: Buffer.from("x") }],
        primaryLock: Buffer.from(k),
        startVersion: newer,
        lockTtl: 60_000n,
        txnSize: 1n,
        minCommitTs: newer + 1n,
      }),
    );
    expect(r.errors).toEqual([]);
    txn.set(k, "mine");
    await txn.flush(true);
    const err = await txn.flushWait().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect((err as WriteConflictError).conflictStartTs).toBe(newer);
    // the failure sticks: the transaction can only roll back
    await expect(txn.flush(true)).rejects.toBe(err);
    await expect(txn.commit()).rejects.toBe(err);
    expect(txn.state).toBe("failed");
  });

  it("an insert of an existing key fails with KeyAlreadyExistsError carrying the value written", async () => {
    const t = (await env.connect()).txn();
    const k = `a${uniquePrefix("ins")}`;
    const setup = await t.begin();
    setup.set(k, "there");
    await setup.commit();
    const txn = await t.begin({ pipelined: true });
    txn.set(k, "mine", { presumeNotExists: true });
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyAlreadyExistsError);
    expect((err as KeyAlreadyExistsError).value?.toString()).toBe("mine");
    await t.whenIdle();
    expect(locksOf(env, txn.startTs)).toEqual([]);
  });

  it("deletes are flushed and committed; the primary is the first key written", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("del");
    const setup = await t.begin();
    setup.set(`a${p}x`, "1");
    setup.set(`q${p}y`, "2");
    await setup.commit();
    const txn = await t.begin({ pipelined: true });
    txn.delete(`a${p}x`);
    txn.set(`h${p}z`, "3");
    await txn.flush(true);
    await txn.flushWait();
    expect(txn.committer.primary?.toString()).toBe(`a${p}x`);
    expect(await txn.get(`a${p}x`)).toBeUndefined(); // its flushed delete
    expect((await txn.get(`q${p}y`))?.toString()).toBe("2"); // the snapshot
    await txn.commit();
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([`a${p}x`, `h${p}z`, `q${p}y`]))).toEqual([
      undefined,
      "3",
      "2",
    ]);
  });

  it("refuses what pipelined mode cannot do, with typed errors", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin({ pipelined: true, asyncCommit: true, onePC: true });
    expect(txn.protocol.asyncCommit).toBe(false); // silently off, as client-go
    expect(txn.protocol.onePC).toBe(false);
    expect(() => txn.iterate("a", "b")).toThrow(PipelinedUnsupportedError);
    expect(() => txn.iterateReverse("a", "b")).toThrow(PipelinedUnsupportedError);
    await expect(txn.scan("a", "b", 10)).rejects.toBeInstanceOf(PipelinedUnsupportedError);
    await expect(txn.lockKeys(["a"], { waitTimeoutMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const e = (() => {
      try {
        txn.iterate("a", "b");
      } catch (x) {
        return x as PipelinedUnsupportedError;
      }
    })();
    expect(e?.code).toBe("INVALID_TXN");
    expect(e?.operation).toBe("iterate");
    await txn.rollback();
    await expect(t.begin({ pipelined: true, pessimistic: true })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it("lockKeys marks keys as an optimistic transaction does: the flush locks them, and a writer that committed since conflicts", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("plock");
    const [locked, other, written] = [`a${p}locked`, `h${p}other`, `q${p}w`];
    await t.runTransaction(async (w) => w.set(locked, "old"));
    // a lock alone: flushed as a Lock record, committed without changing the value
    const txn = await t.begin({ pipelined: true });
    expect((await txn.getForUpdate(locked))?.toString()).toBe("old");
    await txn.lockKeys([other]);
    txn.set(written, "v");
    const flushes = recordRequests<FlushRequest>(env, "KvFlush");
    await txn.commit();
    flushes.stop();
    const ops = flushes.seen.flatMap((s) => s.req.mutations.map((m) => m.op));
    expect(ops.filter((o) => o === Op.Lock)).toHaveLength(2);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([locked, other, written]))).toEqual([
      "old",
      undefined,
      "v",
    ]);
    // a key locked by a pipelined transaction and written by another that committed after its start
    const loser = await t.begin({ pipelined: true });
    await loser.lockKeys([locked]);
    loser.set(written, "lost");
    await t.runTransaction(async (w) => w.set(locked, "winner"));
    await expect(loser.commit()).rejects.toBeInstanceOf(WriteConflictError);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([locked, written]))).toEqual(["winner", "v"]);
  });

  it("validates the pipelined options as client-go does", async () => {
    const t = (await env.connect()).txn();
    const bad: unknown[] = [
      { flushConcurrency: 0 },
      { resolveLockConcurrency: 0 },
      { flushConcurrency: 1.5 },
      { writeThrottleRatio: 1 },
      { writeThrottleRatio: -0.1 },
      { writeThrottleRatio: Number.NaN },
      "yes",
      null,
    ];
    for (const pipelined of bad) {
      const err = await t.begin({ pipelined: pipelined as never }).catch((x: unknown) => x);
      expect(err, JSON.stringify(pipelined)).toBeInstanceOf(InvalidArgumentError);
    }
    const ok = await t.begin({
      pipelined: { flushConcurrency: 4, resolveLockConcurrency: 2, writeThrottleRatio: 0.5 },
    });
    expect(ok.tuning).toEqual({ flushConcurrency: 4, resolveLockConcurrency: 2, writeThrottleRatio: 0.5 });
    await ok.rollback();
    const plain = await t.begin({ pipelined: false });
    expect(plain).not.toBeInstanceOf(PipelinedTransaction);
    await plain.rollback();
  });

  it("an empty pipelined transaction commits at once; a finished one is refused", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin({ pipelined: true });
    expect(txn.isReadOnly).toBe(true);
    env.cluster.faults.resetCounters();
    expect(await txn.commit()).toBe(0n);
    expect(calls("KvFlush") + calls("KvCommit")).toBe(0);
    expect(() => txn.set("a", "1")).toThrow(InvalidTxnError);
    await expect(txn.get("a")).rejects.toBeInstanceOf(InvalidTxnError);
    const rb = await t.begin({ pipelined: true });
    rb.set("a-nothing-flushed", "1");
    await rb.rollback();
    await rb.rollback(); // twice is fine
    expect(rb.state).toBe("rolledBack");
  });

  it("runTransaction runs a pipelined transaction", async () => {
    const t = (await env.connect()).txn();
    const keys = spreadKeys(uniquePrefix("rt"), 300);
    await t.runTransaction(
      async (txn) => {
        expect(txn).toBeInstanceOf(PipelinedTransaction);
        for (const k of keys) txn.set(k, "v");
      },
      { pipelined: { flushConcurrency: 2, resolveLockConcurrency: 1 } },
    );
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map(() => "v"));
  });

  it("throttles flushes when asked to", async () => {
    const restore = withKnobs({ flushThresholds: smallFlushes(20) });
    try {
      const t = (await env.connect()).txn();
      const keys = spreadKeys(uniquePrefix("thr"), 200);
      const txn = await t.begin({ pipelined: { writeThrottleRatio: 0.9 } });
      const slow = env.cluster.faults.delay({ rpc: "KvFlush", ms: 20 });
      const t0 = Date.now();
      for (const [i, k] of keys.entries()) {
        txn.set(k, "v");
        if (i % 40 === 39) {
          await txn.flush();
          await txn.flushWait(); // the throttle sleep is part of the flush
        }
      }
      slow.cancel();
      // ratio 0.9: each flush after the first sleeps 9x the average flush time (>= 20 ms)
      expect(txn.generation).toBe(5);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4 * 9 * 20);
      await txn.rollback();
    } finally {
      restore();
    }
    await sleep(0);
  });
});
