// Pipelined DML when things go wrong (client-go TestPipelinedDMLFailedByPKRollback and
// TestPipelinedDMLFailedByPKMaxTTLExceeded, ported by meaning, plus our own): the TTL manager
// closing stops further flushes, a crashed pipelined transaction's locks are resolved by another
// reader once they expire, and a store restarting in the middle of the flushes.

import { describe, expect } from "vitest";
import { physicalOf } from "../../../src/kv/timestamp.js";
import { BatchRollbackRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import { str } from "../../support/values.js";
import {
  eventually,
  locksOf,
  sleep,
  spreadKeys,
  usePipelinedCluster,
  withKnobs,
} from "./pipelined-support.js";

describe.skipIf(skipOnRealCluster("v1"))("pipelined transactions: faults", () => {
  const env = usePipelinedCluster();

  itFault(
    "the TTL manager stops once the primary lock is rolled back; the next flush fails (TestPipelinedDMLFailedByPKRollback)",
    async () => {
      const restore = withKnobs({ managedLockTtlMs: 100 });
      try {
        const t = (await env.connect()).txn();
        const k = `a${uniquePrefix("pkrb")}`;
        const txn = await t.begin({ pipelined: true });
        txn.set(`${k}1`, "value1");
        expect(await txn.flush(true)).toBe(true);
        await txn.flushWait();
        expect(txn.committer.primary?.toString()).toBe(`${k}1`);
        expect(txn.committer.ttlRunning).toBe(true);
        // someone rolls the primary back (client-go: BatchResolveLocks of its lock)
        const r = env.cluster.txnEngine.batchRollback(
          BatchRollbackRequest.fromPartial({ startVersion: txn.startTs, keys: [Buffer.from(`${k}1`)] }),
        );
        expect(r.error).toBeUndefined();
        expect(await eventually(() => !txn.committer.ttlRunning, 5_000)).toBe(true);
        txn.set(`${k}2`, "value2");
        expect(await txn.flush(true)).toBe(true);
        await expect(txn.flushWait()).rejects.toThrow("ttl manager is closed");
        await txn.rollback();
      } finally {
        restore();
      }
    },
  );

  itFault(
    "the TTL manager gives up past the max TTL; the next flush fails (TestPipelinedDMLFailedByPKMaxTTLExceeded)",
    async () => {
      const restore = withKnobs({ managedLockTtlMs: 100, maxPipelinedTxnTtlMs: 200, clientMaxTxnTtlMs: 200 });
      try {
        const t = (await env.connect()).txn();
        const k = `h${uniquePrefix("maxttl")}`;
        const txn = await t.begin({ pipelined: true });
        txn.set(`${k}1`, "value1");
        expect(await txn.flush(true)).toBe(true);
        await txn.flushWait();
        expect(txn.committer.ttlRunning).toBe(true);
        expect(await eventually(() => !txn.committer.ttlRunning, 5_000)).toBe(true);
        txn.set(`${k}2`, "value2");
        expect(await txn.flush(true)).toBe(true);
        await expect(txn.flushWait()).rejects.toThrow("ttl manager is closed");
        // a commit now fails too, and rolls the flushed locks back
        await expect(txn.commit()).rejects.toThrow("ttl manager is closed");
        await t.whenIdle();
        expect(locksOf(env, txn.startTs)).toEqual([]);
      } finally {
        restore();
      }
    },
  );

  itFault("heartbeats raise the primary's min commit ts and broadcast it to every store", async () => {
    const restore = withKnobs({ managedLockTtlMs: 200 });
    try {
      const t = (await env.connect()).txn();
      const k = `q${uniquePrefix("hb")}`;
      const txn = await t.begin({ pipelined: true });
      txn.set(k, "v");
      await txn.flush(true);
      await txn.flushWait();
      const minOf = () => locksOf(env, txn.startTs).find((l) => l.key.toString() === k)?.minCommitTs ?? 0n;
      const first = minOf();
      env.cluster.faults.resetCounters();
      expect(await eventually(() => minOf() > first, 3_000)).toBe(true);
      // one broadcast per heartbeat to each of the 3 stores
      expect(
        await eventually(() => env.cluster.faults.calls({ rpc: "BroadcastTxnStatus" }) >= 3, 3_000),
      ).toBe(true);
      await txn.commit();
    } finally {
      restore();
    }
  });

  itFault(
    "a crashed pipelined transaction (flushed, never committed) is resolved by another reader once its locks expire",
    async () => {
      // a 3 s lock TTL: max(client-go defaultLockTTL, managed TTL)
      const restore = withKnobs({ managedLockTtlMs: 200 });
      try {
        const keys = spreadKeys(uniquePrefix("crash"), 300);
        const seed = (await env.connect()).txn();
        await seed.runTransaction(async (w) => {
          for (const k of keys.slice(0, 150)) w.set(k, "old");
        });
        const doomedClient = await env.connect();
        const doomed = await doomedClient.txn().begin({ pipelined: true });
        for (const [i, k] of keys.entries()) {
          doomed.set(k, "new");
          if (i % 100 === 99) {
            await doomed.flush();
            await doomed.flushWait();
          }
        }
        await doomed.flushWait();
        expect(doomed.generation).toBeGreaterThanOrEqual(3);
        expect(locksOf(env, doomed.startTs).length).toBe(300);
        // the process dies: no commit, no rollback, no more heartbeats
        await doomedClient.close();
        // a reader at once: the locks are alive but can be pushed, so it reads the old values
        // without waiting (and without rolling anything back)
        const reader = (await env.connect()).txn();
        const t0 = Date.now();
        const got = await (await reader.snapshot()).batchGet(keys, { timeoutMs: 20_000 });
        expect(str(got)).toEqual(keys.map((_, i) => (i < 150 ? "old" : undefined)));
        expect(Date.now() - t0).toBeLessThan(2_500);
        expect(locksOf(env, doomed.startTs).length).toBe(300);
        // once the primary's TTL ran out, a reader rolls the transaction back and cleans its
        // locks region by region
        const expiresAt = physicalOf(doomed.startTs) + 3_000;
        await sleep(Math.max(0, expiresAt - Date.now()) + 100);
        const later = (await env.connect()).txn();
        const again = await (await later.snapshot()).batchGet(keys);
        expect(str(again)).toEqual(keys.map((_, i) => (i < 150 ? "old" : undefined)));
        expect(later.lockResolver.stats().resolutions).toBeGreaterThan(0);
        await later.whenIdle();
        expect(await eventually(() => locksOf(env, doomed.startTs).length === 0, 10_000)).toBe(true);
      } finally {
        restore();
      }
    },
    30_000,
  );

  itFault(
    "a store restarting during the flushes: the flushes retry, the commit succeeds with every value",
    async () => {
      const t = (await env.connect()).txn();
      const keys = spreadKeys(uniquePrefix("rs"), 1200);
      const txn = await t.begin({ pipelined: true });
      const victim = env.cluster.stores[1]?.storeId as bigint;
      // it leads regions the keys fall in
      expect(env.cluster.topology.regions().some((r) => r.leader?.storeId === victim)).toBe(true);
      let restarted = false;
      for (const [i, k] of keys.entries()) {
        txn.set(k, `v${i}`);
        if (i % 100 === 99) {
          await txn.flush();
          await txn.flushWait();
        }
        if (i === 400) {
          // no failover: the victim's regions have no reachable leader until it is back, so
          // the next flush must retry through the outage
          await env.cluster.stopStore(victim);
          setTimeout(() => {
            void env.cluster.startStore(victim).then(() => {
              restarted = true;
            });
          }, 300);
        }
      }
      await txn.commit();
      expect(restarted).toBe(true);
      expect(txn.generation).toBeGreaterThanOrEqual(10);
      await t.whenIdle();
      const snap = await t.snapshot();
      expect(str(await snap.batchGet(keys))).toEqual(keys.map((_, i) => `v${i}`));
      expect(locksOf(env, txn.startTs)).toEqual([]);
    },
    30_000,
  );
});
