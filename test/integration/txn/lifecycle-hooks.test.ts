// Lifecycle hooks around a transaction's background tasks (client-go
// SetBackgroundGoroutineLifecycleHooks; 2pc_test Test2PCLifecycleHooks /
// Test2PCCleanupLifecycleHooks, async_commit_test TestAsyncCommitLifecycleHooks is in
// ported-async-commit.test.ts): every `before` is matched by an `after`, in that order, once the
// task ended; exceptions from the hooks change nothing; bad hooks are refused.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError, WriteConflictError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { str } from "../../support/values.js";
import { smallFlushes, useKnobs } from "./pipelined-support.js";

function counter() {
  const c = { before: 0, after: 0, inversions: 0 };
  const hooks = {
    before: () => {
      c.before++;
    },
    after: () => {
      if (c.after >= c.before) c.inversions++;
      c.after++;
    },
  };
  return { c, hooks };
}

describe.skipIf(skipOnRealCluster("v1"))("transactions: background lifecycle hooks", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  useKnobs({ broadcastGraceMs: 20, flushThresholds: smallFlushes(100) });

  it("2PC: the secondaries' commit runs between before and after (Test2PCLifecycleHooks)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("hk2pc");
    const { c, hooks } = counter();
    const txn = await t.begin({ lifecycleHooks: hooks });
    txn.set(`a${p}`, "a");
    txn.set(`q${p}`, "z");
    await txn.commit();
    expect(c.before).toBeGreaterThan(0);
    await t.whenIdle();
    expect(c.after).toBe(c.before);
    expect(c.inversions).toBe(0);
  });

  itFault(
    "a failed commit's cleanup runs between before and after (Test2PCCleanupLifecycleHooks)",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("hkcl");
      const { c, hooks } = counter();
      const txn = await t.begin({ lifecycleHooks: hooks });
      txn.set(`a${p}`, "a");
      txn.set(`q${p}`, "z");
      // a newer writer commits the second key first: the prewrite fails, the first is rolled back
      await t.runTransaction(async (w) => w.set(`q${p}`, "other"));
      await expect(txn.commit()).rejects.toBeInstanceOf(WriteConflictError);
      await t.whenIdle();
      expect(c.before).toBeGreaterThan(0);
      expect(c.after).toBe(c.before);
      expect(str(await (await t.snapshot()).batchGet([`a${p}`, `q${p}`]))).toEqual([undefined, "other"]);
    },
  );

  it("pessimistic: releasing the locks on rollback runs between before and after", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("hkpr");
    const { c, hooks } = counter();
    const txn = await t.begin({ pessimistic: true, lifecycleHooks: hooks });
    await txn.lockKeys([`a${p}`, `q${p}`]);
    await txn.rollback();
    await t.whenIdle();
    expect(c.before).toBeGreaterThan(0);
    expect(c.after).toBe(c.before);
  });

  it("pipelined: the range resolve and the broadcasts run between before and after", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("hkpl");
    const { c, hooks } = counter();
    const txn = await t.begin({ pipelined: true, lifecycleHooks: hooks });
    for (let i = 0; i < 30; i++) txn.set(`${"ahq"[i % 3]}${p}${i}`, "v");
    await txn.commit();
    await t.whenIdle();
    expect(c.before).toBeGreaterThanOrEqual(2);
    expect(c.after).toBe(c.before);
  });

  it("hooks that throw change nothing", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("hkthrow");
    const boom = () => {
      throw new Error("hook failed");
    };
    const txn = await t.begin({ lifecycleHooks: { before: boom, after: boom } });
    txn.set(`a${p}`, "a");
    txn.set(`q${p}`, "z");
    await txn.commit();
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet([`a${p}`, `q${p}`]))).toEqual(["a", "z"]);
  });

  it("bad hooks get InvalidArgumentError", async () => {
    const t = (await env.connect()).txn();
    for (const lifecycleHooks of [1, "x", null, { before: 1 }, { after: "f" }]) {
      await expect(t.begin({ lifecycleHooks } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });
});
