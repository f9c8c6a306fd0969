// Stale reads through the public API (client-go KVSnapshot SetIsStalenessReadOnly, TiDB's
// AS OF TIMESTAMP): values as of the read ts, the "seconds ago" form, leader fallback on
// DataIsNotReady and after meeting a lock (client-go DisableStaleReadMeetLock), the future-ts
// and latest-ts checks (client-go TestRegionRequestValidateReadTS), bad combinations, and the
// read-only stale transaction. The embedded cluster runs with its resolved-ts advance off, so
// each test moves the safe ts by hand; on a real cluster only values and errors are checked.

import { beforeAll, describe, expect, it } from "vitest";
import {
  FutureTsReadError,
  InvalidArgumentError,
  InvalidTxnError,
  LatestStaleReadError,
  physicalOf,
  StaleReadOnlyError,
  StaleReadTransaction,
  type TikvClient,
} from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  isRealCluster,
  itFault,
  skipOnRealCluster,
  uniquePrefix,
  useCluster,
} from "../../support/cluster.js";
import { prewriteOnly } from "../txn/snapshot-support.js";
import { REAL_CLUSTER_SKIP, rolesOf, served, zoneOf } from "./support.js";

const HOUR_TS = 3_600_000n << 18n;

describe.skipIf(skipOnRealCluster("v1"))("stale reads", () => {
  const env = useCluster({
    stores: 3,
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });
  let client: TikvClient;
  const p = uniquePrefix("stale");

  beforeAll(async () => {
    client = await env.connect();
  });

  // every replica may serve reads up to `ts` (a real cluster advances on its own)
  function safeTsTo(ts: bigint): void {
    if (!isRealCluster) env.cluster.topology.advanceAllSafeTs(ts);
  }

  async function put(key: string, value: string): Promise<bigint> {
    const txn = await client.txn().begin();
    txn.set(key, value);
    return txn.commit();
  }

  it("returns the value as of its ts: v1 between the two commits, v2 after", async () => {
    const key = `${p}asof`;
    const c1 = await put(key, "v1");
    const between = await client.txn().currentTimestamp();
    const c2 = await put(key, "v2");
    expect(c1 < between && between < c2).toBe(true);
    const after = await client.txn().currentTimestamp();
    safeTsTo(after);
    const txns = client.txn();
    const run = async () => {
      expect(await (await txns.snapshot(between, { staleRead: true })).get(key)).toEqual(Buffer.from("v1"));
      expect(await (await txns.snapshot(after, { staleRead: true })).get(key)).toEqual(Buffer.from("v2"));
      expect(await (await txns.snapshot(c1 - 1n, { staleRead: true })).get(key)).toBeUndefined();
    };
    if (isRealCluster) return run();
    const entries = await served(env.cluster, run, ["KvGet"]);
    // each served at once as a stale read (the safe ts covers them), by whichever replica
    expect(entries).toHaveLength(3);
    expect(entries.every((e) => e.staleRead && !e.replicaRead && e.outcome === "ok")).toBe(true);
  });

  it("batch gets, scans and a transaction read at the stale ts too", async () => {
    const a = `${p}multi-a`;
    const b = `${p}multi-b`;
    await put(a, "a1");
    await put(b, "b1");
    const between = await client.txn().currentTimestamp();
    await put(a, "a2");
    await put(b, "b2");
    safeTsTo(await client.txn().currentTimestamp());
    const snap = await client.txn().snapshot(between, { staleRead: true });
    expect(await snap.batchGet([a, b])).toEqual([Buffer.from("a1"), Buffer.from("b1")]);
    const pairs = await snap.scan(`${p}multi-`, `${p}multi.`, 10);
    expect(pairs.map((x) => `${x.key}=${x.value}`)).toEqual([`${a}=a1`, `${b}=b1`]);
    const txn = await client.txn().begin({ startTs: between, staleRead: true });
    expect(txn).toBeInstanceOf(StaleReadTransaction);
    expect(await txn.batchGet([a, b])).toEqual([Buffer.from("a1"), Buffer.from("b1")]);
    await txn.commit();
  });

  it("{ secondsAgo } reads as of that many seconds ago (its ts from the oracle's stale ts)", async () => {
    const key = `${p}ago`;
    await put(key, "old");
    await new Promise((r) => setTimeout(r, 1_600));
    await put(key, "new");
    safeTsTo(await client.txn().currentTimestamp());
    const before = Date.now();
    const snap = await client.txn().snapshot(undefined, { staleRead: { secondsAgo: 1 } });
    // about one second before now (local clock against PD's: a loose bound)
    expect(Math.abs(physicalOf(snap.ts) - (before - 1_000))).toBeLessThan(500);
    expect(await snap.get(key)).toEqual(Buffer.from("old"));
    const txn = await client.txn().begin({ staleRead: { secondsAgo: 1 } });
    expect(await txn.get(key)).toEqual(Buffer.from("old"));
    await txn.rollback();
  });

  itFault(
    `a lagging replica answers DataIsNotReady and the read goes to the leader (${REAL_CLUSTER_SKIP})`,
    async () => {
      const key = `${p}lag`;
      await put(key, "v");
      // safe ts stays below the read ts: every replica lags it
      const readTs = await client.txn().currentTimestamp();
      const roles = rolesOf(env.cluster, key);
      const follower = roles.followers[0] as bigint;
      const snap = await client.txn().snapshot(readTs, {
        staleRead: true,
        matchStoreLabels: { zone: zoneOf(env.cluster, follower) },
      });
      const entries = await served(
        env.cluster,
        async () => expect(await snap.get(key)).toEqual(Buffer.from("v")),
        ["KvGet"],
      );
      expect(entries).toHaveLength(2);
      expect(entries[0]).toMatchObject({
        storeId: follower,
        staleRead: true,
        outcome: "regionError",
        regionError: "dataIsNotReady",
      });
      expect(entries[1]).toMatchObject({
        storeId: roles.leader,
        isLeader: true,
        staleRead: false,
        replicaRead: false,
        outcome: "ok",
      });
    },
  );

  itFault(
    `every DataIsNotReady is followed by a normal read that answers (${REAL_CLUSTER_SKIP})`,
    async () => {
      const key = `${p}lag-many`;
      await put(key, "v");
      const readTs = await client.txn().currentTimestamp();
      const snap = await client.txn().snapshot(readTs, { staleRead: true });
      let followerFirst = 0;
      for (let i = 0; i < 15; i++) {
        const entries = await served(
          env.cluster,
          async () => expect(await snap.get(key)).toEqual(Buffer.from("v")),
          ["KvGet"],
        );
        // the leader serves a lagging stale read itself (TiKV's local-reader fallback); a
        // follower answers DataIsNotReady and the client retries on the leader without the flag
        if (entries[0]?.isLeader) {
          expect(entries.map((e) => [e.staleRead, e.outcome])).toEqual([[true, "ok"]]);
          continue;
        }
        followerFirst++;
        expect(entries.map((e) => [e.staleRead, e.outcome, e.isLeader])).toEqual([
          [true, "regionError", false],
          [false, "ok", true],
        ]);
        expect(entries[0]?.regionError).toBe("dataIsNotReady");
      }
      expect(followerFirst).toBeGreaterThan(0);
    },
  );

  itFault(
    `a stale read that meets a lock resolves it and reads from the leader (${REAL_CLUSTER_SKIP})`,
    async () => {
      const key = `${p}locked`;
      await put(key, "committed");
      const lockTs = await client.txn().currentTimestamp();
      // a crashed writer's lock, already expired (TTL 1 ms)
      prewriteOnly(env.cluster, { startTs: lockTs, primary: key, writes: [[key, "never"]], ttlMs: 1n });
      await new Promise((r) => setTimeout(r, 5));
      const readTs = await client.txn().currentTimestamp();
      safeTsTo(readTs);
      const roles = rolesOf(env.cluster, key);
      const follower = roles.followers[1] as bigint;
      const snap = await client.txn().snapshot(readTs, {
        staleRead: true,
        matchStoreLabels: { zone: zoneOf(env.cluster, follower) },
      });
      const entries = await served(
        env.cluster,
        async () => expect(await snap.get(key)).toEqual(Buffer.from("committed")),
        ["KvGet"],
      );
      expect(entries.map((e) => [e.storeId, e.staleRead, e.outcome])).toEqual([
        [follower, true, "keyError"],
        [roles.leader, false, "ok"],
      ]);
    },
  );

  it("a read ts in the future is refused (FutureTsReadError), and so is a stale read at latest", async () => {
    const future = (await client.txn().currentTimestamp()) + HOUR_TS;
    const txns = client.txn();
    await expect(txns.snapshot(future, { staleRead: true })).rejects.toBeInstanceOf(FutureTsReadError);
    await expect(txns.begin({ startTs: future, staleRead: true })).rejects.toBeInstanceOf(FutureTsReadError);
    await expect(txns.snapshot(MAX_TS, { staleRead: true })).rejects.toBeInstanceOf(LatestStaleReadError);
    // a normal read at latest stays allowed
    await expect(txns.snapshot(MAX_TS)).resolves.toBeDefined();
  });

  it("bad stale-read combinations are refused at once with InvalidArgumentError", async () => {
    const txns = client.txn();
    const ts = await txns.currentTimestamp();
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["ts", () => txns.snapshot(undefined, { staleRead: true })],
      ["ts", () => txns.snapshot(ts, { staleRead: { secondsAgo: 1 } })],
      ["startTs", () => txns.begin({ staleRead: true })],
      ["startTs", () => txns.begin({ startTs: ts, staleRead: { secondsAgo: 1 } })],
      ["staleRead.secondsAgo", () => txns.snapshot(undefined, { staleRead: { secondsAgo: -1 } })],
      ["staleRead.secondsAgo", () => txns.snapshot(undefined, { staleRead: { secondsAgo: 1.5 } })],
      ["staleRead.secondsAgo", () => txns.begin({ staleRead: { secondsAgo: "5" as never } })],
      ["staleRead", () => txns.snapshot(ts, { staleRead: "yes" as never })],
      ["staleRead", () => txns.begin({ startTs: ts, staleRead: true, pessimistic: true })],
      ["staleRead", () => txns.begin({ staleRead: { secondsAgo: 1 }, pipelined: true })],
    ];
    for (const [argument, call] of cases) {
      const e = await call().catch((x) => x);
      expect(e, `${argument}: ${String(e)}`).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(argument);
    }
  });

  it("a stale-read transaction is read-only: writes and locks fail with StaleReadOnlyError", async () => {
    const key = `${p}ro`;
    await put(key, "v");
    safeTsTo(await client.txn().currentTimestamp());
    const txn = await client.txn().begin({ staleRead: { secondsAgo: 0 } });
    expect(await txn.get(key)).toEqual(Buffer.from("v"));
    const sync: Array<[string, () => unknown]> = [
      ["set", () => txn.set(key, "w")],
      ["delete", () => txn.delete(key)],
      ["startAggressiveLocking", () => txn.startAggressiveLocking()],
    ];
    for (const [op, call] of sync) {
      let e: unknown;
      try {
        call();
      } catch (x) {
        e = x;
      }
      expect(e, op).toBeInstanceOf(StaleReadOnlyError);
      expect((e as StaleReadOnlyError).operation).toBe(op);
    }
    await expect(txn.lockKeys([key])).rejects.toBeInstanceOf(StaleReadOnlyError);
    await expect(txn.getForUpdate(key)).rejects.toBeInstanceOf(StaleReadOnlyError);
    await expect(txn.batchGetForUpdate([key])).rejects.toBeInstanceOf(StaleReadOnlyError);
    expect(txn.isReadOnly).toBe(true);
    // nothing to write: the commit just ends it, and the transaction is then over
    await txn.commit();
    expect(txn.state).toBe("committed");
    expect(() => txn.set(key, "w")).toThrow(InvalidTxnError);
    // runTransaction with a stale read: reads work, a write fails (not retried)
    await expect(
      client.txn().runTransaction(
        async (t) => {
          expect(await t.get(key)).toEqual(Buffer.from("v"));
          t.set(key, "w");
        },
        { staleRead: { secondsAgo: 0 } },
      ),
    ).rejects.toBeInstanceOf(StaleReadOnlyError);
  });
});
