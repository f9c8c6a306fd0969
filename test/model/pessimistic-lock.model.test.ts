// Model-based test of pessimistic locking, replayed on the embedded cluster through the public
// client: TikvClient → txn() → begin({ pessimistic: true }) → lockKeys / getForUpdate → commit or
// rollback. Pessimistic locking is not a machine of its own (the lock RPCs and their policy live in
// src/actors/txn/pessimistic-lock.ts and src/machines/pessimistic-policy.ts; the committer machine
// holds the transaction in `holdingLocks` until COMMIT / ROLLBACK), so the model below is the
// abstract behaviour of one pessimistic transaction A, each lock event locking one fresh key (in
// turn in each of the three regions), meeting:
// - LOCK_FREE: nobody holds the key: locked at once;
// - WAKE_ON_RELEASE: B holds it; A waits; B rolls back: A is woken and locks it;
// - WAKE_ON_COMMIT: B holds it and commits a new value while A waits (getForUpdate): TiKV answers
//   A's woken request with a write conflict, A retries at a fresh for_update_ts, locks the key and
//   reads B's value;
// - EXPIRED_OWNER: a crashed transaction's expired pessimistic lock (played on the engine): A
//   resolves it (pessimistic rollback) and locks the key;
// - NO_WAIT: B holds it; a no-wait lock fails at once with LockAcquireFailAndNoWaitSetError;
// - WAIT_TIMEOUT: B holds it; A's wait (60 ms) runs out: LockWaitTimeoutError;
// - DEADLOCK (A holds a key already): B holds a key and waits for A's first key; A's wait for B's
//   key closes the cycle: A gets DeadlockError, B keeps waiting until A ends, then locks;
// - COMMIT / ROLLBACK: A ends.
// Checked after every step, as the model says: which keys A holds a pessimistic lock on (and none
// else), the typed error of a failed lock, and at the end what another transaction reads (A's
// values after COMMIT, nothing after ROLLBACK), that no lock of A is left, and that every key A
// held can be locked at once by someone else. The replays also measure the coverage of the real
// committer machine's pessimistic branch (holdingLocks → committing / rollingBackLocks).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import type { TikvClient } from "../../src/api/tikv-client.js";
import type { Transaction } from "../../src/api/transaction.js";
import type { TxnClient } from "../../src/api/txn-client.js";
import {
  DeadlockError,
  LockAcquireFailAndNoWaitSetError,
  LockWaitTimeoutError,
} from "../../src/errors/index.js";
import { MAX_TS } from "../../src/kv/timestamp.js";
import { committerMachine } from "../../src/machines/committer.js";
import { Op, PessimisticLockRequest, ScanLockRequest } from "../../src/proto/kvrpcpb.js";
import { isRealCluster, uniquePrefix, useCluster } from "../support/cluster.js";
import { eventuallyPasses } from "../support/wait.js";
import { creditTransientStates } from "./committer-model.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelStep, modelPaths, replayPath } from "./paths.js";

/** Keys A locks at most in one path (bounds the walk). */
const MAX_LOCKED = 2;

type LockFailure = "" | "noWait" | "timeout" | "deadlock";
interface PessimisticModelContext {
  /** Keys A holds (0..MAX_LOCKED). */
  locked: number;
  /** The typed error of A's last lock call ("" when it succeeded). */
  failure: LockFailure;
}
type PessimisticModelEvent = {
  type:
    | "LOCK_FREE"
    | "WAKE_ON_RELEASE"
    | "WAKE_ON_COMMIT"
    | "EXPIRED_OWNER"
    | "NO_WAIT"
    | "WAIT_TIMEOUT"
    | "DEADLOCK"
    | "COMMIT"
    | "ROLLBACK";
};
const LOCKING = ["LOCK_FREE", "WAKE_ON_RELEASE", "WAKE_ON_COMMIT", "EXPIRED_OWNER"] as const;
const FAILING = ["NO_WAIT", "WAIT_TIMEOUT"] as const;
const EVENTS = [...LOCKING, ...FAILING, "DEADLOCK", "COMMIT", "ROLLBACK"];

const acquire = { guard: "mayLockMore", target: "holding", actions: "acquired" } as const;
const fail = (failure: LockFailure) => ({ actions: { type: "failed", params: failure } }) as const;

