// Snapshot read options as TiKV receives them (client-go KVSnapshot setters: isolation level,
// priority, not-fill-cache, key-only, scan batch size, task id, resource group tag / name,
// request source, KV read timeout), per-call cancellation and deadlines (typed AbortedError /
// TimeoutError), and reads below the txn safe point (client-go CheckVisibility).

import { describe, expect, it } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import {
  AbortedError,
  type SnapshotReadOptions as SnapshotOptions,
  TimeoutError,
  TxnAbortedByGcError,
} from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { CommandPri, IsolationLevel } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { prewriteOnly, recordRequests, type SeenRequest, strs } from "./snapshot-support.js";

const ISO = { SI: IsolationLevel.SI, RC: IsolationLevel.RC, RCCheckTS: IsolationLevel.RCCheckTS } as const;
const PRI = { normal: CommandPri.Normal, low: CommandPri.Low, high: CommandPri.High } as const;

/** Asserts that a request's Context carries what `o` asked for (and defaults elsewhere). */
function expectContext(r: SeenRequest, o: SnapshotOptions): void {
  const c = r.context;
  const where = `${r.rpc} context`;
  expect(c.isolationLevel, where).toBe(ISO[o.isolationLevel ?? "SI"]);
  expect(c.priority, where).toBe(PRI[o.priority ?? "normal"]);
  expect(c.notFillCache, where).toBe(o.notFillCache ?? false);
  expect(c.taskId, where).toBe(o.taskId ?? 0n);
  expect(Buffer.from(c.resourceGroupTag).toString(), where).toBe(o.resourceGroupTag?.toString() ?? "");
  expect(c.resourceControlContext?.resourceGroupName ?? "", where).toBe(o.resourceGroupName ?? "");
  expect(c.requestSource, where).toBe(o.requestSource ?? "");
  if (o.kvReadTimeoutMs !== undefined)
    expect(c.maxExecutionDurationMs, where).toBe(BigInt(o.kvReadTimeoutMs));
}

