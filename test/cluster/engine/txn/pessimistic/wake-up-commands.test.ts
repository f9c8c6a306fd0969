// Every lock-releasing command of TxnEngine wakes pessimistic-lock waiters, with the
// releasing txn's start_ts and commit_ts (0 for rollbacks) in the WriteConflict.
// Port of tikv src/storage/mod.rs test_wake_up, against the real TxnEngine commands.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TxnEngine } from "../../../../../src/cluster/engine/txn/txn-engine.js";
import type { PessimisticLockResponse } from "../../../../../src/proto/kvrpcpb.js";
import {
  batchRollbackReq,
  checkTxnStatusReq,
  cleanupReq,
  commitReq,
  heartBeatReq,
  lockReq,
  pessimisticRollbackReq,
  prewriteReq,
  resolveLockReq,
} from "./requests.js";

/** A TSO-like timestamp with `ms` as its physical part. */
const ts = (ms: number, logical = 0) => (BigInt(ms) << 18n) + BigInt(logical);
const KEYS = ["a", "b", "c"];

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe("wake-up of lock waiters by TxnEngine commands (tikv test_wake_up)", () => {
  let engine: TxnEngine;
  beforeEach(() => {
    vi.useFakeTimers();
    engine = new TxnEngine({ now: () => Date.now(), pessimistic: { now: () => Date.now() } });
  });
  afterEach(() => {
    engine.close();
    vi.useRealTimers();
  });

  /** Blocks one request per key from txn `startTs`; returns a probe of their answers. */
  async function lockBlocked(keys: string[], startTs: bigint) {
    const answers: PessimisticLockResponse[] = [];
    for (const k of keys) {
      void engine
        .pessimisticLock(lockReq([k], startTs, startTs, { waitTimeout: 5000n }))
        .then((r) => answers.push(r));
    }
    await flush();
    expect(answers).toEqual([]);
    return {
      answers,
      async expectWokenUp(conflictStartTs: bigint, conflictCommitTs: bigint) {
        await flush();
        expect(answers).toHaveLength(keys.length);
        for (const a of answers) {
          expect(a.errors[0]?.conflict).toMatchObject({
            startTs,
            conflictTs: conflictStartTs,
            conflictCommitTs,
          });
        }
      },
    };
  }

  const prewrite = (keys: string[], startTs: bigint, forUpdateTs = 0n, ttl = 3000n) => {
    const r = engine.prewrite(
      prewriteReq(
        keys.map((k) => [k, "v"]),
        startTs,
        { forUpdateTs, ttl },
      ),
    );
    expect(r.errors).toEqual([]);
  };
  const lockAll = async (keys: string[], startTs: bigint) => {
    const r = await engine.pessimisticLock(lockReq(keys, startTs, startTs));
    expect(r.errors).toEqual([]);
  };

  it("commit", async () => {
    prewrite(KEYS, 10n);
    const h = await lockBlocked(KEYS, 15n);
    expect(engine.commit(commitReq(KEYS, 10n, 20n)).error).toBeUndefined();
    await h.expectWokenUp(10n, 20n);
  });

  it.each([false, true])("cleanup (pessimistic txn: %s)", async (pessimistic) => {
    const start = pessimistic ? 31n : 30n;
    if (pessimistic) await lockAll(["a"], start);
    prewrite(["a"], start, pessimistic ? start : 0n);
    const h = await lockBlocked(["a"], 35n);
    expect(engine.cleanup(cleanupReq("a", start, 0n)).error).toBeUndefined();
    await h.expectWokenUp(start, 0n);
  });

  it.each([false, true])("batch rollback (pessimistic txn: %s)", async (pessimistic) => {
    const start = pessimistic ? 41n : 40n;
    if (pessimistic) await lockAll(KEYS, start);
    prewrite(KEYS, start, pessimistic ? start : 0n);
    const h = await lockBlocked(KEYS, 45n);
    expect(engine.batchRollback(batchRollbackReq(KEYS, start)).error).toBeUndefined();
    await h.expectWokenUp(start, 0n);
  });

  it("pessimistic rollback", async () => {
    await lockAll(KEYS, 50n);
    const h = await lockBlocked(KEYS, 55n);
    expect(engine.pessimisticRollback(pessimisticRollbackReq(KEYS, 50n, 50n)).errors).toEqual([]);
    await h.expectWokenUp(50n, 0n);
  });

  it.each([false, true])("resolve lock with keys (commit: %s)", async (commit) => {
    const start = commit ? 61n : 60n;
    const commitTs = commit ? 62n : 0n;
    prewrite(KEYS, start);
    const h = await lockBlocked(KEYS, 65n);
    expect(engine.resolveLock(resolveLockReq(start, commitTs, KEYS)).error).toBeUndefined();
    await h.expectWokenUp(start, commitTs);
  });

  it("resolve lock by scanning the region (rolled back and committed txns)", async () => {
    await lockAll(KEYS, 70n);
    const committedKeys = ["d", "e", "f"];
    prewrite(committedKeys, 75n);
    const rolledBack = await lockBlocked(KEYS, 76n);
    const committed = await lockBlocked(committedKeys, 76n);
    expect(engine.resolveLock(resolveLockReq(70n, 0n)).error).toBeUndefined();
    await rolledBack.expectWokenUp(70n, 0n);
    expect(engine.resolveLock(resolveLockReq(75n, 76n)).error).toBeUndefined();
    await committed.expectWokenUp(75n, 76n);
  });

  it("txn heart beat does not wake; check_txn_status of an expired lock does", async () => {
    const start = ts(100);
    prewrite(["k"], start, 0n, 100n);
    const h = await lockBlocked(["k"], ts(150));
    expect(engine.txnHeartBeat(heartBeatReq("k", start, 100n)).error).toBeUndefined();
    await flush();
    expect(h.answers).toEqual([]);
    const st = engine.checkTxnStatus(checkTxnStatusReq("k", start, ts(110), ts(201), false));
    expect(st.error).toBeUndefined();
    expect(st.lockTtl).toBe(0n);
    await h.expectWokenUp(start, 0n);
  });
});

