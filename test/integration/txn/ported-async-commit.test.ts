// Ported by meaning from client-go's async-commit committer tests: integration_tests/2pc_test.go
// (TestAsyncCommit, TestPrewriteSecondaryKeys, TestAsyncCommitCheck), prewrite_test.go
// (TestSetMinCommitTSInAsyncCommit) and async_commit_test.go (TestRepeatableRead,
// TestAsyncCommitLinearizability, TestAsyncCommitLifecycleHooks): what the prewrites carry, the
// commit ts (the largest min_commit_ts, no TSO), the key limits, and the ordering guarantees.
// client-go drives its committer phase by phase; here the whole commit runs and the requests the
// stores receive are checked. Mapping: test/ported/txn-async-1pc.md.

import { describe, expect, it } from "vitest";
import type { BeginOptions } from "../../../src/api/txn-client.js";
import type { PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import {
  b,
  dropCommits,
  eventually,
  locksUnder,
  passTime,
  recordFor,
  splitAt,
  str,
  useClockedCluster,
} from "./ported-async-commit-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go async commit: the committer", () => {
  const { env, clock } = useClockedCluster();

  // 2pc_test TestAsyncCommit
  it("an async commit over two regions commits every key at one commit ts", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("ac");
    const [pk, k1] = [`a${p}tpk`, `q${p}tk1`];
    const txn = await t.begin({ asyncCommit: true });
    txn.set(pk, "pkVal");
    txn.set(k1, "k1Val");
    const commitTs = await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "asyncCommit", asyncCommitFallback: false, onePCFallback: false });
    expect(commitTs).toBeGreaterThan(txn.startTs);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([pk, k1]))).toEqual(["pkVal", "k1Val"]);
    // both keys became visible at exactly the commit ts
    expect(str(await (await t.snapshot(commitTs)).batchGet([pk, k1]))).toEqual(["pkVal", "k1Val"]);
    expect(str(await (await t.snapshot(commitTs - 1n)).batchGet([pk, k1]))).toEqual([undefined, undefined]);
  });

  // 2pc_test TestAsyncCommit (its SetMinCommitTS): the commit ts is the prewrites' largest min_commit_ts
  itFault(
    "the commit ts is the largest min_commit_ts the prewrites answered, with no TSO for it",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("acmax");
      const [pk, k1] = [`a${p}`, `q${p}`];
      const undrop = dropCommits(env, p); // keep the locks, to read their min_commit_ts
      // the second region's prewrite runs late, after a reader at readTs raised TiKV's max_ts
      const held = env.cluster.faults.delay({ rpc: "KvPrewrite", key: k1, ms: 500, count: 1 });
      try {
        const txn = await t.begin({ asyncCommit: true });
        txn.set(pk, "1");
        txn.set(k1, "2");
        const committing = txn.commit();
        expect(await eventually(() => locksUnder(env, pk).length === 1, 2_000)).toBe(true);
        const readTs = await t.currentTimestamp();
        expect(await (await t.snapshot(readTs)).get(k1)).toBeUndefined(); // the read that raises max_ts
        const commitTs = await committing;
        expect(txn.commitInfo?.mode).toBe("asyncCommit");
        const mins = new Map(locksUnder(env, p).map((l) => [l.key.toString(), l.minCommitTs]));
        expect(mins.get(k1)).toBe(readTs + 1n);
        expect(mins.get(pk)).toBeLessThanOrEqual(readTs);
        expect(commitTs).toBe(readTs + 1n); // the max, not a TSO
        // the reader's snapshot stays consistent: the transaction is after it
        await passTime(clock, 4_000, [t]);
        expect(await (await t.snapshot(readTs)).get(k1)).toBeUndefined();
        expect(str(await (await t.snapshot()).batchGet([pk, k1]))).toEqual(["1", "2"]);
        await t.whenIdle();
        expect(str(await (await t.snapshot(commitTs)).batchGet([pk, k1]))).toEqual(["1", "2"]);
      } finally {
        held.cancel();
        undrop();
      }
    },
  );

  // 2pc_test TestPrewriteSecondaryKeys
  itFault(
    "only the primary's prewrite lists the secondaries: every other key, once, never the primary",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sec");
      const key = (i: number) => `h${p}${String.fromCharCode(i)}`;
      splitAt(env, key(100)); // two regions: [.., 'd') and ['d', ..)
      const txn = await t.begin({ asyncCommit: true });
      const expected: string[] = [];
      for (let i = 50; i < 120; i++) {
        expected.push(key(i));
        txn.set(key(i), Buffer.alloc(1024, 1));
      }
      for (let i = 50; i < 120; i += 10) txn.set(key(i), Buffer.alloc(188, 2)); // overwritten, not duplicated
      const rec = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
      try {
        await txn.commit();
      } finally {
        rec.stop();
      }
      expect(txn.commitInfo?.mode).toBe("asyncCommit");
      // 70 KiB over two regions: several batches each
      expect(rec.seen.length).toBeGreaterThan(4);
      const hasPrimary = (r: PrewriteRequest) => r.mutations.some((m) => m.key.equals(r.primaryLock));
      const primaryReqs = rec.seen.filter(hasPrimary);
      const others = rec.seen.filter((r) => !hasPrimary(r));
      expect(primaryReqs.length).toBeGreaterThan(0);
      expect(others.length).toBeGreaterThan(0);
      for (const r of rec.seen) expect(r.useAsyncCommit).toBe(true);
      for (const r of primaryReqs) {
        const secondaries = r.secondaries.map(String);
        expect(secondaries).not.toContain(r.primaryLock.toString());
        expect(new Set(secondaries).size).toBe(secondaries.length);
        expect([...secondaries, r.primaryLock.toString()].sort()).toEqual(expected);
      }
      for (const r of others) expect(r.secondaries).toEqual([]);
      await t.whenIdle();
      const got = await (await t.snapshot()).batchGet(expected);
      got.forEach((v, i) => {
        expect(v?.length).toBe(i % 10 === 0 ? 188 : 1024);
      });
    },
  );

  // 2pc_test TestAsyncCommitCheck
  it("async commit is used up to 256 keys and 4096 bytes of keys, and 2PC beyond (saying so)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("lim");
    const commitWith = async (keys: string[]) => {
      const txn = await t.begin({ asyncCommit: true });
      for (const k of keys) txn.set(k, "v");
      await txn.commit();
      return txn.commitInfo;
    };
    const counted = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => `h${p}${tag}${String(i).padStart(3, "0")}`);
    // keys of exactly `len` bytes
    const sized = (n: number, len: number, tag: string) => counted(n, tag).map((k) => k.padEnd(len, "x"));
    const asAsync = { mode: "asyncCommit", asyncCommitFallback: false, onePCFallback: false };
    const fellBack = { mode: "2pc", asyncCommitFallback: true, onePCFallback: false };
    expect(await commitWith(counted(256, "n"))).toEqual(asAsync);
    expect(await commitWith(counted(257, "m"))).toEqual(fellBack);
    const keys = sized(16, 256, "s");
    expect(keys.reduce((n, k) => n + b(k).length, 0)).toBe(4096);
    expect(await commitWith(keys)).toEqual(asAsync);
    const over = sized(16, 256, "t");
    over[15] = `${over[15]}x`;
    expect(await commitWith(over)).toEqual(fellBack);
    // off unless asked for
    const plain = await t.begin();
    plain.set(`h${p}plain`, "v");
    await plain.commit();
    expect(plain.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: false, onePCFallback: false });
  });

  // prewrite_test TestSetMinCommitTSInAsyncCommit
  itFault(
    "the prewrite's min_commit_ts: start ts + 1, for_update_ts + 1 when pessimistic, a fresh ts + 1 when linearizable",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("minc");
      const minsOf = async (txn: Awaited<ReturnType<typeof t.begin>>, key: string) => {
        const rec = recordFor<PrewriteRequest>(env, "KvPrewrite", key);
        try {
          await txn.commit();
        } finally {
          rec.stop();
        }
        expect(rec.seen.length).toBeGreaterThan(0);
        return rec.seen.map((r) => r.minCommitTs);
      };
      // no for_update_ts (causal consistency: no fresh ts is taken)
      const plain = await t.begin({ asyncCommit: true, causalConsistency: true });
      plain.set(`h${p}1`, "v");
      expect(await minsOf(plain, `h${p}1`)).toEqual([plain.startTs + 1n]);
      // for_update_ts set (a pessimistic transaction that locked after its start)
      const pess = await t.begin({ asyncCommit: true, causalConsistency: true, pessimistic: true });
      await t.currentTimestamp();
      await pess.lockKeys([`h${p}2`]);
      pess.set(`h${p}2`, "v");
      expect(pess.forUpdateTs).toBeGreaterThan(pess.startTs);
      expect(await minsOf(pess, `h${p}2`)).toEqual([pess.forUpdateTs + 1n]);
      expect(pess.commitInfo?.mode).toBe("asyncCommit");
      // the committer's own min commit ts (linearizable: a ts fetched at commit) wins
      const lin = await t.begin({ asyncCommit: true });
      lin.set(`h${p}3`, "v");
      const before = await t.currentTimestamp();
      const [min] = await minsOf(lin, `h${p}3`);
      expect(min).toBeGreaterThan(before + 1n);
    },
  );

  // async_commit_test TestAsyncCommitLinearizability
  it("linearizable: a transaction committed earlier gets a smaller commit ts, and is seen by later readers", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("lin");
    for (const opts of [{ asyncCommit: true }, { asyncCommit: true, pessimistic: true }] as BeginOptions[]) {
      const t1 = await t.begin(opts);
      const t2 = await t.begin(opts);
      t1.set(`a${p}a`, "a1");
      t2.set(`q${p}b`, "b1");
      const ts2 = await t2.commit(); // t2 commits first
      // any transaction starting after the commit returned sees it
      expect(await (await t.snapshot()).get(`q${p}b`)).toEqual(b("b1"));
      const ts1 = await t1.commit();
      expect(t1.commitInfo?.mode).toBe("asyncCommit");
      expect(t2.commitInfo?.mode).toBe("asyncCommit");
      expect(ts2).toBeLessThan(ts1);
    }
  });

  // async_commit_test TestAsyncCommitLinearizability (its causal-consistency counterpart)
  itFault(
    "causal consistency: no fresh ts before prewrite, so the commit ts may be below a ts handed out earlier",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("causal");
      const txn = await t.begin({ asyncCommit: true, causalConsistency: true });
      txn.set(`h${p}`, "v");
      let later = 0n; // handed out (to others) before the commit
      for (let i = 0; i < 3; i++) later = await t.currentTimestamp();
      const rec = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
      let commitTs: bigint;
      try {
        commitTs = await txn.commit();
      } finally {
        rec.stop();
      }
      expect(txn.commitInfo?.mode).toBe("asyncCommit");
      expect(rec.seen.map((r) => r.minCommitTs)).toEqual([txn.startTs + 1n]);
      expect(commitTs).toBeGreaterThan(txn.startTs);
      expect(commitTs).toBeLessThan(later);
      // but never below a read of the key (TiKV's max_ts): causality holds
      const reader = await t.begin();
      expect(await reader.get(`h${p}r`)).toBeUndefined();
      const w = await t.begin({ asyncCommit: true, causalConsistency: true });
      w.set(`h${p}r`, "v");
      expect(await w.commit()).toBeGreaterThan(reader.startTs);
    },
  );

  // async_commit_test TestRepeatableRead
  it("a reader that started before an async commit keeps reading the old value (optimistic, pessimistic, causal)", async () => {
    const t = (await env.connect()).txn();
    const variants: BeginOptions[] = [
      { asyncCommit: true },
      { asyncCommit: true, pessimistic: true },
      { asyncCommit: true, causalConsistency: true },
    ];
    for (const opts of variants) {
      const k1 = `h${uniquePrefix("rr")}k1`;
      const put = await t.begin({ asyncCommit: true });
      put.set(k1, "v1");
      await put.commit();
      const txn1 = await t.begin(opts);
      expect(await txn1.get(k1)).toEqual(b("v1"));
      txn1.set(k1, "v2");
      for (let i = 0; i < 20; i++) await t.currentTimestamp();
      const txn2 = await t.begin({ asyncCommit: true });
      expect(await txn2.get(k1)).toEqual(b("v1"));
      const commitTs = await txn1.commit();
      expect(txn1.commitInfo?.mode).toBe("asyncCommit");
      expect(commitTs).toBeGreaterThan(txn2.startTs);
      expect(await txn2.get(k1)).toEqual(b("v1"));
      await txn2.rollback();
      const txn3 = await t.begin({ asyncCommit: true });
      expect(await txn3.get(k1)).toEqual(b("v2"));
      await txn3.rollback();
    }
  });

  // async_commit_test TestAsyncCommitLifecycleHooks
  // async_commit_test TestAsyncCommitLifecycleHooks
  it("lifecycle hooks run around the background commit of the keys", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("hooks");
    let pre = 0;
    let post = 0;
    const opts = {
      asyncCommit: true,
      lifecycleHooks: {
        before: () => {
          pre++;
        },
        after: () => {
          expect(pre).toBeGreaterThan(post);
          post++;
        },
      },
    } as BeginOptions;
    const txn = await t.begin(opts);
    txn.set(`a${p}`, "a");
    txn.set(`q${p}`, "z");
    await txn.commit();
    expect(pre).toBeGreaterThan(0);
    await t.whenIdle();
    expect(post).toBe(pre);
  });
});
