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
// Checked per path, from the model: the result (msBeforeTxnExpired for live locks, ignoreLocks /
// accessLocks for reads) or the typed error; the RPCs sent (one CheckTxnStatus per status event,
// one CheckSecondaryLocks per secondary region and round, cleanup RPCs only after a final status);
// and the server state afterwards (lockResolver.whenIdle() first, reads clean up in the
// background): the locks left, and what was committed or rolled back.
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
  MvccGetByKeyRequest,
  type MvccInfo,
  Op,
  PessimisticLockRequest,
  PrewriteRequest,
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

  // ---- one path ----

  async function replayOnCluster(path: ModelPath) {
    const events = path.steps.slice(1).map((s) => s.event.type);
    const final = path.steps.at(-1)?.state as { value: string; context: LockResolutionModelContext };
    const ctx = final.context;
    const p = uniquePrefix("lr");
    const P = `a${p}`;
    const S = `h${p}`;
    const S2 = `q${p}`;
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
    } else {
      const ttl = start === "RESOLVE_EXPIRED_LOCK" ? EXPIRED_TTL : LIVE_TTL;
      minCommitTs.push(prewrite(T, P, [S], ttl, async ? { secondaries: [] } : undefined));
    }
    if (async && secondaryEvent !== "SECONDARY_MISSING") {
      const notAsync = secondaryEvent === "SECONDARY_NOT_ASYNC";
      minCommitTs.push(prewrite(T, P, [S2], EXPIRED_TTL, notAsync ? undefined : { secondaries: [] }));
    }
    const lock = lockOn(S, T);
    expect(lock.lockType).toBe(start === "RESOLVE_PESSIMISTIC_LOCK" ? Op.PessimisticLock : Op.Put);

    // the primary, arranged before each status check as the path's next answer says
    const checks = path.steps.filter((s) => CHECK_EVENTS.has(s.event.type));
    let primary: "none" | "locked" | "async" | "committed" | "rolledBack" | "mismatch" = "none";
    let committedAt = 0n;
    const asyncCommitTs = () => minCommitTs.reduce((a, x) => (x > a ? x : a), 0n);
    const calls: Record<string, number> = {};
    let checkIndex = 0;
    let secondaryRound = 0;
    let cleanupFailedKeys: Buffer[] | undefined;
    const unhook = env.cluster.faults.onRequest((call: CallInfo): FaultError | undefined => {
      const keys = call.keys ?? [];
      const mine = keys.some((k) => Buffer.from(k).toString().includes(p));
      if (!mine) return undefined;
      calls[call.rpc] = (calls[call.rpc] ?? 0) + 1;
      if (call.rpc === "KvCheckTxnStatus") {
        const step = checks[checkIndex++];
        const prevCtx = path.steps[path.steps.indexOf(step as (typeof path.steps)[number]) - 1]?.state
          .context as LockResolutionModelContext;
        switch (step?.event.type) {
          case "STATUS_ALIVE":
            if (primary === "none") prewrite(T, P, [P], LIVE_TTL);
            primary = "locked";
            break;
          case "STATUS_COMMITTED":
            if (primary === "none") prewrite(T, P, [P], LIVE_TTL);
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
            if (primary === "none") prewrite(T, P, [P], EXPIRED_TTL);
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
      result = await t.lockResolver.resolveLocks([lock], { callerStartTs, forRead: ctx.forRead, ctl });
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
