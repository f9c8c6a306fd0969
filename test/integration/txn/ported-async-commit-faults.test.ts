// Ported by meaning from client-go's async-commit failpoint tests (async_commit_fail_test.go):
// an async-commit prewrite whose answer is lost may have committed the transaction, so the commit
// is undetermined (and nothing is rolled back); a definite prewrite failure is reported as itself.
// client-go's failpoints become the embedded cluster's faults: "rpcPrewriteTimeout" a reply
// dropped after the prewrite ran, "rpcPrewriteResult" injected answers. client-go's
// "noRetryOnRpcError" has no counterpart (a lost reply is resent, as client-go does without that
// failpoint): every reply is lost instead, and this file shortens the prewrite's retry budget so
// that "resent until the budget is spent" takes well under a second. Mapping:
// test/ported/txn-async-1pc.md.

import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { InvalidTxnError, ResultUndeterminedError, WriteConflictError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import {
  b,
  eventually,
  locksUnder,
  passTime,
  recordFor,
  useClockedCluster,
} from "./ported-async-commit-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go async commit: failing prewrites", () => {
  const { env, clock } = useClockedCluster({ prewriteBudgetMs: 500 });

  // async_commit_fail_test TestFailAsyncCommitPrewriteRpcErrors
  itFault(
    "a prewrite that ran but whose reply was lost is undetermined: the transaction did commit",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("rpc");
      const k = `h${p}a`;
      const lost = env.cluster.faults.dropReply({
        rpc: "KvPrewrite",
        key: k,
        count: Number.POSITIVE_INFINITY,
        outcome: { grpcStatus: status.DEADLINE_EXCEEDED, message: "injected: prewrite reply lost" },
      });
      const t1 = await t.begin({ asyncCommit: true });
      t1.set(k, "a1");
      try {
        await expect(t1.commit()).rejects.toBeInstanceOf(ResultUndeterminedError);
      } finally {
        lost.cancel();
      }
      expect(lost.fired).toBeGreaterThan(0);
      expect(t1.state).toBe("failed");
      // no rollback is needed after a failed commit (ours answers it quietly; client-go with ErrInvalidTxn)
      await expect(t1.rollback()).resolves.toBeUndefined();
      expect(() => t1.set(k, "x")).toThrow(InvalidTxnError);
      await t.whenIdle();
      expect(env.cluster.faults.calls({ rpc: "KvBatchRollback" })).toBe(0);
      expect(locksUnder(env, k)).toHaveLength(1);
      // the prewrite was complete, so once its lock expires a reader finds the transaction committed
      await passTime(clock, 4_000, [t]);
      const t2 = await t.begin({ asyncCommit: true });
      expect(await t2.get(k)).toEqual(b("a1"));
    },
  );

  // async_commit_fail_test TestAsyncCommitPrewriteCancelled
  itFault(
    "a write conflict in one region fails the commit as that conflict (not undetermined), rolled back",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("cnf");
      const [ka, kz] = [`a${p}`, `q${p}`];
      const txn = await t.begin({ asyncCommit: true });
      txn.set(ka, "a");
      txn.set(kz, "z");
      const conflict = env.cluster.faults.failNext({
        rpc: "KvPrewrite",
        key: ka,
        error: {
          keyError: {
            conflict: { startTs: txn.startTs, conflictTs: txn.startTs + 1n, key: b(ka), primary: b(ka) },
          },
        },
      });
      const slow = env.cluster.faults.delay({ rpc: "KvPrewrite", key: kz, ms: 50, count: 1 });
      try {
        const err = await txn.commit().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WriteConflictError);
        expect(err).not.toBeInstanceOf(ResultUndeterminedError);
      } finally {
        conflict.cancel();
        slow.cancel();
      }
      expect(txn.commitInfo).toBeUndefined();
      await t.whenIdle();
      // the slower region's prewrite is rolled back
      expect(await eventually(() => locksUnder(env, p).length === 0, 2_000)).toBe(true);
      expect(await (await t.snapshot()).get(kz)).toBeUndefined();
    },
  );

  // async_commit_fail_test TestPrewriteFailWithUndeterminedResult
  itFault("an UndeterminedResult answer to an async-commit prewrite is ResultUndeterminedError", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("und");
    const k = `h${p}key`;
    const fault = env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      key: k,
      error: { regionError: RegionErrors.undeterminedResult("injected: prewrite outcome unknown") },
    });
    const rollbacks = recordFor(env, "KvBatchRollback", p);
    const txn = await t.begin({ asyncCommit: true });
    txn.set(k, "value");
    try {
      await expect(txn.commit()).rejects.toBeInstanceOf(ResultUndeterminedError);
    } finally {
      fault.cancel();
    }
    expect(fault.fired).toBe(1);
    await t.whenIdle();
    rollbacks.stop();
    expect(rollbacks.seen).toEqual([]); // it may have committed: nothing is rolled back
  });

  // async_commit_fail_test TestAsyncCommitContextCancelCausingUndetermined: the prewrite in flight
  // may still commit the transaction
  it("cancelling the commit during an async-commit prewrite makes it undetermined", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("cancel");
    const k = `h${p}a`;
    const held = env.cluster.faults.delay({ rpc: "KvPrewrite", key: k, ms: 300, count: 1 });
    const txn = await t.begin({ asyncCommit: true });
    txn.set(k, "va");
    const ac = new AbortController();
    const committing = txn.commit({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error("cancelled")), 50);
    try {
      await expect(committing).rejects.toBeInstanceOf(ResultUndeterminedError);
    } finally {
      held.cancel();
    }
  });
});
