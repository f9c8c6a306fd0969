// client-go lock resolution tests, ported by meaning (part 2): GC's batch resolve, async-commit
// locks (CheckSecondaryLocks, the min_commit_ts fold, the fall-back to sync commit), resolve for
// read, lite (by key) versus region-wide cleanup, 2pc_test ResolveMixed, lock_resolver_test
// (status cache, background cleanup), and the resolver's own contract: deduplication, the
// final-status cache, TxnNotFound handling. Mapping: test/ported/txn-lock.md.

import { describe, expect, it } from "vitest";
import { makeControl } from "../../../src/actors/runtime/control.js";
import { ClientMetrics } from "../../../src/actors/runtime/metrics.js";
import { AbortedError, ShuttingDownError } from "../../../src/errors/server.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  Action,
  type CheckSecondaryLocksRequest,
  type CheckTxnStatusRequest,
  Op,
  PrewriteRequest_PessimisticAction as PessimisticAction,
  PessimisticLockRequest,
  PrewriteRequest,
  type ResolveLockRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, control, engineOps, keepClockFresh, lockKey, recordRpcs, sleep } from "./ported-lock-helpers.js";

const reqOf = <T>(c: { request?: unknown }) => c.request as T;

describe.skipIf(skipOnRealCluster("v1"))("client-go lock resolution (batch, async, lite, cache)", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);

  /** Splits the region holding `at` there, so a prefix spans two regions. */
  function splitAt(at: string): void {
    const r = env.cluster.topology.locateKey(b(at));
    if (!r) throw new Error("no region");
    env.cluster.topology.splitRegion(r.id, [b(at)]);
  }

  itFault(
    "BatchResolveLocks: GC's batch resolve rolls back a live 2PC txn and commits a live async-commit txn",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("batch");
      const [k1, k2, k3, k4] = ["k1", "k2", "k3", "k4"].map((k) => `${p}${k}`) as [
        string,
        string,
        string,
        string,
      ];
      const ts1 = await t.currentTimestamp();
      ops.prewrite({
        startTs: ts1,
        primary: k1,
        writes: [
          [k1, "v1"],
          [k2, "v2"],
        ],
        ttlMs: 20_000n,
      });
      const ts2 = await t.currentTimestamp();
      const minCommitTs = ops.prewrite({
        startTs: ts2,
        primary: k3,
        writes: [
          [k3, "v3"],
          [k4, "v4"],
        ],
        ttlMs: 20_000n,
        asyncSecondaries: [k4],
      });
      expect(minCommitTs).toBeGreaterThan(ts2);
      const locks = [k1, k2, k3, k4].map(ops.lockOf);
      // none of them has expired
      expect(t.lockResolver.stats().statusChecks).toBe(0);
      const rec = recordRpcs(env, ["KvResolveLock", "KvCheckSecondaryLocks"]);
      try {
        await t.lockResolver.batchResolveLocks(locks, b(k1), control());
      } finally {
        rec.stop();
      }
      // one ResolveLock carrying both transactions' fates
      const resolves = rec.of("KvResolveLock").map((c) => reqOf<ResolveLockRequest>(c));
      expect(resolves).toHaveLength(1);
      const infos = new Map(resolves[0]?.txnInfos.map((i) => [i.txn, i.status]));
      expect(infos).toEqual(
        new Map([
          [ts1, 0n],
          [ts2, minCommitTs],
        ]),
      );
      expect(rec.of("KvCheckSecondaryLocks")).toHaveLength(1);
      expect(ops.scanLocks(p)).toEqual([]);
      const got = await (await t.snapshot()).batchGet([k1, k2, k3, k4]);
      expect(got.map((v) => v?.toString())).toEqual([undefined, undefined, "v3", "v4"]);
    },
  );

  // client-go prepareTxnFallenBackFromAsyncCommit: fb1 (primary) prewritten with async commit
  // listing fb2; fb2's prewrite hits max_commit_ts and falls back to a normal lock. TTL 1 ms.
  async function fallenBack(p: string) {
    const t = (await env.connect()).txn();
    const [fb1, fb2] = [`${p}fb1`, `${p}fb2`];
    const startTs = await t.currentTimestamp();
    const one = ops.prewrite({
      startTs,
      primary: fb1,
      writes: [[fb1, "1"]],
      ttlMs: 1n,
      asyncSecondaries: [fb2],
    });
    expect(one).toBeGreaterThan(0n); // async commit accepted
    const two = ops.prewrite({
      startTs,
      primary: fb1,
      writes: [[fb2, "2"]],
      ttlMs: 1n,
      asyncSecondaries: [],
      maxCommitTs: startTs - 1n,
    });
    expect(two).toBe(0n); // MaxCommitTsTooLarge: fell back
    expect(ops.lockOf(fb1).useAsyncCommit).toBe(true);
    expect(ops.lockOf(fb2).useAsyncCommit).toBe(false);
    await sleep(5);
    await t.currentTimestamp(); // the client's clock now sees the 1 ms TTL as passed
    return { t, fb1, fb2, startTs };
  }

  itFault(
    "CheckLocksFallenBackFromAsyncCommit: a non-async secondary makes the resolver redo the status check as sync commit",
    async () => {
      const p = uniquePrefix("fbchk");
      const { t, fb1, startTs } = await fallenBack(p);
      const lock = ops.lockOf(fb1);
      const st = await t.lockResolver.getTxnStatus(startTs, 0n, b(fb1));
      // CheckTxnStatus never rolls back an async-commit primary: it reports the lock
      expect(st.ttl).toBeGreaterThan(0n);
      expect(st.primaryLock?.key).toEqual(b(fb1));
      expect(st.primaryLock?.useAsyncCommit).toBe(true);
      const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvCheckSecondaryLocks"]);
      try {
        const r = await t.lockResolver.resolveLocks([lock], { callerStartTs: 0n, ctl: control() });
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        rec.stop();
      }
      const seq = rec.calls.map((c) =>
        c.rpc === "KvCheckTxnStatus"
          ? `status(force=${reqOf<CheckTxnStatusRequest>(c).forceSyncCommit})`
          : `secondaries(${reqOf<CheckSecondaryLocksRequest>(c).keys.map(String).join()})`,
      );
      expect(seq).toEqual(["status(force=false)", `secondaries(${p}fb2)`, "status(force=true)"]);
      // the forced check rolled the expired txn back
      const after = await t.lockResolver.getTxnStatus(startTs, 0n, b(fb1));
      expect(after).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.TTLExpireRollback });
    },
  );

  itFault(
    "ResolveTxnFallenBackFromAsyncCommit: resolving the primary's lock rolls the whole txn back",
    async () => {
      const p = uniquePrefix("fbres");
      const { t, fb1, fb2 } = await fallenBack(p);
      const r = await t.lockResolver.resolveLocks([ops.lockOf(fb1)], { callerStartTs: 0n, ctl: control() });
      expect(r.msBeforeTxnExpired).toBe(0);
      expect(ops.isLocked(fb1)).toBe(false);
      const got = await (await t.snapshot()).batchGet([fb1, fb2]);
      expect(got).toEqual([undefined, undefined]);
      await t.whenIdle();
      expect(ops.scanLocks(p)).toEqual([]);
    },
  );

  itFault(
    "BatchResolveTxnFallenBackFromAsyncCommit: GC's batch resolve rolls the fallen-back txn back",
    async () => {
      const p = uniquePrefix("fbbatch");
      const { t, fb1, fb2, startTs } = await fallenBack(p);
      const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvResolveLock"]);
      try {
        await t.lockResolver.batchResolveLocks([ops.lockOf(fb1)], b(fb1), control());
      } finally {
        rec.stop();
      }
      const forced = rec.of("KvCheckTxnStatus").map((c) => reqOf<CheckTxnStatusRequest>(c).forceSyncCommit);
      expect(forced).toEqual([false, true]);
      const infos = rec.of("KvResolveLock").flatMap((c) => reqOf<ResolveLockRequest>(c).txnInfos);
      expect(infos.map((i) => [i.txn, i.status])).toEqual([[startTs, 0n]]);
      const got = await (await t.snapshot()).batchGet([fb1, fb2]);
      expect(got).toEqual([undefined, undefined]);
    },
  );

  itFault(
    "ResolveLocksForRead: which locks a reader may ignore, read through, or must wait for",
    async () => {
      const t = (await env.connect()).txn();
      const other = (await env.connect()).txn();
      const p = uniquePrefix("rfr");
      const k = (s: string) => `${p}${s}`;
      const ignore: bigint[] = [];
      const access: bigint[] = [];
      const locks = [];
      const base = { ttlMs: 3000n };
      // committed before the reader
      let x = await lockKey(t, ops, {
        ...base,
        key: k("k1"),
        value: "v1",
        primary: k("k11"),
        primaryValue: "v11",
        commitPrimary: true,
      });
      access.push(x.startTs);
      locks.push(ops.lockOf(k("k1")));
      // rolled back
      x = await lockKey(t, ops, {
        ...base,
        key: k("k2"),
        value: "v2",
        primary: k("k22"),
        primaryValue: "v22",
        commitPrimary: false,
      });
      await other.lockResolver.resolveLocks([{ ...ops.lockOf(k("k22")), ttl: 0n }], {
        callerStartTs: 0n,
        ctl: control(),
      });
      ignore.push(x.startTs);
      locks.push(ops.lockOf(k("k2")));
      // alive: its min_commit_ts gets pushed past the reader
      x = await lockKey(t, ops, {
        ...base,
        key: k("k3"),
        value: "v3",
        primary: k("k33"),
        primaryValue: "v33",
        commitPrimary: false,
      });
      ignore.push(x.startTs);
      locks.push(ops.lockOf(k("k3")));
      // alive async commit: cannot be pushed and has not expired
      const alive = await lockKey(t, ops, {
        ...base,
        key: k("k4"),
        value: "v4",
        primary: k("k44"),
        primaryValue: "v44",
        commitPrimary: false,
        asyncCommit: true,
      });
      locks.push(ops.lockOf(k("k4")));
      // expired async commit: its secondaries say it committed (before the reader)
      x = await lockKey(t, ops, {
        ttlMs: 1n,
        key: k("k5"),
        value: "v5",
        primary: k("k55"),
        primaryValue: "v55",
        commitPrimary: false,
        asyncCommit: true,
      });
      access.push(x.startTs);
      locks.push(ops.lockOf(k("k5")));
      // committed after the reader started
      const t6 = await t.currentTimestamp();
      ops.prewrite({
        startTs: t6,
        primary: k("k66"),
        writes: [
          [k("k66"), "v66"],
          [k("k6"), "v6"],
        ],
        ttlMs: 3000n,
      });
      const readTs = await t.currentTimestamp();
      const commitTs = await t.currentTimestamp();
      expect(commitTs).toBeGreaterThan(readTs);
      ops.commit(t6, [k("k66")], commitTs);
      ignore.push(t6);
      locks.push(ops.lockOf(k("k6")));

      await sleep(5);
      await t.currentTimestamp(); // k5's 1 ms TTL has passed by the client's clock
      const r = await t.lockResolver.resolveLocks(locks, {
        callerStartTs: readTs,
        forRead: true,
        ctl: control(),
      });
      expect(r.msBeforeTxnExpired).toBeGreaterThan(0); // k4
      expect(r.ignoreLocks).toEqual(ignore);
      expect(r.accessLocks).toEqual(access);
      expect(r.ignoreLocks).not.toContain(alive.startTs);
      expect(r.accessLocks).not.toContain(alive.startTs);
      await t.whenIdle();
      // the reader's background cleanup committed k1 and k5 and rolled back k2
      for (const key of ["k1", "k2", "k5", "k55", "k6"]) expect(ops.isLocked(k(key)), key).toBe(false);
      expect(ops.isLocked(k("k4"))).toBe(true);
      const snap = await t.snapshot(readTs);
      expect((await snap.batchGet([k("k1"), k("k5"), k("k6")])).map((v) => v?.toString())).toEqual([
        "v1",
        "v5",
        undefined,
      ]);
    },
  );

  // client-go TestBatchLiteResolveLocksByRegion: three committed txns whose secondaries are met
  // at once; small ones are resolved by key, batched per region, the large one region-wide.
  async function liteCase(name: string, forRead: boolean) {
    const t = (await env.connect()).txn();
    const p = uniquePrefix(`lite${name}`);
    const k = (s: string) => `${p}${s}`;
    splitAt(k("multi_m"));
    async function prepare(primary: string, secondaries: string[], txnSize: bigint) {
      const startTs = await t.currentTimestamp();
      ops.prewrite({
        startTs,
        primary,
        writes: [
          [primary, "primary_value"],
          ...secondaries.map((s, i) => [s, `secondary_value_${i}`] as const),
        ],
        ttlMs: 3000n,
        txnSize,
      });
      const commitTs = await t.currentTimestamp();
      ops.commit(startTs, [primary], commitTs);
      return { startTs, commitTs, locks: secondaries.map(ops.lockOf) };
    }
    const multiKeys = [k("multi_a1"), k("multi_a2"), k("multi_z1")];
    const multi = await prepare(k("multi_primary"), multiKeys, 4n);
    const single = await prepare(k("single_primary"), [k("single_secondary")], 2n);
    const large = await prepare(k("region_primary"), [k("region_secondary")], 600n);
    const r1 = env.cluster.topology.locateKey(b(k("multi_a1")))?.id;
    const r2 = env.cluster.topology.locateKey(b(k("multi_z1")))?.id;
    expect(r1).not.toBe(r2);
    const caller = forRead ? await t.currentTimestamp() : 0n;
    // hold every ResolveLock for a while: a write resolution waits for them, a read does not
    const held = env.cluster.faults.delay({ rpc: "KvResolveLock", ms: 500, count: 4 });
    const rec = recordRpcs(env, ["KvResolveLock"]);
    const started = Date.now();
    try {
      const r = await t.lockResolver.resolveLocks([...multi.locks, ...single.locks, ...large.locks], {
        callerStartTs: caller,
        forRead,
        ctl: control(),
      });
      const took = Date.now() - started;
      expect(r.msBeforeTxnExpired).toBe(0);
      if (forRead) {
        expect(r.accessLocks).toEqual([multi.startTs, single.startTs, large.startTs]);
        expect(took).toBeLessThan(500);
        expect(ops.scanLocks(p).length).toBeGreaterThan(0); // cleanup still running
        await t.lockResolver.whenIdle();
      } else {
        expect(took).toBeGreaterThanOrEqual(490);
      }
    } finally {
      rec.stop();
      held.cancel();
    }
    expect(ops.scanLocks(p)).toEqual([]);
    const byTxn = new Map<bigint, { region: bigint | undefined; req: ResolveLockRequest }[]>();
    for (const c of rec.calls) {
      const req = reqOf<ResolveLockRequest>(c);
      const list = byTxn.get(req.startVersion) ?? [];
      list.push({ region: c.regionId, req });
      byTxn.set(req.startVersion, list);
    }
    expect(rec.calls).toHaveLength(4);
    expect(byTxn.size).toBe(3);
    const m = byTxn.get(multi.startTs) ?? [];
    expect(m).toHaveLength(2);
    expect(m.every((x) => x.req.commitVersion === multi.commitTs)).toBe(true);
    expect(m.flatMap((x) => x.req.keys.map(String)).sort()).toEqual([...multiKeys].sort());
    expect(m.map((x) => x.region).sort()).toEqual([r1, r2].sort());
    const s = byTxn.get(single.startTs) ?? [];
    expect(s.map((x) => [x.req.commitVersion, x.req.keys.map(String)])).toEqual([
      [single.commitTs, [k("single_secondary")]],
    ]);
    const l = byTxn.get(large.startTs) ?? [];
    expect(l.map((x) => [x.req.commitVersion, x.req.keys])).toEqual([[large.commitTs, []]]);
  }

  itFault(
    "BatchLiteResolveLocksByRegion (write): lite locks batched per txn and region, large txn region-wide, synchronous",
    () => liteCase("w", false),
  );

  itFault("BatchLiteResolveLocksByRegion (for read): same requests, run in the background", () =>
    liteCase("r", true),
  );

  // client-go snapshot get resolves lite (NewClientHelper(..., true)), batchGet does not
  itFault(
    "a point get meeting a large committed txn's lock resolves only that key; a batchGet resolves its region",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const p = uniquePrefix("getlite");
      const [primary, a, c] = [`${p}primary`, `${p}a`, `${p}c`];
      const startTs = await t.currentTimestamp();
      ops.prewrite({
        startTs,
        primary,
        writes: [
          [primary, "p"],
          [a, "a"],
          [c, "c"],
        ],
        ttlMs: 3000n,
        txnSize: 600n, // large: region-wide cleanup unless the caller asks for lite
      });
      ops.commit(startTs, [primary], await t.currentTimestamp());
      const rec = recordRpcs(env, ["KvResolveLock"]);
      try {
        const snap = await t.snapshot();
        expect((await snap.get(a))?.toString()).toBe("a");
        await t.lockResolver.whenIdle();
        expect(rec.calls.map((x) => reqOf<ResolveLockRequest>(x).keys.map(String))).toEqual([[a]]);
        expect(ops.lockOf(c)).toBeDefined(); // the get left the other secondary alone
        rec.calls.length = 0;
        // a new snapshot (this one reads through the owner's locks from now on)
        expect((await (await t.snapshot()).batchGet([c])).map(String)).toEqual(["c"]);
        await t.lockResolver.whenIdle();
        expect(rec.calls.map((x) => reqOf<ResolveLockRequest>(x).keys)).toEqual([[]]);
      } finally {
        rec.stop();
      }
    },
  );

  itFault(
    "BatchLiteResolveLocksForReadIgnoresInlineCleanupError: a failing cleanup does not fail the read",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("rdfail");
      const [key, primary] = [`${p}key`, `${p}primary`];
      const { startTs } = await lockKey(t, ops, {
        key,
        value: "value",
        primary,
        primaryValue: "primary_value",
        ttlMs: 3000n,
        commitPrimary: true,
      });
      const lock = { ...ops.lockOf(key), txnSize: 1n };
      const caller = await t.currentTimestamp();
      const fault = env.cluster.faults.failNext({
        rpc: "KvResolveLock",
        key,
        error: { keyError: { abort: "injected cleanup failure" } },
      });
      const r = await t.lockResolver.resolveLocks([lock], {
        callerStartTs: caller,
        forRead: true,
        lite: true,
        ctl: control(),
      });
      expect(r).toEqual({ msBeforeTxnExpired: 0, ignoreLocks: [], accessLocks: [startTs] });
      await t.lockResolver.whenIdle();
      expect(fault.fired).toBe(1);
      expect(ops.isLocked(key)).toBe(true);
      // a later (write) resolution cleans it up
      await t.lockResolver.resolveLocks([{ ...ops.lockOf(key), ttl: 0n }], {
        callerStartTs: 0n,
        ctl: control(),
      });
      expect(ops.isLocked(key)).toBe(false);
    },
  );

  itFault(
    "ResolveMixed (2pc_test): resolving one lock of a large dead txn region-wide also clears its pessimistic lock",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("mixed");
      const pk = `${p}pk`;
      const secondaries = Array.from(
        { length: 16 },
        (_, i) => `${p}optimisticLockKey${String(i).padStart(2, "0")}`,
      );
      const pessimisticKey = `${p}pessimisticLockKey`;
      const startTs = await t.currentTimestamp();
      const engine = env.cluster.txnEngine;
      const lockPessimistic = (key: string, ts: bigint, forUpdateTs: bigint, primary: string) =>
        engine.pessimisticLock(
          PessimisticLockRequest.fromPartial({
            mutations: [{ op: Op.PessimisticLock, key: b(key) }],
            primaryLock: b(primary),
            startVersion: ts,
            forUpdateTs,
            lockTtl: 100n,
            waitTimeout: -1n,
          }),
        );
      expect((await lockPessimistic(pk, startTs, startTs, pk)).errors).toEqual([]);
      // the optimistic part of the pessimistic txn, big enough for region-wide cleanup
      const pre = engine.prewrite(
        PrewriteRequest.fromPartial({
          mutations: [
            { op: Op.Lock, key: b(pk) },
            ...secondaries.map((k, i) => ({ op: Op.Put, key: b(k), value: b(`v${i}`) })),
          ],
          pessimisticActions: [
            PessimisticAction.DO_PESSIMISTIC_CHECK,
            ...secondaries.map(() => PessimisticAction.SKIP_PESSIMISTIC_CHECK),
          ],
          primaryLock: b(pk),
          startVersion: startTs,
          forUpdateTs: startTs,
          lockTtl: 100n,
          txnSize: 600n,
          minCommitTs: startTs + 1n,
        }),
      );
      expect(pre.errors).toEqual([]);
      expect((await lockPessimistic(pessimisticKey, startTs, startTs, pk)).errors).toEqual([]);
      expect(ops.lockOf(pessimisticKey).lockType).toBe(Op.PessimisticLock);
      const optimistic = ops.lockOf(secondaries[0] as string);
      expect(optimistic.lockType).toBe(Op.Put);
      expect(optimistic.primary).toEqual(b(pk));
      // the owner is gone: its locks expire
      await sleep(150);
      await t.currentTimestamp();
      const rec = recordRpcs(env, ["KvResolveLock", "KVPessimisticRollback"]);
      try {
        const r = await t.lockResolver.resolveLocks([optimistic], { callerStartTs: 0n, ctl: control() });
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        rec.stop();
      }
      // one region-wide ResolveLock, nothing key by key
      expect(rec.calls.map((c) => [c.rpc, reqOf<ResolveLockRequest>(c).keys?.length ?? -1])).toEqual([
        ["KvResolveLock", 0],
      ]);
      expect(ops.scanLocks(p)).toEqual([]);
      // another txn locks the pessimistic key without waiting
      const ts2 = await t.currentTimestamp();
      expect((await lockPessimistic(pessimisticKey, ts2, ts2, pessimisticKey)).errors).toEqual([]);
    },
  );

  it("LockResolverCache: an async-commit txn's cached final status resolves its other locks without CheckSecondaryLocks", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("accache");
    const [k1, k2] = [`${p}k1`, `${p}k2`];
    const startTs = await t.currentTimestamp();
    const minCommitTs = ops.prewrite({
      startTs,
      primary: k1,
      writes: [
        [k1, "v1"],
        [k2, "v2"],
      ],
      ttlMs: 1n,
      asyncSecondaries: [k2],
    });
    const lock1 = ops.lockOf(k1);
    const lock2 = ops.lockOf(k2);
    await sleep(5);
    await t.currentTimestamp();
    // first resolution: the expired async-commit txn is decided from its secondaries
    await t.lockResolver.resolveLocks([lock1], { callerStartTs: 0n, ctl: control() });
    expect(ops.scanLocks(p)).toEqual([]);
    const st = await t.lockResolver.getTxnStatus(startTs, 0n, b(k1));
    expect(st.commitTs).toBe(minCommitTs);
    // a lock of the same txn met later: the cached final status is used as it is
    const before = t.lockResolver.stats();
    const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvCheckSecondaryLocks", "KvResolveLock"]);
    try {
      const r = await t.lockResolver.resolveLocks([lock2], { callerStartTs: 0n, ctl: control() });
      expect(r.msBeforeTxnExpired).toBe(0);
    } finally {
      rec.stop();
    }
    expect(t.lockResolver.stats().cacheHits).toBe(before.cacheHits + 1);
    expect(rec.of("KvCheckTxnStatus")).toEqual([]);
    expect(rec.of("KvCheckSecondaryLocks")).toEqual([]);
    const got = await (await t.snapshot()).batchGet([k1, k2]);
    expect(got.map((v) => v?.toString())).toEqual(["v1", "v2"]);
  });

  itFault("TryAsyncResolve: read cleanups run in the background and are awaited by whenIdle", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("bg");
    const owners = [];
    for (let i = 0; i < 3; i++) {
      const o = await lockKey(t, ops, {
        key: `${p}k${i}`,
        value: "v",
        primary: `${p}p${i}`,
        primaryValue: "pv",
        ttlMs: 3000n,
        commitPrimary: true,
      });
      owners.push({ ...o, lock: ops.lockOf(`${p}k${i}`) });
    }
    const held = env.cluster.faults.delay({ rpc: "KvResolveLock", ms: 200, count: 3 });
    try {
      const caller = await t.currentTimestamp();
      const rs = await Promise.all(
        owners.map((o) =>
          t.lockResolver.resolveLocks([o.lock], { callerStartTs: caller, forRead: true, ctl: control() }),
        ),
      );
      expect(rs.map((r) => r.accessLocks)).toEqual(owners.map((o) => [o.startTs]));
      // three cleanups are still running
      expect(ops.scanLocks(p).filter((l) => l.key.toString().startsWith(`${p}k`))).toHaveLength(3);
      await t.lockResolver.whenIdle();
      expect(held.fired).toBe(3);
      expect(ops.scanLocks(p)).toEqual([]);
    } finally {
      held.cancel();
    }
  });

  it("a closed resolver refuses new work with ShuttingDownError", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("closed");
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: `${p}k`, writes: [[`${p}k`, "v"]], ttlMs: 3000n });
    const lock = ops.lockOf(`${p}k`);
    t.lockResolver.close();
    const err = await Promise.race([
      t.lockResolver.resolveLocks([lock], { callerStartTs: 0n, ctl: control() }).catch((e) => e),
      sleep(2000).then(() => new Error("resolveLocks did not settle")),
    ]);
    expect(err).toBeInstanceOf(ShuttingDownError);
  });

  it("closing the resolver fails the resolutions it is running", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("closing");
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: `${p}k`, writes: [[`${p}k`, "v"]], ttlMs: 3000n });
    const lock = ops.lockOf(`${p}k`);
    const held = env.cluster.faults.delay({ rpc: "KvCheckTxnStatus", ms: 300, count: 1 });
    try {
      const pending = t.lockResolver
        .resolveLocks([lock], { callerStartTs: 0n, ctl: control() })
        .catch((e) => e);
      await sleep(50);
      t.lockResolver.close();
      const err = await Promise.race([pending, sleep(2000).then(() => new Error("did not settle"))]);
      expect(err).toBeInstanceOf(ShuttingDownError);
    } finally {
      held.cancel();
    }
  });

  itFault("concurrent resolutions of one txn share one status check and one cleanup", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("dedup");
    const { startTs } = await lockKey(t, ops, {
      key: `${p}k`,
      value: "v",
      primary: `${p}p`,
      primaryValue: "pv",
      ttlMs: 3000n,
      commitPrimary: true,
    });
    const lock = ops.lockOf(`${p}k`);
    const caller = await t.currentTimestamp();
    const before = t.lockResolver.stats();
    const held = env.cluster.faults.delay({ rpc: "KvCheckTxnStatus", ms: 100, count: 1 });
    const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvResolveLock"]);
    let rs: Awaited<ReturnType<typeof t.lockResolver.resolveLocks>>[] = [];
    try {
      rs = await Promise.all(
        [1, 2, 3].map(() => t.lockResolver.resolveLocks([lock], { callerStartTs: caller, ctl: control() })),
      );
    } finally {
      rec.stop();
      held.cancel();
    }
    expect(rs.map((r) => r.msBeforeTxnExpired)).toEqual([0, 0, 0]);
    const after = t.lockResolver.stats();
    expect(after.deduplicated - before.deduplicated).toBe(2);
    expect(after.resolutions - before.resolutions).toBe(1);
    expect(after.statusChecks - before.statusChecks).toBe(1);
    expect(
      rec.of("KvCheckTxnStatus").filter((c) => reqOf<CheckTxnStatusRequest>(c).lockTs === startTs),
    ).toHaveLength(1);
    expect(rec.of("KvResolveLock")).toHaveLength(1);
    expect(ops.isLocked(`${p}k`)).toBe(false);
  });

  it("a caller joining a resolution is not failed by the first caller's cancellation", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("dedupabort");
    const startTs = await t.currentTimestamp();
    ops.prewrite({ startTs, primary: `${p}k`, writes: [[`${p}k`, "v"]], ttlMs: 1n });
    const lock = ops.lockOf(`${p}k`);
    await sleep(5);
    await t.currentTimestamp();
    const held = env.cluster.faults.delay({ rpc: "KvCheckTxnStatus", ms: 200, count: 1 });
    const ac = new AbortController();
    try {
      const first = t.lockResolver
        .resolveLocks([lock], {
          callerStartTs: 0n,
          ctl: makeControl({
            maxBackoffMs: 20_000,
            timeoutMs: 0,
            metrics: new ClientMetrics(),
            signal: ac.signal,
          }),
        })
        .catch((e) => e);
      const second = t.lockResolver
        .resolveLocks([lock], { callerStartTs: 0n, ctl: control() })
        .catch((e) => e);
      await sleep(20);
      ac.abort();
      expect(await first).toBeInstanceOf(AbortedError);
      expect(await second).toMatchObject({ msBeforeTxnExpired: 0 });
      expect(ops.isLocked(`${p}k`)).toBe(false);
    } finally {
      held.cancel();
    }
  });

  itFault("the final-status cache answers later lookups and resolutions without CheckTxnStatus", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("cache");
    const startTs = await t.currentTimestamp();
    ops.prewrite({
      startTs,
      primary: `${p}p`,
      writes: [
        [`${p}p`, "pv"],
        [`${p}a`, "va"],
        [`${p}b`, "vb"],
      ],
      ttlMs: 3000n,
    });
    const commitTs = await t.currentTimestamp();
    ops.commit(startTs, [`${p}p`], commitTs);
    const [la, lb] = [ops.lockOf(`${p}a`), ops.lockOf(`${p}b`)];
    await t.lockResolver.resolveLocks([la], { callerStartTs: 0n, ctl: control() });
    const before = t.lockResolver.stats();
    const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvResolveLock"]);
    try {
      const st = await t.lockResolver.getTxnStatus(startTs, 0n, b(`${p}p`));
      expect(st.commitTs).toBe(commitTs);
      await t.lockResolver.resolveLocks([lb], { callerStartTs: 0n, ctl: control() });
    } finally {
      rec.stop();
    }
    const after = t.lockResolver.stats();
    expect(after.cacheHits - before.cacheHits).toBe(2);
    expect(after.statusChecks).toBe(before.statusChecks);
    expect(rec.of("KvCheckTxnStatus")).toEqual([]);
    expect(rec.of("KvResolveLock").map((c) => reqOf<ResolveLockRequest>(c).commitVersion)).toEqual([
      commitTs,
    ]);
    expect(ops.scanLocks(p)).toEqual([]);
    // live statuses are never cached
    const liveTs = await t.currentTimestamp();
    ops.prewrite({ startTs: liveTs, primary: `${p}live`, writes: [[`${p}live`, "v"]], ttlMs: 60_000n });
    const checks = t.lockResolver.stats().statusChecks;
    await t.lockResolver.getTxnStatus(liveTs, 0n, b(`${p}live`));
    await t.lockResolver.getTxnStatus(liveTs, 0n, b(`${p}live`));
    expect(t.lockResolver.stats().statusChecks).toBe(checks + 2);
  });

  itFault(
    "small txns are resolved by key (primary skipped), large ones once per region, lite forces by key",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("size");
      const k = (s: string) => `${p}${s}`;
      splitAt(k("m"));
      async function committed(keys: string[], txnSize: bigint) {
        const startTs = await t.currentTimestamp();
        ops.prewrite({
          startTs,
          primary: keys[0] as string,
          writes: keys.map((x) => [x, "v"] as const),
          ttlMs: 3000n,
          txnSize,
        });
        ops.commit(startTs, [keys[0] as string], await t.currentTimestamp());
        return { startTs, locks: keys.slice(1).map(ops.lockOf) };
      }
      const run = async (locks: Parameters<typeof t.lockResolver.resolveLocks>[0], lite = false) => {
        const rec = recordRpcs(env, ["KvResolveLock"]);
        try {
          await t.lockResolver.resolveLocks(locks, { callerStartTs: 0n, lite, ctl: control() });
        } finally {
          rec.stop();
        }
        return rec.calls.map((c) => ({
          region: c.regionId,
          keys: reqOf<ResolveLockRequest>(c).keys.map(String).sort(),
        }));
      };
      const regionOf = (key: string) => env.cluster.topology.locateKey(b(key))?.id;

      // large: three locks in region 1, one in region 2 -> one key-less request per region
      const large = await committed([k("lp"), k("la1"), k("la2"), k("la3"), k("z1")], 600n);
      let calls = await run(large.locks);
      expect(calls.map((c) => c.keys)).toEqual([[], []]);
      expect(calls.map((c) => c.region).sort()).toEqual([regionOf(k("la1")), regionOf(k("z1"))].sort());
      expect(ops.scanLocks(p)).toEqual([]);

      // small: the keys, per region; the primary's lock (met too) needs no request
      const small = await committed([k("sp"), k("a_s1"), k("z_s1")], 3n);
      const primaryLock = { ...small.locks[0], key: b(k("sp")) } as (typeof small.locks)[0];
      calls = await run([primaryLock, ...small.locks]);
      expect(calls.map((c) => c.keys).sort()).toEqual([[k("a_s1")], [k("z_s1")]]);
      expect(ops.scanLocks(p)).toEqual([]);

      // lite: a large txn's locks resolved by key
      const forced = await committed([k("fp"), k("fa1"), k("fa2")], 600n);
      calls = await run(forced.locks, true);
      expect(calls.map((c) => c.keys)).toEqual([[k("fa1"), k("fa2")]]);
      expect(ops.scanLocks(p)).toEqual([]);
    },
  );

  itFault(
    "TxnNotFound: backoffs while the lock lives, then rollback-if-not-exist once it expired",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("notfound");
      const startTs = await t.currentTimestamp();
      // a secondary whose primary was never written
      ops.prewrite({
        startTs,
        primary: `${p}primary`,
        writes: [[`${p}sec`, "v"]],
        ttlMs: 200n,
        txnSize: 2n,
      });
      const lock = ops.lockOf(`${p}sec`);
      const rec = recordRpcs(env, ["KvCheckTxnStatus", "KvResolveLock"]);
      const stop = keepClockFresh(t);
      const ctl = control();
      const started = Date.now();
      try {
        const r = await t.lockResolver.resolveLocks([lock], { callerStartTs: startTs + 1n, ctl });
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        stop();
        rec.stop();
      }
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      const checks = rec.of("KvCheckTxnStatus").map((c) => reqOf<CheckTxnStatusRequest>(c));
      expect(checks.length).toBeGreaterThanOrEqual(3);
      expect(checks.slice(0, -1).every((c) => !c.rollbackIfNotExist)).toBe(true);
      expect(checks.at(-1)?.rollbackIfNotExist).toBe(true);
      expect(checks.every((c) => c.currentTs !== MAX_TS)).toBe(true);
      expect(ctl.bo.totalSleepMs).toBeGreaterThan(0);
      // the txn was rolled back (a protected rollback on the primary) and the secondary cleaned up
      const st = await t.lockResolver.getTxnStatus(startTs, 0n, b(`${p}primary`));
      expect(st).toMatchObject({ ttl: 0n, commitTs: 0n, action: Action.LockNotExistRollback });
      expect(rec.of("KvResolveLock").map((c) => reqOf<ResolveLockRequest>(c).commitVersion)).toEqual([0n]);
      expect(ops.isLocked(`${p}sec`)).toBe(false);
    },
  );

  itFault(
    "a shared TxnNotFound resolution outlives the caller that started it: its abort does not fail the others",
    async () => {
      // two prewrites (caller ts 0) meeting the same lock share one resolution; the first one's
      // batch is cancelled (another batch of its txn failed) while the resolution waits on
      // TxnNotFound — the second must still get the lock resolved, not an AbortedError
      const t = (await env.connect()).txn();
      const p = uniquePrefix("notfound-shared");
      const startTs = await t.currentTimestamp();
      ops.prewrite({
        startTs,
        primary: `${p}primary`,
        writes: [[`${p}sec`, "v"]],
        ttlMs: 300n,
        txnSize: 2n,
      });
      const lock = ops.lockOf(`${p}sec`);
      const fresh = keepClockFresh(t);
      const owner = new AbortController();
      const ownerCtl = makeControl({
        maxBackoffMs: 20_000,
        timeoutMs: 0,
        metrics: new ClientMetrics(),
        signal: owner.signal,
      });
      try {
        const first = t.lockResolver.resolveLocks([lock], { callerStartTs: 0n, ctl: ownerCtl });
        const second = t.lockResolver.resolveLocks([lock], { callerStartTs: 0n, ctl: control() });
        await sleep(60);
        owner.abort(new Error("another batch failed"));
        await expect(first).rejects.toBeInstanceOf(AbortedError);
        const r = await second;
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        fresh();
      }
      expect(t.lockResolver.stats().deduplicated).toBeGreaterThanOrEqual(1);
      expect(ops.isLocked(`${p}sec`)).toBe(false);
    },
  );
});
