// Resolved ts in the embedded cluster advances on its own, as TiKV's resolved-ts worker does:
// every interval each region's safe ts becomes min(TSO, oldest Put/Delete lock start ts − 1);
// GetStoreSafeTS, stale-read checks and PD's min resolved ts follow it.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { EmbeddedCluster, EmbeddedClusterError } from "../../src/cluster/embedded-cluster.js";
import { newLock } from "../../src/cluster/engine/mvcc/types.js";
import { packTs } from "../../src/cluster/pd/tso.js";
import { lockHoldsAt } from "../../src/cluster/tikv/resolved-ts.js";
import type { RegionInfo } from "../../src/cluster/topology/types.js";
import * as kv from "../../src/proto/kvrpcpb.js";
import type { Peer } from "../../src/proto/metapb.js";
import type { TikvClient } from "../../src/proto/tikvpb.js";
import { call, newClient } from "./tikv/helpers.js";

const INTERVAL = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (checked every few ms), failing after `ms`. */
async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await sleep(5);
  }
}

class Fixture {
  readonly stubs = new Map<bigint, TikvClient>();
  constructor(readonly cluster: EmbeddedCluster) {
    for (const s of cluster.stores) this.stubs.set(s.storeId, newClient(s.address));
  }
  close(): Promise<void> {
    for (const c of this.stubs.values()) c.close();
    return this.cluster.close();
  }
  region(key: string): RegionInfo {
    return this.cluster.topology.locateKey(Buffer.from(key))!;
  }
  safeTs(key: string): bigint {
    return this.region(key).safeTs;
  }
  tso(): bigint {
    return packTs(this.cluster.pd.state.tso.generate(1));
  }
  ctx(r: RegionInfo, peer: Peer, extra: Partial<kv.Context> = {}): kv.Context {
    return kv.Context.fromPartial({ regionId: r.id, peer, regionEpoch: r.region.regionEpoch, ...extra });
  }
  leaderCall<Req, Resp>(
    key: string,
    method: keyof TikvClient,
    build: (ctx: kv.Context) => Req,
  ): Promise<Resp> {
    const r = this.region(key);
    return call<Req, Resp>(this.stubs.get(r.leader!.storeId)!, method, build(this.ctx(r, r.leader!)));
  }
  prewrite(key: string, startVersion: bigint): Promise<kv.PrewriteResponse> {
    return this.leaderCall(key, "kvPrewrite", (context) =>
      kv.PrewriteRequest.fromPartial({
        context,
        mutations: [{ op: kv.Op.Put, key: Buffer.from(key), value: Buffer.from("v") }],
        primaryLock: Buffer.from(key),
        startVersion,
        lockTtl: 60_000n,
      }),
    );
  }
  commit(key: string, startVersion: bigint, commitVersion: bigint): Promise<kv.CommitResponse> {
    return this.leaderCall(key, "kvCommit", (context) =>
      kv.CommitRequest.fromPartial({ context, keys: [Buffer.from(key)], startVersion, commitVersion }),
    );
  }
  rollback(key: string, startVersion: bigint): Promise<kv.BatchRollbackResponse> {
    return this.leaderCall(key, "kvBatchRollback", (context) =>
      kv.BatchRollbackRequest.fromPartial({ context, keys: [Buffer.from(key)], startVersion }),
    );
  }
  staleGet(key: string, version: bigint): Promise<kv.GetResponse> {
    const r = this.region(key);
    const follower = r.region.peers.find((p) => p.id !== r.leader!.id)!;
    return call(
      this.stubs.get(follower.storeId)!,
      "kvGet",
      kv.GetRequest.fromPartial({
        context: this.ctx(r, follower, { staleRead: true }),
        key: Buffer.from(key),
        version,
      }),
    );
  }
  storeSafeTs(storeId: bigint, start: string, end: string): Promise<kv.StoreSafeTSResponse> {
    return call(
      this.stubs.get(storeId)!,
      "getStoreSafeTs",
      kv.StoreSafeTSRequest.fromPartial({
        keyRange: { startKey: Buffer.from(start), endKey: Buffer.from(end) },
      }),
    );
  }
}

