// The lock-resolution model's paths replayed against the embedded cluster through the real
// client: `txnClient.lockResolver.resolveLocks(...)` (TikvClient → txn → lockResolver, with a
// RequestControl from makeControl), over a cluster of three regions. A crashed transaction is
// played with the cluster's engine: its lock on a secondary S is what the caller met (optimistic,
// expired by the client's clock, or pessimistic; an async-commit secondary when the path goes
// through async commit), and a request hook on CheckTxnStatus arranges the primary P before each
// status check as the path's next event says (nothing written: TxnNotFound; prewritten with a
// long TTL: alive; committed; rolled back; prewritten with an expired TTL; an expired async-commit
// primary listing S and S2; a lock whose primary is another key: PrimaryMismatch; or an injected
// KeyError). The other secondary S2 is still locked, committed, missing, or not an async-commit
// lock, as the path's CheckSecondaryLocks event says; CLEANUP_FAILED is a KeyError on the first
// ResolveLock / PessimisticRollback.
//
// A pipelined path plays a crashed pipelined transaction: generation 1 flushed (KvFlush, through
// the engine) S, SR (in S's region) and S2 (in the third region), and the primary P is flushed
// later, as generation 2, when the path's status answer needs it (a live primary has the longer
// TTL its heartbeats gave it); its commit, when the path commits it, is the primary commit whose
// range resolution never ran, so the secondaries are left locked.
//
// Checked per path, from the model: the result (msBeforeTxnExpired for live locks, ignoreLocks /
// accessLocks for reads) or the typed error; the RPCs sent (one CheckTxnStatus per status event,
// one CheckSecondaryLocks per secondary region and round, cleanup RPCs only after a final status;
// a pipelined lock's cleanup is one region-wide ResolveLock, or for a point get one ResolveLock of
// its key); and the server state afterwards (lockResolver.whenIdle() first, reads clean up in the
// background): the locks left, and what was committed or rolled back (a pipelined lock's rollback
// is protected). Then what another transaction reads: the committed value, or the value the
// lock's owner overwrote (rolled back, alive: with the primary's min_commit_ts pushed past the
// reader, a pessimistic lock: never a write); for pipelined paths every key, the keys still
// locked resolved from the cached status.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeControl } from "../../src/actors/runtime/control.js";
import { ClientMetrics } from "../../src/actors/runtime/metrics.js";
import type { TxnClient } from "../../src/api/txn-client.js";
import type { CallInfo, FaultError } from "../../src/cluster/faults/types.js";
import { BackoffExhaustedError, ShuttingDownError } from "../../src/errors/index.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../src/errors/txn.js";
import { MAX_TS } from "../../src/kv/timestamp.js";
import { lockResolutionMachine } from "../../src/machines/lock-resolution.js";
import {
  BatchRollbackRequest,
  CommitRequest,
  FlushRequest,
  MvccGetByKeyRequest,
  type MvccInfo,
  Op,
  PessimisticLockRequest,
  PrewriteRequest,
  type ResolveLockRequest,
  ScanLockRequest,
} from "../../src/proto/kvrpcpb.js";
import { isRealCluster, uniquePrefix, useCluster } from "../support/cluster.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import {
  CHECK_EVENTS,
  type LockResolutionModelContext,
  lockResolutionModel,
  SECONDARY_EVENTS,
} from "./lock-resolution-model.js";
import { type ModelPath, modelPaths } from "./paths.js";

const b = (s: string) => Buffer.from(s);
/** The crashed transaction started this long ago (ms): a TTL below it has expired, one above it has not. */
const AGE_MS = 10_000n;
const EXPIRED_TTL = 1_000n;
const LIVE_TTL = 60_000n;
/** A flushed lock's TTL (client-go ManagedLockTTL): 10 s left; heartbeats extend only the primary's. */
const FLUSH_TTL = 20_000n;
/** The txn size of a flushed lock: unknown, so u64::MAX (TiKV flush.rs), never resolved lite by size. */
const PIPELINED_TXN_SIZE = 0xffff_ffff_ffff_ffffn;
/** A rollback record's short value when it is protected (TiKV PROTECTED_ROLLBACK_SHORT_VALUE). */
const PROTECTED = "p";
const KEY_ERROR: FaultError = { keyError: { abort: "injected: rpc failed" } };
const CLEANUP_RPCS = new Set(["KvResolveLock", "KVPessimisticRollback"]);

