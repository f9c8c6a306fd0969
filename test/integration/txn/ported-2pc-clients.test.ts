// Ported by meaning from client-go integration_tests/ticlient_test.go (single / many keys, absent
// keys, an oversized entry), isolation_test.go (concurrent writers and readers of one key keep
// snapshot isolation) and store_test.go TestRequestPriority. The mapping is in
// test/ported/txn-2pc.md.

import { describe, expect, it } from "vitest";
import { EntryTooLargeError, isRetryable } from "../../../src/index.js";
import { CommandPri } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { str, touches } from "./ported-2pc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go ticlient / isolation / store tests", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // ticlient_test TestSingleKey (without its LockKeys call)
  it("one key: written, read back by a later transaction, deleted", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("single")}key`;
    const w = await t.begin();
    w.set(key, "value");
    expect(await w.commit()).toBeGreaterThan(w.startTs);
    const r = await t.begin();
    expect((await r.get(key))?.toString()).toBe("value");
    const d = await t.begin();
    d.delete(key);
    await d.commit();
    expect(await (await t.begin()).get(key)).toBeUndefined();
    // the reader that began before the delete still sees the value
    expect((await r.get(key))?.toString()).toBe("value");
  });

  // ticlient_test TestMultiKeys
  it("100 keys over every region: written in one transaction, read back one by one, deleted in one", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("multi");
    const keys = Array.from({ length: 100 }, (_, i) => `${"ahq"[i % 3]}${p}key${String(i).padStart(8, "0")}`);
    const value = (i: number) => `value${i}`;
    const w = await t.begin();
    for (const [i, k] of keys.entries()) w.set(k, value(i));
    await w.commit();
    await t.whenIdle();
    const r = await t.begin();
    for (const [i, k] of keys.entries()) expect((await r.get(k))?.toString()).toBe(value(i));
    const d = await t.begin();
    for (const k of keys) d.delete(k);
    await d.commit();
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(keys.map(() => undefined));
  });

  // ticlient_test TestNotExist
  it("reading a key that was never written gives undefined (client-go: ErrNotExist)", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin();
    expect(await txn.get(`q${uniquePrefix("none")}noSuchKey`)).toBeUndefined();
    expect(str(await txn.batchGet([`a${uniquePrefix("none")}x`]))).toEqual([undefined]);
  });

  // ticlient_test TestLargeRequest
  it("an entry above the entry size limit is refused when buffered; the empty transaction then commits", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("large")}large_request_key`;
    const txn = await t.begin({ entrySizeLimit: 1024 * 1024, totalSizeLimit: 100 * 1024 * 1024 });
    let err: unknown;
    try {
      txn.set(key, Buffer.alloc(9 * 1024 * 1024));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EntryTooLargeError);
    expect(isRetryable(err)).toBe(false);
    expect(txn.isReadOnly).toBe(true);
    expect(await txn.commit()).toBe(0n);
    expect(await (await t.snapshot()).get(key)).toBeUndefined();
  });

  // isolation_test TestWriteWriteConflict
  it("concurrent writers of one key: the committed transactions' [start, commit] intervals never overlap", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("ww")}k`;
    const writes: Array<{ startTs: bigint; commitTs: bigint }> = [];
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        for (let j = 0; j < 6; j++) {
          const txn = await t.runTransaction(
            async (x) => {
              x.set(key, "v");
              return x;
            },
            { maxAttempts: 200, maxBackoffMs: 50 },
          );
          writes.push({ startTs: txn.startTs, commitTs: txn.commitTs });
        }
      }),
    );
    expect(writes).toHaveLength(30);
    writes.sort((a, b) => (a.startTs < b.startTs ? -1 : 1));
    for (let i = 0; i + 1 < writes.length; i++) {
      const [w, next] = [writes[i], writes[i + 1]] as [(typeof writes)[0], (typeof writes)[0]];
      expect(w.commitTs).toBeLessThan(next.startTs);
    }
  });

  // isolation_test TestReadWriteConflict
  it("readers racing a writer read exactly the last value committed before their start ts", async () => {
    const t = (await env.connect()).txn();
    const key = `q${uniquePrefix("rw")}k`;
    const writes: Array<{ commitTs: bigint; value: string }> = [];
    const first = await t.runTransaction(async (x) => {
      x.set(key, "0");
      return x;
    });
    writes.push({ commitTs: first.commitTs, value: "0" });
    const reads: Array<{ ts: bigint; value: string | undefined }> = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 10; i++) {
        const txn = await t.runTransaction(async (x) => {
          x.set(key, String(i));
          return x;
        });
        writes.push({ commitTs: txn.commitTs, value: String(i) });
        await new Promise((r) => setTimeout(r, 2));
      }
      writing = false;
    })();
    const readers = Array.from({ length: 4 }, async () => {
      while (writing) {
        const snap = await t.snapshot();
        reads.push({ ts: snap.ts, value: (await snap.get(key))?.toString() });
      }
    });
    await Promise.all([writer, ...readers]);
    expect(reads.length).toBeGreaterThan(10);
    for (const r of reads) {
      const visible = writes.filter((w) => w.commitTs < r.ts);
      expect(r.value).toBe(visible[visible.length - 1]?.value);
    }
  });

  // store_test TestRequestPriority
  itFault(
    "the transaction's priority is carried by its prewrite, commit, get and scan requests",
    async () => {
      const t = (await env.connect()).txn();
      const key = `h${uniquePrefix("prio")}request_priority_key`;
      const seen: Array<{ rpc: string; priority: CommandPri | undefined }> = [];
      const off = env.cluster.faults.onRequest((call) => {
        if (!touches(call, key)) return;
        const ctx = (call.request as { context?: { priority?: CommandPri } } | undefined)?.context;
        seen.push({ rpc: call.rpc, priority: ctx?.priority });
      });
      try {
        const w = await t.begin({ priority: "high" });
        w.set(key, "value");
        await w.commit();
        await t.whenIdle();
        expect(seen.splice(0)).toEqual([
          { rpc: "KvPrewrite", priority: CommandPri.High },
          { rpc: "KvCommit", priority: CommandPri.High },
        ]);
        const low = await t.begin({ priority: "low" });
        expect((await low.get(key))?.toString()).toBe("value");
        expect(seen.splice(0)).toEqual([{ rpc: "KvGet", priority: CommandPri.Low }]);
        const high = await t.begin({ priority: "high" });
        const pairs = await high.scan(key, `${key}~`, 10);
        expect(pairs.map((e) => e.value.toString())).toEqual(["value"]);
        expect(seen.filter((s) => s.rpc === "KvScan").map((s) => s.priority)).toEqual([CommandPri.High]);
      } finally {
        off();
      }
    },
  );
});