describe("resolved ts advancing on its own", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = new Fixture(
      await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"], resolvedTsIntervalMs: INTERVAL }),
    );
  });
  afterAll(() => fx.close());

  it("safe ts of every region follows the TSO without a test touching it", async () => {
    const t0 = fx.tso();
    await until(() => fx.safeTs("a") > t0 && fx.safeTs("x") > t0);
    const t1 = fx.tso();
    await until(() => fx.safeTs("a") > t1);
    // Never ahead of PD: every later timestamp exceeds it.
    expect(fx.safeTs("a")).toBeLessThan(fx.tso());
    expect(fx.cluster.pd.minResolvedTs()).toBeGreaterThan(t0);
  });

  it("a prewrite lock at T holds its region's safe ts at T (TiKV: min(lock ts, tso)) while the other region advances; commit frees it", async () => {
    const T = fx.tso();
    expect((await fx.prewrite("c", T)).errors).toEqual([]);
    const after = fx.tso();
    await until(() => fx.safeTs("x") > after && fx.safeTs("c") === T);
    // Several rounds later it is still held there.
    await sleep(INTERVAL * 3);
    expect(fx.safeTs("c")).toBe(T);
    expect(fx.safeTs("x")).toBeGreaterThan(T);

    // GetStoreSafeTS: the min over the store's regions in the range.
    const store = fx.region("c").leader!.storeId;
    expect((await fx.storeSafeTs(store, "a", "d")).safeTs).toBe(T);
    expect((await fx.storeSafeTs(store, "", "")).safeTs).toBe(T);
    expect((await fx.storeSafeTs(store, "n", "z")).safeTs).toBeGreaterThan(T);
    // PD's min resolved ts is held by the locked region too.
    expect(fx.cluster.pd.minResolvedTs()).toBe(T);

    // Stale reads: above the safe ts DataIsNotReady, at or below it served.
    const notReady = await fx.staleGet("c", after);
    expect(notReady.regionError?.dataIsNotReady?.safeTs).toBe(T);
    const ok = await fx.staleGet("c", T - 1n);
    expect(ok.regionError).toBeUndefined();
    expect(ok.error).toBeUndefined();
    // At T itself the read is admitted and meets the lock, as on TiKV.
    const locked = await fx.staleGet("c", T);
    expect(locked.regionError).toBeUndefined();
    expect(locked.error?.locked?.lockVersion).toBe(T);
    expect((await fx.staleGet("x", T)).regionError).toBeUndefined();

    const commitTs = fx.tso();
    expect((await fx.commit("c", T, commitTs)).error).toBeUndefined();
    await until(() => fx.safeTs("c") > commitTs);
    const read = await fx.staleGet("c", commitTs);
    expect(read.regionError).toBeUndefined();
    expect(read.value.toString()).toBe("v");
  });

  it("a rolled-back lock stops holding it back", async () => {
    const T = fx.tso();
    await fx.prewrite("d", T);
    await until(() => fx.safeTs("d") === T);
    await sleep(INTERVAL * 3);
    expect(fx.safeTs("d")).toBe(T);
    await fx.rollback("d", T);
    await until(() => fx.safeTs("d") > T);
  });

  it("pessimistic locks do not hold resolved ts back (only Put/Delete locks do)", async () => {
    const T = fx.tso();
    const res = await fx.leaderCall<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
      "e",
      "kvPessimisticLock",
      (context) =>
        kv.PessimisticLockRequest.fromPartial({
          context,
          mutations: [{ op: kv.Op.PessimisticLock, key: Buffer.from("e") }],
          primaryLock: Buffer.from("e"),
          startVersion: T,
          forUpdateTs: T,
          lockTtl: 60_000n,
          waitTimeout: -1n,
        }),
    );
    expect(res.errors).toEqual([]);
    await until(() => fx.safeTs("e") > T);
    await fx.leaderCall("e", "kvPessimisticRollback", (context) =>
      kv.PessimisticRollbackRequest.fromPartial({
        context,
        keys: [Buffer.from("e")],
        startVersion: T,
        forUpdateTs: T,
      }),
    );
  });

  it("stops advancing at close()", async () => {
    const other = new Fixture(await EmbeddedCluster.start({ stores: 1, resolvedTsIntervalMs: INTERVAL }));
    await until(() => other.safeTs("a") > 0n);
    await other.close();
    const frozen = other.safeTs("a");
    await sleep(INTERVAL * 3);
    expect(other.safeTs("a")).toBe(frozen);
  });
});

