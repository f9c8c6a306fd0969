// Each errorpb.Error kind injected through the cluster's fault API, with the retry behaviour
// client-go's RegionRequestSender.onRegionError prescribes for leader requests: which backoff
// kind sleeps, whether the region is reloaded from PD, which errors are fatal. Also budget
// exhaustion, timeouts and aborts. Ports the meaning of client-go
// internal/locate/region_request_test.go (TestOnRegionError*, TestSendReqCtx-style cases) for
// the raw path, and integration_tests/raw/api_mock_test.go.

import { status } from "@grpc/grpc-js";
import { describe, expect } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import {
  AbortedError,
  BackoffExhaustedError,
  RegionError,
  RegionFlashbackInProgressError,
  RegionFlashbackNotPreparedError,
  ResultUndeterminedError,
  TimeoutError,
} from "../../../src/index.js";
import type { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

const KEY = "fault-key";

describe.skipIf(skipOnRealCluster("v1"))("region errors and retries (fault injection)", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  async function warmClient(extra = {}) {
    const client = await env.connect(extra);
    const raw = client.raw();
    await raw.put(KEY, "v0");
    client.resetMetrics();
    const region = env.cluster.topology.locateKey(Buffer.from(KEY));
    if (!region) throw new Error("no region");
    return { client, raw, region };
  }

  // Expected behaviour: client-go internal/locate/region_request.go onRegionError (replica
  // selector path) plus rawkv's sendReq, which backs off BoRegionMiss whenever SendReq hands a
  // region error back (the region changed and the request must be re-split).
  type Case = {
    kind: string;
    make: (r: { id: bigint; leaderStore: bigint; leaderPeer: bigint }) => RegionErrorProto;
    backoffs: Record<string, number>;
    reloads: boolean;
    /** Region errors seen in total (default 1). */
    errors?: number;
  };
  const handBack = { regionMiss: 1 };
  const cases: Case[] = [
    // no leader known: back off, then try the next peer, which answers NotLeader with the real
    // leader as hint; the third attempt reaches the leader
    {
      kind: "notLeader",
      make: (r) => RegionErrors.notLeader(r.id),
      backoffs: { regionScheduling: 1 },
      reloads: false,
      errors: 2,
    },
    {
      kind: "regionNotFound",
      make: (r) => RegionErrors.regionNotFound(r.id),
      backoffs: handBack,
      reloads: true,
    },
    {
      kind: "keyNotInRegion",
      make: (r) =>
        RegionErrors.keyNotInRegion(Buffer.from(KEY), env.cluster.topology.regionById(r.id)!.region),
      backoffs: handBack,
      reloads: true,
    },
    {
      kind: "storeNotMatch",
      make: (r) => RegionErrors.storeNotMatch(r.leaderStore, 99),
      backoffs: handBack,
      reloads: true,
    },
    {
      kind: "serverIsBusy",
      make: () => RegionErrors.serverIsBusy(),
      backoffs: { tikvServerBusy: 1 },
      reloads: false,
    },
    // the replica selector retries at once: a new leader is elected soon
    { kind: "staleCommand", make: () => RegionErrors.staleCommand(), backoffs: {}, reloads: false },
    {
      kind: "maxTimestampNotSynced",
      make: () => RegionErrors.maxTimestampNotSynced(),
      backoffs: { maxTsNotSynced: 1 },
      reloads: false,
    },
    {
      kind: "readIndexNotReady",
      make: (r) => RegionErrors.readIndexNotReady(r.id),
      backoffs: { regionScheduling: 1 },
      reloads: false,
    },
    {
      kind: "proposalInMergingMode",
      make: (r) => RegionErrors.proposalInMergingMode(r.id),
      backoffs: { regionScheduling: 1 },
      reloads: false,
    },
    // "do not backoff data-is-not-ready as we always retry with normal snapshot read"
    {
      kind: "dataIsNotReady",
      make: (r) => RegionErrors.dataIsNotReady(r.id, r.leaderPeer, 1),
      backoffs: {},
      reloads: false,
    },
    {
      kind: "regionNotInitialized",
      make: (r) => RegionErrors.regionNotInitialized(r.id),
      backoffs: { regionNotInitialized: 1 },
      reloads: false,
    },
    {
      kind: "diskFull",
      make: (r) => RegionErrors.diskFull([r.leaderStore], "disk full"),
      backoffs: { tikvDiskFull: 1 },
      reloads: false,
    },
    {
      kind: "RecoveryInProgress",
      make: (r) => RegionErrors.recoveryInProgress(r.id),
      backoffs: { regionRecoveryInProgress: 1, regionMiss: 1 },
      reloads: true,
    },
    {
      kind: "isWitness",
      make: (r) => RegionErrors.isWitness(r.id),
      backoffs: { isWitness: 1, regionMiss: 1 },
      reloads: true,
    },
    {
      kind: "mismatchPeerId",
      make: (r) => RegionErrors.mismatchPeerId(r.leaderPeer, 12345),
      backoffs: handBack,
      reloads: true,
    },
    {
      kind: "bucketVersionNotMatch",
      make: () => RegionErrors.bucketVersionNotMatch(1),
      backoffs: handBack,
      reloads: false,
    },
  ];

  for (const c of cases) {
    const bos = Object.keys(c.backoffs).join("+") || "no backoff";
    itFault(`${c.kind}: retried (${bos}, ${c.reloads ? "PD reload" : "no PD lookup"})`, async () => {
      const { client, raw, region } = await warmClient();
      const leader = region.leader!;
      const fault = env.cluster.faults.failNext({
        rpc: "RawGet",
        regionId: region.id,
        error: { regionError: c.make({ id: region.id, leaderStore: leader.storeId, leaderPeer: leader.id }) },
      });
      expect((await raw.get(KEY))?.toString()).toBe("v0");
      expect(fault.fired).toBe(1);
      const m = client.metrics();
      expect(m.regionErrors).toEqual({ [c.kind]: c.errors ?? 1 });
      expect(m.backoffs).toEqual(c.backoffs);
      if (c.reloads) expect(m.pdRegionLookups).toBeGreaterThanOrEqual(1);
      else expect(m.pdRegionLookups).toBe(0);
      if (c.kind === "storeNotMatch") expect(m.pdStoreLookups).toBeGreaterThanOrEqual(1);
    });
  }

  const fatal: Array<[string, (id: bigint) => RegionErrorProto, new (...a: never[]) => Error]> = [
    ["raftEntryTooLarge", (id) => RegionErrors.raftEntryTooLarge(id, 1 << 30), RegionError],
    ["FlashbackInProgress", (id) => RegionErrors.flashbackInProgress(id, 1), RegionFlashbackInProgressError],
    ["FlashbackNotPrepared", (id) => RegionErrors.flashbackNotPrepared(id), RegionFlashbackNotPreparedError],
    ["undeterminedResult", () => RegionErrors.undeterminedResult("lost"), ResultUndeterminedError],
  ];
  for (const [kind, make, cls] of fatal) {
    itFault(`${kind}: fails the call with ${cls.name} without retrying`, async () => {
      const { client, raw, region } = await warmClient();
      env.cluster.faults.failNext({
        rpc: "RawPut",
        regionId: region.id,
        error: { regionError: make(region.id) },
      });
      env.cluster.faults.resetCounters();
      await expect(raw.put(KEY, "v1")).rejects.toBeInstanceOf(cls);
      expect(env.cluster.faults.calls({ rpc: "RawPut" })).toBe(1);
      expect(client.metrics().backoffs).toEqual({});
    });
  }

  itFault("a gRPC UNAVAILABLE send failure backs off tikvRPC and retries", async () => {
    const { client, raw, region } = await warmClient();
    env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region.id,
      error: { grpcStatus: status.UNAVAILABLE, message: "injected" },
    });
    expect((await raw.get(KEY))?.toString()).toBe("v0");
    const m = client.metrics();
    // client-go onSendFail: the leader's store is marked unreachable (until its connection is
    // back), the followers are tried and redirect to the leader; with no replica left the region
    // error goes back to rawkv, which backs off RegionMiss and relocates
    expect(m.sendFailures).toBeGreaterThanOrEqual(1);
    expect(m.backoffs.tikvRPC).toBeGreaterThanOrEqual(1);
    expect(Object.keys(m.backoffs).every((k) => k === "tikvRPC" || k === "regionMiss")).toBe(true);
    expect(Object.keys(m.sendsByStore).length).toBeGreaterThanOrEqual(2);
  });

  itFault("a region error that never stops exhausts the backoff budget", async () => {
    const { raw, region } = await warmClient({ maxBackoffMs: 50 });
    const f = env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region.id,
      count: 10_000,
      error: { regionError: RegionErrors.staleCommand() },
    });
    const err = await raw.get(KEY).catch((e) => e);
    f.cancel();
    expect(err).toBeInstanceOf(BackoffExhaustedError);
    // every replica answered StaleCommand: the selector gives up, rawkv backs off RegionMiss until the budget is gone
    expect((err as BackoffExhaustedError).backoffKind).toBe("regionMiss");
  });

  itFault("a slow store fails the call with TimeoutError after timeoutMs", async () => {
    const { raw, region } = await warmClient();
    const d = env.cluster.faults.delay({ rpc: "RawGet", regionId: region.id, ms: 2_000, count: 1 });
    await expect(raw.get(KEY, { timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
    d.cancel();
  });

  itFault("an AbortSignal cancels a call in flight with AbortedError", async () => {
    const { raw, region } = await warmClient();
    const d = env.cluster.faults.delay({ rpc: "RawGet", regionId: region.id, ms: 2_000, count: 1 });
    const ac = new AbortController();
    const p = raw.get(KEY, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("stop")), 50);
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    d.cancel();
    const pre = new AbortController();
    pre.abort();
    await expect(raw.get(KEY, { signal: pre.signal })).rejects.toBeInstanceOf(AbortedError);
  });

  itFault("a batch meeting a region error is regrouped and resent for its keys only", async () => {
    const { client, raw } = await warmClient();
    await raw.batchPut(["a1", "a2", "z1", "z2"], ["1", "2", "3", "4"]);
    client.resetMetrics();
    const right = env.cluster.topology.locateKey(Buffer.from("z1"))!;
    env.cluster.faults.failNext({
      rpc: "RawBatchGet",
      regionId: right.id,
      error: { regionError: RegionErrors.regionNotFound(right.id) },
    });
    env.cluster.faults.resetCounters();
    const got = await raw.batchGet(["a1", "z1", "a2", "z2"]);
    expect(got.map((v) => v?.toString())).toEqual(["1", "3", "2", "4"]);
    // left region once, right region twice (error + retry)
    expect(env.cluster.faults.calls({ rpc: "RawBatchGet" })).toBe(3);
    expect(client.metrics().regionErrors).toEqual({ regionNotFound: 1 });
  });

  itFault(
    "per-region batches are sent in parallel: one hanging region does not hold back the others",
    async () => {
      const { raw } = await warmClient();
      await raw.batchPut(["a-par", "z-par"], ["1", "2"]);
      const left = env.cluster.topology.locateKey(Buffer.from("a-par"))!;
      const right = env.cluster.topology.locateKey(Buffer.from("z-par"))!;
      expect(left.id).not.toBe(right.id);
      const seen: bigint[] = [];
      const off = env.cluster.faults.onRequest((call) => {
        if (call.rpc === "RawBatchGet" && call.regionId !== undefined) seen.push(call.regionId);
      });
      // the left region's batch (sent first) never gets an answer
      const hang = env.cluster.faults.dropReply({ rpc: "RawBatchGet", regionId: left.id, outcome: "hang" });
      try {
        await expect(raw.batchGet(["a-par", "z-par"], { timeoutMs: 300 })).rejects.toBeInstanceOf(
          TimeoutError,
        );
        expect(seen).toContain(left.id);
        expect(seen).toContain(right.id);
      } finally {
        off();
        hang.cancel();
      }
    },
  );
});