describe.skipIf(isRealCluster)("lock resolution paths on the embedded cluster", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  let t: TxnClient;
  const real = new MachineCoverage("lockResolution", lockResolutionMachine);
  const { all, covering } = modelPaths("lock resolution model", lockResolutionModel);
  // every simple path (each takes a few ms: engine calls and a handful of RPCs)
  const paths = all;

  beforeAll(async () => {
    const client = await env.connect();
    t = client.txn();
    // the real machine's coverage, from the resolver's own actors (a test-only tap on its inspection)
    (t.lockResolver as unknown as { deps: { inspect?: typeof real.inspect } }).deps.inspect = real.inspect;
  });

  afterAll(() => {
    console.log(
      `\nlock resolution machine coverage (embedded cluster)\n${coverageTable([{ name: "lockResolution", real }])}`,
    );
  });

  it("replays every simple path of the model (a superset of the transition-covering ones)", () => {
    expect(covering.every((c) => paths.includes(c))).toBe(true);
    expect(paths.length).toBeGreaterThan(100);
  });

  for (const path of paths) {
    it(path.description, async () => {
      await replayOnCluster(path);
    });
  }

  it("the replays took every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges().map((e) => `${e.source} --${e.event}--> ${e.targets}`)).toEqual([]);
  });

  // ---- engine-level helpers (the crashed transaction) ----

  const engine = () => env.cluster.txnEngine;

  function prewrite(
    startTs: bigint,
    primary: string,
    keys: string[],
    ttl: bigint,
    async?: { secondaries: string[] },
  ): bigint {
    const r = engine().prewrite(
      PrewriteRequest.fromPartial({
        mutations: keys.map((k) => ({ op: Op.Put, key: b(k), value: b(`v-${k}`) })),
        primaryLock: b(primary),
        startVersion: startTs,
        lockTtl: ttl,
        txnSize: 3n,
        minCommitTs: startTs + 1n,
        useAsyncCommit: async !== undefined,
        secondaries: (async?.secondaries ?? []).map(b),
      }),
    );
    expect(r.errors).toEqual([]);
    return r.minCommitTs;
  }

  /** A pipelined flush of `keys` as `generation` (its locks: txn size u64::MAX, the generation). */
  function flush(startTs: bigint, primary: string, keys: string[], ttl: bigint, generation: bigint): void {
    const r = engine().flush(
      FlushRequest.fromPartial({
        mutations: keys.map((k) => ({ op: Op.Put, key: b(k), value: b(`v-${k}`) })),
        primaryKey: b(primary),
        startTs,
        minCommitTs: startTs + 1n,
        generation,
        lockTtl: ttl,
      }),
    );
    expect(r.errors).toEqual([]);
  }

  /** Commits `old-<key>` on each of `keys` at `ts`, by a transaction that started just before. */
  function commitOld(keys: string[], ts: bigint): void {
    const r = engine().prewrite(
      PrewriteRequest.fromPartial({
        mutations: keys.map((k) => ({ op: Op.Put, key: b(k), value: b(`old-${k}`) })),
        primaryLock: b(keys[0] as string),
        startVersion: ts - 1n,
        lockTtl: LIVE_TTL,
        txnSize: BigInt(keys.length),
      }),
    );
    expect(r.errors).toEqual([]);
    const c = engine().commit(
      CommitRequest.fromPartial({ startVersion: ts - 1n, keys: keys.map(b), commitVersion: ts }),
    );
    expect(c.error).toBeUndefined();
  }

  function commit(startTs: bigint, key: string, commitTs: bigint): void {
    const r = engine().commit(
      CommitRequest.fromPartial({ startVersion: startTs, keys: [b(key)], commitVersion: commitTs }),
    );
    expect(r.error).toBeUndefined();
  }

  function mvcc(key: string): MvccInfo {
    const info = engine().mvccGetByKey(MvccGetByKeyRequest.fromPartial({ key: b(key) })).info;
    return info ?? { writes: [], values: [] };
  }

  /** What transaction `startTs` left on `key`. */
  function stateOf(key: string, startTs: bigint): "locked" | "committed" | "rolledBack" | "none" {
    const info = mvcc(key);
    if (info.lock?.startTs === startTs) return "locked";
    const w = info.writes.find((x) => x.startTs === startTs);
    if (w?.type === Op.Put) return "committed";
    if (w) return "rolledBack";
    return "none";
  }

  function lockOn(key: string, startTs: bigint): LockDetails {
    const found = engine()
      .scanLock(
        ScanLockRequest.fromPartial({
          maxVersion: MAX_TS,
          startKey: b(key),
          endKey: b(`${key}\u0000`),
          limit: 1,
        }),
      )
      .locks.filter((l) => l.key.equals(b(key)) && l.lockVersion === startTs);
    expect(found, `a lock of ${startTs} on ${key}`).toHaveLength(1);
    return lockDetailsFromLockInfo(found[0] as (typeof found)[number]);
  }

  /** The rollback record transaction `startTs` left on `key` is protected (never collapsed). */
  function protectedRollback(key: string, startTs: bigint): boolean {
    const w = mvcc(key).writes.find((x) => x.startTs === startTs);
    return w?.type === Op.Rollback && Buffer.from(w.shortValue).toString() === PROTECTED;
  }

  /**
   * After a pipelined path: what the resolution left (its region-wide cleanup took SR with S, a
   * point get's only S; S2, in another region, stays locked: the range resolution of the
   * pipelined commit never ran), then what another transaction reads.
   */
  async function checkPipelinedAfter(
    ctx: LockResolutionModelContext,
    value: string,
    T: bigint,
    committedAt: bigint,
    keys: { P: string; S: string; SR: string; S2: string },
  ): Promise<void> {
    const { P, S, SR, S2 } = keys;
    const decided = ctx.status === "committed" || ctx.status === "rolledBack";
    const expectDecided = (k: string) => {
      if (ctx.status === "committed") {
        expect(stateOf(k, T), k).toBe("committed");
        expect(mvcc(k).writes.find((x) => x.startTs === T)?.commitTs).toBe(committedAt);
      } else {
        // a flushed lock's rollback is protected, as a primary's (TiKV rollback_lock: generation > 0)
        expect(stateOf(k, T), k).toBe("rolledBack");
        if (k !== P) expect(protectedRollback(k, T), k).toBe(true);
      }
    };
    if (decided) expectDecided(P);
    const cleaned = decided && value === "done";
    if (cleaned) expectDecided(S);
    else expect(stateOf(S, T)).toBe("locked");
    if (cleaned && !ctx.forRead) expectDecided(SR);
    else expect(stateOf(SR, T)).toBe("locked");
    expect(stateOf(S2, T)).toBe("locked");

    // what another transaction reads: nothing known yet (no status, or a failed check) makes it wait
    if (!decided && ctx.status !== "alive") return;
    const snap = await t.snapshot();
    const got = (await snap.batchGet([S, SR, S2])).map((v) => v?.toString());
    await t.lockResolver.whenIdle();
    if (ctx.status === "committed") {
      // the committed values, the keys still locked resolved from the cached status
      expect(got).toEqual([`v-${S}`, `v-${SR}`, `v-${S2}`]);
      for (const k of [S, SR, S2]) expectDecided(k);
    } else if (ctx.status === "rolledBack") {
      expect(got).toEqual([`old-${S}`, `old-${SR}`, `old-${S2}`]);
      for (const k of [S, SR, S2]) expectDecided(k);
    } else {
      // alive: the reader pushed the primary's min_commit_ts past it and read the old values
      expect(got).toEqual([`old-${S}`, `old-${SR}`, `old-${S2}`]);
      for (const k of [S, SR, S2]) expect(stateOf(k, T)).toBe("locked");
      expect(lockOn(P, T).minCommitTs).toBeGreaterThan(snap.ts);
    }
  }

  // ---- one path ----

  async function replayOnCluster(path: ModelPath) {
    const events = path.steps.slice(1).map((s) => s.event.type);
    const final = path.steps.at(-1)?.state as { value: string; context: LockResolutionModelContext };
    const ctx = final.context;
    const p = uniquePrefix("lr");
    const P = `a${p}`;
    const S = `h${p}`;
    const S2 = `q${p}`;
    // a pipelined transaction's other lock in S's region
    const SR = `i${p}`;
    const pipelined = ctx.pipelined;
    const now = await t.currentTimestamp();
    const T = now - (AGE_MS << 18n);
    // a commit ts for a normal primary, then the reader's ts (a commit before it can be read through)
    const commitTs = await t.currentTimestamp();
    const callerStartTs = await t.currentTimestamp();
    const async = events.includes("STATUS_ASYNC_EXPIRED");
    const secondaryEvent = events.find((e) => SECONDARY_EVENTS.has(e));
    const start = events[0] as string;

    // the lock the caller met, on S (and, for async commit, the other secondary S2)
    const minCommitTs: bigint[] = [];
    if (start === "RESOLVE_PESSIMISTIC_LOCK") {
      commitOld([S], T - 1n);
      const r = await engine().pessimisticLock(
        PessimisticLockRequest.fromPartial({
          mutations: [{ op: Op.PessimisticLock, key: b(S) }],
          primaryLock: b(P),
          startVersion: T,
          forUpdateTs: T,
          lockTtl: LIVE_TTL,
          isFirstLock: false,
          waitTimeout: 0n,
        }),
      );
      expect(r.errors).toEqual([]);
    } else if (pipelined) {
      // the values the crashed transaction overwrites, committed before it started
      commitOld([S, SR, S2], T - 1n);
      flush(T, P, [S, SR, S2], ctx.lock === "expired" ? EXPIRED_TTL : FLUSH_TTL, 1n);
    } else {
      // the value the crashed transaction overwrites, committed before it started
      commitOld([S], T - 1n);
      const ttl = start === "RESOLVE_EXPIRED_LOCK" ? EXPIRED_TTL : LIVE_TTL;
      minCommitTs.push(prewrite(T, P, [S], ttl, async ? { secondaries: [] } : undefined));
    }
    if (async && secondaryEvent !== "SECONDARY_MISSING") {
      const notAsync = secondaryEvent === "SECONDARY_NOT_ASYNC";
      minCommitTs.push(prewrite(T, P, [S2], EXPIRED_TTL, notAsync ? undefined : { secondaries: [] }));
    }
    const lock = lockOn(S, T);
    expect(lock.lockType).toBe(start === "RESOLVE_PESSIMISTIC_LOCK" ? Op.PessimisticLock : Op.Put);
    expect(lock.txnSize === PIPELINED_TXN_SIZE).toBe(pipelined);
    // the primary's lock, written when the path's status answer needs it
    const writePrimary = (ttl: bigint) => {
      if (pipelined) flush(T, P, [P], ttl, 2n);
      else prewrite(T, P, [P], ttl);
    };

    // the primary, arranged before each status check as the path's next answer says
    const checks = path.steps.filter((s) => CHECK_EVENTS.has(s.event.type));
    let primary: "none" | "locked" | "async" | "committed" | "rolledBack" | "mismatch" = "none";
    let committedAt = 0n;
    const asyncCommitTs = () => minCommitTs.reduce((a, x) => (x > a ? x : a), 0n);
    const calls: Record<string, number> = {};
    let checkIndex = 0;
    let secondaryRound = 0;
    let cleanupFailedKeys: Buffer[] | undefined;
    // the keys of each ResolveLock sent (none: region-wide)
    const resolves: string[][] = [];
    const unhook = env.cluster.faults.onRequest((call: CallInfo): FaultError | undefined => {
      const keys = call.keys ?? [];
      const regionWideResolve =
        call.rpc === "KvResolveLock" && (call.request as ResolveLockRequest | undefined)?.startVersion === T;
      const mine = keys.some((k) => Buffer.from(k).toString().includes(p)) || regionWideResolve;
      if (!mine) return undefined;
      calls[call.rpc] = (calls[call.rpc] ?? 0) + 1;
      if (call.rpc === "KvResolveLock") resolves.push(keys.map((k) => Buffer.from(k).toString()));
      if (call.rpc === "KvCheckTxnStatus") {
        const step = checks[checkIndex++];
        const prevCtx = path.steps[path.steps.indexOf(step as (typeof path.steps)[number]) - 1]?.state
          .context as LockResolutionModelContext;
        switch (step?.event.type) {
          case "STATUS_ALIVE":
            if (primary === "none") writePrimary(LIVE_TTL);
            primary = "locked";
            break;
          case "STATUS_COMMITTED":
            if (primary === "none") writePrimary(LIVE_TTL);
            committedAt = primary === "async" ? asyncCommitTs() : commitTs;
            commit(T, P, committedAt);
            primary = "committed";
            break;
          case "STATUS_ROLLED_BACK":
            // after TxnNotFound on an expired lock the check itself rolls back (LockNotExistRollback)
            if (!prevCtx.rollbackIfNotExist) {
              engine().batchRollback(BatchRollbackRequest.fromPartial({ startVersion: T, keys: [b(P)] }));
            }
            primary = "rolledBack";
            break;
          case "STATUS_EXPIRED":
            // an expired lock (or, after SECONDARY_NOT_ASYNC, the expired async-commit one) is rolled back
            if (primary === "none") writePrimary(EXPIRED_TTL);
            primary = "rolledBack";
            break;
          case "STATUS_ASYNC_EXPIRED":
            if (primary === "none")
              minCommitTs.push(prewrite(T, P, [P], EXPIRED_TTL, { secondaries: [S, S2] }));
            primary = "async";
            break;
          case "PRIMARY_MISMATCH":
            // P holds a lock of this transaction whose primary is another key
            prewrite(T, S2, [P], LIVE_TTL);
            primary = "mismatch";
            break;
          case "CHECK_FAILED":
            return KEY_ERROR;
          default:
            // NOT_FOUND: nothing written for the primary yet
            break;
        }
        return undefined;
      }
      if (call.rpc === "KvCheckSecondaryLocks") {
        if (secondaryRound++ === 0) {
          // all still locked: committed at the largest min_commit_ts; or one secondary already committed there
          committedAt = asyncCommitTs();
          if (secondaryEvent === "SECONDARY_COMMITTED") commit(T, S2, committedAt);
        }
        if (secondaryEvent === "SECONDARIES_FAILED") return KEY_ERROR;
        return undefined;
      }
      if (CLEANUP_RPCS.has(call.rpc) && events.includes("CLEANUP_FAILED") && !cleanupFailedKeys) {
        cleanupFailedKeys = keys.map((k) => Buffer.from(k));
        return KEY_ERROR;
      }
      return undefined;
    });

    const ctl = makeControl({ maxBackoffMs: 1, timeoutMs: 0, metrics: new ClientMetrics() });
    let result: Awaited<ReturnType<TxnClient["lockResolver"]["resolveLocks"]>> | undefined;
    let error: Error | undefined;
    try {
      // a point get resolves just the key it met (client-go KVSnapshot.get: resolveLite)
      const lite = pipelined && ctx.forRead;
      result = await t.lockResolver.resolveLocks([lock], { callerStartTs, forRead: ctx.forRead, lite, ctl });
    } catch (e) {
      error = e as Error;
    }
    await t.lockResolver.whenIdle();
    unhook();

    // the result, or the typed error
    if (final.value === "failed") {
      expect(result).toBeUndefined();
      const expected = {
        exhausted: "",
        checkFailed: "unexpected check txn status err",
        secondariesFailed: "unexpected check secondary locks err",
        cleanupFailed: "unexpected resolve",
        "": "?",
      }[ctx.failure];
      if (ctx.failure === "exhausted") expect(error).toBeInstanceOf(BackoffExhaustedError);
      else expect(error?.message).toContain(expected);
    } else {
      expect(error).toBeUndefined();
      const r = result as NonNullable<typeof result>;
      if (ctx.status === "alive" && !ctx.forRead) {
        // the lock lives ~50 s more (60 s TTL, started 10 s ago)
        expect(r.msBeforeTxnExpired).toBeGreaterThan(40_000);
        expect(r.msBeforeTxnExpired).toBeLessThanOrEqual(Number(LIVE_TTL));
      } else {
        expect(r.msBeforeTxnExpired).toBe(0);
      }
      if (!ctx.forRead) {
        expect(r.ignoreLocks).toEqual([]);
        expect(r.accessLocks).toEqual([]);
      } else if (ctx.status === "committed" && committedAt <= callerStartTs) {
        // committed before the reader: read through the lock (its value is the committed one)
        expect(r).toMatchObject({ ignoreLocks: [], accessLocks: [T] });
      } else {
        // alive (min_commit_ts pushed past the reader), rolled back, or committed after the reader
        expect(r).toMatchObject({ ignoreLocks: [T], accessLocks: [] });
      }
    }

    // the RPCs: one CheckTxnStatus per status answer, CheckSecondaryLocks to both secondaries'
    // regions per round, cleanup only once a final status is known
    expect(calls.KvCheckTxnStatus ?? 0).toBe(checks.length);
    expect(calls.KvCheckSecondaryLocks ?? 0).toBe(2 * events.filter((e) => SECONDARY_EVENTS.has(e)).length);
    const cleanupRpcs = (calls.KvResolveLock ?? 0) + (calls.KVPessimisticRollback ?? 0);
    const cleaned = path.steps.some((s) => s.state.value === "cleaningUp");
    if (cleaned) expect(cleanupRpcs).toBeGreaterThan(0);
    else expect(cleanupRpcs).toBe(0);
    if (start === "RESOLVE_PESSIMISTIC_LOCK" && cleaned) expect(calls.KVPessimisticRollback ?? 0).toBe(1);
    // a pipelined lock (txn size u64::MAX): one region-wide ResolveLock, or the met key alone for a point get
    if (pipelined && cleaned) expect(resolves).toEqual([ctx.forRead ? [S] : []]);

    if (pipelined) {
      await checkPipelinedAfter(ctx, final.value, T, committedAt, { P, S, SR, S2 });
      return;
    }

    // the server state afterwards
    const sState = stateOf(S, T);
    if (ctx.failure === "cleanupFailed") {
      const failedKey = cleanupFailedKeys?.[0]?.toString() as string;
      expect(stateOf(failedKey, T)).toBe("locked");
    } else if (final.value === "failed" || ctx.status === "alive") {
      // nothing decided: the lock the caller met is still there
      expect(sState).toBe("locked");
    } else if (ctx.status === "committed") {
      // a pessimistic lock is not a write: it is released; a prewritten one is committed
      expect(sState).toBe(start === "RESOLVE_PESSIMISTIC_LOCK" ? "none" : "committed");
      expect(stateOf(P, T)).toBe("committed");
      if (ctx.asyncDecision !== "") expect(stateOf(S2, T)).toBe("committed");
      // at the ts the model says: the primary's commit, or the async-commit decision
      for (const k of ctx.asyncDecision !== "" ? [P, S, S2] : [P])
        expect(mvcc(k).writes.find((x) => x.startTs === T)?.commitTs).toBe(committedAt);
    } else {
      // rolled back: neither S nor (unless it only pointed elsewhere) P is locked or committed
      expect(sState === "rolledBack" || sState === "none").toBe(true);
      if (ctx.mismatch) expect(stateOf(P, T)).toBe("locked");
      else expect(["rolledBack", "none"]).toContain(stateOf(P, T));
    }

    // what another transaction then reads on S (a path that failed, or met a primary that is not
    // this lock's, leaves nothing decided to check)
    if (final.value === "failed" || ctx.mismatch) return;
    const snap = await t.snapshot();
    const got = (await snap.get(S))?.toString();
    await t.lockResolver.whenIdle();
    if (ctx.status === "committed" && start !== "RESOLVE_PESSIMISTIC_LOCK") {
      // the committed value, whether the cleanup reached S or the reader resolved it
      expect(got).toBe(`v-${S}`);
      expect(stateOf(S, T)).toBe("committed");
    } else {
      // rolled back, alive, or a pessimistic lock (never a write): the value from before
      expect(got).toBe(`old-${S}`);
      if (ctx.status === "alive" && start !== "RESOLVE_PESSIMISTIC_LOCK") {
        // the reader pushed the primary's min_commit_ts past its own ts instead of waiting
        expect(stateOf(S, T)).toBe("locked");
        expect(lockOn(P, T).minCommitTs).toBeGreaterThan(snap.ts);
      }
    }
  }
});

