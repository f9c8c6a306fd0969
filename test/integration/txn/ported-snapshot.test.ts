// client-go integration_tests/snapshot_test.go and snapshot_fail_test.go, ported by meaning
// (test/ported/txn-snapshot.md maps each upstream test), plus reads through the locks crashed
// transactions leave behind (committed: read through with committed_locks; rolled back or
// pushed: ignored with resolved_locks) and the RC / RCCheckTS isolation levels.

import { describe, expect, it } from "vitest";
import type { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { type TikvClient, WriteConflictError } from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { IsolationLevel, Op, WriteConflict_Reason } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import {
  engineCommit,
  engineResolve,
  engineRollback,
  lockTxns,
  pad,
  prewriteOnly,
  recordRequests,
  strs,
} from "./snapshot-support.js";

/** The first key after every key starting with `p` (p ends with "-", see uniquePrefix). */
const prefixEnd = (p: string) => `${p.slice(0, -1)}.`;

/**
 * A client whose low-resolution clock (used to judge lock expiry) ticks every 20 ms instead of
 * 2 s, so short-TTL locks are seen expired at once (client-go SetLowResolutionTimestampUpdateInterval).
 */
async function fastClockClient(env: { connect(): Promise<TikvClient> }): Promise<TikvClient> {
  const c = await env.connect();
  c.pd.setLowResolutionTimestampUpdateInterval(20);
  return c;
}

/** Keys `p + name`, each in a region of its own (split behind the client's back). */
function spread(cluster: EmbeddedCluster, p: string, names: readonly string[]): string[] {
  const keys = names.map((n) => `${p}${n}`);
  cluster.topology.splitAt(keys.slice(1));
  return keys;
}

describe.skipIf(skipOnRealCluster("v1"))(
  "snapshot reads (client-go snapshot_test / snapshot_fail_test)",
  () => {
    const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

    // client-go checkAll: a batch get and an iteration of the prefix agree, key by key
    async function checkAll(p: string, keys: string[], expectedRows: number) {
      const t = (await env.connect()).txn();
      const txn = await t.begin();
      const got = await txn.batchGet(keys);
      const byKey = new Map(keys.map((k, i) => [k, got[i]]));
      let rows = 0;
      for await (const { key, value } of txn.iterate(p, prefixEnd(p))) {
        rows++;
        expect(byKey.has(key.toString()), `iterated key ${key} was asked for`).toBe(true);
        expect(byKey.get(key.toString())?.toString()).toBe(value.toString());
      }
      expect(got.filter((v) => v !== undefined)).toHaveLength(rows);
      expect(rows).toBe(expectedRows);
      expect(await txn.commit()).toBe(0n); // read-only
    }

    async function writeRows(p: string, rowNum: number): Promise<string[]> {
      const t = (await env.connect()).txn();
      const keys = Array.from({ length: rowNum }, (_, i) => `${p}key${pad(i)}`);
      const txn = await t.begin();
      for (const [i, k] of keys.entries()) txn.set(k, `value-${i}`);
      await txn.commit();
      await t.whenIdle();
      return keys;
    }

    async function deleteKeys(keys: string[]) {
      const t = (await env.connect()).txn();
      const txn = await t.begin();
      for (const k of keys) txn.delete(k);
      await txn.commit();
      await t.whenIdle();
      expect(strs(await (await t.snapshot()).batchGet(keys)).every((v) => v === undefined)).toBe(true);
    }

    itFault(
      "TestBatchGet: batch gets of 1 / 100 / 191 / 5300 rows agree with an iteration, over 3 regions and 5120-key batches",
      async () => {
        const p = `h${uniquePrefix("bg")}`;
        env.cluster.topology.splitAt([`${p}key${pad(50)}`, `${p}key${pad(150)}`]);
        const rec = recordRequests(env.cluster, ["KvBatchGet"]);
        try {
          for (const rowNum of [1, 100, 191, 5300]) {
            const keys = await writeRows(p, rowNum);
            await checkAll(p, keys, rowNum);
            await deleteKeys(keys);
          }
        } finally {
          rec.stop();
        }
        // client-go batchGetSize: no request carries more than 5120 keys, and the last region
        // (5150 keys of the 5300) needed a full one
        const sizes = rec.seen.map((r) => (r.request.keys as Buffer[]).length);
        expect(Math.max(...sizes)).toBe(5120);
      },
      30_000,
    );

    it("TestBatchGetNotExist: a missing key reads as undefined among 1 / 100 / 191 existing rows", async () => {
      const p = `a${uniquePrefix("bgne")}`;
      for (const rowNum of [1, 100, 191]) {
        const keys = await writeRows(p, rowNum);
        const withMissing = [...keys, `${p}noSuchKey`];
        await checkAll(p, withMissing, rowNum);
        const t = (await env.connect()).txn();
        const got = await (await t.snapshot()).batchGet(withMissing);
        expect(got[rowNum]).toBeUndefined();
        expect(strs(got.slice(0, rowNum))).toEqual(keys.map((_, i) => `value-${i}`));
        // positional answers, duplicates included
        const k0 = keys[0] as string;
        expect(strs(await (await t.snapshot()).batchGet([k0, `${p}noSuchKey`, k0]))).toEqual([
          "value-0",
          undefined,
          "value-0",
        ]);
        await deleteKeys(withMissing);
      }
    });

    it("TestSnapshotCache (meaning): one snapshot answers repeated reads the same, misses and deletes included, whatever commits later", async () => {
      const t = (await env.connect()).txn();
      const p = `q${uniquePrefix("cache")}`;
      const [x, y, a, b] = ["x", "y", "a", "b"].map((s) => `${p}${s}`) as [string, string, string, string];
      const w = await t.begin();
      w.set(x, "x");
      w.delete(y);
      w.set(a, "a");
      w.delete(b);
      await w.commit();
      await t.whenIdle();
      const snap = await t.snapshot();
      const read = async () => [
        ...strs(await snap.batchGet([x, y])),
        (await snap.get(a))?.toString(),
        (await snap.get(b))?.toString(),
      ];
      expect(await read()).toEqual(["x", undefined, "a", undefined]);
      // every key changes after the snapshot's ts
      const w2 = await t.begin();
      w2.delete(x);
      w2.set(y, "y2");
      w2.set(a, "a2");
      w2.set(b, "b2");
      await w2.commit();
      await t.whenIdle();
      expect(await read()).toEqual(["x", undefined, "a", undefined]);
      expect(await read()).toEqual(["x", undefined, "a", undefined]);
    });

    it("TestSnapshotCacheBypassMaxUint64: a latest-ts snapshot sees commits made between its reads; a fixed-ts one does not", async () => {
      const t = (await env.connect()).txn();
      const p = `h${uniquePrefix("bypass")}`;
      const [x, y, z] = ["x", "y", "z"].map((s) => `${p}${s}`) as [string, string, string];
      await t.runTransaction(async (w) => {
        w.set(x, "x");
        w.set(y, "y");
        w.set(z, "z");
      });
      await t.whenIdle();
      const fixed = await t.snapshot(await t.currentTimestamp());
      const latest = await t.snapshot(MAX_TS);
      expect(latest.ts).toBe(MAX_TS);
      for (const s of [fixed, latest]) {
        expect((await s.get(x))?.toString()).toBe("x");
        expect(strs(await s.batchGet([y, z]))).toEqual(["y", "z"]);
      }
      await t.runTransaction(async (w) => {
        w.set(x, "x2");
        w.delete(y);
        w.set(z, "z2");
      });
      await t.whenIdle();
      expect((await fixed.get(x))?.toString()).toBe("x");
      expect(strs(await fixed.batchGet([y, z]))).toEqual(["y", "z"]);
      expect((await latest.get(x))?.toString()).toBe("x2");
      expect(strs(await latest.batchGet([y, z]))).toEqual([undefined, "z2"]);
    });

    itFault(
      "TestSkipLargeTxnLock: a reader is not blocked by a live lock; it pushes the owner's commit ts past itself",
      async () => {
        const t = (await env.connect()).txn();
        const p = uniquePrefix("large");
        const [x, y, z] = [`a${p}x`, `h${p}y`, `q${p}z`];
        const startTs = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs,
          primary: x,
          writes: [
            [x, "x"],
            [y, "y"],
          ],
          ttlMs: 3000n,
        });
        const reader = await t.begin();
        const started = Date.now();
        expect(await reader.get(x)).toBeUndefined();
        expect(await reader.batchGet([z])).toEqual([undefined]);
        expect(await reader.get(y)).toBeUndefined();
        expect(Date.now() - started).toBeLessThan(1500); // well inside the 3 s TTL
        // the owner can no longer commit at a ts the reader could have seen...
        const tooEarly = engineCommit(env.cluster, startTs, startTs + 1n, [x]);
        expect(tooEarly.error?.commitTsExpired?.minCommitTs).toBeGreaterThan(reader.startTs);
        // ...but it can commit later, and its commit ts is after the reader
        const commitTs = await t.currentTimestamp();
        expect(engineCommit(env.cluster, startTs, commitTs, [x]).error).toBeUndefined();
        const st = await t.lockResolver.getTxnStatus(startTs, 0n, Buffer.from(x));
        expect(st.commitTs).toBe(commitTs);
        expect(st.commitTs).toBeGreaterThan(reader.startTs);
        // and the reader's view stays the same
        expect(await reader.get(y)).toBeUndefined();
        await reader.rollback();
      },
    );

    itFault(
      "TestPointGetSkipTxnLock: a latest-ts point get of a locked secondary reads the old data, then the committed data, without waiting",
      async () => {
        const t = (await env.connect()).txn();
        const p = uniquePrefix("ptget");
        const [x, y] = [`a${p}x`, `q${p}y`];
        const startTs = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs,
          primary: x,
          writes: [
            [x, "x"],
            [y, "y"],
          ],
          ttlMs: 3000n,
        });
        let started = Date.now();
        expect(await (await t.snapshot(MAX_TS)).get(y)).toBeUndefined();
        expect(Date.now() - started).toBeLessThan(500);
        // a latest-ts read does not push the owner's min commit ts: it may commit right after it
        expect(engineCommit(env.cluster, startTs, startTs + 1n, [x]).error).toBeUndefined();
        started = Date.now();
        expect((await (await t.snapshot(MAX_TS)).get(y))?.toString()).toBe("y");
        expect(Date.now() - started).toBeLessThan(500);
      },
    );

    it("TestSnapshotThreadSafe: concurrent gets and batch gets on one snapshot all answer right", async () => {
      const t = (await env.connect()).txn();
      const p = `h${uniquePrefix("conc")}`;
      const key = `${p}key`;
      await t.runTransaction(async (w) => w.set(key, "x"));
      await t.whenIdle();
      const snap = await t.snapshot(MAX_TS);
      const results = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const out: string[] = [];
          for (let i = 0; i < 30; i++) {
            out.push(String((await snap.get(key))?.toString()));
            out.push(strs(await snap.batchGet([key, `${p}notExist`])).join(","));
          }
          return out;
        }),
      );
      for (const r of results) {
        expect(r).toHaveLength(60);
        expect(new Set(r)).toEqual(new Set(["x", "x,"]));
      }
    });

    itFault(
      "TestRCRead: RC reads ignore a live lock: committed values, no lock met, no status check",
      async () => {
        const t = (await env.connect()).txn();
        const p = `q${uniquePrefix("rc")}`;
        for (const rowNum of [1, 100, 191]) {
          const keys = await writeRows(p, rowNum);
          const key0 = keys[0] as string;
          const lockTs = await t.currentTimestamp();
          prewriteOnly(env.cluster, {
            startTs: lockTs,
            primary: key0,
            writes: [[key0, "locked"]],
            ttlMs: 20_000n,
          });
          const before = t.lockResolver.stats();
          const rec = recordRequests(env.cluster, [
            "KvGet",
            "KvBatchGet",
            "KvCheckTxnStatus",
            "KvResolveLock",
          ]);
          try {
            const txn = await t.begin({ isolationLevel: "RC" });
            expect((await txn.get(key0))?.toString()).toBe("value-0");
            expect(strs(await txn.batchGet(keys))).toEqual(keys.map((_, i) => `value-${i}`));
            await txn.rollback();
          } finally {
            rec.stop();
          }
          expect(t.lockResolver.stats().resolutions).toBe(before.resolutions);
          expect(rec.seen.filter((r) => r.rpc === "KvCheckTxnStatus" || r.rpc === "KvResolveLock")).toEqual(
            [],
          );
          const reads = rec.seen.filter((r) => r.rpc === "KvGet" || r.rpc === "KvBatchGet");
          expect(reads.length).toBeGreaterThan(0);
          for (const r of reads) expect(r.context.isolationLevel).toBe(IsolationLevel.RC);
          // the lock is still there: nobody touched it
          expect(lockTxns(env.cluster, key0, `${key0}\0`)).toEqual([lockTs]);
          engineRollback(env.cluster, lockTs, [key0]);
          await deleteKeys(keys);
        }
      },
    );

    // ---- snapshot_fail_test ----

    itFault(
      "TestBatchGetResponseKeyError: a whole-response lock error of a batch get is resolved and the batch resent",
      async () => {
        const t = (await fastClockClient(env)).txn();
        const p = `h${uniquePrefix("bgke")}`;
        const [k1, k2] = [`${p}k1`, `${p}k2`];
        await t.runTransaction(async (w) => {
          w.set(k1, "v1");
          w.set(k2, "v2");
        });
        await t.whenIdle();
        const txn = await t.begin();
        // a lock of a transaction that does not exist, just before the reader, with a short TTL
        const fault = env.cluster.faults.failNext({
          rpc: "KvBatchGet",
          key: k1,
          error: {
            keyError: {
              locked: {
                primaryLock: Buffer.from(k1),
                lockVersion: txn.startTs - 1n,
                key: Buffer.from(k1),
                lockTtl: 50n,
                txnSize: 1n,
                lockType: Op.Put,
              },
            },
          },
        });
        expect(strs(await txn.batchGet([k1, k2]))).toEqual(["v1", "v2"]);
        expect(fault.fired).toBe(1);
        await txn.rollback();
      },
    );

    itFault(
      "TestScanResponseKeyError: a whole-response lock error of a scan is resolved and the scan resumes where it was",
      async () => {
        const t = (await fastClockClient(env)).txn();
        const p = `q${uniquePrefix("scke")}`;
        const [k1, k2, k3] = [`${p}k1`, `${p}k2`, `${p}k3`];
        await t.runTransaction(async (w) => {
          w.set(k1, "v1");
          w.set(k2, "v2");
          w.set(k3, "v3");
        });
        await t.whenIdle();
        for (const [from, to, want] of [
          [`${p}a`, `${p}z`, ["k1=v1", "k2=v2", "k3=v3"]],
          [k2, `${p}k4`, ["k2=v2", "k3=v3"]],
        ] as const) {
          let injected = 0;
          // like client-go's failpoint: a lock on the scan's start key, just before the reader
          const off = env.cluster.faults.onRequest((call) => {
            if (call.rpc !== "KvScan" || injected > 0) return;
            const req = call.request as { startKey: Buffer; version: bigint };
            injected++;
            return {
              keyError: {
                locked: {
                  primaryLock: req.startKey,
                  lockVersion: req.version - 1n,
                  key: req.startKey,
                  lockTtl: 50n,
                  txnSize: 1n,
                  lockType: Op.Put,
                },
              },
            };
          });
          try {
            const txn = await t.begin();
            const got: string[] = [];
            for await (const e of txn.iterate(from, to))
              got.push(`${e.key.toString().slice(p.length)}=${e.value}`);
            expect(got).toEqual(want);
            await txn.rollback();
          } finally {
            off();
          }
          expect(injected).toBe(1);
        }
      },
    );

    itFault(
      "TestRetryMaxTsPointGetSkipLock: a latest-ts get retried after resolving a lock reads past a newer lock met on the retry",
      async () => {
        const t = (await env.connect()).txn();
        const p = `h${uniquePrefix("maxts")}`;
        const [k1, k2] = [`${p}k1`, `${p}k2`];
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: k1,
          writes: [
            [k1, "v1"],
            [k2, "v2"],
          ],
          ttlMs: 20_000n,
        });
        const c1 = await t.currentTimestamp();
        expect(engineCommit(env.cluster, t1, c1, [k1]).error).toBeUndefined();
        const t2 = await t.currentTimestamp();
        // between the first attempt (which meets t1's lock) and the retry, t1's lock is resolved
        // and a new transaction t2 prewrites both keys, with a long TTL
        let gets = 0;
        const hookErrors: string[] = [];
        const rec = recordRequests(env.cluster, ["KvGet", "KvCheckTxnStatus"]);
        const off = env.cluster.faults.onRequest((call) => {
          if (call.rpc !== "KvGet") return;
          if (++gets !== 2) return;
          try {
            engineResolve(env.cluster, t1, c1, [k2]);
            prewriteOnly(env.cluster, {
              startTs: t2,
              primary: k1,
              writes: [
                [k1, "v3"],
                [k2, "v4"],
              ],
              ttlMs: 20_000n,
            });
          } catch (e) {
            hookErrors.push(String(e));
          }
        });
        const started = Date.now();
        let value: string | undefined;
        try {
          value = (await (await t.snapshot(MAX_TS)).get(k2))?.toString();
        } finally {
          off();
          rec.stop();
        }
        expect(hookErrors).toEqual([]);
        expect(gets).toBeGreaterThanOrEqual(2);
        expect(value).toBe("v2");
        expect(Date.now() - started).toBeLessThan(2000); // did not wait for t2's 20 s TTL
        // t2 was left alone: its locks are still there for its owner to commit
        expect(lockTxns(env.cluster, k1, `${p}k3`)).toEqual([t2, t2]);
        const status = rec.seen.filter((r) => r.rpc === "KvCheckTxnStatus");
        for (const s of status) {
          // a latest-ts reader never pushes anyone's min commit ts
          expect(s.request.callerStartTs).toBe(MAX_TS);
        }
        // the newest data is t2's once it commits; the reader saw t1's
        const c2 = await t.currentTimestamp();
        expect(engineCommit(env.cluster, t2, c2, [k1, k2]).error).toBeUndefined();
        expect(strs(await (await t.snapshot(MAX_TS)).batchGet([k1, k2]))).toEqual(["v3", "v4"]);
      },
    );

    itFault(
      "TestRetryPointGetResolveTS: a latest-ts get of a locked secondary reads nothing and leaves the owner's commit ts alone",
      async () => {
        const t = (await env.connect()).txn();
        const p = `a${uniquePrefix("resolvets")}`;
        const [k1, k2] = [`${p}k1`, `${p}k2`];
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: k1,
          writes: [
            [k1, "v1"],
            [k2, "v2"],
          ],
          ttlMs: 20_000n,
        });
        // the owner picked its commit ts before the read (as a causally consistent commit may)
        const initialCommitTs = await t.currentTimestamp();
        expect(await (await t.snapshot(MAX_TS)).get(k2)).toBeUndefined();
        // no CommitTsExpired: the read did not push min_commit_ts past initialCommitTs
        const c = engineCommit(env.cluster, t1, initialCommitTs, [k1, k2]);
        expect(c.error).toBeUndefined();
        expect((await (await t.snapshot(initialCommitTs)).get(k2))?.toString()).toBe("v2");
      },
    );

    itFault(
      "TestResetSnapshotTS (meaning): a lock one snapshot ignored is checked again by a snapshot at a later ts, which reads it committed",
      async () => {
        const t = (await env.connect()).txn();
        const p = uniquePrefix("reset");
        const [x, y] = [`a${p}x`, `h${p}y`];
        await t.runTransaction(async (w) => {
          w.set(x, "x0");
          w.set(y, "y0");
        });
        await t.whenIdle();
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: x,
          writes: [
            [x, "x1"],
            [y, "y1"],
          ],
          ttlMs: 3000n,
        });
        const txn2 = await t.begin();
        expect((await txn2.get(y))?.toString()).toBe("y0"); // t1 pushed past txn2, its lock ignored
        expect([...txn2.snapshot.reader.resolvedLocks]).toContain(t1);
        // only the primary commits; y stays locked
        const commitTs = await t.currentTimestamp();
        expect(engineCommit(env.cluster, t1, commitTs, [x]).error).toBeUndefined();
        expect(lockTxns(env.cluster, y, `${y}\0`)).toEqual([t1]);
        expect((await txn2.get(y))?.toString()).toBe("y0"); // still txn2's view
        const later = await t.snapshot(commitTs);
        expect(later.reader.resolvedLocks.size).toBe(0);
        expect((await later.get(y))?.toString()).toBe("y1");
        expect([...later.reader.committedLocks]).toEqual([t1]);
        await txn2.rollback();
      },
    );

    for (const asyncCommit of [false, true]) {
      itFault(
        `TestSnapshotUseResolveForRead (${asyncCommit ? "async commit" : "2PC"}): reads through the locks of a committed txn at once, while the cleanup is slow`,
        async () => {
          const t = (await env.connect()).txn();
          const p = `h${uniquePrefix(asyncCommit ? "rfr-ac" : "rfr")}`;
          const [x, y] = spread(env.cluster, p, ["x", "y"]) as [string, string];
          const t1 = await t.currentTimestamp();
          prewriteOnly(env.cluster, {
            startTs: t1,
            primary: x,
            writes: [
              [x, "x"],
              [y, "y"],
            ],
            ttlMs: 3000n,
            asyncCommit,
          });
          const commitTs = await t.currentTimestamp();
          expect(engineCommit(env.cluster, t1, commitTs, [x]).error).toBeUndefined();
          expect(lockTxns(env.cluster, y, `${y}\0`)).toEqual([t1]);
          // resolving takes 800 ms: readers must not wait for it
          const slow = env.cluster.faults.delay({ rpc: "KvResolveLock", ms: 800 });
          const rec = recordRequests(env.cluster, ["KvGet", "KvBatchGet", "KvScan"]);
          try {
            let started = Date.now();
            expect((await (await t.snapshot()).get(y))?.toString()).toBe("y");
            expect(Date.now() - started).toBeLessThan(600);
            expect(lockTxns(env.cluster, y, `${y}\0`)).toEqual([t1]);
            started = Date.now();
            expect(strs(await (await t.snapshot()).batchGet([y]))).toEqual(["y"]);
            expect(Date.now() - started).toBeLessThan(600);
            // a scan meeting the lock reads it through a point get
            started = Date.now();
            const scanned = await (await t.snapshot()).scan(x, `${y}\0`, 10);
            expect(scanned.map((e) => `${e.key.toString().slice(-1)}=${e.value}`)).toEqual(["x=x", "y=y"]);
            expect(Date.now() - started).toBeLessThan(600);
          } finally {
            rec.stop();
          }
          // each retry told TiKV to read through t1's locks
          const retried = rec.seen.filter((r) => r.context.committedLocks.includes(t1));
          expect(retried.map((r) => r.rpc)).toEqual(expect.arrayContaining(["KvGet", "KvBatchGet"]));
          for (const r of rec.seen) expect(r.context.resolvedLocks).not.toContain(t1);
          // the cleanup finally happens in the background
          await t.whenIdle();
          slow.cancel();
          expect(lockTxns(env.cluster, y, `${y}\0`)).toEqual([]);
          expect((await (await t.snapshot()).get(y))?.toString()).toBe("y");
        },
      );
    }
  },
);