/** The abstract pessimistic transaction. */
const pessimisticModel = setup({
  types: { context: {} as PessimisticModelContext, events: {} as PessimisticModelEvent },
  guards: { mayLockMore: ({ context }) => context.locked < MAX_LOCKED },
  actions: {
    acquired: assign({ locked: ({ context }) => context.locked + 1, failure: "" as LockFailure }),
    failed: assign((_, failure: LockFailure) => ({ failure })),
  },
}).createMachine({
  id: "pessimisticTxn",
  context: { locked: 0, failure: "" },
  initial: "unlocked",
  states: {
    unlocked: {
      on: {
        LOCK_FREE: acquire,
        WAKE_ON_RELEASE: acquire,
        WAKE_ON_COMMIT: acquire,
        EXPIRED_OWNER: acquire,
        NO_WAIT: fail("noWait"),
        WAIT_TIMEOUT: fail("timeout"),
        COMMIT: "committed",
        ROLLBACK: "rolledBack",
      },
    },
    holding: {
      on: {
        LOCK_FREE: acquire,
        WAKE_ON_RELEASE: acquire,
        WAKE_ON_COMMIT: acquire,
        EXPIRED_OWNER: acquire,
        NO_WAIT: fail("noWait"),
        WAIT_TIMEOUT: fail("timeout"),
        // a deadlock needs a key of A's that B waits for
        DEADLOCK: fail("deadlock"),
        COMMIT: "committed",
        ROLLBACK: "rolledBack",
      },
    },
    committed: { type: "final" },
    rolledBack: { type: "final" },
  },
});

const b = (s: string) => Buffer.from(s);
const REGION_PREFIXES = ["a", "h", "q"]; // one per region (splits at "g" and "p")
const FAILURE_ERROR = {
  noWait: LockAcquireFailAndNoWaitSetError,
  timeout: LockWaitTimeoutError,
  deadlock: DeadlockError,
} as const;

