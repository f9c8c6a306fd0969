// Model-based test of a committer that dies mid-commit, replayed on the embedded cluster with the
// real client: what the crash leaves and what other transactions then read and clean up. A
// transaction A writes one key in each of three regions over old values; its client process is
// "killed" (TikvClient.close() while the next commit RPC is held at the store, so nothing more
// of A reaches TiKV):
// - CRASH_AFTER_PREWRITE: every prewrite answered, the primary's KvCommit held: A's locks stay,
//   A's commit() is rejected with ResultUndeterminedError (the sent commit's answer is lost);
// - CRASH_AFTER_PRIMARY: the primary committed (commit() resolved with its commit ts), every
//   secondary's KvCommit held: the secondaries stay locked;
// - READ: a reader on another client reads all three keys at once;
// - EXPIRE: PD's clock jumps past the locks' TTL (a scripted TSO answer; later answers stay above).
// The model says what the reader sees: after a crash before the primary's commit, the old values
// (pushing a live lock without waiting, or rolling back an expired one, which then cleans every
// lock of A); after the primary committed, A's values (the resolver commits the secondaries
// without waiting for any TTL) and no lock of A left once the resolution is done.
// A TTL manager that stops heart-beating is the EXPIRE event here (the lock lapses as if no
// heartbeat came; the 10 s heartbeat period is not reachable from the public API in a fast test);
// the machine's own TTL_START / TTL_STOPPED paths are replayed in committer.mbt.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import type { TikvClient } from "../../src/api/tikv-client.js";
import type { TxnClient } from "../../src/api/txn-client.js";
import { ResultUndeterminedError } from "../../src/errors/index.js";
import { MAX_TS } from "../../src/kv/timestamp.js";
import { ScanLockRequest } from "../../src/proto/kvrpcpb.js";
import { isRealCluster, uniquePrefix, useCluster } from "../support/cluster.js";
import { eventuallyPasses } from "../support/wait.js";
import { type ModelStep, modelPaths, replayPath } from "./paths.js";

interface CrashContext {
  /** Whether the primary committed before the crash. */
  primaryCommitted: boolean;
  /** Whether PD's clock is past the locks' TTL. */
  expired: boolean;
  /** What the last read returned: nothing yet, the old values or A's. */
  seen: "" | "old" | "new";
}
type CrashEvent = { type: "CRASH_AFTER_PREWRITE" | "CRASH_AFTER_PRIMARY" | "READ" | "EXPIRE" };

/** The abstract crashed committer, as seen by other transactions. */
const crashModel = setup({
  types: { context: {} as CrashContext, events: {} as CrashEvent },
  guards: { notExpired: ({ context }) => !context.expired },
}).createMachine({
  id: "crashedCommit",
  context: { primaryCommitted: false, expired: false, seen: "" },
  initial: "committing",
  states: {
    committing: {
      on: {
        CRASH_AFTER_PREWRITE: "crashed",
        CRASH_AFTER_PRIMARY: { target: "crashed", actions: assign({ primaryCommitted: true }) },
      },
    },
    crashed: {
      on: {
        READ: [
          // the primary decides: committed, or (expired) rolled back by the reader
          {
            guard: ({ context }) => context.primaryCommitted || context.expired,
            target: "resolved",
            actions: assign({ seen: ({ context }) => (context.primaryCommitted ? "new" : "old") }),
          },
          // a live lock of an uncommitted primary is pushed: the reader sees the old value
          { actions: assign({ seen: "old" }) },
        ],
        EXPIRE: { guard: "notExpired", actions: assign({ expired: true }) },
      },
    },
    resolved: { type: "final" },
  },
});

const EVENTS = ["CRASH_AFTER_PREWRITE", "CRASH_AFTER_PRIMARY", "READ", "EXPIRE"];
const b = (s: string) => Buffer.from(s);
/** Longer than the whole file: a held call never runs while the test looks. */
const HOLD_MS = 120_000;

