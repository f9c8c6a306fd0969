// Execution details against the embedded cluster: what a read's `execDetails` object and a
// transaction's commitDetails say matches what happened (RPCs per region, keys and bytes the
// mock TiKV read, backoffs taken, regions prewritten, locks resolved).
import { describe, expect, it } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { type CommitReport, ExecDetails, InvalidArgumentError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, engineOps, lockKey } from "../txn/ported-lock-helpers.js";

describe.skipIf(skipOnRealCluster("v1"))("execution details", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);
  const regionId = (key: string) => env.cluster.topology.locateKey(b(key))?.id;
  const busyOnce = (rpc: "KvGet" | "KvPrewrite" | "RawGet", key: string) =>
    env.cluster.faults.failNext({
      rpc,
      regionId: regionId(key),
      error: { regionError: RegionErrors.proposalInMergingMode(regionId(key) ?? 0n) },
    });

  async function written(values: Record<string, string>) {
    const t = (await env.connect()).txn();
    const txn = await t.begin();
    for (const [k, v] of Object.entries(values)) txn.set(k, v);
    await txn.commit();
    return t;
  }

  itFault(
    "a batch get over three regions: one RPC each, TiKV's scan detail counts the values read",
    async () => {
      const p = uniquePrefix("ed");
      const values = { [`a${p}`]: "1", [`h${p}`]: "22", [`q${p}`]: "333" };
      const t = await written(values);
      const d = new ExecDetails();
      const got = await (await t.snapshot()).batchGet([...Object.keys(values), `a${p}missing`], {
        execDetails: d,
      });
      expect(got.map((v) => v?.toString())).toEqual(["1", "22", "333", undefined]);
      expect(d.requests).toBe(3);
      expect(d.requestTimeMs).toBeGreaterThan(0);
      expect(d.backoffCount).toBe(0);
      const bytes = Object.entries(values).reduce((n, [k, v]) => n + k.length + v.length, 0);
      expect(d.scanDetail).toMatchObject({ processedKeys: 3, totalKeys: 3, processedKeysSize: bytes });
      expect(d.timeDetail.totalRpcWallTimeMs).toBeGreaterThan(0);
      expect(d.timeDetail.processTimeMs).toBeGreaterThan(0);
      // TiKV's time is part of the client's wait
      expect(d.timeDetail.totalRpcWallTimeMs).toBeLessThanOrEqual(d.requestTimeMs);
    },
  );

  itFault(
    "a get retried after a region error counts the backoff by kind; one object sums two calls",
    async () => {
      const p = uniquePrefix("edb");
      const k = `h${p}`;
      const t = await written({ [k]: "v" });
      const snap = await t.snapshot();
      const d = new ExecDetails();
      busyOnce("KvGet", k);
      expect((await snap.get(k, { execDetails: d }))?.toString()).toBe("v");
      expect(d.backoffCount).toBe(1);
      expect(Object.keys(d.backoffs)).toEqual(["regionScheduling"]);
      expect(d.backoffs.regionScheduling?.count).toBe(1);
      expect(d.backoffTimeMs).toBe(d.backoffs.regionScheduling?.sleepMs);
      expect(d.backoffTimeMs).toBeGreaterThan(0);
      // the refused attempt was answered with a region error: only the answer counts
      expect(d.requests).toBe(1);
      expect(d.scanDetail.processedKeys).toBe(1);
      expect(await snap.get(`h${p}absent`, { execDetails: d })).toBeUndefined();
      expect(d.requests).toBe(2);
      expect(d.scanDetail.processedKeys).toBe(1);
      expect(d.backoffCount).toBe(1);
    },
  );

  itFault("raw reads report the client's side (TiKV sends no exec details for raw commands)", async () => {
    const raw = (await env.connect()).raw();
    const k = `q${uniquePrefix("edr")}`;
    await raw.put(k, "v");
    const d = new ExecDetails();
    busyOnce("RawGet", k);
    expect((await raw.get(k, { execDetails: d }))?.toString()).toBe("v");
    expect(d.requests).toBe(1);
    expect(d.backoffs.regionScheduling?.count).toBe(1);
    expect(d.scanDetail.processedKeys).toBe(0);
  });

  itFault(
    "commit details: keys, bytes, regions and requests of the prewrite, its backoff, the primary",
    async () => {
      const p = uniquePrefix("edc");
      const values = { [`a${p}`]: "1", [`h${p}`]: "22", [`h${p}2`]: "4444", [`q${p}`]: "333" };
      const t = (await env.connect()).txn();
      let report: CommitReport | undefined;
      const txn = await t.begin({ onCommitted: (r) => (report = r) });
      for (const [k, v] of Object.entries(values)) txn.set(k, v);
      expect(txn.commitDetails).toBeUndefined();
      busyOnce("KvPrewrite", `h${p}`);
      await txn.commit();
      const d = txn.commitDetails;
      if (d === undefined) throw new Error("no commit details");
      expect(d.writeKeys).toBe(4);
      expect(d.writeSize).toBe(Object.entries(values).reduce((n, [k, v]) => n + k.length + v.length, 0));
      expect(d.prewriteRegionNum).toBe(3);
      expect(d.prewriteReqNum).toBe(3);
      expect(d.prewriteBackoffTypes).toEqual(["regionScheduling"]);
      expect(d.commitBackoffTypes).toEqual([]);
      expect(d.commitBackoffTimeMs).toBeGreaterThan(0);
      expect(d.prewriteTimeMs).toBeGreaterThan(0);
      expect(d.commitTimeMs).toBeGreaterThan(0);
      expect(d.getCommitTsTimeMs).toBeGreaterThan(0);
      expect(d.resolveLockTimeMs).toBe(0);
      const regions = new Set(Object.keys(values).map((k) => regionId(k)));
      expect(regions.has(d.slowestPrewrite?.regionId)).toBe(true);
      // the retried prewrite waited out its backoff: the slowest took at least that long
      expect(d.slowestPrewrite?.reqTotalTimeMs).toBeGreaterThanOrEqual(d.commitBackoffTimeMs);
      expect(d.slowestPrewrite?.timeDetail.processTimeMs).toBeGreaterThan(0);
      expect(regions.has(d.commitPrimary?.regionId)).toBe(true);
      expect(report?.details).toEqual(d);
    },
  );

  itFault("a prewrite meeting an abandoned lock accounts its resolution time", async () => {
    const p = uniquePrefix("edl");
    const t = (await env.connect()).txn();
    await lockKey(t, ops, {
      key: `b${p}k`,
      value: "x",
      primary: `b${p}pk`,
      primaryValue: "y",
      ttlMs: 1n,
      commitPrimary: false,
    });
    await new Promise((r) => setTimeout(r, 5));
    const txn = await t.begin();
    txn.set(`b${p}k`, "mine");
    await txn.commit();
    expect(txn.commitDetails?.resolveLockTimeMs).toBeGreaterThan(0);
    // the resolution's requests are not prewrites
    expect(txn.commitDetails?.prewriteReqNum).toBe(2);
  });

  it("runTransaction counts the runs before the one that committed (txnRetry)", async () => {
    const t = (await env.connect()).txn();
    const k = `h${uniquePrefix("edt")}`;
    let runs = 0;
    let last: import("../../../src/index.js").Transaction | undefined;
    await t.runTransaction(async (txn) => {
      last = txn;
      txn.set(k, `run${++runs}`);
      // the first run conflicts with a commit made after it began
      if (runs === 1) {
        const other = await t.begin();
        other.set(k, "other");
        await other.commit();
      }
    });
    expect(runs).toBe(2);
    expect(last?.commitDetails?.txnRetry).toBe(1);
    expect(last?.commitDetails?.writeKeys).toBe(1);
  });

  itFault("pessimistic locks report their RPCs and backoffs (client-go LockKeysDetails)", async () => {
    const p = uniquePrefix("edk");
    const t = (await env.connect()).txn();
    const txn = await t.begin({ pessimistic: true });
    const d = new ExecDetails();
    env.cluster.faults.failNext({
      rpc: "KvPessimisticLock",
      regionId: regionId(`q${p}`),
      error: { regionError: RegionErrors.proposalInMergingMode(regionId(`q${p}`) ?? 0n) },
    });
    await txn.lockKeys([`a${p}`, `q${p}`], { execDetails: d });
    // one lock request per region (the primary's first), the refused attempt not counted
    expect(d.requests).toBe(2);
    expect(d.backoffs).toEqual({ regionScheduling: { count: 1, sleepMs: d.backoffTimeMs } });
    expect(d.requestTimeMs).toBeGreaterThan(0);
    await expect(txn.lockKeys([`a${p}`], { execDetails: 1 as never })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await txn.rollback();
  });

  it("execDetails must be an ExecDetails", async () => {
    const raw = (await env.connect()).raw();
    await expect(raw.get("k", { execDetails: {} as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
