// Ported by meaning from client-go's tests of async-commit transactions whose committer went away
// after prewrite, finished by others: async_commit_test.go (TestCheckSecondaries,
// TestPessimisticTxnResolveAsyncCommitLock) and async_commit_fail_test.go
// (TestPointGetWithAsyncCommit, TestSecondaryListInPrimaryLock). client-go's asyncCommitDoNothing
// failpoint becomes dropped KvCommit requests (or the writer's client closed); its mocked
// CheckSecondaryLocks answers become secondaries committed or rolled back on the engine; lock TTLs
// run out by moving PD's clock. Mapping: test/ported/txn-async-1pc.md.

import { describe, expect } from "vitest";
import type { TxnClient } from "../../../src/api/txn-client.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  Action,
  BatchRollbackRequest,
  type CheckSecondaryLocksRequest,
  CommitRequest,
  type ResolveLockRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import {
  b,
  closeOnFirstCommit,
  dropCommits,
  locksUnder,
  passTime,
  recordFor,
  splitAt,
  str,
  useClockedCluster,
} from "./ported-async-commit-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go async commit: crashed committers, readers", () => {
  const { env, clock } = useClockedCluster();
  const engine = () => env.cluster.txnEngine;

  /** An async-commit transaction over `keys` whose committer stops after prewrite. */
  async function crashedAfterPrewrite(t: TxnClient, p: string, keys: string[]) {
    const undrop = dropCommits(env, p);
    try {
      const txn = await t.begin({ asyncCommit: true });
      for (const k of keys) txn.set(k, `v-${k}`);
      const commitTs = await txn.commit();
      expect(txn.commitInfo?.mode).toBe("asyncCommit");
      await t.whenIdle();
      return { txn, commitTs };
    } finally {
      undrop();
    }
  }

  // async_commit_test TestCheckSecondaries (only the primary is locked)
  itFault("an async-commit primary without secondaries is committed at its min_commit_ts", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("chk1");
    const z = `q${p}z`;
    const { txn, commitTs } = await crashedAfterPrewrite(t, p, [z]);
    const [lock] = locksUnder(env, p);
    expect(lock?.useAsyncCommit).toBe(true);
    expect(lock?.secondaries).toEqual([]);
    expect(lock?.minCommitTs).toBe(commitTs);
    await passTime(clock, 4_000, [t]);
    const resolves = recordFor<ResolveLockRequest>(env, "KvResolveLock", p);
    try {
      expect(await (await t.snapshot()).get(z)).toEqual(b(`v-${z}`));
      await t.whenIdle();
    } finally {
      resolves.stop();
    }
    expect(resolves.seen.map((r) => r.commitVersion)).toEqual([commitTs]);
    expect((await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(z))).commitTs).toBe(commitTs);
    expect(locksUnder(env, p)).toEqual([]);
  });

  // async_commit_test TestCheckSecondaries (one secondary committed, one locked)
  itFault("a secondary already committed gives the commit ts of the others and the primary", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("chk2");
    const keys = [`a${p}`, `h${p}`, `q${p}`]; // the primary first, secondaries in two other regions
    const { txn, commitTs } = await crashedAfterPrewrite(t, p, keys);
    // someone (another resolver) committed the last secondary at a later ts, then went away too
    const otherTs = commitTs + 10n;
    expect(
      engine().commit(
        CommitRequest.fromPartial({
          startVersion: txn.startTs,
          keys: [b(keys[2] as string)],
          commitVersion: otherTs,
        }),
      ).error,
    ).toBeUndefined();
    await passTime(clock, 4_000, [t]);
    const checks = recordFor<CheckSecondaryLocksRequest>(env, "KvCheckSecondaryLocks", p);
    const resolves = recordFor<ResolveLockRequest>(env, "KvResolveLock", p);
    try {
      // a reader meeting a secondary first
      expect(await (await t.snapshot()).get(keys[1] as string)).toEqual(b(`v-${keys[1]}`));
      await t.whenIdle();
    } finally {
      checks.stop();
      resolves.stop();
    }
    expect(checks.seen.flatMap((r) => r.keys.map(String)).sort()).toEqual([keys[1], keys[2]].sort());
    expect(new Set(resolves.seen.map((r) => r.commitVersion))).toEqual(new Set([otherTs]));
    expect(resolves.seen.flatMap((r) => r.keys.map(String)).sort()).toEqual([keys[0], keys[1]].sort());
    expect(locksUnder(env, p)).toEqual([]);
    expect(str(await (await t.snapshot(otherTs)).batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
    expect(str(await (await t.snapshot(otherTs - 1n)).batchGet(keys))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  // async_commit_test TestCheckSecondaries (one secondary rolled back, one locked)
  itFault("a secondary rolled back rolls the whole async-commit transaction back", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("chk3");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const { txn } = await crashedAfterPrewrite(t, p, keys);
    expect(
      engine().batchRollback(
        BatchRollbackRequest.fromPartial({ startVersion: txn.startTs, keys: [b(keys[2] as string)] }),
      ).error,
    ).toBeUndefined();
    await passTime(clock, 4_000, [t]);
    const resolves = recordFor<ResolveLockRequest>(env, "KvResolveLock", p);
    try {
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([undefined, undefined, undefined]);
      await t.whenIdle();
    } finally {
      resolves.stop();
    }
    expect(resolves.seen.length).toBeGreaterThan(0);
    for (const r of resolves.seen) expect(r.commitVersion).toBe(0n);
    expect(locksUnder(env, p)).toEqual([]);
    expect(await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(keys[0] as string))).toMatchObject({
      commitTs: 0n,
      ttl: 0n,
    });
  });

  // async_commit_test TestCheckSecondaries (the writer's client stopped; a reader meets a secondary)
  itFault(
    "a writer's client closed after an async-commit prewrite: another client reads the secondaries committed",
    async () => {
      const writer = await env.connect();
      const p = uniquePrefix("stop");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      // the writer's commits never reach TiKV: the first one stops its client
      const crash = closeOnFirstCommit(env, writer, p);
      try {
        const txn = await writer.txn().begin({ asyncCommit: true });
        for (const k of keys) txn.set(k, `v-${k}`);
        const commitTs = await txn.commit();
        await crash.closed();
        expect(locksUnder(env, p)).toHaveLength(3);
        const t = (await env.connect()).txn();
        // before its TTL ran out the transaction is alive: a reader below its commit ts is not blocked
        expect(str(await (await t.snapshot(txn.startTs)).batchGet(keys))).toEqual([
          undefined,
          undefined,
          undefined,
        ]);
        await passTime(clock, 4_000, [t]);
        const checks = recordFor<CheckSecondaryLocksRequest>(env, "KvCheckSecondaryLocks", p);
        try {
          expect(await (await t.snapshot()).get(keys[2] as string)).toEqual(b(`v-${keys[2]}`));
          expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map((k) => `v-${k}`));
          await t.whenIdle();
        } finally {
          checks.stop();
        }
        expect(checks.seen.length).toBeGreaterThan(0);
        // the readers decided what the committer would have: the largest min_commit_ts
        expect((await t.lockResolver.getTxnStatus(txn.startTs, 0n, b(keys[0] as string))).commitTs).toBe(
          commitTs,
        );
        expect(str(await (await t.snapshot(commitTs - 1n)).batchGet(keys))).toEqual([
          undefined,
          undefined,
          undefined,
        ]);
        expect(locksUnder(env, p)).toEqual([]);
      } finally {
        crash.off();
      }
    },
  );

  // async_commit_fail_test TestPointGetWithAsyncCommit
  itFault(
    "a point get at the max ts reads through async-commit locks, and does not push max_ts",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pget");
      const [ka, kb] = [`a${p}`, `q${p}`];
      const put = await t.begin({ asyncCommit: true });
      put.set(ka, "a");
      put.set(kb, "b");
      await put.commit();
      await t.whenIdle();
      const txn = await t.begin({ asyncCommit: true });
      txn.set(ka, "v1");
      txn.set(kb, "v2");
      const pointGet = async (k: string) => (await t.snapshot(MAX_TS)).get(k);
      expect(await pointGet(ka)).toEqual(b("a"));
      expect(await pointGet(kb)).toEqual(b("b"));
      const undrop = dropCommits(env, p);
      let commitTs: bigint;
      try {
        commitTs = await txn.commit();
        await t.whenIdle();
      } finally {
        undrop();
      }
      // reads at the max ts did not raise max_ts: async commit was not declined
      expect(txn.commitInfo?.mode).toBe("asyncCommit");
      expect(locksUnder(env, p)).toHaveLength(2);
      // a max-ts reader cannot ignore the locks: it waits them out, then finds the txn committed
      await passTime(clock, 4_000, [t]);
      expect(await pointGet(ka)).toEqual(b("v1"));
      expect(await pointGet(kb)).toEqual(b("v2"));
      const txn2 = await t.begin({ asyncCommit: true });
      expect(txn2.startTs).toBeGreaterThan(commitTs);
      expect(await txn2.get(ka)).toEqual(b("v1"));
      expect(await txn2.get(kb)).toEqual(b("v2"));
      await txn2.rollback();
    },
  );

  // async_commit_fail_test TestSecondaryListInPrimaryLock
  itFault("the primary lock lists exactly the other keys, over one to four regions", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("list");
    const base = `h${p}`;
    for (const at of ["h", "o", "u"]) splitAt(env, `${base}${at}`);
    const cases: Array<[string[], string[]]> = [
      [["a"], ["a1"]],
      [
        ["a", "b"],
        ["a2", "b2"],
      ],
      [
        ["a", "b", "d"],
        ["a3", "b3", "d3"],
      ],
      [
        ["a", "b", "h", "i", "u"],
        ["a4", "b4", "h4", "i4", "u4"],
      ],
      [
        ["i", "a", "z", "u", "b"],
        ["i5", "a5", "z5", "u5", "b5"],
      ],
    ];
    const undrop = dropCommits(env, base);
    try {
      for (const [n, [names, values]] of cases.entries()) {
        const keys = names.map((k) => `${base}${k}_${n}`);
        const txn = await t.begin({ asyncCommit: true });
        keys.forEach((k, i) => {
          txn.set(k, values[i] as string);
        });
        await txn.commit();
        await t.whenIdle();
        const locks = locksUnder(env, p).filter((l) => l.lockVersion === txn.startTs);
        expect(locks).toHaveLength(keys.length);
        const primary = locks[0]?.primaryLock as Buffer;
        expect(keys).toContain(primary.toString());
        const st = await t.lockResolver.getTxnStatus(txn.startTs, 0n, primary);
        expect(st.commitTs).toBe(0n);
        expect(st.ttl).toBeGreaterThan(0n);
        expect(st.action).toBe(Action.NoAction);
        const expected = keys.filter((k) => k !== primary.toString()).sort();
        expect((st.primaryLock?.secondaries ?? []).map(String).sort()).toEqual(expected);
        // client-go's committer.Cleanup
        engine().batchRollback(
          BatchRollbackRequest.fromPartial({ startVersion: txn.startTs, keys: keys.map(b) }),
        );
      }
    } finally {
      undrop();
    }
    expect(locksUnder(env, p)).toEqual([]);
  });

  // async_commit_test TestPessimisticTxnResolveAsyncCommitLock
  itFault(
    "a pessimistic commit meeting a live async-commit lock waits for it, resolves it and commits",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pess");
      const k = `h${p}k`;
      const { txn: crashed, commitTs: crashedTs } = await crashedAfterPrewrite(t, p, [k]);
      // most of its TTL (3 s) has passed, the rest is waited for
      await passTime(clock, 2_500, [t]);
      const txn = await t.begin({ pessimistic: true });
      await txn.lockKeys([`h${p}k1`]);
      txn.set(k, "k");
      const commitTs = await txn.commit();
      expect(commitTs).toBeGreaterThan(crashedTs);
      // the async-commit transaction was complete, so it was committed, not rolled back
      expect((await t.lockResolver.getTxnStatus(crashed.startTs, 0n, b(k))).commitTs).toBe(crashedTs);
      expect(await (await t.snapshot(crashedTs)).get(k)).toEqual(b(`v-${k}`));
      expect(await (await t.snapshot()).get(k)).toEqual(b("k"));
    },
  );
});