describe.skipIf(isRealCluster)("lock resolver actor (open / closed) on the embedded cluster", () => {
  const env = useCluster({ stores: 1 });

  it("a closed resolver refuses requests with ShuttingDownError", async () => {
    const t = (await env.connect()).txn();
    const ctl = makeControl({ maxBackoffMs: 1_000, timeoutMs: 0, metrics: new ClientMetrics() });
    // open: a request for no lock is answered at once
    await expect(t.lockResolver.resolveLocks([], { callerStartTs: 1n, ctl })).resolves.toEqual({
      msBeforeTxnExpired: 0,
      ignoreLocks: [],
      accessLocks: [],
    });
    t.lockResolver.close();
    await expect(t.lockResolver.resolveLocks([], { callerStartTs: 1n, ctl })).rejects.toBeInstanceOf(
      ShuttingDownError,
    );
  });

  it("a resolution running when the resolver closes fails with ShuttingDownError", async () => {
    const t = (await env.connect()).txn();
    const startTs = (await t.currentTimestamp()) - (AGE_MS << 18n);
    const key = uniquePrefix("close");
    const r = env.cluster.txnEngine.prewrite(
      PrewriteRequest.fromPartial({
        mutations: [{ op: Op.Put, key: b(key), value: b("v") }],
        primaryLock: b(`${key}-primary`),
        startVersion: startTs,
        lockTtl: LIVE_TTL,
        txnSize: 1n,
        minCommitTs: startTs + 1n,
      }),
    );
    expect(r.errors).toEqual([]);
    const info = env.cluster.txnEngine.scanLock(
      ScanLockRequest.fromPartial({
        maxVersion: MAX_TS,
        startKey: b(key),
        endKey: b(`${key}\u0000`),
        limit: 1,
      }),
    ).locks[0];
    if (!info) throw new Error("no lock");
    const lock = lockDetailsFromLockInfo(info);
    // the status check is held long enough for the resolver to close meanwhile
    env.cluster.faults.delay({ rpc: "KvCheckTxnStatus", ms: 300, count: 1 });
    const ctl = makeControl({ maxBackoffMs: 1_000, timeoutMs: 0, metrics: new ClientMetrics() });
    let checks = 0;
    const off = env.cluster.faults.onRequest((c) => {
      if (c.rpc === "KvCheckTxnStatus") checks++;
    });
    const pending = t.lockResolver.resolveLocks([lock], { callerStartTs: await t.currentTimestamp(), ctl });
    const outcome = pending.then(
      () => undefined,
      (e: Error) => e,
    );
    await new Promise((res) => setTimeout(res, 50));
    off();
    // the resolution is in flight (its status check held by the server) when the resolver closes
    expect(checks).toBe(1);
    expect(t.lockResolver.stats().resolutions).toBe(1);
    t.lockResolver.close();
    const e = await outcome;
    expect(e).toBeInstanceOf(ShuttingDownError);
  });
});
