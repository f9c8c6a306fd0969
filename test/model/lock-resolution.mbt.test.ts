// Model-based test of lock resolution, replayed against the REAL lockResolutionMachine: its routing
// guards and context actions run as shipped, with the real policy (decideOnStatus,
// decideOnTxnNotFound) and a real Backoffer for the TxnNotFound budget; only its three I/O actors
// (checkStatus, checkSecondaries, cleanup) are parked promises the model's events settle, and the
// TxnNotFound backoff runs on vitest fake timers. Checked after every step: the machine's state,
// which RPC is pending and with which flags (rollback-if-not-exist, force sync commit), the
// backoffs taken, and at the end the resolution's output (the status, or the error). Then the
// client's resolver actor (lockResolverMachine: open / closed) walked the same way, and the
// coverage of both real machines' states and transitions, asserted complete. Pipelined locks
// (txn size u64::MAX) take the optimistic paths minus async commit and primary mismatch.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { type Actor, createActor, fromPromise } from "xstate";
import { Backoffer, Bo } from "../../src/actors/backoff/index.js";
import { BackoffExhaustedError } from "../../src/errors/index.js";
import type { LockDetails } from "../../src/errors/txn.js";
import {
  type AsyncCommitState,
  NonAsyncCommitLockError,
  type TxnStatus,
} from "../../src/machines/lock-policy.js";
import {
  type CheckOutcome,
  type LockResolverEvent,
  lockResolutionMachine,
  lockResolverMachine,
  newResolutionSession,
  type ResolutionResult,
  type ResolutionSession,
} from "../../src/machines/lock-resolution.js";
import { Action, Op } from "../../src/proto/kvrpcpb.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import {
  CHECK_EVENTS,
  type LockKind,
  type LockResolutionEventType,
  type LockResolutionModelContext,
  type LockResolverModelContext,
  lockResolutionModel,
  lockResolverModel,
  SECONDARY_EVENTS,
} from "./lock-resolution-model.js";
import { type ModelPath, modelPaths, replayPath } from "./paths.js";

const TXN = 500n;
const CALLER = 900n;
const COMMIT_TS = 600n;
const ASYNC_MIN_COMMIT_TS = 610n;
const SECONDARY_COMMIT_TS = 620n;
/** A primary TTL the client's clock says has passed (ttlExpired), and one it says has not. */
const EXPIRED_TTL = 100n;
const LIVE_TTL = 60_000n;
/** The txn size of a pipelined (Flush) lock: unknown, so u64::MAX (TiKV flush.rs). */
const PIPELINED_TXN_SIZE = 0xffff_ffff_ffff_ffffn;
const P = Buffer.from("p");
const S = Buffer.from("s");
const S2 = Buffer.from("t");
const real = new MachineCoverage("lockResolution", lockResolutionMachine);
const realResolver = new MachineCoverage("lockResolver", lockResolverMachine);

function lockOf(key: Buffer, kind: LockKind, extra: Partial<LockDetails> = {}): LockDetails {
  return {
    key,
    primary: P,
    startTs: TXN,
    ttl: kind === "expired" ? EXPIRED_TTL : LIVE_TTL,
    txnSize: 3n,
    lockType: kind === "pessimistic" ? Op.PessimisticLock : Op.Put,
    lockForUpdateTs: kind === "pessimistic" ? TXN : 0n,
    useAsyncCommit: false,
    minCommitTs: TXN + 1n,
    secondaries: [],
    durationToLastUpdateMs: 0n,
    isTxnFile: false,
    sharedLocks: [],
    ...extra,
  };
}

interface Parked<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  /** The session's flags when the RPC started. */
  flags: { rollbackIfNotExist: boolean; forceSyncCommit: boolean };
}

