// Model-based test of the committer's TTL manager (the primary's heartbeat, a callback child of
// the committer machine: TTL_START / TTL_STOPPED), replayed on the embedded cluster with a real
// pessimistic transaction A holding one key (its committer and TTL manager start with the first
// lock). Events:
// - HEARTBEAT_FAILS: TiKV answers every TxnHeartBeat of A with a key error: the manager stops;
// - CLOCK_JUMP: PD's clock jumps 30 s (past the lock's 20 s TTL; later answers stay above), then a
//   few heartbeat periods pass: a running manager re-advises the TTL from PD's time (uptime + 20 s);
// - OTHER_LOCKS: another transaction B tries the key without waiting: refused while A's lock
//   lives; once it lapsed, B resolves A's lock (rolls it back) and takes the key, writing it;
// - COMMIT: A writes the key and commits: it succeeds unless B took the key, then it fails with a
//   typed error and B's value stays.
// The model's oracle: A's lock lapsed iff the manager had stopped before the clock jumped.
// The heartbeat period (10 s, not a public option) is shortened to 25 ms by wrapping the
// committer's keepAlive in this file.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import { Committer } from "../../src/actors/txn/committer.js";
import type { TikvClient } from "../../src/api/tikv-client.js";
import type { Transaction } from "../../src/api/transaction.js";
import type { TxnClient } from "../../src/api/txn-client.js";
import { LockAcquireFailAndNoWaitSetError, TikvError } from "../../src/errors/index.js";
import { isRealCluster, uniquePrefix, useCluster } from "../support/cluster.js";
import { type ModelStep, modelPaths, replayPath } from "./paths.js";

interface TtlContext {
  heartbeat: "running" | "stopped";
  /** The clock jumped while the manager had stopped: A's lock is past its TTL. */
  lapsed: boolean;
  jumped: boolean;
  /** B took the key. */
  stolen: boolean;
  /** B's no-wait attempt was refused. */
  refused: boolean;
}
type TtlEvent = { type: "HEARTBEAT_FAILS" | "CLOCK_JUMP" | "OTHER_LOCKS" | "COMMIT" };

const ttlModel = setup({
  types: { context: {} as TtlContext, events: {} as TtlEvent },
  guards: {
    running: ({ context }) => context.heartbeat === "running",
    notJumped: ({ context }) => !context.jumped,
    notTried: ({ context }) => !context.stolen && !context.refused,
    stolen: ({ context }) => context.stolen,
  },
}).createMachine({
  id: "ttlManager",
  context: { heartbeat: "running", lapsed: false, jumped: false, stolen: false, refused: false },
  initial: "holding",
  states: {
    holding: {
      on: {
        HEARTBEAT_FAILS: { guard: "running", actions: assign({ heartbeat: "stopped" }) },
        CLOCK_JUMP: {
          guard: "notJumped",
          actions: assign({ jumped: true, lapsed: ({ context }) => context.heartbeat === "stopped" }),
        },
        OTHER_LOCKS: {
          guard: "notTried",
          actions: assign(({ context }) => (context.lapsed ? { stolen: true } : { refused: true })),
        },
        COMMIT: [{ guard: "stolen", target: "failed" }, { target: "committed" }],
      },
    },
    committed: { type: "final" },
    failed: { type: "final" },
  },
});

const HEARTBEAT_MS = 25;

describe.skipIf(isRealCluster)("TTL manager: model paths on the embedded cluster", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const { all, coverage } = modelPaths("ttl model", ttlModel, [
    "HEARTBEAT_FAILS",
    "CLOCK_JUMP",
    "OTHER_LOCKS",
    "COMMIT",
  ]);
  const keepAlive = Committer.prototype.keepAlive;
  let client: TikvClient;
  let t: TxnClient;

  beforeAll(async () => {
    // a short heartbeat period for this file's committers
    Committer.prototype.keepAlive = function (this: Committer, sendBack) {
      (this as unknown as { deps: { heartbeatIntervalMs?: number } }).deps.heartbeatIntervalMs = HEARTBEAT_MS;
      return keepAlive.call(this, sendBack);
    };
    client = await env.connect();
    t = client.txn();
  });

  afterAll(() => {
    Committer.prototype.keepAlive = keepAlive;
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function replay(steps: readonly ModelStep[]): Promise<void> {
    const key = `h${uniquePrefix("ttl")}`;
    const a: Transaction = await t.begin({ pessimistic: true });
    await a.lockKeys([key]);
    let beats = 0;
    let failBeats = false;
    const unhook = env.cluster.faults.onRequest((call) => {
      if (call.rpc !== "KvTxnHeartBeat" || !call.keys?.some((k) => Buffer.from(k).toString() === key)) return;
      beats++;
      if (failBeats) return { keyError: { abort: "injected: heartbeat refused" } };
      return undefined;
    });
    let b: Transaction | undefined;
    let otherError: unknown;
    let commitResult: unknown;
    try {
      // the manager runs from the first lock
      await sleep(HEARTBEAT_MS * 3);
      expect(beats, "heartbeats while A holds its lock").toBeGreaterThan(0);
      await replayPath(
        { description: "", steps: [...steps] },
        {
          events: {
            HEARTBEAT_FAILS: async () => {
              failBeats = true;
              const before = beats;
              for (let i = 0; i < 100 && beats === before; i++) await sleep(HEARTBEAT_MS / 2);
              expect(beats, "the refused heartbeat was sent").toBeGreaterThan(before);
              // beats already under way when the first refusal arrived may still land
              await sleep(HEARTBEAT_MS * 2);
              const after = beats;
              await sleep(HEARTBEAT_MS * 3);
              expect(beats, "no heartbeat once the manager stopped").toBe(after);
            },
            CLOCK_JUMP: async () => {
              const now = await t.currentTimestamp();
              env.cluster.pd.scriptTso([now + (30_000n << 18n)]);
              await t.currentTimestamp();
              await sleep(HEARTBEAT_MS * 4);
            },
            OTHER_LOCKS: async () => {
              const other = await t.begin({ pessimistic: true });
              try {
                await other.lockKeys([key], { noWait: true });
                other.set(key, "B");
                await other.commit();
                b = other;
              } catch (e) {
                otherError = e;
                await other.rollback();
              }
            },
            COMMIT: async () => {
              a.set(key, "A");
              commitResult = await a.commit().then(
                (ts) => ts,
                (e: unknown) => e,
              );
              await t.whenIdle();
            },
          },
          state: async (s) => {
            const ctx = s.context as TtlContext;
            if (ctx.stolen) expect(b, "B took the lapsed lock").toBeDefined();
            if (ctx.refused) expect(otherError).toBeInstanceOf(LockAcquireFailAndNoWaitSetError);
            if (s.value === "holding") return;
            const got = (await (await t.snapshot()).get(key))?.toString();
            if (s.value === "committed") {
              expect(typeof commitResult, String(commitResult)).toBe("bigint");
              expect(got).toBe("A");
            } else {
              expect(commitResult).toBeInstanceOf(TikvError);
              expect(got, "B's write stays").toBe("B");
            }
          },
        },
      );
    } finally {
      unhook();
      if (a.state === "active") await a.rollback();
    }
  }

  it("the paths take every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
    expect(all.length).toBeLessThanOrEqual(20);
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
