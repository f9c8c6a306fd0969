// commit({ signal }): the caller's abort interrupts the prewrite phase only (client-go's kill
// signal and context cancellation: 2pc_test TestContextCancel, TestKillSignal,
// TestUninterruptibleAction; the async-commit case is in ported-async-commit-faults.test.ts).

import { describe, expect } from "vitest";
import { AbortedError, InvalidArgumentError } from "../../../src/index.js";
import type { PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { str } from "../../support/values.js";
import { sleep } from "../../support/wait.js";
import { locksOn, recordRequests } from "./ported-2pc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions: commit with an abort signal", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  itFault(
    "aborted before commit: AbortedError, no prewrite sent, nothing written (TestContextCancel, TestKillSignal)",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sigpre");
      const txn = await t.begin();
      txn.set(`a${p}`, "a");
      txn.set(`q${p}`, "z");
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      await expect(txn.commit({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
      prewrites.stop();
      expect(prewrites.seen).toEqual([]);
      expect(txn.state).toBe("failed");
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([`a${p}`, `q${p}`]))).toEqual([undefined, undefined]);
    },
  );

  itFault(
    "aborted during a 2PC prewrite: AbortedError at once, the prewritten keys rolled back",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sigmid");
      const [a, q] = [`a${p}`, `q${p}`];
      const held = env.cluster.faults.delay({ rpc: "KvPrewrite", key: q, ms: 1500, count: 1 });
      const txn = await t.begin();
      txn.set(a, "a");
      txn.set(q, "z");
      const ac = new AbortController();
      const started = Date.now();
      const committing = txn.commit({ signal: ac.signal });
      await sleep(60);
      ac.abort(new Error("statement killed"));
      await expect(committing).rejects.toBeInstanceOf(AbortedError);
      // not after the held prewrite's 1.5 s
      expect(Date.now() - started).toBeLessThan(1000);
      held.cancel();
      await sleep(1600); // the held prewrite lands after the rollback: refused
      await t.whenIdle();
      expect(locksOn(env, [a, q])).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet([a, q]))).toEqual([undefined, undefined]);
    },
  );

  itFault(
    "aborted once the primary commit is under way: not interrupted, committed (TestUninterruptibleAction)",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sigcommit");
      const [a, q] = [`a${p}`, `q${p}`];
      const held = env.cluster.faults.delay({ rpc: "KvCommit", key: a, ms: 200, count: 1 });
      const txn = await t.begin();
      txn.set(a, "a");
      txn.set(q, "z");
      const ac = new AbortController();
      const committing = txn.commit({ signal: ac.signal });
      await sleep(100);
      ac.abort();
      expect(await committing).toBeGreaterThan(txn.startTs);
      held.cancel();
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet([a, q]))).toEqual(["a", "z"]);
    },
  );

  itFault("pessimistic, aborted before commit: AbortedError and its locks are released", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("sigpess");
    const [a, q] = [`a${p}`, `q${p}`];
    const txn = await t.begin({ pessimistic: true });
    await txn.lockKeys([a, q]);
    txn.set(a, "a");
    await expect(txn.commit({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    await t.whenIdle();
    expect(locksOn(env, [a, q])).toEqual([]);
    // another transaction takes the keys without waiting
    const other = await t.begin({ pessimistic: true });
    await other.lockKeys([a, q], { noWait: true });
    await other.rollback();
  });

  itFault(
    "a signal that is not an AbortSignal gets InvalidArgumentError; the transaction stays active",
    async () => {
      const t = (await env.connect()).txn();
      const txn = await t.begin();
      txn.set(`a${uniquePrefix("sigbad")}`, "a");
      for (const bad of [{ signal: 1 }, { signal: {} }, null, 5]) {
        await expect(txn.commit(bad as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      }
      expect(txn.state).toBe("active");
      await txn.rollback();
    },
  );
});
