// The validated client configuration (client-go config.Config / TiKVClient): each option's bad
// values are refused at connect with InvalidArgumentError naming the option, defaults are
// documented and visible through client.config, and each option takes effect (shown against the
// embedded cluster).

import { describe, expect, it } from "vitest";
import { TUNING_DEFAULTS } from "../../src/api/client-config.js";
import { resolveConnectOptions } from "../../src/api/options.js";
import type { TikvClient } from "../../src/api/tikv-client.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import {
  BackoffExhaustedError,
  findError,
  InvalidArgumentError,
  rpcInterceptor,
  TimeoutError,
} from "../../src/index.js";
import { Mutation, Op, type ResolveLockRequest } from "../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, useCluster } from "../support/cluster.js";

const EP = { pdEndpoints: ["127.0.0.1:2379"] };
const KA_TIMEOUT = "grpc.keepalive_timeout_ms";
const KA_TIME = "grpc.keepalive_time_ms";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("validation", () => {
  // [case, options, the option named, what the message shows]
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ["pdTimeoutMs 0", { pdTimeoutMs: 0 }, "pdTimeoutMs", "got 0"],
    ["pdTimeoutMs fraction", { pdTimeoutMs: 1.5 }, "pdTimeoutMs", "got 1.5"],
    ["pdTimeoutMs string", { pdTimeoutMs: "3s" }, "pdTimeoutMs", "got 3s"],
    ["pdTimeoutMs too large", { pdTimeoutMs: 2 ** 31 }, "pdTimeoutMs", "got 2147483648"],
    ["pdRequestTimeoutMs negative", { pdRequestTimeoutMs: -1 }, "pdRequestTimeoutMs", "got -1"],
    ["pdRequestTimeoutMs NaN", { pdRequestTimeoutMs: Number.NaN }, "pdRequestTimeoutMs", "got NaN"],
    ["tsoUpdateIntervalMs 0", { tsoUpdateIntervalMs: 0 }, "tsoUpdateIntervalMs", "got 0"],
    ["tsoUpdateIntervalMs ∞", { tsoUpdateIntervalMs: Infinity }, "tsoUpdateIntervalMs", "got Infinity"],
    ["regionCacheTtlMs 0", { regionCacheTtlMs: 0 }, "regionCacheTtlMs", "got 0"],
    ["regionCacheTtlJitterMs < 0", { regionCacheTtlJitterMs: -5 }, "regionCacheTtlJitterMs", "got -5"],
    ["storeRefreshIntervalMs 0.5", { storeRefreshIntervalMs: 0.5 }, "storeRefreshIntervalMs", "got 0.5"],
    ["storeRefreshIntervalMs 10n", { storeRefreshIntervalMs: 10n }, "storeRefreshIntervalMs", "got 10"],
    ["budgets not an object", { txnBackoffBudgetsMs: 5 }, "txnBackoffBudgetsMs", "got 5"],
    ["budgets an array", { txnBackoffBudgetsMs: [1] }, "txnBackoffBudgetsMs", "got 1"],
    ["budgets unknown phase", { txnBackoffBudgetsMs: { x: 1 } }, "txnBackoffBudgetsMs.x", '"x"'],
    ["budgets negative", { txnBackoffBudgetsMs: { commit: -1 } }, "txnBackoffBudgetsMs.commit", "got -1"],
    ["budgets fraction", { txnBackoffBudgetsMs: { tso: 0.1 } }, "txnBackoffBudgetsMs.tso", "got 0.1"],
    ["maxTxnTtlMs 0", { maxTxnTtlMs: 0 }, "maxTxnTtlMs", "got 0"],
    ["lite threshold < 0", { resolveLockLiteThreshold: -1 }, "resolveLockLiteThreshold", "got -1"],
    ["lite threshold 1.5", { resolveLockLiteThreshold: 1.5 }, "resolveLockLiteThreshold", "got 1.5"],
    ["maxBackoffMs negative", { maxBackoffMs: -1 }, "maxBackoffMs", "got -1"],
    ["connectTimeoutMs fraction", { connectTimeoutMs: 0.5 }, "connectTimeoutMs", "got 0.5"],
    ["maxBatchSize 0", { maxBatchSize: 0 }, "maxBatchSize", "got 0"],
    ["rpcTimeoutMs 0", { rpcTimeoutMs: 0 }, "rpcTimeoutMs", "got 0"],
    ["rpcTimeoutMs fraction", { rpcTimeoutMs: 2.5 }, "rpcTimeoutMs", "got 2.5"],
    ["longRpcTimeoutMs string", { longRpcTimeoutMs: "1m" }, "longRpcTimeoutMs", "got 1m"],
    [
      "keepalive timeout 40 ms",
      { grpcOptions: { [KA_TIMEOUT]: 40 } },
      `grpcOptions["${KA_TIMEOUT}"]`,
      "got 40",
    ],
    ["keepalive time 0", { grpcOptions: { [KA_TIME]: 0 } }, `grpcOptions["${KA_TIME}"]`, "got 0"],
  ];
  it.each(cases)("%s is refused naming the option and the value", (_, extra, argument, shown) => {
    let err: unknown;
    try {
      resolveConnectOptions({ ...EP, ...extra } as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).argument).toBe(argument);
    expect((err as Error).message).toContain(shown);
  });

  it("fills in the documented defaults", () => {
    const o = resolveConnectOptions(EP);
    expect(o).toMatchObject({
      pdTimeoutMs: 3_000,
      pdRequestTimeoutMs: 20_000,
      tsoUpdateIntervalMs: 2_000,
      regionCacheTtlMs: 600_000,
      regionCacheTtlJitterMs: 60_000,
      storeRefreshIntervalMs: 60_000,
      maxTxnTtlMs: 3_600_000,
      resolveLockLiteThreshold: 512,
      rpcTimeoutMs: 30_000,
      longRpcTimeoutMs: 60_000,
      txnBackoffBudgetsMs: {
        prewrite: 40_000,
        commit: 40_000,
        secondaries: 41_000,
        cleanup: 20_000,
        heartbeat: 20_000,
        resolve: 20_000,
        tso: 15_000,
      },
    });
    // a partial budget object keeps the other phases' defaults; 0 (no limit) is allowed
    const p = resolveConnectOptions({ ...EP, txnBackoffBudgetsMs: { prewrite: 10, cleanup: 0 } });
    expect(p.txnBackoffBudgetsMs).toEqual({
      ...TUNING_DEFAULTS.txnBackoffBudgetsMs,
      prewrite: 10,
      cleanup: 0,
    });
  });

  // client-go config/config_test.go TestValidateGRPCKeepAliveTimeout: 3 s by default, 0.05 s is
  // the smallest accepted keepalive timeout
  it("TestValidateGRPCKeepAliveTimeout: 50 ms is accepted, 40 ms refused", () => {
    expect(() =>
      resolveConnectOptions({ ...EP, grpcOptions: { "grpc.keepalive_timeout_ms": 50 } }),
    ).not.toThrow();
    expect(() => resolveConnectOptions({ ...EP, grpcOptions: { "grpc.keepalive_timeout_ms": 40 } })).toThrow(
      /at least|\[50,/,
    );
  });
});