describe.skipIf(isRealCluster)("pessimistic locking: model paths on the embedded cluster", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const real = new MachineCoverage("committer (pessimistic)", committerMachine);
  const { covering, coverage } = modelPaths("pessimistic model", pessimisticModel, EVENTS);
  // a path that stops while A is open is completed with A's commit (so every replay ends A)
  const paths = covering.map((p) => {
    const last = p.steps.at(-1) as ModelStep;
    if (last.state.value === "committed" || last.state.value === "rolledBack") return p.steps;
    return [
      ...p.steps,
      { event: { type: "COMMIT" }, state: { value: "committed", context: last.state.context } },
    ];
  });
  let client: TikvClient;
  let t: TxnClient;

  beforeAll(async () => {
    client = await env.connect();
    t = client.txn();
    // the real committer's coverage, from the committers the client creates (a test-only tap)
    const rt = (client as unknown as { txnRuntime: { deps: { inspect?: typeof real.inspect } } }).txnRuntime;
    rt.deps.inspect = real.inspect;
  });

  afterAll(() => {
    creditTransientStates(real, committerMachine);
    console.log(
      `\npessimistic locking coverage (embedded cluster)\n${coverageTable([{ name: "committer", model: coverage, real }])}`,
    );
  });

  /** The keys transaction `startTs` holds a pessimistic lock on, among `keys`. */
  function pessimisticLocksOf(startTs: bigint, keys: readonly string[]): string[] {
    const out: string[] = [];
    for (const k of keys) {
      const locks = env.cluster.txnEngine.scanLock(
        ScanLockRequest.fromPartial({
          maxVersion: MAX_TS,
          startKey: b(k),
          endKey: b(`${k}\u0000`),
          limit: 2,
        }),
      ).locks;
      if (locks.some((l) => l.lockVersion === startTs && l.lockType === Op.PessimisticLock)) out.push(k);
    }
    return out;
  }

  /** One replay: transaction A, the keys it holds, the keys touched, the waiters left for the end. */
  async function replay(steps: readonly ModelStep[]): Promise<void> {
    const prefix = uniquePrefix("pm");
    const a: Transaction = await t.begin({ pessimistic: true });
    const held: string[] = [];
    const touched: string[] = [];
    /** What other transactions committed on a key (WAKE_ON_COMMIT): A reads it. */
    const committedByOthers = new Map<string, string>();
    /** B transactions still waiting (DEADLOCK): they get the lock once A ends. */
    const waiters: Array<{ txn: Transaction; key: string; result: Promise<unknown> }> = [];
    let n = 0;
    let lastError: unknown;
    const nextKey = () => {
      const k = `${REGION_PREFIXES[n % REGION_PREFIXES.length]}${prefix}-${n}`;
      n++;
      touched.push(k);
      return k;
    };
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    /** B: another pessimistic transaction holding `key`. */
    const holder = async (key: string) => {
      const txn = await t.begin({ pessimistic: true });
      await txn.lockKeys([key]);
      return txn;
    };
    const locked = (k: string) => {
      held.push(k);
      a.set(k, `A-${k}`);
      lastError = undefined;
    };
    const pause = () => new Promise((r) => setTimeout(r, 40));

    await replayPath(
      { description: "", steps: [...steps] },
      {
        events: {
          LOCK_FREE: async () => {
            const k = nextKey();
            await a.lockKeys([k]);
            locked(k);
          },
          WAKE_ON_RELEASE: async () => {
            const k = nextKey();
            const other = await holder(k);
            let done = false;
            const p = a.lockKeys([k], { waitTimeoutMs: 5_000 }).finally(() => {
              done = true;
            });
            await pause();
            expect(done, "A waits while B holds the key").toBe(false);
            await other.rollback();
            await p;
            locked(k);
          },
          WAKE_ON_COMMIT: async () => {
            const k = nextKey();
            const other = await holder(k);
            other.set(k, `B-${k}`);
            const p = a.getForUpdate(k, { waitTimeoutMs: 5_000 });
            await pause();
            await other.commit();
            committedByOthers.set(k, `B-${k}`);
            expect((await p)?.toString(), "A reads what B committed").toBe(`B-${k}`);
            locked(k);
          },
          EXPIRED_OWNER: async () => {
            const k = nextKey();
            // a transaction that started a minute ago and died holding the key (1 ms TTL)
            const dead = BigInt(Date.now() - 60_000) << 18n;
            const r = await env.cluster.txnEngine.pessimisticLock(
              PessimisticLockRequest.fromPartial({
                mutations: [{ op: Op.PessimisticLock, key: b(k) }],
                primaryLock: b(k),
                startVersion: dead,
                forUpdateTs: dead,
                lockTtl: 1n,
              }),
            );
            expect(r.errors).toEqual([]);
            // no-wait: a dead owner's lock is resolved and the lock retried, not reported as held
            await a.lockKeys([k], { noWait: true });
            expect(pessimisticLocksOf(dead, [k]), "the dead lock is resolved").toEqual([]);
            locked(k);
          },
          NO_WAIT: async () => {
            const k = nextKey();
            const other = await holder(k);
            lastError = await settle(a.lockKeys([k], { noWait: true }));
            await other.rollback();
          },
          WAIT_TIMEOUT: async () => {
            const k = nextKey();
            const other = await holder(k);
            const started = Date.now();
            lastError = await settle(a.lockKeys([k], { waitTimeoutMs: 60 }));
            expect(Date.now() - started, "A waited before giving up").toBeGreaterThanOrEqual(50);
            await other.rollback();
          },
          DEADLOCK: async () => {
            const k = nextKey();
            const other = await holder(k);
            const mine = held[0] as string;
            // B waits for A's key, then A waits for B's: A closes the cycle
            waiters.push({
              txn: other,
              key: mine,
              result: settle(other.lockKeys([mine], { waitTimeoutMs: 10_000 })),
            });
            await pause();
            lastError = await settle(a.lockKeys([k], { waitTimeoutMs: 5_000 }));
          },
          COMMIT: async () => {
            await a.commit();
            await t.whenIdle();
          },
          ROLLBACK: async () => {
            await a.rollback();
            await t.whenIdle();
          },
        },
        state: async (s) => {
          const value = String(s.value);
          const ctx = s.context as PessimisticModelContext;
          if (value === "unlocked" || value === "holding") {
            expect(held.length).toBe(ctx.locked);
            if (ctx.failure === "") expect(lastError).toBeUndefined();
            else expect(lastError).toBeInstanceOf(FAILURE_ERROR[ctx.failure]);
            // A holds exactly the keys it locked (a failed call's keys are released in the background)
            await eventuallyPasses(() => expect(pessimisticLocksOf(a.startTs, touched)).toEqual(held));
            return;
          }
          // A ended: nothing of it is left, the waiters get their locks, the values are A's or none
          expect(a.state).not.toBe("active");
          await eventuallyPasses(() => {
            const locks = env.cluster.txnEngine
              .scanLock(ScanLockRequest.fromPartial({ maxVersion: MAX_TS, limit: 10_000 }))
              .locks.filter((l) => l.lockVersion === a.startTs);
            expect(locks).toEqual([]);
          });
          for (const w of waiters) {
            expect(await w.result, `B locks ${w.key} once A ended`).toBeUndefined();
            await w.txn.rollback();
          }
          const snap = await t.snapshot();
          for (const k of touched) {
            const expected =
              value === "committed" && held.includes(k) ? `A-${k}` : (committedByOthers.get(k) ?? undefined);
            expect((await snap.get(k))?.toString(), k).toBe(expected);
          }
          // every key A held is free: another transaction locks it at once
          const probe = await t.begin({ pessimistic: true });
          if (held.length) await probe.lockKeys(held, { noWait: true });
          await probe.rollback();
        },
      },
    );
  }

  it("the covering paths take every transition of the model", () => {
    expect(coverage.missingEdges()).toEqual([]);
    expect(coverage.missingStates()).toEqual([]);
    expect(covering.length).toBeLessThanOrEqual(16);
  });

  for (const steps of paths)
    it(
      steps
        .slice(1)
        .map((s) => s.event.type)
        .join(" → "),
      async () => {
        await replay(steps);
      },
    );

  it("the replays took the real committer machine's pessimistic branch", () => {
    const missing = real.missingStates();
    for (const s of ["committer.holdingLocks", "committer.committing", "committer.rollingBackLocks"])
      expect(missing, s).not.toContain(s);
  });
});
