// client-go integration_tests/scan_test.go, scan_mock_test.go and split_test.go, ported by
// meaning (test/ported/txn-snapshot.md), plus property tests: snapshot scans over many regions,
// both directions, small batches and limits, at two versions, and a transaction's buffer merged
// over them, each against a plain sorted model.

import fc from "fast-check";
import { describe, expect } from "vitest";
import { TimeoutError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";
import { engineRollback, lockTxns, pad, prewriteOnly, recordRequests, strs } from "./snapshot-support.js";

const cmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe.skipIf(skipOnRealCluster("v1"))(
  "scan_test TestScan (its own cluster: scans without an upper bound)",
  () => {
    const env = useCluster({ stores: 3, regionKeyEncoding: "memcomparable" });
    const prefix = "~scan/";
    const key = (i: number) => `${prefix}prefix${pad(i, 10)}`;

    // the client-go check: exactly rows 0..n-1 in order, then the end
    async function expectRows(
      it: AsyncIterable<{ key: Buffer; value: Buffer }>,
      n: number,
      keyOnly: boolean,
    ) {
      const got: string[] = [];
      for await (const e of it) got.push(`${e.key}=${e.value}`);
      expect(got).toEqual(Array.from({ length: n }, (_, i) => `${key(i)}=${keyOnly ? "" : i}`));
    }

    itFault(
      "TestScan: 1 / 256 / 257 / 768 rows, split at rows 123 and 456, with and without an upper bound, key-only, and RC past a lock",
      async () => {
        const t = (await env.connect()).txn();
        for (const rowNum of [1, 256, 257, 768]) {
          await t.runTransaction(async (w) => {
            for (let i = 0; i < rowNum; i++) w.set(key(i), String(i));
          });
          await t.whenIdle();
          if (rowNum > 123) env.cluster.topology.splitAt([key(123)]);
          if (rowNum > 456) env.cluster.topology.splitAt([key(456)]);
          const upper = Math.floor(rowNum / 2);

          const txn2 = await t.begin();
          expect((await txn2.get(key(0)))?.toString()).toBe("0");
          await expectRows(txn2.iterate(prefix, ""), rowNum, false);
          await expectRows(txn2.iterate(prefix, key(upper)), upper, false);
          await txn2.rollback();

          const txn3 = await t.begin({ keyOnly: true });
          await expectRows(txn3.iterate(prefix, ""), rowNum, true);
          await expectRows(txn3.iterate(prefix, key(upper)), upper, true);
          await txn3.rollback();

          // a live lock on row 0: RC scans ignore it (no lock met), SI scans push it
          const owner = await t.currentTimestamp();
          prewriteOnly(env.cluster, {
            startTs: owner,
            primary: key(0),
            writes: [[key(0), "1"]],
            ttlMs: 60_000n,
          });
          const checks = t.lockResolver.stats().statusChecks;
          const txn5 = await t.begin({ isolationLevel: "RC" });
          await expectRows(txn5.iterate(prefix, ""), rowNum, false);
          expect(t.lockResolver.stats().statusChecks).toBe(checks);
          await txn5.rollback();
          const txn6 = await t.begin();
          await expectRows(txn6.iterate(prefix, ""), rowNum, false);
          expect(t.lockResolver.stats().statusChecks).toBeGreaterThan(checks);
          await txn6.rollback();
          engineRollback(env.cluster, owner, [key(0)]);
        }
        // the regions really were split where asked
        const starts = env.cluster.topology.regions().map((r) => r.startKey.toString());
        expect(starts).toEqual(expect.arrayContaining([key(123), key(456)]));
      },
      30_000,
    );
  },
);

describe.skipIf(skipOnRealCluster("v1"))(
  "scan_mock_test (its own cluster: scans without a lower or upper bound)",
  () => {
    const env = useCluster({
      stores: 3,
      splitKeys: ["~m/f", "~m/m", "~m/s"],
      regionKeyEncoding: "memcomparable",
    });
    const key = (ch: string) => `~m/${ch}`;
    const letters = "abcdefghijklmnopqrstuvwxyz".split("");

    // both use unbounded ranges: they need a cluster of their own (not a shared real one)
    itFault(
      "TestScanMultipleRegions: forward scans in batches of 10 over 4 regions, unbounded and bounded",
      async () => {
        const t = (await env.connect()).txn();
        await t.runTransaction(async (w) => {
          for (const ch of letters) w.set(key(ch), ch);
        });
        await t.whenIdle();
        const txn = await t.begin();
        const all: string[] = [];
        for await (const e of txn.iterate(key("a"), "", { batchSize: 10 })) all.push(`${e.key}=${e.value}`);
        expect(all).toEqual(letters.map((ch) => `${key(ch)}=${ch}`));
        const some: string[] = [];
        for await (const e of txn.iterate(key("a"), key("i"), { batchSize: 10 })) some.push(e.key.toString());
        expect(some).toEqual(letters.slice(0, 8).map(key));
        await txn.rollback();
      },
    );

    itFault(
      "TestReverseScan: reverse scans in batches of 10 over 4 regions, from the start of the key space and bounded",
      async () => {
        const t = (await env.connect()).txn();
        await t.runTransaction(async (w) => {
          for (const ch of letters) w.set(key(ch), ch);
        });
        await t.whenIdle();
        const txn = await t.begin();
        const down: string[] = [];
        for await (const e of txn.iterateReverse("", key("z"), { batchSize: 10 }))
          down.push(e.key.toString());
        expect(down).toEqual(letters.slice(0, 25).reverse().map(key));
        const some: string[] = [];
        for await (const e of txn.iterateReverse(key("a"), key("i"), { batchSize: 10 }))
          some.push(e.key.toString());
        expect(some).toEqual(letters.slice(0, 8).reverse().map(key));
        await txn.rollback();
      },
    );
  },
);

describe.skipIf(skipOnRealCluster("v1"))("split_test, and scans against a sorted model", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  itFault(
    "TestSplitBatchGet: a batch get grouped by a region that has since split is regrouped, never sending a key outside its region",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const keys = ["split/a", "split/b", "split/c"].map((k) => `h${k}`);
      await t.runTransaction(async (w) => {
        for (const k of keys) w.set(k, k.slice(-1));
      });
      await t.whenIdle();
      expect(strs(await (await t.snapshot()).batchGet(keys))).toEqual(["a", "b", "c"]); // warm the cache
      const region = env.cluster.topology.locateKey(Buffer.from(keys[0] as string));
      if (!region) throw new Error("no region");
      env.cluster.topology.splitRegion(region.id, [Buffer.from(keys[1] as string)]);
      client.resetMetrics();
      const rec = recordRequests(env.cluster, ["KvBatchGet"]);
      try {
        expect(strs(await (await t.snapshot()).batchGet(keys))).toEqual(["a", "b", "c"]);
      } finally {
        rec.stop();
      }
      expect(client.metrics().regionErrors.epochNotMatch ?? 0).toBeGreaterThan(0);
      // requests at the current epoch of their region hold only keys of that region
      let current = 0;
      for (const r of rec.seen) {
        const now = env.cluster.topology.regionById(r.regionId ?? 0n);
        if (!now || r.context.regionEpoch?.version !== now.region.regionEpoch?.version) continue;
        current++;
        for (const k of r.request.keys as Buffer[]) {
          expect(Buffer.compare(k, now.startKey) >= 0).toBe(true);
          expect(now.endKey.length === 0 || Buffer.compare(k, now.endKey) < 0).toBe(true);
        }
      }
      expect(current).toBe(2); // one batch per new region
    },
  );

  itFault(
    "TestBatchGetUsingAsyncAPI: batch gets across a split the client missed, a second one, a lock, and a lost reply",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const [a, b, c] = ["async/a", "async/b", "async/c"].map((k) => `h${k}`) as [string, string, string];
      await t.runTransaction(async (w) => {
        w.set(a, "a");
        w.set(c, "c");
      });
      await t.whenIdle();
      const read = async () => strs(await (await t.snapshot()).batchGet([a, b, c]));
      expect(await read()).toEqual(["a", undefined, "c"]);
      // split at b behind the client's back: two batches, the first sent to a stale region
      const r1 = env.cluster.topology.locateKey(Buffer.from(b));
      if (!r1) throw new Error("no region");
      env.cluster.topology.splitRegion(r1.id, [Buffer.from(b)]);
      expect(await read()).toEqual(["a", undefined, "c"]);
      // split [b, ...) at c, again unseen
      const r2 = env.cluster.topology.locateKey(Buffer.from(b));
      if (!r2) throw new Error("no region");
      env.cluster.topology.splitRegion(r2.id, [Buffer.from(c)]);
      expect(await read()).toEqual(["a", undefined, "c"]);
      // a live lock on a: the reader pushes it and reads the old value
      const owner = await t.currentTimestamp();
      prewriteOnly(env.cluster, { startTs: owner, primary: a, writes: [[a, "a2"]], ttlMs: 60_000n });
      const started = Date.now();
      expect(await read()).toEqual(["a", undefined, "c"]);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(lockTxns(env.cluster, a, `${a}\0`)).toEqual([owner]);
      engineRollback(env.cluster, owner, [a]);
      // one batch's reply is lost: the whole call fails (typed), no partial result
      const lost = env.cluster.faults.dropReply({ rpc: "KvBatchGet", key: c, outcome: "hang" });
      const e = await (await t.snapshot()).batchGet([a, b, c], { timeoutMs: 300 }).catch((x) => x);
      expect(e).toBeInstanceOf(TimeoutError);
      expect(lost.fired).toBe(1);
      expect(await read()).toEqual(["a", undefined, "c"]);
    },
  );

  itFault(
    "TestStaleEpoch: after a split, reads follow the regions TiKV's EpochNotMatch reports, with PD's region lookups failing",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const [a, b, c] = ["stale/a", "stale/b", "stale/c"].map((k) => `h${k}`) as [string, string, string];
      await t.runTransaction(async (w) => {
        w.set(a, "a");
        w.set(c, "c");
      });
      await t.whenIdle();
      const warm = await t.begin();
      expect((await warm.get(a))?.toString()).toBe("a");
      expect((await warm.get(c))?.toString()).toBe("c");
      const r = env.cluster.topology.locateKey(Buffer.from(a));
      if (!r) throw new Error("no region");
      env.cluster.topology.splitRegion(r.id, [Buffer.from(b)]);
      const pdFaults = env.cluster.pd.state.faults;
      const lookups = ["GetRegion", "GetPrevRegion", "GetRegionByID", "ScanRegions", "BatchScanRegions"];
      const before = lookups.map((m) => pdFaults.calls(m));
      for (const m of lookups) pdFaults.failNext(m, 1000, { kind: "unavailable" });
      let after: number[] = [];
      try {
        const txn = await t.begin(); // TSO still works
        expect((await txn.get(a, { timeoutMs: 5000 }))?.toString()).toBe("a");
        expect((await txn.get(c, { timeoutMs: 5000 }))?.toString()).toBe("c");
        await txn.rollback();
        after = lookups.map((m) => pdFaults.calls(m));
      } finally {
        pdFaults.reset();
      }
      // PD was never asked: the new regions came with the EpochNotMatch error
      expect(after).toEqual(before);
      expect(client.metrics().regionErrors.epochNotMatch ?? 0).toBeGreaterThan(0);
    },
  );

  // A fixed data set over many regions at two versions, and fast-check picking ranges,
  // directions, batch sizes and limits.
  const N = 120;
  const mk = (i: number) => `pm/${pad(i, 4)}`;
  let data: { ts1: bigint; ts2: bigint; v1: Map<string, string>; v2: Map<string, string> } | undefined;

  async function dataset() {
    if (data) return data;
    const t = (await env.connect()).txn();
    const rnd = fc.sample(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: N, maxLength: N }), {
      numRuns: 1,
      seed: 42,
    })[0] as number[];
    // regions: a boundary every ~8 keys
    env.cluster.topology.splitAt(Array.from({ length: N / 8 }, (_, i) => mk(i * 8 + 3)));
    const v1 = new Map<string, string>();
    await t.runTransaction(async (w) => {
      for (let i = 0; i < N; i++) {
        if (rnd[i] === 0) continue; // never written
        w.set(mk(i), `one-${i}`);
        v1.set(mk(i), `one-${i}`);
      }
    });
    await t.whenIdle();
    const ts1 = await t.currentTimestamp();
    const v2 = new Map(v1);
    await t.runTransaction(async (w) => {
      for (let i = 0; i < N; i++) {
        if (rnd[i] === 2) {
          w.set(mk(i), `two-${i}`);
          v2.set(mk(i), `two-${i}`);
        } else if (rnd[i] === 3 && i % 2 === 0) {
          w.delete(mk(i));
          v2.delete(mk(i));
        }
      }
    });
    await t.whenIdle();
    const ts2 = await t.currentTimestamp();
    data = { ts1, ts2, v1, v2 };
    return data;
  }

  function modelRange(m: Map<string, string>, lo: string, hi: string, reverse: boolean) {
    const rows = [...m.entries()]
      .filter(([k]) => cmp(k, lo) >= 0 && (hi === "" || cmp(k, hi) < 0))
      .sort(([x], [y]) => cmp(x, y));
    return reverse ? rows.reverse() : rows;
  }

  itFault(
    "snapshot scans over 16 regions match the model: any range, direction, batch size and limit, at two versions",
    async () => {
      const t = (await env.connect()).txn();
      const d = await dataset();
      const snaps = { 1: await t.snapshot(d.ts1), 2: await t.snapshot(d.ts2) };
      const bound = fc.integer({ min: -1, max: N + 1 }).map((i) => (i < 0 ? "pm/" : i > N ? "pm0" : mk(i)));
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(1 as const, 2 as const),
          bound,
          bound,
          fc.integer({ min: 1, max: 7 }),
          fc.integer({ min: 0, max: 40 }),
          fc.constantFrom("scan", "iterate", "iterateReverse"),
          async (version, x, y, batchSize, limit, how) => {
            const [lo, hi] = cmp(x, y) <= 0 ? [x, y] : [y, x];
            const reverse = how === "iterateReverse";
            let want = modelRange(version === 1 ? d.v1 : d.v2, lo, hi, reverse);
            const snap = snaps[version];
            let got: Array<[string, string]> = [];
            if (how === "scan") {
              want = limit === 0 ? [] : want.slice(0, limit);
              got = (await snap.scan(lo, hi, limit, { batchSize })).map((e) => [
                e.key.toString(),
                e.value.toString(),
              ]);
            } else {
              // a limit here means: stop the iteration early (0 = read it all)
              if (limit > 0) want = want.slice(0, limit);
              const it = reverse
                ? snap.iterateReverse(lo, hi, { batchSize })
                : snap.iterate(lo, hi, { batchSize });
              for await (const e of it) {
                got.push([e.key.toString(), e.value.toString()]);
                if (limit > 0 && got.length >= limit) break;
              }
            }
            expect(got).toEqual(want);
          },
        ),
        { numRuns: 100 },
      );
    },
    30_000,
  );

  itFault(
    "a transaction's iterations merge its buffer over the snapshot like the model: buffer wins, deletes hide",
    async () => {
      const t = (await env.connect()).txn();
      const d = await dataset();
      const op = fc.record({
        i: fc.integer({ min: 0, max: N - 1 }),
        del: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { maxLength: 30 }),
          fc.integer({ min: 0, max: N }),
          fc.integer({ min: 0, max: N }),
          fc.integer({ min: 1, max: 5 }),
          fc.boolean(),
          async (ops, x, y, batchSize, reverse) => {
            const [lo, hi] = x <= y ? [mk(x), mk(y)] : [mk(y), mk(x)];
            const txn = await t.begin({ startTs: d.ts2 });
            const model = new Map(d.v2);
            for (const [n, o] of ops.entries()) {
              if (o.del) {
                txn.delete(mk(o.i));
                model.delete(mk(o.i));
              } else {
                txn.set(mk(o.i), `mine-${n}`);
                model.set(mk(o.i), `mine-${n}`);
              }
            }
            const want = modelRange(model, lo, hi, reverse);
            const got: Array<[string, string]> = [];
            const it = reverse
              ? txn.iterateReverse(lo, hi, { batchSize })
              : txn.iterate(lo, hi, { batchSize });
            for await (const e of it) got.push([e.key.toString(), e.value.toString()]);
            expect(got).toEqual(want);
            const limited = await txn.scan(lo, hi, 5, { batchSize });
            expect(limited.map((e) => e.key.toString())).toEqual(
              modelRange(model, lo, hi, false)
                .slice(0, 5)
                .map(([k]) => k),
            );
            await txn.rollback();
          },
        ),
        { numRuns: 60 },
      );
    },
    30_000,
  );
});
