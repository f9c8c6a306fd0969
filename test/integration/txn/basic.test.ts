// Transactions I on the embedded cluster: begin / get / set / delete / commit, snapshot reads,
// buffer-over-snapshot iteration, conflicts, closed transactions and bad input.

import { describe, expect, it } from "vitest";
import {
  CannotSetNilValueError,
  EntryTooLargeError,
  InvalidArgumentError,
  InvalidTxnError,
  TxnTooLargeError,
  WriteConflictError,
} from "../../../src/index.js";
import { CommandPri } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const str = (vs: ReadonlyArray<Buffer | undefined>) => vs.map((v) => v?.toString());

describe.skipIf(skipOnRealCluster("v1"))("transactions: basics", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  it("commits writes across regions and reads them from a later snapshot", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("c");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const txn = await t.begin();
    expect(txn.isReadOnly).toBe(true);
    for (const [i, k] of keys.entries()) txn.set(k, `v${i}`);
    expect(txn.isReadOnly).toBe(false);
    expect(txn.len).toBe(3);
    expect(str(await txn.batchGet(keys))).toEqual(["v0", "v1", "v2"]);
    const commitTs = await txn.commit();
    expect(commitTs).toBeGreaterThan(txn.startTs);
    expect(txn.commitTs).toBe(commitTs);
    await t.whenIdle();
    const snap = await t.snapshot();
    expect(str(await snap.batchGet(keys))).toEqual(["v0", "v1", "v2"]);
    expect((await snap.get(keys[1] as string))?.toString()).toBe("v1");
    // an older snapshot does not see them
    const old = await t.snapshot(txn.startTs);
    expect(str(await old.batchGet(keys))).toEqual([undefined, undefined, undefined]);
  });

  it("iterates the buffer over the snapshot: buffer wins, deletes hidden, both directions", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("it");
    const k = (s: string) => `h${p}${s}`;
    const setup = await t.begin();
    for (const s of ["a", "b", "c", "d"]) setup.set(k(s), `old-${s}`);
    await setup.commit();
    const txn = await t.begin();
    txn.set(k("b"), "new-b");
    txn.delete(k("c"));
    txn.set(k("e"), "new-e");
    const fwd = [];
    for await (const e of txn.iterate(k(""), k("z"))) fwd.push(`${e.key.toString().slice(-1)}=${e.value}`);
    expect(fwd).toEqual(["a=old-a", "b=new-b", "d=old-d", "e=new-e"]);
    const rev = [];
    for await (const e of txn.iterateReverse(k(""), k("z"))) rev.push(e.key.toString().slice(-1));
    expect(rev).toEqual(["e", "d", "b", "a"]);
    expect((await txn.scan(k(""), k("z"), 2)).map((e) => e.value.toString())).toEqual(["old-a", "new-b"]);
    await txn.rollback();
  });

  it("a concurrent write to the same key makes the later commit fail with a retryable WriteConflictError", async () => {
    const t = (await env.connect()).txn();
    const key = `q${uniquePrefix("wc")}`;
    const t1 = await t.begin();
    const t2 = await t.begin();
    t1.set(key, "1");
    t2.set(key, "2");
    await t1.commit();
    const err = await t2.commit().catch((e) => e);
    expect(err).toBeInstanceOf(WriteConflictError);
    expect((err as WriteConflictError).isRetryable).toBe(true);
    expect(t2.state).toBe("failed");
    await t.whenIdle();
    expect((await (await t.snapshot()).get(key))?.toString()).toBe("1");
  });

  it("runTransaction re-runs the function with a new start ts on conflicts", async () => {
    const t = (await env.connect()).txn();
    const key = `a${uniquePrefix("rt")}`;
    await t.runTransaction(async (txn) => txn.set(key, "0"));
    const N = 8;
    let retries = 0;
    await Promise.all(
      Array.from({ length: N }, () =>
        t.runTransaction(
          async (txn) => {
            const v = Number((await txn.get(key))?.toString());
            txn.set(key, String(v + 1));
          },
          { maxAttempts: 50, onRetry: () => retries++ },
        ),
      ),
    );
    expect((await (await t.snapshot()).get(key))?.toString()).toBe(String(N));
    expect(retries).toBeGreaterThan(0);
  });

  itFault(
    "the transaction's priority, resource group and request source reach prewrite and commit",
    async () => {
      const t = (await env.connect()).txn();
      const seen: Array<{ rpc: string; ctx: Record<string, unknown> | undefined }> = [];
      const off = env.cluster.faults.onRequest((call) => {
        if (call.rpc === "KvPrewrite" || call.rpc === "KvCommit") {
          seen.push({ rpc: call.rpc, ctx: (call.request as { context?: Record<string, unknown> }).context });
        }
      });
      try {
        const txn = await t.begin({
          priority: "high",
          resourceGroupName: "rg1",
          requestSource: "external_test",
        });
        txn.set(`h${uniquePrefix("ctx")}`, "v");
        await txn.commit();
      } finally {
        off();
      }
      expect(seen.map((x) => x.rpc)).toEqual(["KvPrewrite", "KvCommit"]);
      for (const { ctx } of seen) {
        expect(ctx?.priority).toBe(CommandPri.High);
        expect(ctx?.requestSource).toBe("external_test");
        expect((ctx?.resourceControlContext as { resourceGroupName?: string })?.resourceGroupName).toBe(
          "rg1",
        );
      }
    },
  );

  it("bad input and closed transactions get typed errors", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin();
    expect(() => txn.set("k", "")).toThrow(CannotSetNilValueError);
    expect(() => txn.set(42 as never, "v")).toThrow(InvalidArgumentError);
    await expect(txn.scan("a", "b", -1)).rejects.toThrow(InvalidArgumentError);
    await expect(t.begin({ startTs: -1n })).rejects.toThrow(InvalidArgumentError);
    await expect(t.begin({ isolationLevel: "XX" as never })).rejects.toThrow(InvalidArgumentError);
    await expect(t.runTransaction(async () => {}, { maxAttempts: 0 })).rejects.toThrow(InvalidArgumentError);
    await txn.rollback();
    expect(() => txn.set("k", "v")).toThrow(InvalidTxnError);
    await expect(txn.get("k")).rejects.toThrow(InvalidTxnError);
    await expect(txn.commit()).rejects.toThrow(InvalidTxnError);
    // buffer limits: typed, and the rejected write leaves the buffer as it was
    const small = await t.begin({ entrySizeLimit: 16, totalSizeLimit: 20 });
    small.set("a", "1234");
    expect(() => small.set("b", "x".repeat(20))).toThrow(EntryTooLargeError);
    small.set("c", "0123456789");
    expect(() => small.set("d", "0123456789")).toThrow(TxnTooLargeError);
    expect(small.len).toBe(2);
    expect((await small.get("d"))?.toString()).toBeUndefined();
    await small.rollback();
    // a read-only transaction commits without any RPC
    const ro = await t.begin();
    expect(await ro.commit()).toBe(0n);
  });
});
