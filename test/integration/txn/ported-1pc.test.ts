// Ported by meaning from client-go's one-phase-commit tests (integration_tests/1pc_test.go): a
// transaction whose writes fit one prewrite to one region is committed by that prewrite alone
// (TiKV answers one_pc_commit_ts), and falls back to 2PC over several regions or when TiKV
// declines; plus the 1PC cases of the checklist (§2.6): no key limits, TiKV declining, crashed
// and lost 1PC commits finished by others. A lost prewrite reply is resent until the prewrite's
// retry budget runs out; this file shortens that budget so that takes well under a second.
// Mapping: test/ported/txn-async-1pc.md.

import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { BeginOptions } from "../../../src/api/txn-client.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { ResultUndeterminedError } from "../../../src/index.js";
import { type CommitRequest, CommitRole, type PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import {
  b,
  closeOnFirstCommit,
  locksUnder,
  passTime,
  pushMaxTs,
  recordFor,
  splitAt,
  str,
  useClockedCluster,
} from "./ported-async-commit-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go 1PC", () => {
  const { env, clock } = useClockedCluster({ prewriteBudgetMs: 500 });

  // 1pc_test Test1PC
  itFault(
    "1PC: one prewrite commits every key at one_pc_commit_ts; without the option it is 2PC",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("1pc");
      const k = (n: number) => `h${p}k${n}`;
      const prewrites = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
      const commits = recordFor<CommitRequest>(env, "KvCommit", p);
      const beats = recordFor(env, "KvTxnHeartBeat", p);
      const commitOf = async (opts: BeginOptions, writes: Array<[string, string]>) => {
        const txn = await t.begin(opts);
        for (const [key, v] of writes) txn.set(key, v);
        const commitTs = await txn.commit();
        await t.whenIdle();
        expect(commitTs).toBeGreaterThan(txn.startTs);
        return { txn, commitTs };
      };
      try {
        const one = await commitOf({ onePC: true }, [[k(1), "v1"]]);
        expect(one.txn.commitInfo).toEqual({
          mode: "onePC",
          asyncCommitFallback: false,
          onePCFallback: false,
        });
        expect(prewrites.seen.map((r) => r.tryOnePc)).toEqual([true]);
        expect(commits.seen).toEqual([]);
        // without the option: 2PC
        const two = await commitOf({}, [[k(2), "v2"]]);
        expect(two.txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: false, onePCFallback: false });
        expect(prewrites.seen[1]?.tryOnePc).toBe(false);
        expect(commits.seen.length).toBeGreaterThan(0);
        const after2pc = commits.seen.length;
        // several keys: all committed at the same version
        const multi = await commitOf({ onePC: true }, [
          [k(3), "v3"],
          [k(4), "v4"],
          [k(5), "v5"],
        ]);
        expect(multi.txn.commitInfo?.mode).toBe("onePC");
        expect(str(await (await t.snapshot(multi.commitTs)).batchGet([k(3), k(4), k(5)]))).toEqual([
          "v3",
          "v4",
          "v5",
        ]);
        expect(str(await (await t.snapshot(multi.commitTs - 1n)).batchGet([k(3), k(4), k(5)]))).toEqual([
          undefined,
          undefined,
          undefined,
        ]);
        // overwriting in MVCC
        const over = await commitOf({ onePC: true }, [[k(5), "v5new"]]);
        expect(over.txn.commitInfo?.mode).toBe("onePC");
        expect(await (await t.snapshot(over.commitTs)).get(k(5))).toEqual(b("v5new"));
        expect(await (await t.snapshot(over.commitTs - 1n)).get(k(5))).toEqual(b("v5"));
        // no commit RPC and no TTL manager for the 1PC transactions
        expect(commits.seen.length).toBe(after2pc);
        expect(beats.seen).toEqual([]);
        expect(locksUnder(env, p)).toEqual([]);
        const keys = [k(1), k(2), k(3), k(4), k(5)];
        expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v1", "v2", "v3", "v4", "v5new"]);
      } finally {
        prewrites.stop();
        commits.stop();
        beats.stop();
      }
    },
  );

  // 1pc_test Test1PCIsolation
  it("a reader that started before a 1PC commit keeps reading the old value", async () => {
    const t = (await env.connect()).txn();
    const k = `h${uniquePrefix("iso")}k`;
    const first = await t.begin({ onePC: true });
    first.set(k, "v1");
    await first.commit();
    const txn = await t.begin({ onePC: true });
    txn.set(k, "v2");
    // makes a wrong commit ts below txn2's start ts likely
    for (let i = 0; i < 10; i++) await t.currentTimestamp();
    const txn2 = await t.begin({ onePC: true });
    expect(await txn2.get(k)).toEqual(b("v1"));
    const commitTs = await txn.commit();
    expect(txn.commitInfo?.mode).toBe("onePC");
    expect(commitTs).toBeGreaterThan(txn2.startTs);
    expect(await txn2.get(k)).toEqual(b("v1"));
    await txn2.rollback();
    expect(await (await t.snapshot(commitTs)).get(k)).toEqual(b("v2"));
    expect(await (await t.snapshot(commitTs - 1n)).get(k)).toEqual(b("v1"));
  });

  // 1pc_test Test1PCDisallowMultiRegion
  itFault("1PC over two regions (a split the client has not seen yet) falls back to 2PC", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("multi");
    const keys = [0, 1, 2, 3].map((i) => `h${p}k${i}`);
    const values = ["v0", "v1", "v2", "v3"];
    const first = await t.begin({ onePC: true });
    first.set(keys[0] as string, values[0] as string);
    first.set(keys[3] as string, values[3] as string);
    await first.commit();
    expect(first.commitInfo?.mode).toBe("onePC");
    splitAt(env, keys[2] as string); // k1 and k2 now lie in two regions
    const txn = await t.begin({ onePC: true });
    txn.set(keys[1] as string, values[1] as string);
    txn.set(keys[2] as string, values[2] as string);
    const commitTs = await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: false, onePCFallback: true });
    expect(commitTs).toBeGreaterThan(txn.startTs);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(values);
  });

  // 1pc_test Test1PCLinearizability (upstream commits both with plain 2PC; here with 1PC)
  it("linearizable 1PC: a transaction committed earlier gets a smaller commit ts, seen by later readers", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("lin");
    const t1 = await t.begin({ onePC: true });
    const t2 = await t.begin({ onePC: true });
    t1.set(`h${p}a`, "a1");
    t2.set(`h${p}b`, "b1");
    const ts2 = await t2.commit();
    expect(await (await t.snapshot()).get(`h${p}b`)).toEqual(b("b1"));
    const ts1 = await t1.commit();
    expect([t1.commitInfo?.mode, t2.commitInfo?.mode]).toEqual(["onePC", "onePC"]);
    expect(ts2).toBeLessThan(ts1);
  });

  // 1pc_test Test1PCLinearizability (causal consistency)
  itFault(
    "causal 1PC: no fresh ts before the prewrite; the commit ts stays above every read of the keys",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("causal");
      const reader = await t.begin();
      expect(await reader.get(`h${p}`)).toBeUndefined(); // TiKV's max_ts is now above reader.startTs
      const txn = await t.begin({ onePC: true, causalConsistency: true });
      txn.set(`h${p}`, "v");
      const prewrites = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
      let commitTs: bigint;
      try {
        commitTs = await txn.commit();
      } finally {
        prewrites.stop();
      }
      expect(txn.commitInfo?.mode).toBe("onePC");
      expect(prewrites.seen.map((r) => r.minCommitTs)).toEqual([txn.startTs + 1n]);
      expect(commitTs).toBeGreaterThan(txn.startTs);
      expect(commitTs).toBeGreaterThan(reader.startTs);
    },
  );

  // 1pc_test TestFailWithUndeterminedResult
  itFault(
    "an UndeterminedResult answer to a 1PC prewrite is ResultUndeterminedError, nothing rolled back",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("und");
      const k = `h${p}undetermined_key`;
      const fault = env.cluster.faults.failNext({
        rpc: "KvPrewrite",
        key: k,
        error: { regionError: RegionErrors.undeterminedResult("injected: 1PC outcome unknown") },
      });
      const rollbacks = recordFor(env, "KvBatchRollback", p);
      const txn = await t.begin({ onePC: true });
      txn.set(k, "value");
      try {
        await expect(txn.commit()).rejects.toBeInstanceOf(ResultUndeterminedError);
      } finally {
        fault.cancel();
      }
      expect(fault.fired).toBe(1);
      await t.whenIdle();
      rollbacks.stop();
      expect(rollbacks.seen).toEqual([]);
    },
  );

  // 1pc_test TestFailWithUndeterminedResult (the 1PC prewrite ran, its reply was lost once)
  itFault(
    "a 1PC prewrite whose reply was lost is resent, and the commit reports the ts it committed at",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("lost1");
      const keys = [`h${p}1`, `h${p}2`];
      const lost = env.cluster.faults.dropReply({
        rpc: "KvPrewrite",
        key: keys[0] as string,
        outcome: { grpcStatus: status.UNAVAILABLE, message: "injected: 1PC reply lost" },
      });
      const prewrites = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
      const txn = await t.begin({ onePC: true });
      for (const k of keys) txn.set(k, "v");
      let commitTs: bigint;
      try {
        commitTs = await txn.commit();
      } finally {
        lost.cancel();
        prewrites.stop();
      }
      expect(lost.fired).toBe(1);
      expect(txn.commitInfo?.mode).toBe("onePC");
      expect(prewrites.seen.length).toBeGreaterThan(1);
      for (const r of prewrites.seen.slice(1)) expect(r.context?.isRetryRequest).toBe(true);
      expect(str(await (await t.snapshot(commitTs)).batchGet(keys))).toEqual(["v", "v"]);
      expect(str(await (await t.snapshot(commitTs - 1n)).batchGet(keys))).toEqual([undefined, undefined]);
    },
  );

  // 1pc_test TestFailWithUndeterminedResult (the 1PC prewrite ran, every reply was lost)
  itFault(
    "a 1PC commit whose every reply was lost is undetermined, yet readers find it committed",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("lost");
      const keys = [`h${p}1`, `h${p}2`];
      const lost = env.cluster.faults.dropReply({
        rpc: "KvPrewrite",
        key: keys[0] as string,
        count: Number.POSITIVE_INFINITY,
        outcome: { grpcStatus: status.UNAVAILABLE, message: "injected: 1PC reply lost" },
      });
      const rollbacks = recordFor(env, "KvBatchRollback", p);
      const txn = await t.begin({ onePC: true });
      for (const k of keys) txn.set(k, "v");
      try {
        await expect(txn.commit()).rejects.toBeInstanceOf(ResultUndeterminedError);
      } finally {
        lost.cancel();
      }
      expect(lost.fired).toBeGreaterThan(1); // resent while the budget lasted
      await t.whenIdle();
      rollbacks.stop();
      expect(rollbacks.seen).toEqual([]);
      // 1PC writes the commit records directly: no lock is left, nothing to resolve
      expect(locksUnder(env, p)).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v", "v"]);
    },
  );

  // 1pc_test TestTxnCommitCounter (client.metrics().txnCommits)
  it("the commit counters count 2PC, async-commit and 1PC commits apart", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("counter");
    type Counters = { twoPC: number; asyncCommit: number; onePC: number };
    const counters = (): Counters => client.metrics().txnCommits;
    const initial = { ...counters() };
    const diff = () => {
      const c = counters();
      return {
        twoPC: c.twoPC - initial.twoPC,
        asyncCommit: c.asyncCommit - initial.asyncCommit,
        onePC: c.onePC - initial.onePC,
      };
    };
    const commit = async (opts: BeginOptions, k: string) => {
      const txn = await t.begin(opts);
      txn.set(k, "v");
      await txn.commit();
    };
    await commit({}, `h${p}k`);
    expect(diff()).toEqual({ twoPC: 1, asyncCommit: 0, onePC: 0 });
    await commit({ asyncCommit: true }, `h${p}k1`);
    expect(diff()).toEqual({ twoPC: 1, asyncCommit: 1, onePC: 0 });
    await commit({ onePC: true }, `h${p}k2`);
    expect(diff()).toEqual({ twoPC: 1, asyncCommit: 1, onePC: 1 });
  });

  // checklist 2.6: 1PC has the gates of async commit but not its key limits
  it("1PC is not limited to 256 keys: 300 keys in one batch commit in one phase", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("many");
    const keys = Array.from({ length: 300 }, (_, i) => `h${p}${String(i).padStart(3, "0")}`);
    const txn = await t.begin({ onePC: true, asyncCommit: true });
    for (const k of keys) txn.set(k, "v");
    await txn.commit();
    // async commit alone would have fallen back (over 256 keys); 1PC did not need it
    expect(txn.commitInfo).toEqual({ mode: "onePC", asyncCommitFallback: true, onePCFallback: false });
    expect((await (await t.snapshot()).batchGet(keys)).every((v) => v?.toString() === "v")).toBe(true);
  });

  // checklist 2.6: one_pc_commit_ts 0 (TiKV declines 1PC) falls back to 2PC, async commit off too
  itFault(
    "TiKV declining 1PC: the commit goes on as 2PC with a primary commit, async commit off as well",
    async () => {
      const t = (await env.connect()).txn();
      for (const opts of [{ onePC: true }, { onePC: true, asyncCommit: true }] as BeginOptions[]) {
        const p = uniquePrefix("dec");
        const keys = [`h${p}1`, `h${p}2`];
        const txn = await t.begin(opts);
        for (const k of keys) txn.set(k, "v");
        const pushedTo = await pushMaxTs(env, clock, t, 5_000);
        const commits = recordFor<CommitRequest>(env, "KvCommit", p);
        let commitTs: bigint;
        try {
          commitTs = await txn.commit();
          await t.whenIdle();
        } finally {
          commits.stop();
        }
        expect(txn.commitInfo).toEqual({
          mode: "2pc",
          asyncCommitFallback: !!opts.asyncCommit,
          onePCFallback: true,
        });
        expect(commits.seen.filter((r) => r.commitRole === CommitRole.Primary)).toHaveLength(1);
        expect(commitTs).toBeGreaterThan(pushedTo);
        expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v", "v"]);
      }
    },
  );

  // checklist 2.6 / client-go txn.go TxnInfo: a declined 1PC turns async commit off, and says so
  // (was a BUG, fixed: the committer turned async commit off without reporting the fallback)
  itFault("a declined 1PC with async commit on reports both fallbacks", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("decboth");
    const txn = await t.begin({ onePC: true, asyncCommit: true });
    txn.set(`h${p}1`, "v");
    txn.set(`h${p}2`, "v");
    await pushMaxTs(env, clock, t, 5_000);
    await txn.commit();
    expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: true, onePCFallback: true });
  });

  // checklist 2.6: a 1PC transaction TiKV declined, whose writer stopped before committing
  itFault(
    "a declined 1PC transaction whose writer stopped before the commit is rolled back by readers",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("crash");
      const keys = [`h${p}1`, `h${p}2`];
      const put = await t.begin();
      for (const k of keys) put.set(k, "old");
      await put.commit();
      const writer = await env.connect();
      const crash = closeOnFirstCommit(env, writer, p);
      try {
        const txn = await writer.txn().begin({ onePC: true });
        for (const k of keys) txn.set(k, "new");
        await pushMaxTs(env, clock, t, 5_000); // TiKV declines; the 3 s lock TTL also runs out
        void txn.commit().catch(() => {});
        await crash.closed();
        // plain 2PC locks were left (TiKV turned the 1PC prewrite into an ordinary one)
        const locks = locksUnder(env, p);
        expect(locks).toHaveLength(2);
        for (const l of locks) expect(l.useAsyncCommit).toBe(false);
        await passTime(clock, 0, [t]);
        expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["old", "old"]);
        await t.whenIdle();
        expect(locksUnder(env, p)).toEqual([]);
        expect((await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(keys[0] as string))).commitTs).toBe(0n);
      } finally {
        crash.off();
      }
    },
  );
});
