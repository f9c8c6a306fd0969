// Ported by meaning from client-go's 2PC failpoint tests: integration_tests/2pc_test.go
// (TestFailCommitPrimary*, TestFailCommitTimeout, TestFailWithUndeterminedResult),
// prewrite_test.go (TestIsRetryRequestFlagWithRegionError) and store_test.go (TestOracle,
// TestFailBusyServerKV). client-go's failpoints become the embedded cluster's faults: an RPC error
// before the request runs is an injected gRPC status, "applied but the reply is lost" a dropped
// reply, region / key errors injected answers. The mapping is in test/ported/txn-2pc.md.
//
// Like client-go's suite (CommitMaxBackoff = 1000 ms), this file shortens the commit phase's retry
// budget so that "retried until the budget is spent" takes about a second.

import { status } from "@grpc/grpc-js";
import { describe, expect } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import {
  InvalidTxnError,
  ResultUndeterminedError,
  TikvError,
  UnexpectedKeyError,
} from "../../../src/index.js";
import type { PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, locksOn, recordRequests, str, touches } from "./ported-2pc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("ported client-go 2PC fault tests", () => {
  const env = useCluster({
    stores: 3,
    splitKeys: ["g", "p"],
    regionKeyEncoding: "memcomparable",
    connect: { txnBackoffBudgetsMs: { commit: 300 } },
  });

  async function twoKeyTxn(name: string) {
    const t = (await env.connect()).txn();
    const p = uniquePrefix(name);
    const keys = [`a${p}`, `q${p}`];
    const txn = await t.begin();
    txn.set(keys[0] as string, "1");
    txn.set(keys[1] as string, "2");
    return { t, txn, keys, primary: keys[0] as string };
  }

  // 2pc_test TestFailCommitPrimaryRpcErrors
  itFault(
    "RPC errors on every primary commit: ResultUndeterminedError, nothing rolled back, txn closed",
    async () => {
      const { t, txn, keys, primary } = await twoKeyTxn("rpc");
      const fault = env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: primary,
        count: Number.POSITIVE_INFINITY,
        error: { grpcStatus: status.DEADLINE_EXCEEDED },
      });
      const err = await txn.commit().catch((e: unknown) => e);
      fault.cancel();
      expect(err).toBeInstanceOf(ResultUndeterminedError);
      expect(fault.fired).toBeGreaterThan(1); // resent before giving up
      expect(txn.state).toBe("failed");
      // no rollback is needed after a failed commit (ours answers it quietly; client-go with ErrInvalidTxn)
      await expect(txn.rollback()).resolves.toBeUndefined();
      expect(() => txn.set(primary, "x")).toThrow(InvalidTxnError);
      await t.whenIdle();
      // the outcome is unknown, so nothing was rolled back: the locks stay for resolvers
      expect(locksOn(env, keys).map((l) => l.lockVersion)).toEqual([txn.startTs, txn.startTs]);
    },
  );

  // 2pc_test TestFailCommitPrimaryRegionError
  itFault(
    "region errors on every primary commit: a plain failure once the budget is spent, rolled back",
    async () => {
      const { t, txn, keys, primary } = await twoKeyTxn("region");
      const fault = env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: primary,
        count: Number.POSITIVE_INFINITY,
        error: { regionError: RegionErrors.notLeader(1) },
      });
      const err = await txn.commit().catch((e: unknown) => e);
      fault.cancel();
      expect(err).toBeInstanceOf(TikvError);
      expect(err).not.toBeInstanceOf(ResultUndeterminedError);
      await t.whenIdle();
      expect(locksOn(env, keys)).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([undefined, undefined]);
    },
  );

  // 2pc_test TestFailCommitPrimaryRPCErrorThenRegionError
  itFault("an RPC error, then region errors on the primary commit: ResultUndeterminedError", async () => {
    const { t, txn, keys, primary } = await twoKeyTxn("rpcregion");
    env.cluster.faults.failNext({
      rpc: "KvCommit",
      key: primary,
      error: { grpcStatus: status.DEADLINE_EXCEEDED },
    });
    const fault = env.cluster.faults.failNext({
      rpc: "KvCommit",
      key: primary,
      count: Number.POSITIVE_INFINITY,
      error: { regionError: RegionErrors.notLeader(1) },
    });
    const err = await txn.commit().catch((e: unknown) => e);
    fault.cancel();
    expect(err).toBeInstanceOf(ResultUndeterminedError);
    await t.whenIdle();
    expect(locksOn(env, keys)).toHaveLength(2);
  });

  // 2pc_test TestFailCommitPrimaryKeyError
  itFault(
    "a key error on the primary commit is that error (not undetermined), and the txn is rolled back",
    async () => {
      const { t, txn, keys, primary } = await twoKeyTxn("keyerr");
      env.cluster.faults.failNext({ rpc: "KvCommit", key: primary, error: { keyError: {} } });
      const err = await txn.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnexpectedKeyError);
      expect(err).not.toBeInstanceOf(ResultUndeterminedError);
      await t.whenIdle();
      expect(locksOn(env, keys)).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual([undefined, undefined]);
    },
  );

  // 2pc_test TestFailCommitPrimaryRPCErrorThenKeyError
  itFault(
    "an RPC error, then a key error on the primary commit: the key error wins, rolled back",
    async () => {
      const { t, txn, keys, primary } = await twoKeyTxn("rpckey");
      env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: primary,
        error: { grpcStatus: status.DEADLINE_EXCEEDED },
      });
      env.cluster.faults.failNext({ rpc: "KvCommit", key: primary, error: { keyError: {} } });
      const err = await txn.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnexpectedKeyError);
      expect(err).not.toBeInstanceOf(ResultUndeterminedError);
      await t.whenIdle();
      expect(locksOn(env, keys)).toEqual([]);
    },
  );

  // 2pc_test TestFailCommitTimeout
  itFault(
    "every commit applied but its reply lost: the commit fails, yet readers find it committed",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("lost");
      const keys = [`a${p}`, `h${p}`, `q${p}`];
      const drop = env.cluster.faults.dropReply({
        rpc: "KvCommit",
        count: Number.POSITIVE_INFINITY,
        outcome: { grpcStatus: status.UNAVAILABLE },
      });
      const txn = await t.begin();
      for (const [i, k] of keys.entries()) txn.set(k, `v${i}`);
      const err = await txn.commit().catch((e: unknown) => e);
      drop.cancel();
      expect(err).toBeInstanceOf(ResultUndeterminedError);
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v0", "v1", "v2"]);
    },
  );

  // 2pc_test TestFailWithUndeterminedResult, first half
  itFault("an UndeterminedResult answer to a prewrite is retried and the commit succeeds", async () => {
    const { t, txn, keys, primary } = await twoKeyTxn("undpre");
    const fault = env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      key: primary,
      error: { regionError: RegionErrors.undeterminedResult("injected: prewrite outcome lost") },
    });
    await txn.commit();
    expect(fault.fired).toBe(1);
    await t.whenIdle();
    expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["1", "2"]);
  });

  // 2pc_test TestFailWithUndeterminedResult, second half
  itFault("an UndeterminedResult answer to the primary commit is ResultUndeterminedError", async () => {
    const { t, txn, keys, primary } = await twoKeyTxn("undcommit");
    env.cluster.faults.failNext({
      rpc: "KvCommit",
      key: primary,
      error: { regionError: RegionErrors.undeterminedResult("injected: commit outcome lost") },
    });
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResultUndeterminedError);
    await t.whenIdle();
    expect(locksOn(env, keys)).toHaveLength(2);
  });

  // prewrite_test TestIsRetryRequestFlagWithRegionError: the resend after a lost reply
  itFault(
    "a prewrite resent after its reply was lost carries is_retry_request, and the commit succeeds",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("rr");
      const keys = [`h${p}a`, `h${p}z`];
      await t.runTransaction(async (w) => w.set(`h${p}`, "warm"));
      env.cluster.faults.dropReply({
        rpc: "KvPrewrite",
        key: keys[0] as string,
        outcome: { grpcStatus: status.UNAVAILABLE },
      });
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      const txn = await t.begin();
      for (const k of keys) txn.set(k, "v");
      await txn.commit();
      prewrites.stop();
      const flags = prewrites.seen
        .filter((s) => s.req.startVersion === txn.startTs)
        .map((s) => s.req.context?.isRetryRequest);
      expect(flags.slice(0, 2)).toEqual([false, true]);
      await t.whenIdle();
      expect(str(await (await t.snapshot()).batchGet(keys))).toEqual(["v", "v"]);
    },
  );

  // prewrite_test TestIsRetryRequestFlagWithRegionError: the batches regrouped after a split
  itFault(
    "every prewrite after the first, including the batches regrouped after a split, carries is_retry_request",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("rrsplit");
      const keys = [`h${p}a`, `h${p}z`];
      await t.runTransaction(async (w) => w.set(`h${p}`, "warm"));
      const region = env.cluster.topology.locateKey(b(keys[0] as string));
      if (!region) throw new Error("no region");
      env.cluster.faults.dropReply({
        rpc: "KvPrewrite",
        key: keys[0] as string,
        outcome: { grpcStatus: status.UNAVAILABLE },
      });
      // the resend finds the region split under it (EpochNotMatch), and the keys are regrouped
      let n = 0;
      const off = env.cluster.faults.onRequest((call) => {
        if (call.rpc === "KvPrewrite" && touches(call, keys[0] as string) && ++n === 2) {
          env.cluster.topology.splitRegion(region.id, [b(`h${p}m`)]);
        }
      });
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      const txn = await t.begin();
      for (const k of keys) txn.set(k, "v");
      await txn.commit();
      off();
      prewrites.stop();
      const flags = prewrites.seen
        .filter((s) => s.req.startVersion === txn.startTs)
        .map((s) => s.req.context?.isRetryRequest);
      expect(flags.length).toBeGreaterThanOrEqual(4);
      expect(flags[0]).toBe(false);
      expect(flags.slice(1).every((f) => f === true)).toBe(true);
    },
  );

  // store_test TestOracle (the parts that apply: ordering and the retry while PD fails)
  itFault(
    "timestamps increase, and are still served (retried) while PD's TSO fails for a while",
    async () => {
      const t = (await env.connect()).txn();
      const t1 = await t.currentTimestamp();
      const t2 = await t.currentTimestamp();
      expect(t2).toBeGreaterThan(t1);
      const burst = await Promise.all(Array.from({ length: 8 }, () => t.currentTimestamp()));
      expect(new Set(burst).size).toBe(8);
      for (const ts of burst) expect(ts).toBeGreaterThan(t2);
      const before = env.cluster.pd.faults.calls("Tso");
      env.cluster.pd.faults.failNext("Tso", 3, {
        kind: "status",
        code: status.UNAVAILABLE,
        details: "injected",
      });
      const t3 = await t.currentTimestamp();
      expect(env.cluster.pd.faults.calls("Tso") - before).toBeGreaterThan(3);
      expect(t3).toBeGreaterThan(burst.reduce((a, x) => (x > a ? x : a)));
    },
  );

  // store_test TestFailBusyServerKV
  itFault("a read answered ServerIsBusy once is retried and returns the value", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("busy")}`;
    await t.runTransaction(async (w) => w.set(key, "value"));
    const txn = await t.begin();
    const fault = env.cluster.faults.failNext({
      rpc: "KvGet",
      key,
      error: { regionError: RegionErrors.serverIsBusy() },
    });
    expect((await txn.get(key))?.toString()).toBe("value");
    expect(fault.fired).toBe(1);
  });
});
