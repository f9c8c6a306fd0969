// Async commit and 1PC (client-go 2pc.go checkAsyncCommit / checkOnePC, prewrite.go): which
// protocol a commit uses, its fallbacks, the RPCs it costs, undetermined prewrites, and
// readers finishing an async-commit transaction whose committer went away.

import { describe, expect, it } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { InvalidArgumentError, ResultUndeterminedError } from "../../../src/index.js";
import { Op, PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const str = (vs: ReadonlyArray<Buffer | undefined>) => vs.map((v) => v?.toString());

describe.skipIf(skipOnRealCluster("v1"))("transactions: async commit and 1PC", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  const calls = (rpc: "KvPrewrite" | "KvCommit") => env.cluster.faults.calls({ rpc });

  itFault("async commit across regions: committed after prewrite, no primary commit round trip", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("ac");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    env.cluster.faults.resetCounters();
    const txn = await t.begin({ asyncCommit: true });
    for (const k of keys) txn.set(k, `v-${k}`);
    const commitTs = await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "asyncCommit", asyncCommitFallback: false, onePCFallback: false });
    expect(commitTs).toBeGreaterThan(txn.startTs);
    // a reader right away sees the values (resolving the async-commit locks if needed)
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
    await t.whenIdle();
    expect(calls("KvPrewrite")).toBe(3);
    expect(calls("KvCommit")).toBe(3); // every key, primary included, in the background
  });

  itFault("1PC in one region: one prewrite commits, no commit RPC", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("1pc");
    const keys = [`h${p}1`, `h${p}2`];
    env.cluster.faults.resetCounters();
    const txn = await t.begin({ onePC: true });
    for (const k of keys) txn.set(k, "x");
    const commitTs = await txn.commit();
    expect(txn.commitInfo?.mode).toBe("onePC");
    expect(calls("KvPrewrite")).toBe(1);
    expect(calls("KvCommit")).toBe(0);
    await t.whenIdle();
    expect(calls("KvCommit")).toBe(0);
    const snap = await t.snapshot();
    expect(snap.ts).toBeGreaterThan(commitTs);
    expect(str(await snap.batchGet(keys))).toEqual(["x", "x"]);
  });

  itFault("1PC over two regions falls back to 2PC (or to async commit when that is on too)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("1pcfb");
    const txn = await t.begin({ onePC: true });
    txn.set(`a${p}`, "1");
    txn.set(`q${p}`, "2");
    await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: false, onePCFallback: true });
    const both = await t.begin({ onePC: true, asyncCommit: true });
    both.set(`a${p}x`, "1");
    both.set(`q${p}x`, "2");
    await both.commit();
    expect(both.commitInfo).toEqual({ mode: "asyncCommit", asyncCommitFallback: false, onePCFallback: true });
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([`a${p}`, `q${p}`, `a${p}x`, `q${p}x`]))).toEqual([
      "1",
      "2",
      "1",
      "2",
    ]);
  });

  it("async commit beyond 256 keys uses 2PC and says so", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("big");
    const txn = await t.begin({ asyncCommit: true });
    for (let i = 0; i < 300; i++) txn.set(`h${p}${String(i).padStart(3, "0")}`, "v");
    await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: true, onePCFallback: false });
  });

  itFault("a lost async-commit prewrite answer is undetermined; no rollback follows", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("acund");
    const keys = [`a${p}`, `q${p}`];
    env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      key: keys[1] as string,
      error: { regionError: RegionErrors.undeterminedResult("injected: prewrite outcome lost") },
    });
    env.cluster.faults.resetCounters();
    const txn = await t.begin({ asyncCommit: true });
    for (const k of keys) txn.set(k, "v");
    await expect(txn.commit()).rejects.toThrow(ResultUndeterminedError);
    await t.whenIdle();
    expect(env.cluster.faults.calls({ rpc: "KvBatchRollback" })).toBe(0);
  });

  itFault(
    "an async-commit transaction whose committer went away: readers decide it from the secondaries",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("acgone");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      const startTs = await t.currentTimestamp();
      // what a committer leaves when it stops right after an async-commit prewrite: every lock
      // written (the primary lists the secondaries), nothing committed
      for (const [i, k] of keys.entries()) {
        const r = env.cluster.txnEngine.prewrite(
          PrewriteRequest.fromPartial({
            mutations: [{ op: Op.Put, key: Buffer.from(k), value: Buffer.from(`v-${k}`) }],
            primaryLock: Buffer.from(keys[0] as string),
            startVersion: startTs,
            lockTtl: 300n,
            txnSize: 3n,
            minCommitTs: startTs + 1n,
            maxCommitTs: startTs + (60_000n << 18n),
            useAsyncCommit: true,
            secondaries: i === 0 ? keys.slice(1).map((x) => Buffer.from(x)) : [],
          }),
        );
        expect(r.errors).toEqual([]);
      }
      env.cluster.faults.resetCounters();
      const snap = await t.snapshot();
      // every lock was prewritten, so the transaction is committed (at the max min_commit_ts)
      expect(str(await snap.batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
      expect(env.cluster.faults.calls({ rpc: "KvCheckSecondaryLocks" })).toBeGreaterThan(0);
      const st = await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(keys[0] as string));
      expect(st.commitTs).toBeGreaterThan(startTs);
    },
  );

  itFault("an async-commit transaction with a missing secondary lock is rolled back by readers", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("acmiss");
    const keys = [`a${p}`, `q${p}`];
    const startTs = await t.currentTimestamp();
    // only the primary was prewritten: the secondary's prewrite never arrived
    const r = env.cluster.txnEngine.prewrite(
      PrewriteRequest.fromPartial({
        mutations: [{ op: Op.Put, key: Buffer.from(keys[0] as string), value: Buffer.from("p") }],
        primaryLock: Buffer.from(keys[0] as string),
        startVersion: startTs,
        lockTtl: 300n,
        txnSize: 2n,
        minCommitTs: startTs + 1n,
        maxCommitTs: startTs + (60_000n << 18n),
        useAsyncCommit: true,
        secondaries: [Buffer.from(keys[1] as string)],
      }),
    );
    expect(r.errors).toEqual([]);
    const snap = await t.snapshot();
    expect(str(await snap.batchGet(keys))).toEqual([undefined, undefined]);
    await t.whenIdle();
    const st = await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(keys[0] as string));
    expect(st).toMatchObject({ commitTs: 0n, ttl: 0n });
  });

  it("protocol options are checked", async () => {
    const t = (await env.connect()).txn();
    await expect(t.begin({ asyncCommit: "yes" as never })).rejects.toThrow(InvalidArgumentError);
    await expect(t.begin({ onePC: 1 as never })).rejects.toThrow(InvalidArgumentError);
  });
});