describe("resolvedTsIntervalMs", () => {
  it("defaults to a running worker", async () => {
    const fx = new Fixture(await EmbeddedCluster.start({ stores: 1 }));
    try {
      const t0 = fx.tso();
      await until(() => fx.safeTs("a") > t0, 2_000);
    } finally {
      await fx.close();
    }
  });

  it("0 freezes safe ts: only the setter and advanceResolvedTs() move it", async () => {
    const fx = new Fixture(await EmbeddedCluster.start({ stores: 1, resolvedTsIntervalMs: 0 }));
    try {
      await sleep(250);
      expect(fx.safeTs("a")).toBe(0n);
      fx.cluster.topology.advanceAllSafeTs(42n);
      expect(fx.safeTs("a")).toBe(42n);
      const t = fx.tso();
      fx.cluster.advanceResolvedTs();
      // Up to the newest timestamp PD handed out, never past what PD may still hand out.
      expect(fx.safeTs("a")).toBeGreaterThanOrEqual(t);
      expect(fx.safeTs("a")).toBeLessThan(fx.tso());
      // The round raised max_ts, so a later async commit lands above the new safe ts.
      expect(fx.cluster.txnEngine.store.maxTs.value).toBe(fx.safeTs("a"));
    } finally {
      await fx.close();
    }
  });

  it("runs on an unref'd timer, so a forgotten cluster does not keep the process alive", async () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    try {
      const fx = new Fixture(await EmbeddedCluster.start({ stores: 1, resolvedTsIntervalMs: 37 }));
      const ours = spy.mock.calls.flatMap((c, i) => (c[1] === 37 ? [spy.mock.results[i]?.value] : []));
      await fx.close();
      expect(ours).toHaveLength(1);
      expect((ours[0] as NodeJS.Timeout).hasRef()).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });

  it("rejects a negative interval with EmbeddedClusterError", async () => {
    await expect(EmbeddedCluster.start({ resolvedTsIntervalMs: -5 })).rejects.toBeInstanceOf(
      EmbeddedClusterError,
    );
  });
});

describe("which locks hold resolved ts back (resolver.rs / cmd.rs)", () => {
  const base = { primary: Buffer.from("p"), startTs: 100n };
  const none = () => undefined;

  it("Put and Delete locks hold at their start ts; Lock and Pessimistic locks do not", () => {
    expect(lockHoldsAt(newLock({ ...base, lockType: "Put" }), none)).toBe(100n);
    expect(lockHoldsAt(newLock({ ...base, lockType: "Delete" }), none)).toBe(100n);
    expect(lockHoldsAt(newLock({ ...base, lockType: "Lock" }), none)).toBeUndefined();
    expect(
      lockHoldsAt(newLock({ ...base, lockType: "Pessimistic", forUpdateTs: 100n }), none),
    ).toBeUndefined();
  });

  it("pipelined locks hold at the cached min_commit_ts, their start ts when unknown, nothing once finished", () => {
    const lock = newLock({ ...base, lockType: "Put", generation: 2n });
    expect(lockHoldsAt(lock, none)).toBe(100n);
    expect(lockHoldsAt(lock, () => ({ kind: "ongoing", minCommitTs: 150n }))).toBe(150n);
    expect(lockHoldsAt(lock, () => ({ kind: "committed", commitTs: 160n }))).toBeUndefined();
    expect(lockHoldsAt(lock, () => ({ kind: "rolledBack" }))).toBeUndefined();
  });
});