describe.skipIf(skipOnRealCluster("v1"))("snapshot options reach TiKV; cancellation and deadlines", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  async function seed(n: number, tag: string): Promise<{ p: string; keys: string[] }> {
    const t = (await env.connect()).txn();
    const p = `h${uniquePrefix(tag)}`;
    const keys = Array.from({ length: n }, (_, i) => `${p}${i}`);
    // two regions under the prefix, so scans cross a boundary
    env.cluster.topology.splitAt([keys[Math.floor(n / 2)] as string]);
    await t.runTransaction(async (w) => {
      for (const [i, k] of keys.entries()) w.set(k, `v${i}`);
    });
    await t.whenIdle();
    return { p, keys };
  }

  const optionSets: Array<[string, SnapshotOptions]> = [
    ["defaults", {}],
    [
      "every option",
      {
        isolationLevel: "RC",
        priority: "high",
        notFillCache: true,
        taskId: 42n,
        resourceGroupTag: Buffer.from("tag-1"),
        resourceGroupName: "rg-a",
        requestSource: "external_test",
        kvReadTimeoutMs: 1500,
        keyOnly: true,
        scanBatchSize: 2,
      },
    ],
    [
      "RCCheckTS, low priority, a small scan batch",
      { isolationLevel: "RCCheckTS", priority: "low", scanBatchSize: 3 },
    ],
    ["SI, normal priority, a task id", { isolationLevel: "SI", priority: "normal", taskId: 7n }],
  ];

  for (const [name, o] of optionSets) {
    itFault(`snapshot (${name}): gets, batch gets and scans carry the options in their Context`, async () => {
      const t = (await env.connect()).txn();
      const { p, keys } = await seed(7, "opt");
      const end = `${p}~`;
      const rec = recordRequests(env.cluster, ["KvGet", "KvBatchGet", "KvScan"]);
      let fwd: string[];
      let rev: string[];
      const snap = await t.snapshot(undefined, o);
      try {
        expect((await snap.get(keys[0] as string))?.toString()).toBe("v0");
        expect(strs(await snap.batchGet(keys))).toEqual(keys.map((_, i) => `v${i}`));
        fwd = (await snap.scan(p, end, 10)).map((e) => `${e.key.toString().slice(p.length)}=${e.value}`);
        rev = [];
        for await (const e of snap.iterateReverse(p, end)) rev.push(e.key.toString().slice(p.length));
      } finally {
        rec.stop();
      }
      const value = (i: number) => (o.keyOnly ? "" : `v${i}`);
      expect(fwd).toEqual(keys.map((_, i) => `${i}=${value(i)}`));
      expect(rev).toEqual(keys.map((_, i) => String(i)).reverse());
      for (const rpc of ["KvGet", "KvBatchGet", "KvScan"]) {
        expect(
          rec.seen.some((r) => r.rpc === rpc),
          rpc,
        ).toBe(true);
      }
      for (const r of rec.seen) {
        expectContext(r, o);
        expect(r.request.version).toBe(snap.ts);
      }
      const scans = rec.seen.filter((r) => r.rpc === "KvScan");
      const batch = o.scanBatchSize !== undefined && o.scanBatchSize > 1 ? o.scanBatchSize : 256;
      for (const s of scans) {
        expect(s.request.keyOnly).toBe(o.keyOnly ?? false);
        expect(s.request.limit).toBeLessThanOrEqual(batch);
      }
      // 7 keys in two regions: at least ceil(7 / batch) requests each way
      const reverse = scans.filter((s) => s.request.reverse === true).length;
      expect(reverse).toBeGreaterThanOrEqual(Math.ceil(7 / batch));
      expect(scans.length - reverse).toBeGreaterThanOrEqual(Math.ceil(7 / batch));
    });
  }

  itFault("a transaction's reads carry its begin options in their Context too", async () => {
    const t = (await env.connect()).txn();
    const { p, keys } = await seed(4, "txnopt");
    const o: SnapshotOptions = {
      priority: "low",
      notFillCache: true,
      taskId: 9n,
      resourceGroupName: "rg-b",
      requestSource: "external_txn",
      resourceGroupTag: Buffer.from("t"),
      scanBatchSize: 2,
    };
    const rec = recordRequests(env.cluster, ["KvGet", "KvBatchGet", "KvScan"]);
    try {
      const txn = await t.begin(o);
      txn.set(`${p}1`, "mine");
      expect((await txn.get(keys[0] as string))?.toString()).toBe("v0");
      expect(strs(await txn.batchGet(keys))).toEqual(["v0", "mine", "v2", "v3"]);
      const seen: string[] = [];
      for await (const e of txn.iterate(p, `${p}~`)) seen.push(e.value.toString());
      expect(seen).toEqual(["v0", "mine", "v2", "v3"]);
      await txn.rollback();
    } finally {
      rec.stop();
    }
    expect(rec.seen.map((r) => r.rpc)).toEqual(expect.arrayContaining(["KvGet", "KvBatchGet", "KvScan"]));
    for (const r of rec.seen) expectContext(r, o);
    for (const s of rec.seen.filter((r) => r.rpc === "KvScan"))
      expect(s.request.limit).toBeLessThanOrEqual(2);
  });

  itFault(
    "kvReadTimeoutMs bounds the first attempt only: a retry carries the default execution limit",
    async () => {
      const t = (await env.connect()).txn();
      const { keys } = await seed(2, "kvrt");
      const k = keys[0] as string;
      env.cluster.faults.failNext({
        rpc: "KvGet",
        key: k,
        error: { regionError: RegionErrors.serverIsBusy() },
      });
      const rec = recordRequests(env.cluster, ["KvGet"]);
      try {
        const snap = await t.snapshot(undefined, { kvReadTimeoutMs: 100 });
        expect((await snap.get(k))?.toString()).toBe("v0");
      } finally {
        rec.stop();
      }
      expect(rec.seen.length).toBe(2);
      expect(rec.seen[0]?.context.maxExecutionDurationMs).toBe(100n);
      // client-go: the retry uses ReadTimeoutShort (30 s) for a point get
      expect(rec.seen[1]?.context.maxExecutionDurationMs).not.toBe(100n);
    },
  );

  it("bad snapshot options and call options are refused with typed errors", async () => {
    const t = (await env.connect()).txn();
    await expect(t.snapshot(undefined, { isolationLevel: "XX" as never })).rejects.toThrow(/isolationLevel/);
    await expect(t.snapshot(undefined, { priority: "urgent" as never })).rejects.toThrow(/priority/);
    await expect(t.snapshot(undefined, { scanBatchSize: -1 })).rejects.toThrow(/scanBatchSize/);
    await expect(t.snapshot(undefined, { kvReadTimeoutMs: 1.5 })).rejects.toThrow(/kvReadTimeoutMs/);
    await expect(t.snapshot(0n)).rejects.toThrow(/ts/);
    const snap = await t.snapshot();
    await expect(snap.get("k", { timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
    await expect(snap.scan("a", "b", 1.5)).rejects.toThrow(/limit/);
    expect(() => snap.iterate("b", "a")).toThrow(/start/);
    expect(() => snap.iterateReverse("a", "")).toThrow(/end/);
    expect(() => snap.iterate("a", "b", { batchSize: 0 })).toThrow(/batchSize/);
  });

  itFault(
    "an already-aborted signal fails every read with AbortedError before anything is sent",
    async () => {
      const t = (await env.connect()).txn();
      const { p, keys } = await seed(3, "preab");
      const reason = new Error("stop now");
      const ac = new AbortController();
      ac.abort(reason);
      const signal = ac.signal;
      const rec = recordRequests(env.cluster, ["KvGet", "KvBatchGet", "KvScan"]);
      try {
        const snap = await t.snapshot();
        for (const p2 of [
          snap.get(keys[0] as string, { signal }),
          snap.batchGet(keys, { signal }),
          snap.scan(p, `${p}~`, 10, { signal }),
          snap.iterate(p, `${p}~`, { signal }).next(),
          snap.iterateReverse(p, `${p}~`, { signal }).next(),
        ]) {
          const e = await p2.catch((x) => x);
          expect(e).toBeInstanceOf(AbortedError);
          expect((e as AbortedError).reason).toBe(reason);
        }
        const txn = await t.begin();
        await expect(txn.get(keys[0] as string, { signal })).rejects.toBeInstanceOf(AbortedError);
        await expect(txn.scan(p, `${p}~`, 2, { signal })).rejects.toBeInstanceOf(AbortedError);
        await txn.rollback();
      } finally {
        rec.stop();
      }
      expect(rec.seen).toEqual([]);
    },
  );

  itFault("a slow TiKV: aborting or a per-call timeoutMs ends each kind of read at once, typed", async () => {
    const t = (await env.connect()).txn();
    const { p, keys } = await seed(4, "slow");
    const snap = await t.snapshot();
    await snap.get(keys[0] as string); // warm the region cache
    const reads: Array<[string, (o: { signal?: AbortSignal; timeoutMs?: number }) => Promise<unknown>]> = [
      ["get", (o) => snap.get(keys[0] as string, o)],
      ["batchGet", (o) => snap.batchGet(keys, o)],
      ["scan", (o) => snap.scan(p, `${p}~`, 10, o)],
      ["iterateReverse", (o) => snap.iterateReverse(p, `${p}~`, o).next()],
    ];
    const slow = env.cluster.faults.delay({ rpc: ["KvGet", "KvBatchGet", "KvScan"], ms: 3000 });
    try {
      for (const [name, read] of reads) {
        const ac = new AbortController();
        const reason = `cancelled ${name}`;
        setTimeout(() => ac.abort(reason), 50);
        let started = Date.now();
        const e1 = await read({ signal: ac.signal }).catch((x) => x);
        expect(e1, name).toBeInstanceOf(AbortedError);
        expect((e1 as AbortedError).reason).toBe(reason);
        expect(Date.now() - started, name).toBeLessThan(1500);
        started = Date.now();
        const e2 = await read({ timeoutMs: 150 }).catch((x) => x);
        expect(e2, name).toBeInstanceOf(TimeoutError);
        expect(Date.now() - started, name).toBeGreaterThanOrEqual(100);
        expect(Date.now() - started, name).toBeLessThan(1500);
      }
    } finally {
      slow.cancel();
    }
    // and the snapshot still works afterwards
    expect(strs(await snap.batchGet(keys))).toEqual(["v0", "v1", "v2", "v3"]);
  });

  itFault("an iteration cancelled between batches fails its next step with AbortedError", async () => {
    const t = (await env.connect()).txn();
    const { p } = await seed(6, "itab");
    const snap = await t.snapshot(undefined, { scanBatchSize: 2 });
    const ac = new AbortController();
    const it = snap.iterate(p, `${p}~`, { signal: ac.signal });
    expect((await it.next()).value?.value.toString()).toBe("v0");
    expect((await it.next()).value?.value.toString()).toBe("v1");
    const slow = env.cluster.faults.delay({ rpc: "KvScan", ms: 3000, count: 1 });
    try {
      setTimeout(() => ac.abort("enough"), 50);
      const started = Date.now();
      await expect(it.next()).rejects.toBeInstanceOf(AbortedError);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      slow.cancel();
    }
  });

  itFault(
    "a reader waiting for a live lock that cannot be pushed gives up on abort or timeoutMs",
    async () => {
      const t = (await env.connect()).txn();
      const { keys } = await seed(2, "lockwait");
      const k = keys[1] as string;
      const owner = await t.currentTimestamp();
      prewriteOnly(env.cluster, {
        startTs: owner,
        primary: k,
        writes: [[k, "new"]],
        ttlMs: 20_000n,
        minCommitTs: 0n,
      });
      const snap = await t.snapshot();
      let started = Date.now();
      await expect(snap.get(k, { timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
      expect(Date.now() - started).toBeLessThan(2000);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      started = Date.now();
      await expect(snap.batchGet(keys, { signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
      expect(Date.now() - started).toBeLessThan(2000);
      // an unlocked key still reads
      expect((await snap.get(keys[0] as string, { timeoutMs: 1000 }))?.toString()).toBe("v0");
    },
  );
});

describe.skipIf(skipOnRealCluster("v1"))("reads below the txn safe point (client-go CheckVisibility)", () => {
  const env = useCluster({ stores: 1, regionKeyEncoding: "memcomparable" });

  itFault(
    "once PD's txn safe point passes a read ts, every read at that ts fails with TxnAbortedByGcError",
    async () => {
      const admin = await env.connect();
      const p = uniquePrefix("gc");
      const keys = [`${p}a`, `${p}b`];
      await admin.txn().runTransaction(async (w) => {
        w.set(keys[0] as string, "1");
        w.set(keys[1] as string, "2");
      });
      await admin.txn().whenIdle();
      const old = await admin.txn().currentTimestamp();
      const safePoint = await admin.txn().currentTimestamp();
      const r = await admin.pd.advanceTxnSafePoint(safePoint);
      expect(r.newTxnSafePoint).toBe(safePoint);
      // a client that loads the safe point now (client-go polls it every 10 s)
      const t = (await env.connect()).txn();
      const snap = await t.snapshot(old);
      // each read's rejection is caught at once (they run concurrently)
      const reads: Array<Promise<unknown>> = [
        snap.get(keys[0] as string),
        snap.batchGet(keys),
        snap.scan(p, `${p}~`, 10),
        snap.iterate(p, `${p}~`).next(),
        snap.iterateReverse(p, `${p}~`).next(),
        t.begin({ startTs: old }).then((txn) => txn.get(keys[1] as string)),
      ].map((r) => r.catch((x: unknown) => x));
      for (const read of reads) {
        const e = await read;
        expect(e).toBeInstanceOf(TxnAbortedByGcError);
        expect((e as TxnAbortedByGcError).txnStartTs).toBe(old);
        expect((e as TxnAbortedByGcError).txnSafePoint).toBe(safePoint);
        expect((e as TxnAbortedByGcError).isRetryable).toBe(false);
      }
      // at or above the safe point, and at the latest ts, reads work
      for (const ts of [safePoint, await t.currentTimestamp(), MAX_TS]) {
        const s = await t.snapshot(ts);
        expect(strs(await s.batchGet(keys))).toEqual(["1", "2"]);
        expect((await s.scan(p, `${p}~`, 10)).length).toBe(2);
      }
    },
  );
});
