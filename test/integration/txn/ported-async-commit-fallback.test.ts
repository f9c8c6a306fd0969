// Ported by meaning from client-go's tests of async commit falling back to 2PC when TiKV declines
// it (a prewrite answering min_commit_ts 0 because its min_commit_ts would pass max_commit_ts):
// async_commit_test.go TestResolveTxnFallbackFromAsyncCommit and
// TestRollbackAsyncCommitEnforcesFallback, and the committer's own fallback (prewrite.go). client-go
// forces max_commit_ts = 1 on hand-built prewrites; here TiKV's max_ts is pushed past the window by
// a read (or a status check) from the future, before the prewrites that must decline. Mapping:
// test/ported/txn-async-1pc.md.

import { describe, expect } from "vitest";
import type { PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { type CommitRequest, CommitRole } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import {
  b,
  closeOnFirstCommit,
  eventually,
  locksUnder,
  passTime,
  pushMaxTs,
  recordFor,
  str,
  useClockedCluster,
} from "./ported-async-commit-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go async commit: falling back to 2PC", () => {
  const { env, clock } = useClockedCluster();

  /** True when the lock on `key` is an async-commit lock. */
  const isAsync = (key: string) => locksUnder(env, key).find((l) => l.key.equals(b(key)))?.useAsyncCommit;

  // async_commit_test TestResolveTxnFallbackFromAsyncCommit
  itFault(
    "a crashed transaction with some prewrites fallen back to 2PC is rolled back by readers, whichever key they read first",
    async () => {
      const t = (await env.connect()).txn();
      const cases: Array<{ fallback: Array<0 | 1>; readFirst: 0 | 1 }> = [
        { fallback: [0], readFirst: 0 },
        { fallback: [0], readFirst: 1 },
        { fallback: [1], readFirst: 0 },
        { fallback: [1], readFirst: 1 },
        { fallback: [0, 1], readFirst: 0 },
        { fallback: [0, 1], readFirst: 1 },
      ];
      for (const c of cases) {
        const p = uniquePrefix("rfb");
        const keys = [`a${p}k0`, `q${p}k1`]; // k0 is the primary; two regions
        const values = ["v00", "v10"];
        const t0 = await t.begin();
        t0.set(keys[0] as string, values[0] as string);
        t0.set(keys[1] as string, values[1] as string);
        await t0.commit();
        await t.whenIdle();

        const writer = await env.connect();
        const crash = closeOnFirstCommit(env, writer, p);
        try {
          const t1 = await writer.txn().begin({ asyncCommit: true });
          t1.set(keys[0] as string, "v01");
          t1.set(keys[1] as string, "v11");
          if (c.fallback.length === 2) {
            await pushMaxTs(env, clock, t, 5_000); // both prewrites decline
            void t1.commit().catch(() => {});
          } else {
            // the declining key's prewrite runs after max_ts was pushed, the other one before
            const late = keys[c.fallback[0] as number] as string;
            const early = keys[1 - (c.fallback[0] as number)] as string;
            const held = env.cluster.faults.delay({ rpc: "KvPrewrite", key: late, ms: 500, count: 1 });
            void t1.commit().catch(() => {});
            expect(await eventually(() => locksUnder(env, early).length === 1, 2_000)).toBe(true);
            await pushMaxTs(env, clock, t, 5_000); // also: the 3 s lock TTL runs out
            held.cancel();
          }
          await crash.closed();
          keys.forEach((k, i) => {
            expect(isAsync(k), `${k} async-commit lock`).toBe(!c.fallback.includes(i as 0 | 1));
          });
          const reader = (await env.connect()).txn();
          await passTime(clock, 0, [reader]);
          for (const idx of [c.readFirst, 1 - c.readFirst]) {
            const t2 = await reader.begin();
            const started = Date.now();
            expect(await t2.get(keys[idx] as string)).toEqual(b(values[idx] as string));
            expect(Date.now() - started).toBeLessThan(1_000);
          }
          await reader.whenIdle();
          expect(locksUnder(env, p)).toEqual([]);
          expect(str(await (await reader.snapshot()).batchGet(keys))).toEqual(values);
        } finally {
          crash.off();
        }
      }
    },
  );

  // async_commit_test TestRollbackAsyncCommitEnforcesFallback
  itFault(
    "a status check after the async-commit window makes the prewrites still to come fall back (pessimistic)",
    async () => {
      const t = (await env.connect()).txn();
      const other = (await env.connect()).txn();
      const p = uniquePrefix("enf");
      const [ka, kz] = [`a${p}`, `q${p}`]; // ka is the primary
      const txn = await t.begin({ asyncCommit: true, pessimistic: true });
      await txn.lockKeys([ka, kz]);
      txn.set(ka, "a");
      txn.set(kz, "z");
      const held = env.cluster.faults.delay({ rpc: "KvPrewrite", key: kz, ms: 500, count: 1 });
      try {
        const committing = txn.commit();
        // the primary's prewrite is done (an async-commit lock, no longer pessimistic)...
        expect(await eventually(() => isAsync(ka) === true, 2_000)).toBe(true);
        // ...then, once its TTL ran out, someone checks the transaction's status
        await passTime(clock, 4_000, [other]);
        const st = await other.lockResolver.getTxnStatus(txn.startTs, 0n, b(ka));
        expect(st.commitTs).toBe(0n);
        expect(st.primaryLock?.useAsyncCommit).toBe(true); // an async-commit lock is not rolled back by it
        held.cancel();
        const commitTs = await committing;
        // the later prewrite could not keep async commit: the transaction went on as 2PC
        expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: true, onePCFallback: false });
        expect(commitTs).toBeGreaterThan(st.primaryLock?.minCommitTs ?? 0n);
        await t.whenIdle();
        expect(str(await (await t.snapshot()).batchGet([ka, kz]))).toEqual(["a", "z"]);
      } finally {
        held.cancel();
      }
    },
  );

  // prewrite.go: a prewrite answer with min_commit_ts 0 turns async commit off (checklist 2.5)
  itFault(
    "TiKV declining async commit in one region or all: the commit goes on as 2PC, with a primary commit",
    async () => {
      const t = (await env.connect()).txn();
      for (const which of ["all", "one"] as const) {
        const p = uniquePrefix(`dec${which}`);
        const keys = [`a${p}`, `h${p}`, `q${p}`];
        const txn = await t.begin({ asyncCommit: true });
        for (const k of keys) txn.set(k, `v-${k}`);
        const prewrites = recordFor<PrewriteRequest>(env, "KvPrewrite", p);
        const commits = recordFor<CommitRequest>(env, "KvCommit", p);
        let pushedTo = 0n;
        let commitTs: bigint;
        try {
          if (which === "all") {
            pushedTo = await pushMaxTs(env, clock, t, 5_000);
            commitTs = await txn.commit();
          } else {
            const held = env.cluster.faults.delay({
              rpc: "KvPrewrite",
              key: keys[2] as string,
              ms: 500,
              count: 1,
            });
            const committing = txn.commit();
            expect(await eventually(() => locksUnder(env, p).length === 2, 2_000)).toBe(true);
            pushedTo = await pushMaxTs(env, clock, t, 5_000);
            held.cancel();
            commitTs = await committing;
          }
          await t.whenIdle();
        } finally {
          prewrites.stop();
          commits.stop();
        }
        expect(txn.commitInfo).toEqual({ mode: "2pc", asyncCommitFallback: true, onePCFallback: false });
        for (const r of prewrites.seen) expect(r.useAsyncCommit).toBe(true); // asked, declined
        // a 2PC commit: the primary first (from a TSO past max_ts), then the others
        const primary = commits.seen.filter((r) => r.commitRole === CommitRole.Primary);
        expect(primary.map((r) => r.keys.map(String))).toEqual([[keys[0]]]);
        expect(commitTs).toBeGreaterThan(pushedTo);
        expect(commits.seen.every((r) => r.commitVersion === commitTs)).toBe(true);
        expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
        expect(str(await (await t.snapshot(commitTs - 1n)).batchGet(keys))).toEqual([
          undefined,
          undefined,
          undefined,
        ]);
      }
    },
  );
});