function harness(kind: LockKind, forRead: boolean, pipelined = false) {
  const checks: Parked<CheckOutcome>[] = [];
  const secondaries: Parked<AsyncCommitState>[] = [];
  const cleanups: Parked<void>[] = [];
  const park =
    <T>(list: Parked<T>[]) =>
    ({ input }: { input: ResolutionSession }) =>
      new Promise<T>((resolve, reject) =>
        list.push({
          resolve,
          reject,
          flags: { rollbackIfNotExist: input.rollbackIfNotExist, forceSyncCommit: input.forceSyncCommit },
        }),
      );
  const machine = lockResolutionMachine.provide({
    actors: {
      checkStatus: fromPromise<CheckOutcome, ResolutionSession>(park(checks)),
      checkSecondaries: fromPromise<AsyncCommitState, ResolutionSession>(park(secondaries)),
      cleanup: fromPromise<void, ResolutionSession>(park(cleanups)),
    },
  });
  // one TxnNotFound backoff fits the budget, the second exhausts it
  const bo = new Backoffer({ maxSleepMs: 1, weight: 1, random: () => 0 });
  const lock = lockOf(S, kind, pipelined ? { txnSize: PIPELINED_TXN_SIZE } : {});
  const session = newResolutionSession({
    txnId: TXN,
    lock,
    locks: [lock],
    callerStartTs: CALLER,
    forRead,
    // a point get resolves just the key it met, even for a pipelined transaction (client-go resolveLite)
    lite: pipelined && forRead,
    lockExpired: () => kind === "expired",
    ttlExpired: (ttl) => ttl <= EXPIRED_TTL,
    nextNotFoundBackoff: () => bo.next(Bo.TxnNotFound, new Error(`txn ${TXN} not found`)),
  });
  const h = {
    session,
    bo,
    checks,
    secondaries,
    cleanups,
    result: undefined as ResolutionResult | undefined,
    actor: createActor(machine, { input: session, inspect: real.inspect }) as Actor<typeof machine>,
  };
  h.actor.subscribe({ complete: () => (h.result = h.actor.getSnapshot().output) });
  return h;
}

type Harness = ReturnType<typeof harness>;
const flush = () => vi.advanceTimersByTimeAsync(0);
const status = (s: Partial<TxnStatus>): CheckOutcome => ({
  kind: "status",
  status: { ttl: 0n, commitTs: 0n, action: Action.NoAction, primaryLock: undefined, ...s },
});
const last = <T>(list: Parked<T>[]): Parked<T> => {
  const p = list.at(-1);
  if (!p) throw new Error("no RPC in flight");
  return p;
};