describe("lock waiting through TxnEngine", () => {
  let engine: TxnEngine;
  beforeEach(() => {
    vi.useFakeTimers();
    engine = new TxnEngine({ pessimistic: { now: () => Date.now() } });
  });
  afterEach(() => {
    engine.close();
    vi.useRealTimers();
  });

  it("a prewrite that takes a waited-for key makes a resumable waiter detect the new deadlock", async () => {
    // 10 holds k1 and waits (ForceLock) for k2 held by 30; 20 waits for k1.
    expect((await engine.pessimisticLock(lockReq(["k1"], 10n, 10n))).errors).toEqual([]);
    expect((await engine.pessimisticLock(lockReq(["k2"], 30n, 30n))).errors).toEqual([]);
    const answers: PessimisticLockResponse[] = [];
    void engine.pessimisticLock(lockReq(["k1"], 20n, 20n, { waitTimeout: 0n })).then((r) => answers.push(r));
    void engine
      .pessimisticLock(lockReq(["k2"], 10n, 10n, { waitTimeout: 0n, force: true, primary: "k1" }))
      .then((r) => answers.push(r));
    await flush();
    expect(answers).toEqual([]);
    // 30 goes away and 20 prewrites k2 (optimistically) before 10's retry runs.
    expect(engine.pessimisticRollback(pessimisticRollbackReq(["k2"], 30n, 30n)).errors).toEqual([]);
    expect(engine.prewrite(prewriteReq([["k2", "v"]], 20n)).errors).toEqual([]);
    await flush();
    // 10 waits for 20 (k2) while 20 waits for 10 (k1): one of them is told about the deadlock.
    const deadlocked = answers.find((a) => a.errors[0]?.deadlock);
    expect(deadlocked).toBeDefined();
  });

  it("a waiter released by a commit reads nothing stale: its retry sees the new value", async () => {
    expect((await engine.pessimisticLock(lockReq(["k"], 10n, 10n))).errors).toEqual([]);
    const waiting = engine.pessimisticLock(lockReq(["k"], 20n, 20n, { waitTimeout: 0n, returnValues: true }));
    expect(engine.prewrite(prewriteReq([["k", "v10"]], 10n, { forUpdateTs: 10n })).errors).toEqual([]);
    expect(engine.commit(commitReq(["k"], 10n, 25n)).error).toBeUndefined();
    const r = await waiting;
    expect(r.errors[0]?.conflict).toMatchObject({ conflictTs: 10n, conflictCommitTs: 25n });
    // The client retries with a for_update_ts after the commit and gets the value.
    const retry = await engine.pessimisticLock(lockReq(["k"], 20n, 26n, { returnValues: true }));
    expect(retry.errors).toEqual([]);
    expect(retry.values).toEqual([Buffer.from("v10")]);
  });
});
