// client-go integration_tests/lock_test.go, ported by meaning (part 1: reads over locks, status
// lookups, TTLs, zero TTL / zero min_commit_ts, a prewrite meeting a newer lock). Crashed
// transactions are played directly on the embedded engine; the client under test is the
// transactional client and its lock resolver. Mapping: test/ported/txn-lock.md.

import { describe, expect, it } from "vitest";
import { lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import { BackoffExhaustedError, ResolveLockTimeoutError, WriteConflictError } from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  Action,
  type CheckTxnStatusRequest,
  LockInfo,
  Op,
  PrewriteRequest,
  TxnHeartBeatRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import {
  b,
  control,
  engineOps,
  keepClockFresh,
  lockKey,
  putKV,
  recordRpcs,
  sleep,
} from "./ported-lock-helpers.js";

const ALPHABET = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i));

describe.skipIf(skipOnRealCluster("v1"))("client-go lock_test (reads, status, TTL)", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);

  // client-go putAlphabets + prepareAlphabetLocks, under prefix `p`, with the range split in
  // three regions so the reads cross regions:
  //   c: committed "cc", then re-written "c" by a txn whose primary z1 committed
  //   d: locked by a live txn (primary z2) writing "dd"
  //   foo: locked by a live txn (primary z3), no committed value
  //   bar: committed "bar", then deleted by a txn whose primary z4 committed
  async function prepareAlphabet(p: string) {
    const client = await env.connect();
    const t = client.txn();
    const r = env.cluster.topology.locateKey(b(`${p}a`));
    if (!r) throw new Error("no region");
    env.cluster.topology.splitRegion(r.id, [b(`${p}h`), b(`${p}q`)]);
    await t.runTransaction(async (w) => {
      for (const ch of ALPHABET) w.set(`${p}${ch}`, ch);
    });
    await putKV(t, `${p}c`, "cc");
    const base = { ttlMs: 3000n };
    const c = await lockKey(t, ops, {
      ...base,
      key: `${p}c`,
      value: "c",
      primary: `${p}z1`,
      primaryValue: "z1",
      commitPrimary: true,
    });
    const d = await lockKey(t, ops, {
      ...base,
      key: `${p}d`,
      value: "dd",
      primary: `${p}z2`,
      primaryValue: "z2",
      commitPrimary: false,
    });
    const foo = await lockKey(t, ops, {
      ...base,
      key: `${p}foo`,
      value: "foo",
      primary: `${p}z3`,
      primaryValue: "z3",
      commitPrimary: false,
    });
    await putKV(t, `${p}bar`, "bar");
    const bar = await lockKey(t, ops, {
      ...base,
      key: `${p}bar`,
      value: undefined,
      primary: `${p}z4`,
      primaryValue: "z4",
      commitPrimary: true,
    });
    return { client, t, c, d, foo, bar };
  }

  // after the reads: committed owners' locks got committed, live owners' locks stay
  async function expectAlphabetLocksResolved(p: string, t: Awaited<ReturnType<typeof prepareAlphabet>>) {
    expect(t.t.lockResolver.stats().statusChecks).toBeGreaterThan(0);
    await t.t.whenIdle();
    expect(ops.isLocked(`${p}c`)).toBe(false);
    expect(ops.isLocked(`${p}d`)).toBe(true);
    const st = await t.t.lockResolver.getTxnStatus(t.c.startTs, 0n, b(`${p}z1`));
    expect(st.commitTs).toBe(t.c.commitTs);
  }

  itFault(
    "ScanLockResolveWithGet: point gets read through committed locks and around live ones",
    async () => {
      const p = uniquePrefix("slget");
      const s = await prepareAlphabet(p);
      const txn = await s.t.begin();
      for (const ch of ALPHABET) expect((await txn.get(`${p}${ch}`))?.toString()).toBe(ch);
      await expectAlphabetLocksResolved(p, s);
    },
  );

  itFault(
    "ScanLockResolveWithSeek: an iterator over locked keys yields every key and value in order",
    async () => {
      const p = uniquePrefix("slseek");
      const s = await prepareAlphabet(p);
      const txn = await s.t.begin();
      const seen: Array<[string, string]> = [];
      for await (const { key, value } of txn.iterate(`${p}a`, `${p}~`)) {
        seen.push([key.toString(), value.toString()]);
        if (seen.length === ALPHABET.length) break;
      }
      // bar (deleted by a committed txn) and foo (a live txn's first write) are invisible
      expect(seen).toEqual(ALPHABET.map((ch) => [`${p}${ch}`, ch]));
      await expectAlphabetLocksResolved(p, s);
    },
  );

  itFault(
    "ScanLockResolveWithSeekKeyOnly: a key-only iterator over locked keys yields every key",
    async () => {
      const p = uniquePrefix("slkey");
      const s = await prepareAlphabet(p);
      const txn = await s.t.begin({ keyOnly: true });
      const seen: string[] = [];
      for await (const { key, value } of txn.iterate(`${p}a`, `${p}~`)) {
        expect(value.length).toBe(0);
        seen.push(key.toString());
        if (seen.length === ALPHABET.length) break;
      }
      expect(seen).toEqual(ALPHABET.map((ch) => `${p}${ch}`));
      await expectAlphabetLocksResolved(p, s);
    },
  );

  itFault("ScanLockResolveWithBatchGet: a batch get over locked keys returns every value", async () => {
    const p = uniquePrefix("slbget");
    const s = await prepareAlphabet(p);
    const txn = await s.t.begin();
    const got = await txn.batchGet(ALPHABET.map((ch) => `${p}${ch}`));
    expect(got.map((v) => v?.toString())).toEqual(ALPHABET);
    await expectAlphabetLocksResolved(p, s);
  });

  itFault(
    "CleanLock: a writer over 26 keys locked by 26 dead txns waits, rolls them back and commits",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("clean");
      const owners: bigint[] = [];
      for (const ch of ALPHABET) {
        const k = `${p}${ch}`;
        // client-go uses a 3 s TTL; 300 ms keeps the wait short with the same meaning
        const { startTs } = await lockKey(t, ops, {
          key: k,
          value: k,
          primary: k,
          primaryValue: k,
          ttlMs: 300n,
          commitPrimary: false,
        });
        owners.push(startTs);
      }
      const txn = await t.begin();
      for (const ch of ALPHABET) txn.set(`${p}${ch}`, String.fromCharCode(ch.charCodeAt(0) + 1));
      const stop = keepClockFresh(t);
      try {
        await txn.commit();
      } finally {
        stop();
      }
      await t.whenIdle();
      const got = await (await t.snapshot()).batchGet(ALPHABET.map((ch) => `${p}${ch}`));
      expect(got.map((v) => v?.toString())).toEqual(
        ALPHABET.map((ch) => String.fromCharCode(ch.charCodeAt(0) + 1)),
      );
      for (const [i, ch] of ALPHABET.entries()) {
        const st = await t.lockResolver.getTxnStatus(owners[i] as bigint, 0n, b(`${p}${ch}`));
        expect(st).toMatchObject({ ttl: 0n, commitTs: 0n });
      }
    },
  );

  itFault("GetTxnStatus: committed (directly, or via its primary) and alive transactions", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("gts");
    const key = `${p}a`;
    const lr = t.lockResolver;
    const put = await putKV(t, key, "a");
    let st = await lr.getTxnStatus(put.startTs, put.startTs, b(key));
    expect(st.commitTs).toBe(put.commitTs);
    const committed = await lockKey(t, ops, {
      key,
      value: "a",
      primary: key,
      primaryValue: "a",
      ttlMs: 3000n,
      commitPrimary: true,
    });
    st = await lr.getTxnStatus(committed.startTs, committed.startTs, b(key));
    expect(st.commitTs).toBe(committed.commitTs);
    expect(st.ttl).toBe(0n);
    const alive = await lockKey(t, ops, {
      key,
      value: "a",
      primary: key,
      primaryValue: "a",
      ttlMs: 3000n,
      commitPrimary: false,
    });
    st = await lr.getTxnStatus(alive.startTs, alive.startTs, b(key));
    expect(st.commitTs).toBe(0n);
    expect(st.ttl).toBeGreaterThan(0n);
    expect(st.primaryLock?.key).toEqual(b(key));
  });

  itFault("CheckTxnStatusTTL: alive, then rolled back by a forced resolve, and a committed one", async () => {
    const t = (await env.connect()).txn();
    const other = (await env.connect()).txn(); // client-go NewLockResolver: a resolver of its own
    const p = uniquePrefix("ctsttl");
    const key = `${p}key`;
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: key, writes: [[key, "value"]], ttlMs: 1000n });
    const caller = await t.currentTimestamp();
    let st = await t.lockResolver.getTxnStatus(startTs, caller, b(key));
    expect(st.commitTs).toBe(0n);
    expect(st.ttl).toBeGreaterThan(0n);
    // client-go ForceResolveLock: the lock with TTL 0 is resolved whatever its TTL
    const lock = ops.lockOf(key);
    const r = await other.lockResolver.resolveLocks([{ ...lock, ttl: 0n }], {
      callerStartTs: 0n,
      ctl: control(),
    });
    expect(r.msBeforeTxnExpired).toBe(0);
    expect(ops.isLocked(key)).toBe(false);
    st = await t.lockResolver.getTxnStatus(startTs, caller, b(key));
    expect(st).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.NoAction });
    const put = await putKV(t, `${p}a`, "a");
    st = await t.lockResolver.getTxnStatus(put.startTs, caller, b(`${p}a`));
    expect(st).toMatchObject({ ttl: 0n, commitTs: put.commitTs });
  });

  itFault(
    "CheckTxnStatus: a caller pushes min_commit_ts; a zero-TTL resolve rolls the txn back",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const p = uniquePrefix("cts");
      const [key, second] = [`${p}key`, `${p}second`];
      const startTs = await t.currentTimestamp();
      ops.prewrite({
        startTs,
        primary: key,
        writes: [
          [key, "value"],
          [second, "xxx"],
        ],
        ttlMs: 1000n,
      });
      const currentTs = await t.currentTimestamp();
      expect(currentTs).toBeGreaterThan(startTs);
      let st = await t.lockResolver.getTxnStatus(startTs, currentTs, b(key));
      expect(st.commitTs).toBe(0n);
      expect(st.ttl).toBeGreaterThan(0n);
      expect(st.action).toBe(Action.MinCommitTSPushed);
      // the primary's min_commit_ts now lies past the caller
      expect(ops.lockOf(key).minCommitTs).toBeGreaterThan(currentTs);

      // a writer meeting the live secondary must wait
      const lock = ops.lockOf(second);
      const rec = recordRpcs(env, ["KvCheckTxnStatus"]);
      try {
        let r = await t.lockResolver.resolveLocks([lock], { callerStartTs: currentTs, ctl: control() });
        expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
        expect(ops.isLocked(second)).toBe(true);
        // TTL 0 is TiKV's "resolve unconditionally": CheckTxnStatus goes with current_ts = max
        r = await t.lockResolver.resolveLocks([{ ...lock, ttl: 0n }], {
          callerStartTs: currentTs,
          ctl: control(),
        });
        expect(r.msBeforeTxnExpired).toBe(0);
        const last = rec.of("KvCheckTxnStatus").at(-1)?.request as CheckTxnStatusRequest;
        expect(last.currentTs).toBe(MAX_TS);
      } finally {
        rec.stop();
      }
      expect(ops.isLocked(second)).toBe(false);
      expect(ops.isLocked(key)).toBe(false);
      // a resolver that has not cached it sees the rollback record
      const fresh = (await env.connect()).txn();
      await fresh.currentTimestamp(); // see "a fresh client's resolver" below
      st = await fresh.lockResolver.getTxnStatus(startTs, 0n, b(key));
      expect(st).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.NoAction });
      // and the one that resolved it answers from its cache of final statuses
      const hits = t.lockResolver.stats().cacheHits;
      st = await t.lockResolver.getTxnStatus(startTs, 0n, b(key));
      expect(st).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.TTLExpireRollback });
      expect(t.lockResolver.stats().cacheHits).toBe(hits + 1);
      const put = await putKV(t, `${p}a`, "a");
      st = await fresh.lockResolver.getTxnStatus(put.startTs, currentTs, b(`${p}a`));
      expect(st).toMatchObject({ ttl: 0n, commitTs: put.commitTs });
    },
  );

  itFault(
    "CheckTxnStatusNoWait: TxnNotFound while the primary is being prewritten is retried; a missing primary is rolled back once the lock expired",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("ctsnw");
      const [key, second] = [`${p}key`, `${p}second`];
      const startTs = await t.currentTimestamp();
      // only the secondary is prewritten: the primary's prewrite is still on its way
      ops.prewrite({ startTs, primary: key, writes: [[second, "xxx"]], ttlMs: 100_000n, txnSize: 2n });
      const currentTs = await t.currentTimestamp();
      const checks: CheckTxnStatusRequest[] = [];
      const off = env.cluster.faults.onRequest((c) => {
        if (c.rpc !== "KvCheckTxnStatus") return;
        const req = c.request as CheckTxnStatusRequest;
        if (req.lockTs !== startTs) return;
        checks.push(req);
        // the primary's prewrite lands between the first and the second status check
        if (checks.length === 2)
          ops.prewrite({ startTs, primary: key, writes: [[key, "value"]], ttlMs: 100_000n, txnSize: 2n });
      });
      const metrics = control();
      try {
        const lock = { ...ops.lockOf(second), ttl: 100_000n };
        const r = await t.lockResolver.resolveLocks([lock], { callerStartTs: currentTs, ctl: metrics });
        expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
      } finally {
        off();
      }
      expect(checks).toHaveLength(2);
      // the lock is not expired: no rollback of a missing primary, a TxnNotFound backoff instead
      expect(checks.map((c) => c.rollbackIfNotExist)).toEqual([false, false]);
      expect(metrics.bo.totalSleepMs).toBeGreaterThan(0);
      expect(ops.isLocked(key)).toBe(true);
      expect(ops.isLocked(second)).toBe(true);

      // a lock whose primary never appears: TxnNotFound backoffs until the lock expires, then
      // CheckTxnStatus with rollback_if_not_exist writes a rollback (LockNotExistRollback)
      const ghostTs = await t.currentTimestamp();
      const ghost = { ...ops.lockOf(second), startTs: ghostTs, primary: b(`${p}key_not_exist`), ttl: 300n };
      const seen: CheckTxnStatusRequest[] = [];
      const off2 = env.cluster.faults.onRequest((c) => {
        if (c.rpc === "KvCheckTxnStatus" && (c.request as CheckTxnStatusRequest).lockTs === ghostTs)
          seen.push(c.request as CheckTxnStatusRequest);
      });
      // keep the client's low-resolution clock moving (client-go's oracle refreshes it)
      const stop = keepClockFresh(t);
      const ctl = control();
      try {
        const r = await t.lockResolver.resolveLocks([ghost], { callerStartTs: currentTs, ctl });
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        stop();
        off2();
      }
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen[0]?.rollbackIfNotExist).toBe(false);
      expect(seen.at(-1)?.rollbackIfNotExist).toBe(true);
      expect(ctl.bo.totalSleepMs).toBeGreaterThan(0);
      const st = await t.lockResolver.getTxnStatus(ghostTs, 0n, b(`${p}key_not_exist`));
      expect(st).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.LockNotExistRollback });
      // the protected rollback makes a late prewrite of that primary fail
      const late = env.cluster.txnEngine.prewrite(
        PrewriteRequest.fromPartial({
          mutations: [{ op: Op.Put, key: b(`${p}key_not_exist`), value: b("v") }],
          primaryLock: b(`${p}key_not_exist`),
          startVersion: ghostTs,
          lockTtl: 3000n,
          txnSize: 1n,
          minCommitTs: ghostTs + 1n,
        }),
      );
      expect(late.errors.length).toBe(1);
    },
  );

  itFault("CheckTxnStatusNoWait: a TxnNotFound budget that runs out fails the resolution", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("ctsnb");
    const startTs = await t.currentTimestamp();
    ops.prewrite({
      startTs,
      primary: `${p}key`,
      writes: [[`${p}second`, "x"]],
      ttlMs: 100_000n,
      txnSize: 2n,
    });
    const lock = ops.lockOf(`${p}second`);
    const err = await t.lockResolver
      .resolveLocks([lock], { callerStartTs: await t.currentTimestamp(), ctl: control(30) })
      .catch((e) => e);
    // client-go: the TxnNotFound backoff runs out -> ErrResolveLockTimeout
    expect(err).toBeInstanceOf(BackoffExhaustedError);
    expect((err as BackoffExhaustedError).backoffKind).toBe("txnNotFound");
    expect((err as BackoffExhaustedError).cause).toBeInstanceOf(ResolveLockTimeoutError);
    expect(ops.isLocked(`${p}second`)).toBe(true);
  });

  itFault(
    "TxnHeartBeat: the TTL only grows, and a txn rolled back by the resolver cannot be kept alive",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("hb");
      const key = `${p}key`;
      const startTs = await t.currentTimestamp();
      ops.prewrite({ startTs, primary: key, writes: [[key, "value"]], ttlMs: 3000n });
      const hb = (ttl: bigint) =>
        env.cluster.txnEngine.txnHeartBeat(
          TxnHeartBeatRequest.fromPartial({ primaryLock: b(key), startVersion: startTs, adviseLockTtl: ttl }),
        );
      expect(hb(6666n)).toMatchObject({ lockTtl: 6666n, error: undefined });
      expect(hb(5555n)).toMatchObject({ lockTtl: 6666n, error: undefined });
      // the resolver sees the raised TTL
      expect((await t.lockResolver.getTxnStatus(startTs, 0n, b(key))).ttl).toBe(6666n);
      const lock = ops.lockOf(key);
      await t.lockResolver.resolveLocks([{ ...lock, ttl: 0n }], { callerStartTs: 0n, ctl: control() });
      const after = hb(6666n);
      expect(after.error).toBeDefined();
      expect(after.lockTtl).toBe(0n);
    },
  );

  itFault("LockTTL: default TTL, larger for big txns, and the time since begin is added", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("ttl");
    // the TTL each transaction's prewrite carries, by start ts
    const ttls = new Map<bigint, Set<bigint>>();
    const off = env.cluster.faults.onRequest((c) => {
      if (c.rpc !== "KvPrewrite") return;
      const req = c.request as PrewriteRequest;
      const set = ttls.get(req.startVersion) ?? new Set<bigint>();
      set.add(req.lockTtl);
      ttls.set(req.startVersion, set);
    });
    // one TTL for the whole transaction
    const ttlOf = (startTs: bigint) => {
      const set = ttls.get(startTs);
      expect(set?.size).toBe(1);
      return [...(set ?? [])][0];
    };
    const near = (got: bigint | undefined, want: number) => {
      expect(got).toBeDefined();
      expect(Math.abs(Number(got) - want)).toBeLessThanOrEqual(500);
    };
    try {
      // small txn
      let txn = await t.begin();
      txn.set(`${p}ttl_key_1`, "value");
      await sleep(1);
      await txn.commit();
      expect(ttlOf(txn.startTs)).toBeGreaterThanOrEqual(3000n);
      near(ttlOf(txn.startTs), 3000);

      // a huge txn (2048 entries of 1 KiB key + 1 KiB value = 4 MiB): 6000 * sqrt(4) ms
      const start = Date.now();
      txn = await t.begin();
      txn.set(`${p}ttl_key_2`, "value");
      for (let i = 0; i < 2048; i++) {
        const k = `${p}big-${String(i).padStart(5, "0")}-`.padEnd(1024, "k");
        txn.set(k, "v".repeat(1024));
      }
      const elapsed = Date.now() - start;
      await txn.commit();
      near(ttlOf(txn.startTs), 12_000 + elapsed);

      // a txn that read for a while before committing
      const began = Date.now();
      txn = await t.begin();
      await sleep(50);
      txn.set(`${p}ttl_key_3`, "value");
      const readFor = Date.now() - began;
      await txn.commit();
      near(ttlOf(txn.startTs), 3000 + readFor);
      expect(ttlOf(txn.startTs)).toBeGreaterThanOrEqual(3050n);
    } finally {
      off();
    }
  });

  itFault("NewLockZeroTTL: an empty LockInfo is a zero-TTL lock, which is resolved at once", async () => {
    const l = lockDetailsFromLockInfo(LockInfo.fromPartial({}));
    expect(l.ttl).toBe(0n);
    expect(l.startTs).toBe(0n);
    expect(l.useAsyncCommit).toBe(false);
    // a zero-TTL lock of a live txn with a long TTL is rolled back without waiting
    const t = (await env.connect()).txn();
    const p = uniquePrefix("zttl");
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: `${p}k`, writes: [[`${p}k`, "v"]], ttlMs: 60_000n });
    const r = await t.lockResolver.resolveLocks([{ ...ops.lockOf(`${p}k`), ttl: 0n }], {
      callerStartTs: 0n,
      ctl: control(),
    });
    expect(r.msBeforeTxnExpired).toBe(0);
    expect(ops.isLocked(`${p}k`)).toBe(false);
  });

  itFault(
    "ZeroMinCommitTS: a lock with min_commit_ts 0 is never pushed, except by a max-ts reader",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("zmct");
      const key = `${p}key`;
      const startTs = await t.currentTimestamp();
      ops.prewrite({ startTs, primary: key, writes: [[key, "value"]], ttlMs: 1000n, minCommitTs: 0n });
      const lock = ops.lockOf(key);
      expect(lock.minCommitTs).toBe(0n);
      let r = await t.lockResolver.resolveLocks([lock], {
        callerStartTs: 0n,
        forRead: true,
        lite: true,
        ctl: control(),
      });
      expect(r.ignoreLocks).toEqual([]);
      expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
      expect(ops.lockOf(key).minCommitTs).toBe(0n);

      r = await t.lockResolver.resolveLocks([lock], {
        callerStartTs: MAX_TS,
        forRead: true,
        lite: true,
        ctl: control(),
      });
      expect(r.ignoreLocks).toEqual([startTs]);
      expect(r.msBeforeTxnExpired).toBe(0);

      r = await t.lockResolver.resolveLocks([{ ...lock, ttl: 0n }], { callerStartTs: 0n, ctl: control() });
      expect(r.msBeforeTxnExpired).toBe(0);
      expect(ops.isLocked(key)).toBe(false);
    },
  );

  itFault(
    "PrewriteEncountersLargerTsLock: meeting a newer txn's lock is a write conflict, without waiting",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("larger");
      const [k1, k2] = [`${p}k1`, `${p}k2`];
      const t1 = await t.begin();
      t1.set(k1, "v1");
      t1.set(k2, "v2");
      // t2 (newer) has prewritten only its secondary k2 with a 20 s TTL; its primary is pending
      const t2 = await t.currentTimestamp();
      ops.prewrite({ startTs: t2, primary: k1, writes: [[k2, "v2"]], ttlMs: 20_000n, txnSize: 2n });
      const rec = recordRpcs(env, ["KvCheckTxnStatus"]);
      const started = Date.now();
      let err: unknown;
      try {
        err = await Promise.race([
          t1.commit().then(
            () => new Error("committed"),
            (e) => e,
          ),
          sleep(1000).then(() => new Error("still waiting after 1 s")),
        ]);
      } finally {
        rec.stop();
      }
      expect(err).toBeInstanceOf(WriteConflictError);
      expect((err as WriteConflictError).conflictStartTs).toBe(t2);
      expect(Date.now() - started).toBeLessThan(1000);
      // no resolution was attempted against the newer txn
      expect(rec.calls.filter((c) => (c.request as CheckTxnStatusRequest).lockTs === t2)).toEqual([]);
      expect(ops.lockOf(k2).startTs).toBe(t2);
    },
  );
  it("a fresh client's resolver answers status lookups and resolves live locks before any other call", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("fresh");
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: `${p}k`, writes: [[`${p}k`, "v"]], ttlMs: 60_000n });
    const lock = ops.lockOf(`${p}k`);
    const fresh = (await env.connect()).txn();
    const st = await fresh.lockResolver.getTxnStatus(startTs, 0n, b(`${p}k`));
    expect(st.ttl).toBeGreaterThan(0n);
    const again = (await env.connect()).txn();
    const r = await again.lockResolver.resolveLocks([lock], { callerStartTs: startTs + 1n, ctl: control() });
    expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
  });
});