async function replay(path: ModelPath) {
  let h: Harness | undefined;
  const H = () => h as Harness;
  let ctx = lockResolutionModel.config.context as LockResolutionModelContext;
  let error: unknown;
  const counts = { checks: 0, secondaries: 0, cleanups: 0 };
  const begin =
    (kind: LockKind, forRead: boolean, pipelined = false) =>
    async () => {
      h = harness(kind, forRead, pipelined);
      h.actor.start();
      await flush();
    };
  const answerCheck = (o: CheckOutcome) => async () => {
    last(H().checks).resolve(o);
    await flush();
  };
  const failRpc = (list: () => Parked<unknown>[], e: unknown) => async () => {
    error = e;
    last(list()).reject(e);
    await flush();
  };
  const answerSecondaries = (st: AsyncCommitState) => async () => {
    last(H().secondaries).resolve(st);
    await flush();
  };
  const events: Record<LockResolutionEventType, () => Promise<void>> = {
    RESOLVE: begin("live", false),
    RESOLVE_READ: begin("live", true),
    RESOLVE_EXPIRED_LOCK: begin("expired", false),
    RESOLVE_PESSIMISTIC_LOCK: begin("pessimistic", false),
    RESOLVE_PIPELINED_LOCK: begin("live", false, true),
    RESOLVE_PIPELINED_READ: begin("live", true, true),
    RESOLVE_EXPIRED_PIPELINED_LOCK: begin("expired", false, true),
    // a reader's CheckTxnStatus pushes a live lock's min_commit_ts past it
    STATUS_ALIVE: async () =>
      answerCheck(
        status({
          ttl: LIVE_TTL,
          action: ctx.forRead ? Action.MinCommitTSPushed : Action.NoAction,
          primaryLock: lockOf(P, "live"),
        }),
      )(),
    STATUS_COMMITTED: answerCheck(status({ commitTs: COMMIT_TS })),
    STATUS_ROLLED_BACK: async () =>
      answerCheck(
        status({ action: ctx.rollbackIfNotExist ? Action.LockNotExistRollback : Action.NoAction }),
      )(),
    STATUS_EXPIRED: answerCheck(status({ action: Action.TTLExpireRollback })),
    STATUS_ASYNC_EXPIRED: answerCheck(
      status({
        ttl: EXPIRED_TTL,
        primaryLock: lockOf(P, "live", {
          ttl: EXPIRED_TTL,
          useAsyncCommit: true,
          secondaries: [S, S2],
          minCommitTs: ASYNC_MIN_COMMIT_TS,
        }),
      }),
    ),
    NOT_FOUND: answerCheck({ kind: "notFound" }),
    PRIMARY_MISMATCH: answerCheck({ kind: "primaryMismatch" }),
    CHECK_FAILED: failRpc(() => H().checks as Parked<unknown>[], new Error("CheckTxnStatus failed")),
    ELAPSED: async () => {
      // the TxnNotFound backoff: its first sleep (2 ms, no jitter)
      const ms = H().session.sleepMs;
      expect(ms).toBe(2);
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(H().actor.getSnapshot().value).toBe("notFoundBackoff");
      await vi.advanceTimersByTimeAsync(1);
    },
    SECONDARIES_LOCKED: answerSecondaries({
      commitTs: ASYNC_MIN_COMMIT_TS,
      keys: [S, S2],
      missingLock: false,
    }),
    SECONDARY_COMMITTED: answerSecondaries({ commitTs: SECONDARY_COMMIT_TS, keys: [S], missingLock: true }),
    SECONDARY_MISSING: answerSecondaries({ commitTs: 0n, keys: [S], missingLock: true }),
    SECONDARY_NOT_ASYNC: async () => {
      last(H().secondaries).reject(new NonAsyncCommitLockError());
      await flush();
    },
    SECONDARIES_FAILED: failRpc(
      () => H().secondaries as Parked<unknown>[],
      new Error("CheckSecondaryLocks failed"),
    ),
    CLEANUP_OK: async () => {
      last(H().cleanups).resolve();
      await flush();
    },
    CLEANUP_FAILED: failRpc(() => H().cleanups as Parked<unknown>[], new Error("ResolveLock failed")),
  };
  const executors = Object.fromEntries(
    Object.entries(events).map(([type, run]) => [
      type,
      async () => {
        if (CHECK_EVENTS.has(type)) counts.checks++;
        if (SECONDARY_EVENTS.has(type)) counts.secondaries++;
        if (type === "CLEANUP_OK" || type === "CLEANUP_FAILED") counts.cleanups++;
        await run();
      },
    ]),
  );
  await replayPath(path, {
    events: executors,
    state: (m) => {
      ctx = m.context as LockResolutionModelContext;
      const value = m.value as string;
      if (value === "idle") return;
      const snap = H().actor.getSnapshot();
      expect(snap.value).toBe(value);
      // RPCs started: the answered ones, plus the one pending in this state
      expect(H().checks.length).toBe(counts.checks + (value === "checkingStatus" ? 1 : 0));
      expect(H().secondaries.length).toBe(counts.secondaries + (value === "checkingSecondaries" ? 1 : 0));
      expect(H().cleanups.length).toBe(counts.cleanups + (value === "cleaningUp" ? 1 : 0));
      // the flags the pending CheckTxnStatus carries
      if (value === "checkingStatus")
        expect(last(H().checks).flags).toEqual({
          rollbackIfNotExist: ctx.rollbackIfNotExist,
          forceSyncCommit: ctx.forceSyncCommit,
        });
      // the lock met: a pipelined one carries txn size u64::MAX; only a point get resolves it lite
      expect(H().session.lock.txnSize === PIPELINED_TXN_SIZE).toBe(ctx.pipelined);
      expect(H().session.lite).toBe(ctx.pipelined && ctx.forRead);
      expect(H().session.rollbackIfNotExist).toBe(ctx.rollbackIfNotExist);
      expect(H().session.forceSyncCommit).toBe(ctx.forceSyncCommit);
      // TxnNotFound backoffs taken from the caller's budget
      expect(H().bo.backoffTimes()).toEqual(ctx.slept > 0 ? { txnNotFound: ctx.slept } : {});
      // the async-commit decision recorded from the secondaries
      expect(H().session.asyncCommit !== undefined).toBe(ctx.asyncDecision !== "");
      if (value === "cleaningUp") {
        // what the cleanup will apply: commit at the decided ts, or roll back
        const st = H().session.status as TxnStatus;
        const expectedTs =
          ctx.status === "rolledBack"
            ? 0n
            : ctx.asyncDecision === "allLocked"
              ? ASYNC_MIN_COMMIT_TS
              : ctx.asyncDecision === "secondaryCommitted"
                ? SECONDARY_COMMIT_TS
                : COMMIT_TS;
        expect(st.commitTs).toBe(expectedTs);
        expect(st.ttl).toBe(0n);
      }
      if (value === "done" || value === "failed") checkOutput(H(), ctx, value, error);
      else expect(H().result).toBeUndefined();
    },
  });
  h?.actor.stop();
}