describe.skipIf(skipOnRealCluster("v1"))(
  "snapshot reads through crashed transactions' locks, and isolation levels",
  () => {
    const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

    async function seed(keys: string[], prefix = "old") {
      const t = (await env.connect()).txn();
      await t.runTransaction(async (w) => {
        for (const k of keys) w.set(k, `${prefix}-${k.slice(-1)}`);
      });
      await t.whenIdle();
    }

    itFault(
      "a rolled-back primary: readers ignore its secondaries' locks (resolved_locks) and read the old values",
      async () => {
        const t = (await env.connect()).txn();
        const p = `h${uniquePrefix("rb")}`;
        const [a, b, c] = spread(env.cluster, p, ["a", "b", "c"]) as [string, string, string];
        await seed([a, b, c]);
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: a,
          writes: [
            [a, "new-a"],
            [b, "new-b"],
            [c, undefined],
          ],
          ttlMs: 60_000n,
        });
        engineRollback(env.cluster, t1, [a]);
        const slow = env.cluster.faults.delay({ rpc: "KvResolveLock", ms: 400 });
        const rec = recordRequests(env.cluster, ["KvGet", "KvBatchGet", "KvScan"]);
        const snap = await t.snapshot();
        const started = Date.now();
        try {
          expect((await snap.get(b))?.toString()).toBe("old-b");
          expect(strs(await snap.batchGet([a, b, c]))).toEqual(["old-a", "old-b", "old-c"]);
          const all = await snap.scan(a, `${c}\0`, 10);
          expect(all.map((e) => e.value.toString())).toEqual(["old-a", "old-b", "old-c"]);
        } finally {
          rec.stop();
        }
        expect(Date.now() - started).toBeLessThan(1000); // no wait for the 60 s TTL
        expect(rec.seen.some((r) => r.context.resolvedLocks.includes(t1))).toBe(true);
        for (const r of rec.seen) expect(r.context.committedLocks).not.toContain(t1);
        expect([...snap.reader.resolvedLocks]).toEqual([t1]);
        await t.whenIdle();
        slow.cancel();
        // the background cleanup rolled back the lock the reader met (b); c's was never met, as the
        // later reads carried resolved_locks and TiKV skipped it, so it is still there...
        expect(lockTxns(env.cluster, b, `${b}\0`)).toEqual([]);
        expect(lockTxns(env.cluster, c, `${c}\0`)).toEqual([t1]);
        // ...until a new reader meets it (the status now comes from the resolver's cache)
        const hits = t.lockResolver.stats().cacheHits;
        expect(await (await t.snapshot()).get(c)).toEqual(Buffer.from("old-c"));
        expect(t.lockResolver.stats().cacheHits).toBeGreaterThan(hits);
        await t.whenIdle();
        expect(lockTxns(env.cluster, a, `${c}\0`)).toEqual([]);
        // and the transaction can never commit now
        expect(engineCommit(env.cluster, t1, await t.currentTimestamp(), [b]).error).toBeDefined();
      },
    );

    itFault(
      "a live lock: readers push it (resolved_locks), read the old values and leave the lock in place",
      async () => {
        const t = (await env.connect()).txn();
        const p = `h${uniquePrefix("push")}`;
        const [a, b] = spread(env.cluster, p, ["a", "b"]) as [string, string];
        await seed([a, b]);
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: a,
          writes: [
            [a, "new-a"],
            [b, "new-b"],
          ],
          ttlMs: 60_000n,
        });
        const rec = recordRequests(env.cluster, ["KvScan", "KvBatchGet", "KvCheckTxnStatus"]);
        const snap = await t.snapshot();
        const started = Date.now();
        try {
          expect(strs(await snap.batchGet([b, a]))).toEqual(["old-b", "old-a"]);
          const rev: string[] = [];
          for await (const e of snap.iterateReverse(a, `${b}\0`)) rev.push(e.value.toString());
          expect(rev).toEqual(["old-b", "old-a"]);
        } finally {
          rec.stop();
        }
        expect(Date.now() - started).toBeLessThan(1000);
        const checks = rec.seen.filter((r) => r.rpc === "KvCheckTxnStatus");
        expect(checks.length).toBeGreaterThan(0);
        for (const c of checks) expect(c.request.callerStartTs).toBe(snap.ts);
        expect(
          rec.seen.some((r) => r.rpc !== "KvCheckTxnStatus" && r.context.resolvedLocks.includes(t1)),
        ).toBe(true);
        expect(lockTxns(env.cluster, a, `${b}\0`)).toEqual([t1, t1]);
        // pushed past the reader: committing at or below its ts is refused
        expect(engineCommit(env.cluster, t1, snap.ts, [a]).error?.commitTsExpired).toBeDefined();
        engineRollback(env.cluster, t1, [a, b]);
      },
    );

    itFault(
      "a lock whose owner cannot be pushed (min_commit_ts 0) makes a reader wait until it expires",
      async () => {
        const t = (await fastClockClient(env)).txn();
        const p = uniquePrefix("wait");
        const k = `h${p}k`;
        await seed([k]);
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, {
          startTs: t1,
          primary: k,
          writes: [[k, "new"]],
          ttlMs: 400n,
          minCommitTs: 0n,
        });
        const snap = await t.snapshot();
        const started = Date.now();
        expect((await snap.get(k))?.toString()).toBe("old-k");
        const waited = Date.now() - started;
        expect(waited).toBeGreaterThanOrEqual(200);
        expect(waited).toBeLessThan(2000);
        // the expired lock was rolled back by the reader's status check
        const st = await t.lockResolver.getTxnStatus(t1, 0n, Buffer.from(k));
        expect(st).toMatchObject({ ttl: 0n, commitTs: 0n });
      },
    );

    itFault("RC ignores locks in scans too; SI reads the same rows by pushing the lock", async () => {
      const t = (await env.connect()).txn();
      const p = `h${uniquePrefix("rcscan")}`;
      const keys = spread(env.cluster, p, ["a", "b", "c"]);
      await seed(keys);
      const t1 = await t.currentTimestamp();
      prewriteOnly(env.cluster, {
        startTs: t1,
        primary: keys[1] as string,
        writes: keys.map((k) => [k, "locked"] as const),
        ttlMs: 60_000n,
      });
      const before = t.lockResolver.stats().statusChecks;
      const rc = await t.snapshot(undefined, { isolationLevel: "RC" });
      const rows = (await rc.scan(keys[0] as string, `${keys[2]}\0`, 10)).map((e) => e.value.toString());
      expect(rows).toEqual(["old-a", "old-b", "old-c"]);
      expect(t.lockResolver.stats().statusChecks).toBe(before);
      const si = await t.snapshot();
      const siRows = (await si.scan(keys[0] as string, `${keys[2]}\0`, 10)).map((e) => e.value.toString());
      expect(siRows).toEqual(["old-a", "old-b", "old-c"]);
      expect(t.lockResolver.stats().statusChecks).toBeGreaterThan(before);
      engineRollback(env.cluster, t1, keys);
    });

    for (const reverse of [false, true]) {
      itFault(
        `${reverse ? "reverse" : "forward"} scans with batches of 2 read through locks that end a batch`,
        async () => {
          const t = (await env.connect()).txn();
          const p = `h${uniquePrefix(reverse ? "edge-r" : "edge-f")}`;
          const keys = Array.from({ length: 6 }, (_, i) => `${p}${i}`);
          await seed(keys);
          // row 1: a live lock (pushed, ignored); row 4: a committed transaction's secondary (read
          // through). Batches of 2 end on both: forward [0, 1*] [2, 3] [4*, 5], reverse [5, 4*] [3, 2] [1*, 0]
          const live = await t.currentTimestamp();
          prewriteOnly(env.cluster, {
            startTs: live,
            primary: keys[1] as string,
            writes: [[keys[1] as string, "x"]],
            ttlMs: 60_000n,
          });
          const done = await t.currentTimestamp();
          prewriteOnly(env.cluster, {
            startTs: done,
            primary: keys[2] as string,
            writes: [
              [keys[2] as string, "new-2"],
              [keys[4] as string, "new-4"],
            ],
            ttlMs: 60_000n,
          });
          expect(
            engineCommit(env.cluster, done, await t.currentTimestamp(), [keys[2] as string]).error,
          ).toBeUndefined();
          const snap = await t.snapshot();
          const got: string[] = [];
          const it = reverse
            ? snap.iterateReverse(p, `${p}~`, { batchSize: 2 })
            : snap.iterate(p, `${p}~`, { batchSize: 2 });
          for await (const e of it) {
            got.push(e.value.toString());
            if (got.length > 12) break; // a restarting scan must not loop forever
          }
          const want = ["old-0", "old-1", "new-2", "old-3", "new-4", "old-5"];
          expect(got).toEqual(reverse ? want.reverse() : want);
          engineRollback(env.cluster, live, [keys[1] as string]);
        },
      );
    }

    itFault(
      "RCCheckTS: a write or a lock newer than the snapshot fails the read with a WriteConflictError",
      async () => {
        const t = (await env.connect()).txn();
        const p = `h${uniquePrefix("rcts")}`;
        const [k, l, u] = spread(env.cluster, p, ["k", "l", "u"]) as [string, string, string];
        await seed([k, l, u]);
        const snap = await t.snapshot(undefined, { isolationLevel: "RCCheckTS" });
        const si = await t.snapshot();
        expect((await snap.get(k))?.toString()).toBe("old-k");
        // a newer committed write on k, a newer lock on l; u untouched
        await t.runTransaction(async (w) => w.set(k, "new-k"));
        await t.whenIdle();
        const t1 = await t.currentTimestamp();
        prewriteOnly(env.cluster, { startTs: t1, primary: l, writes: [[l, "new-l"]], ttlMs: 60_000n });
        const e1 = await snap.get(k).catch((e) => e);
        expect(e1).toBeInstanceOf(WriteConflictError);
        expect((e1 as WriteConflictError).reason).toBe(WriteConflict_Reason.RcCheckTs);
        expect((e1 as WriteConflictError).isRetryable).toBe(true);
        expect((e1 as WriteConflictError).key.toString()).toBe(k);
        const e2 = await snap.get(l).catch((e) => e);
        expect(e2).toBeInstanceOf(WriteConflictError);
        expect((e2 as WriteConflictError).conflictStartTs).toBe(t1);
        await expect(snap.batchGet([u, k])).rejects.toBeInstanceOf(WriteConflictError);
        await expect(snap.scan(k, `${u}\0`, 10)).rejects.toBeInstanceOf(WriteConflictError);
        expect((await snap.get(u))?.toString()).toBe("old-u");
        // SI at the same ts reads the old values (pushing the lock)
        expect(strs(await si.batchGet([k, l, u]))).toEqual(["old-k", "old-l", "old-u"]);
        engineRollback(env.cluster, t1, [l]);
      },
    );
  },
);