describe.skipIf(isRealCluster)("committer crashes: model paths on the embedded cluster", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const { all, coverage } = modelPaths("crash model", crashModel, EVENTS);
  let seedClient: TikvClient;
  let seed: TxnClient;

  beforeAll(async () => {
    seedClient = await env.connect();
    seed = seedClient.txn();
  });

  function locksOf(startTs: bigint): string[] {
    return env.cluster.txnEngine
      .scanLock(ScanLockRequest.fromPartial({ maxVersion: MAX_TS, limit: 10_000 }))
      .locks.filter((l) => l.lockVersion === startTs)
      .map((l) => l.key.toString())
      .sort();
  }

  async function replay(steps: readonly ModelStep[]): Promise<void> {
    const p = uniquePrefix("crash");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const [primary] = keys as [string];
    await seed.runTransaction(async (w) => {
      for (const k of keys) w.set(k, `old-${k}`);
    });
    const doomedClient = await env.connect();
    const a = await doomedClient.txn().begin();
    for (const k of keys) a.set(k, `new-${k}`);
    let outcome: unknown;
    let startTs = 0n;
    const holds: Array<{ cancel(): void }> = [];

    await replayPath(
      { description: "", steps: [...steps] },
      {
        events: {
          CRASH_AFTER_PREWRITE: async () => {
            holds.push(env.cluster.faults.delay({ rpc: "KvCommit", key: b(primary), ms: HOLD_MS }));
            const commit = a.commit().then(
              (ts) => ts,
              (e: unknown) => e,
            );
            startTs = a.startTs;
            await eventuallyPasses(() => expect(locksOf(startTs)).toEqual([...keys].sort()));
            // the primary's commit is held at the store: the process dies now
            await new Promise((r) => setTimeout(r, 30));
            await doomedClient.close();
            outcome = await commit;
          },
          CRASH_AFTER_PRIMARY: async () => {
            for (const k of keys.slice(1))
              holds.push(env.cluster.faults.delay({ rpc: "KvCommit", key: b(k), ms: HOLD_MS }));
            outcome = await a.commit();
            startTs = a.startTs;
            await doomedClient.close();
          },
          READ: async () => {
            const reader = (await env.connect()).txn();
            const t0 = Date.now();
            const got = await (await reader.snapshot()).batchGet(keys);
            lastRead = got.map((v) => v?.toString());
            readMs = Date.now() - t0;
            await reader.whenIdle();
          },
          EXPIRE: async () => {
            // PD's clock a minute ahead: every lock of A (3 s TTL) is past its TTL
            const now = await seed.currentTimestamp();
            env.cluster.pd.scriptTso([now + (60_000n << 18n)]);
          },
        },
        state: async (s) => {
          const ctx = s.context as CrashContext;
          if (s.value === "committing") return;
          if (ctx.primaryCommitted)
            expect(typeof outcome, "commit() resolved with the commit ts").toBe("bigint");
          else {
            // the primary's commit was sent and its answer lost with the process: undetermined
            expect(outcome).toBeInstanceOf(ResultUndeterminedError);
          }
          if (ctx.seen === "") {
            // nothing read yet: the crash left A's locks (only the primary committed, if it did)
            expect(locksOf(startTs)).toEqual((ctx.primaryCommitted ? keys.slice(1) : keys).sort());
            return;
          }
          expect(lastRead).toEqual(keys.map((k) => `${ctx.seen}-${k}`));
          // a live lock is pushed, not waited for
          expect(readMs, "the read did not wait for a TTL").toBeLessThan(2_000);
          if (s.value === "resolved") await eventuallyPasses(() => expect(locksOf(startTs)).toEqual([]));
          else expect(locksOf(startTs), "pushing a live lock leaves it").toEqual([...keys].sort());
        },
      },
    );
    for (const h of holds) h.cancel();
  }
  let lastRead: Array<string | undefined> = [];
  let readMs = 0;

  it("the paths take every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
    expect(all.length).toBeLessThanOrEqual(12);
  });

  for (const path of all)
    it(
      path.steps
        .slice(1)
        .map((s) => s.event.type)
        .join(" → "),
      async () => {
        await replay(path.steps);
      },
    );
});