function checkOutput(h: Harness, ctx: LockResolutionModelContext, value: string, error: unknown) {
  const r = h.result;
  expect(r).toBeDefined();
  if (value === "failed") {
    expect(r?.ok).toBe(false);
    const e = (r as { error: Error }).error;
    if (ctx.failure === "exhausted") expect(e).toBeInstanceOf(BackoffExhaustedError);
    else expect(e).toBe(error);
    return;
  }
  expect(r?.ok).toBe(true);
  const s = (r as { status: TxnStatus }).status;
  if (ctx.status === "alive") {
    // alive: a live primary's TTL, or (TxnNotFound on a pessimistic lock) the lock's own
    expect(s.ttl).toBe(LIVE_TTL);
    expect(s.commitTs).toBe(0n);
  } else if (ctx.status === "committed") {
    expect(s.ttl).toBe(0n);
    expect(s.commitTs).toBeGreaterThan(0n);
  } else {
    expect(s).toMatchObject({ ttl: 0n, commitTs: 0n });
  }
}

const lockPaths = modelPaths("lock resolution model", lockResolutionModel);

describe("lock resolution machine (model-based, real machine)", () => {
  afterEach(() => vi.useRealTimers());
  const { all, coverage } = lockPaths;

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
  });

  for (const path of all) {
    it(path.description, async () => {
      vi.useFakeTimers();
      await replay(path);
    });
  }

  it("a primary mismatch on a lock that is not pessimistic fails the resolution (the actor never reports one)", async () => {
    vi.useFakeTimers();
    const h = harness("live", false);
    h.actor.start();
    await flush();
    last(h.checks).resolve({ kind: "primaryMismatch" });
    await flush();
    expect(h.actor.getSnapshot().value).toBe("failed");
    expect(h.result?.ok).toBe(false);
    expect((h.result as { error: Error }).error.message).toBe(
      "CheckTxnStatus: primary mismatch on a lock that is not pessimistic",
    );
  });

  it("covers every state and every transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges().map((e) => `${e.source} --${e.event}--> ${e.targets}`)).toEqual([]);
  });
});

const resolverPaths = modelPaths("lock resolver model", lockResolverModel);

describe("lock resolver machine (model-based, real machine)", () => {
  for (const path of resolverPaths.all) {
    it(path.description, async () => {
      const jobs = { started: 0, refused: 0 };
      let aborts = 0;
      const machine = lockResolverMachine.provide({ actions: { abortAll: () => aborts++ } });
      const actor = createActor(machine, { inspect: realResolver.inspect }).start();
      const job = { start: () => jobs.started++, refuse: () => jobs.refused++ };
      await replayPath(path, {
        events: {
          RESOLVE: () => actor.send({ type: "RESOLVE", job } satisfies LockResolverEvent),
          CLOSE: () => actor.send({ type: "CLOSE" }),
        },
        state: (m) => {
          const ctx = m.context as LockResolverModelContext;
          expect(actor.getSnapshot().value).toBe(m.value);
          // every request gets exactly one answer: started while open, refused once closed
          expect(jobs).toEqual({ started: ctx.started, refused: ctx.refused });
          // closing aborts what runs, once
          expect(aborts).toBe(ctx.closes);
        },
      });
      actor.stop();
    });
  }

  it("covers every state and every transition of the real machine", () => {
    expect(resolverPaths.coverage.missingEdges()).toEqual([]);
    expect(realResolver.missingStates()).toEqual([]);
    expect(realResolver.missingEdges()).toEqual([]);
  });
});

afterAll(() => {
  console.log(
    `\nlock resolution machines coverage\n${coverageTable([
      { name: "lockResolution", model: lockPaths.coverage, real },
      { name: "lockResolver", model: resolverPaths.coverage, real: realResolver },
    ])}`,
  );
});