describe.skipIf(skipOnRealCluster("v1"))("each option takes effect", () => {
  const env = useCluster({ stores: 3 });

  itFault("client.config shows the resolved options, frozen", async () => {
    const client = await env.connect({ regionCacheTtlMs: 1234, txnBackoffBudgetsMs: { commit: 7 } });
    const c = client.config;
    expect(c.regionCacheTtlMs).toBe(1234);
    expect(c.txnBackoffBudgetsMs.commit).toBe(7);
    expect(c.txnBackoffBudgetsMs.prewrite).toBe(40_000);
    expect(c.pdTimeoutMs).toBe(3_000);
    expect(c.pdEndpoints).toEqual(env.pdEndpoints);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.txnBackoffBudgetsMs)).toBe(true);
    expect(() => {
      (c as { timeoutMs: number }).timeoutMs = 1;
    }).toThrow(TypeError);
    expect(client.config).toBe(c);
  });

  itFault("regionCacheTtlMs: an idle region past its TTL is reloaded from PD", async () => {
    const short = await env.connect({ regionCacheTtlMs: 40, regionCacheTtlJitterMs: 0 });
    const dflt = await env.connect();
    // both region caches: the raw one and the transactional one
    const read = async (c: TikvClient) => {
      await c.raw().get("ttl-key");
      const txn = await c.txn().begin();
      await txn.get("ttl-key");
      await txn.rollback();
    };
    for (const c of [short, dflt]) await read(c);
    await sleep(120);
    short.resetMetrics();
    dflt.resetMetrics();
    for (const c of [short, dflt]) await read(c);
    expect(short.metrics().pdRegionLookups).toBe(2);
    expect(dflt.metrics().pdRegionLookups).toBe(0);
  });

  itFault("tsoUpdateIntervalMs: the low-resolution timestamp refreshes at that pace", async () => {
    const fast = await env.connect({ tsoUpdateIntervalMs: 20 });
    const slow = await env.connect();
    // raw-only clients fetch no timestamp themselves: only the refresh loop does
    await sleep(100);
    const f1 = fast.pd.lastTimestamp;
    expect(f1).toBeDefined();
    await sleep(100);
    expect(fast.pd.lastTimestamp).toBeGreaterThan(f1 as bigint);
    // the default refreshes every 2 s: nothing yet
    expect(slow.pd.lastTimestamp).toBeUndefined();
  });

  itFault("storeRefreshIntervalMs: the store list is re-read from PD at that pace (0 = never)", async () => {
    const pd = env.cluster.pd.faults;
    const off = await env.connect({ storeRefreshIntervalMs: 0 });
    const n0 = pd.calls("GetAllStores");
    await sleep(150);
    expect(pd.calls("GetAllStores")).toBe(n0);
    const fast = await env.connect({ storeRefreshIntervalMs: 30 });
    const n1 = pd.calls("GetAllStores");
    await sleep(200);
    expect(pd.calls("GetAllStores") - n1).toBeGreaterThanOrEqual(3);
    await fast.close();
    await off.close();
  });

  itFault("pdTimeoutMs: each PD attempt times out after it, and is retried", async () => {
    const client = await env.connect({ pdTimeoutMs: 100, pdRequestTimeoutMs: 1_000 });
    const dflt = await env.connect();
    const pd = env.cluster.pd.faults;
    pd.setDelay("GetRegion", 400);
    try {
      // the default (3 s per attempt) waits the delay out
      expect(await dflt.pd.getRegion(Buffer.from("pd-t"))).toBeDefined();
      const n0 = pd.calls("GetRegion");
      const e = await client.pd.getRegion(Buffer.from("pd-t")).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as TimeoutError).timeoutMs).toBe(1_000);
      expect(pd.calls("GetRegion") - n0).toBeGreaterThanOrEqual(3);
    } finally {
      pd.setDelay("GetRegion", 0);
    }
  });

  itFault("pdRequestTimeoutMs: a PD call with its retries ends after it", async () => {
    const client = await env.connect({ pdRequestTimeoutMs: 250 });
    const pd = env.cluster.pd.faults;
    pd.setDelay("GetRegion", 600);
    try {
      const e = await client.pd.getRegion(Buffer.from("pd-r")).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as TimeoutError).timeoutMs).toBe(250);
    } finally {
      pd.setDelay("GetRegion", 0);
    }
  });

  itFault("txnBackoffBudgetsMs: a small prewrite budget fails a commit sooner, typed", async () => {
    const client = await env.connect({ txnBackoffBudgetsMs: { prewrite: 60 } });
    // (ServerIsBusy would not do: its backoffs are excluded from the budget, as in client-go)
    const id = env.cluster.topology.locateKey(Buffer.from("budget-k"))?.id as bigint;
    const fault = env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      count: 1_000,
      error: { regionError: RegionErrors.regionNotFound(id) },
    });
    try {
      const txn = await client.txn().begin();
      txn.set("budget-k", "v");
      const e = await txn.commit().catch((err: unknown) => err);
      const exhausted = findError(e, BackoffExhaustedError);
      expect(exhausted, String(e)).toBeInstanceOf(BackoffExhaustedError);
      // the budget is weighted ×2, as client-go's
      expect(exhausted?.maxSleepMs).toBe(120);
    } finally {
      fault.cancel();
    }
  });

  // the default (30 s, client-go ReadTimeoutShort) would hold this commit past the test timeout
  itFault("rpcTimeoutMs: a primary commit whose reply is lost is resent after it, and commits", async () => {
    const client = await env.connect({ rpcTimeoutMs: 300 });
    const t = client.txn();
    const lost = env.cluster.faults.dropReply({
      rpc: "KvCommit",
      key: Buffer.from("rpc-t-k"),
      outcome: "hang",
    });
    const rec = env.cluster.recordRequests({ rpcs: ["KvCommit"] });
    try {
      const txn = await t.begin();
      txn.set("rpc-t-k", "v");
      // applied but unanswered: the attempt is given up on at 300 ms and resent; TiKV answers the
      // resend of an applied commit with success (client-go: undetermined only if the commit fails)
      await txn.commit();
      expect(lost.fired).toBe(1);
      // the leader executed it twice (the timed-out store is tried last: the followers in
      // between answer NotLeader, as client-go's onSendFail moves on to other peers)
      const atLeader = rec.entries.filter((r) => r.isLeader);
      expect(atLeader.map((r) => r.outcome)).toEqual(["ok", "ok"]);
      expect(rec.entries.filter((r) => !r.isLeader).every((r) => r.regionError === "notLeader")).toBe(true);
    } finally {
      rec.stop();
      lost.cancel();
    }
    expect((await (await t.snapshot()).get("rpc-t-k"))?.toString()).toBe("v");
    expect(client.config.rpcTimeoutMs).toBe(300);
  });

  itFault("maxBackoffMs: a small raw budget fails a request sooner, typed", async () => {
    const client = await env.connect({ maxBackoffMs: 50 });
    await client.raw().put("mb-k", "v");
    const region = env.cluster.topology.locateKey(Buffer.from("mb-k"));
    const fault = env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region?.id,
      count: 1_000,
      error: { regionError: RegionErrors.regionNotFound(region?.id as bigint) },
    });
    try {
      const e = await client
        .raw()
        .get("mb-k")
        .catch((err: unknown) => err);
      const exhausted = findError(e, BackoffExhaustedError);
      expect(exhausted, String(e)).toBeInstanceOf(BackoffExhaustedError);
      expect(exhausted?.maxSleepMs).toBe(100);
    } finally {
      fault.cancel();
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("maxTxnTtlMs", () => {
  const env = useCluster({ stores: 1 });

  // the heartbeat period is client-go's fixed 10 s, so this waits one period
  itFault(
    "a transaction older than maxTxnTtlMs is no longer heartbeated",
    async () => {
      const beats = new Map<string, number>();
      const counting = (name: string) =>
        rpcInterceptor(`count-${name}`, (next) => (req) => {
          if (req.command === "TxnHeartBeat") beats.set(name, (beats.get(name) ?? 0) + 1);
          return next(req);
        });
      const short = await env.connect({ maxTxnTtlMs: 1_000, interceptors: counting("short") });
      const dflt = await env.connect({ interceptors: counting("default") });
      const txns = await Promise.all(
        [short, dflt].map(async (c, i) => {
          const txn = await c.txn().begin({ pessimistic: true });
          await txn.lockKeys([`ttl-max-${i}`]);
          return txn;
        }),
      );
      await sleep(11_000);
      expect(beats.get("default") ?? 0).toBeGreaterThanOrEqual(1);
      expect(beats.get("short") ?? 0).toBe(0);
      await Promise.all(txns.map((t) => t.rollback()));
    },
    30_000,
  );
});

describe.skipIf(skipOnRealCluster("v1"))("resolveLockLiteThreshold", () => {
  const env = useCluster({ stores: 1 });

  // leaves an expired prewrite of a 600-key transaction (primary `${p}p`, secondary `${p}s`)
  async function expiredLock(client: TikvClient, p: string): Promise<void> {
    const startVersion = await client.pd.getTimestamp();
    const mutations = [`${p}p`, `${p}s`].map((k) =>
      Mutation.fromPartial({ op: Op.Put, key: Buffer.from(k), value: Buffer.from("v") }),
    );
    const resp = await client.sendRequest(
      "KvPrewrite",
      { mutations, primaryLock: Buffer.from(`${p}p`), startVersion, lockTtl: 1n, txnSize: 600n },
      { key: `${p}p` },
    );
    expect(resp.errors).toEqual([]);
    await sleep(20);
  }

  itFault("below the threshold a lock is resolved key by key, above it region-wide", async () => {
    const keysSent = new Map<string, number[]>();
    const counting = (name: string) =>
      rpcInterceptor(`resolve-${name}`, (next) => (req) => {
        if (req.command === "ResolveLock") {
          const list = keysSent.get(name) ?? [];
          list.push((req.request as ResolveLockRequest).keys.length);
          keysSent.set(name, list);
        }
        return next(req);
      });
    const dflt = await env.connect({ interceptors: counting("default") });
    const high = await env.connect({ resolveLockLiteThreshold: 1_000, interceptors: counting("high") });
    for (const [client, p] of [
      [dflt, "lite-a-"],
      [high, "lite-b-"],
    ] as const) {
      await expiredLock(client, p);
      const txn = await client.txn().begin();
      // a batchGet (a point get always resolves just the key it met, as client-go's does)
      expect(await txn.batchGet([`${p}s`])).toEqual([undefined]);
      await txn.rollback();
      await client.txn().whenIdle();
    }
    // 600 keys ≥ 512: one region-wide ResolveLock (no keys); under a threshold of 1 000: the key
    expect(keysSent.get("default")).toEqual([0]);
    expect(keysSent.get("high")).toEqual([1]);
  });
});
