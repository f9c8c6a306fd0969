// Crashed committers and faults on each commit phase: locks other transactions find are resolved
// the right way (rolled back when the primary never committed, committed when it did), region
// errors during prewrite/commit are retried, and an unknown primary commit is reported as
// undetermined without a rollback.

import { describe, expect } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { ResultUndeterminedError } from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { CommitRequest, Op, PrewriteRequest, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const str = (vs: ReadonlyArray<Buffer | undefined>) => vs.map((v) => v?.toString());

describe.skipIf(skipOnRealCluster("v1"))("transactions: crash recovery and commit faults", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // a crashed committer is played by the engine itself: prewrite (and maybe commit the primary)
  // of transaction `startTs`, then nothing more
  function crashedTxn(startTs: bigint, primary: string, keys: string[], ttlMs: bigint) {
    const r = env.cluster.txnEngine.prewrite(
      PrewriteRequest.fromPartial({
        mutations: keys.map((k) => ({ op: Op.Put, key: Buffer.from(k), value: Buffer.from(`v-${k}`) })),
        primaryLock: Buffer.from(primary),
        startVersion: startTs,
        lockTtl: ttlMs,
        txnSize: BigInt(keys.length),
        minCommitTs: startTs + 1n,
      }),
    );
    expect(r.errors).toEqual([]);
  }

  itFault(
    "committer gone after prewrite: readers push past the live locks; once expired they are rolled back",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("lost");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      const startTs = await t.currentTimestamp();
      crashedTxn(startTs, keys[0] as string, keys, 500n);
      // a reader need not wait for a live lock: CheckTxnStatus pushes the owner's min commit ts
      // past the reader, which then reads around the lock (client-go resolve-for-read)
      const snap = await t.snapshot();
      expect(str(await snap.batchGet(keys))).toEqual([undefined, undefined, undefined]);
      expect(t.lockResolver.stats().statusChecks).toBeGreaterThan(0);
      expect(
        (await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(keys[0] as string))).ttl,
      ).toBeGreaterThan(0n);
      // after the TTL, the status check rolls the transaction back
      await new Promise((r) => setTimeout(r, 600));
      await t.currentTimestamp(); // refresh the client's low-resolution clock
      const st = await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(keys[0] as string));
      expect(st).toMatchObject({ commitTs: 0n, ttl: 0n });
      // a writer over those keys now succeeds, and the crashed transaction can never commit
      await t.whenIdle();
      await t.runTransaction(async (w) => w.set(keys[1] as string, "mine"));
      const late = env.cluster.txnEngine.commit(
        CommitRequest.fromPartial({
          startVersion: startTs,
          keys: [Buffer.from(keys[0] as string)],
          commitVersion: startTs + 10n,
        }),
      );
      expect(late.error).toBeDefined();
      expect((await (await t.snapshot()).get(keys[1] as string))?.toString()).toBe("mine");
    },
  );

  itFault("a writer meeting a live lock waits for it, then resolves it and commits", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("wlock");
    const key = `h${p}`;
    const startTs = await t.currentTimestamp();
    crashedTxn(startTs, key, [key], 300n);
    await t.runTransaction(async (w) => w.set(key, "after"), { maxAttempts: 20 });
    expect((await (await t.snapshot()).get(key))?.toString()).toBe("after");
  });

  itFault("committer gone after the primary committed: readers commit the secondaries' locks", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("half");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const startTs = await t.currentTimestamp();
    // a long TTL: a reader must not need to wait, since the primary is committed
    crashedTxn(startTs, keys[0] as string, keys, 60_000n);
    const commitTs = await t.currentTimestamp();
    const c = env.cluster.txnEngine.commit(
      CommitRequest.fromPartial({
        startVersion: startTs,
        keys: [Buffer.from(keys[0] as string)],
        commitVersion: commitTs,
      }),
    );
    expect(c.error).toBeUndefined();
    const started = Date.now();
    const snap = await t.snapshot();
    expect(str(await snap.batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
    expect(Date.now() - started).toBeLessThan(2000);
    const st = await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(keys[0] as string));
    expect(st.commitTs).toBe(commitTs);
    // a writer over a secondary succeeds once the lock is resolved
    await t.whenIdle();
    await t.runTransaction(async (w) => w.set(keys[2] as string, "again"));
    expect((await (await t.snapshot()).get(keys[2] as string))?.toString()).toBe("again");
  });

  itFault(
    "an unknown primary commit is undetermined: no rollback, and the locks stay for resolvers",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const p = uniquePrefix("und");
      const keys = [`a${p}`, `q${p}`];
      env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: keys[0] as string,
        error: { regionError: RegionErrors.undeterminedResult("injected: commit outcome lost") },
      });
      const txn = await t.begin();
      txn.set(keys[0] as string, "1");
      txn.set(keys[1] as string, "2");
      const err = await txn.commit().catch((e) => e);
      expect(err).toBeInstanceOf(ResultUndeterminedError);
      await t.whenIdle();
      // nothing rolled the transaction back: its locks are still there
      const locks = env.cluster.txnEngine.scanLock(
        ScanLockRequest.fromPartial({
          maxVersion: MAX_TS,
          startKey: Buffer.from(keys[0] as string),
          limit: 10,
        }),
      );
      expect(locks.locks.map((l) => l.lockVersion)).toContain(txn.startTs);
    },
  );

  itFault("region errors during prewrite and commit are retried; the commit succeeds", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("re");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    await t.runTransaction(async (w) => w.set(keys[0] as string, "warm")); // warm the cache
    const r = env.cluster.topology.locateKey(Buffer.from(keys[1] as string));
    if (!r) throw new Error("no region");
    env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      regionId: r.id,
      error: { regionError: RegionErrors.notLeader(r.id) },
    });
    env.cluster.faults.failNext({ rpc: "KvCommit", error: { regionError: RegionErrors.serverIsBusy() } });
    client.resetMetrics();
    const txn = await t.begin();
    for (const [i, k] of keys.entries()) txn.set(k, `v${i}`);
    await txn.commit();
    await t.whenIdle();
    expect(Object.keys(client.metrics().regionErrors).length).toBeGreaterThan(0);
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v0", "v1", "v2"]);
  });

  itFault("a split between prewrite and commit is followed", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("split");
    const keys = Array.from({ length: 20 }, (_, i) => `h${p}${String(i).padStart(2, "0")}`);
    await t.runTransaction(async (w) => w.set(keys[0] as string, "warm"));
    const r = env.cluster.topology.locateKey(Buffer.from(keys[0] as string));
    if (!r) throw new Error("no region");
    let split = false;
    const off = env.cluster.faults.onRequest((call) => {
      if (!split && call.rpc === "KvCommit") {
        split = true;
        env.cluster.topology.splitRegion(r.id, [Buffer.from(keys[10] as string)]);
      }
    });
    try {
      const txn = await t.begin();
      for (const k of keys) txn.set(k, `v-${k}`);
      await txn.commit();
      await t.whenIdle();
    } finally {
      off();
    }
    expect(split).toBe(true);
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
  });
});
