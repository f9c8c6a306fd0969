// Resource control against the embedded cluster: the resource group name and request source of
// every KV request as TiKV receives them (client default, per raw call, per snapshot, per
// transaction), and throttling by the embedded PD's resource manager (token grants, requests
// delayed, typed errors for a throttled or unknown group). Assertions use counts (requests
// delayed, grants, RU), never elapsed time.
// The cases that read the embedded cluster's request log or add groups to its PD are skipped on a
// real cluster (itFault).
// Ported by meaning (test/ported/resource-control.md): client-go integration_tests
// resource_group_test.go TestResourceGroupName; region_request TestOnSendFailByResourceGroupThrottled;
// client_interceptor_test (RU accounted per request, override priority from the group).

import { describe, expect, it, vi } from "vitest";
import type { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import {
  buildRequestSource,
  findError,
  ResourceGroupNotFoundError,
  ResourceGroupThrottledError,
} from "../../../src/index.js";
import { GroupMode } from "../../../src/proto/resource_manager.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

function addGroup(cluster: EmbeddedCluster, name: string, fillRate: number, burst: number, priority = 8) {
  cluster.resourceGroups.add({
    name,
    mode: GroupMode.RUMode,
    priority,
    rUSettings: {
      rU: { settings: { fillRate: BigInt(fillRate), burstLimit: BigInt(burst), maxTokens: 0 }, tokens: 0 },
    },
  });
}

describe.skipIf(skipOnRealCluster("v1"))("resource group name and request source reach TiKV", () => {
  const env = useCluster({ stores: 3 });

  itFault(
    "client default, overridden per raw call; snapshot and transaction options (TestResourceGroupName)",
    async () => {
      const client = await env.connect({ resourceGroupName: "rg-client", requestSource: "external_app" });
      const raw = client.raw();
      const p = uniquePrefix("rc-names");
      const rec = env.cluster.recordRequests();
      await raw.put(`${p}a`, "1");
      await raw.get(`${p}a`, { resourceGroupName: "rg-call", requestSource: buildRequestSource(true, "gc") });
      const txn = await client.txn().begin({ resourceGroupName: "rg-txn", requestSource: "external_txn" });
      txn.set(`${p}b`, "2");
      await txn.commit();
      const snap = await client.txn().snapshot(undefined, { resourceGroupName: "rg-snap" });
      await snap.get(`${p}b`);
      await snap.batchGet([`${p}b`, `${p}c`]);
      await snap.scan(`${p}a`, `${p}z`, 10);
      rec.stop();
      const seen = (rpc: string) =>
        rec.entries.filter((e) => e.rpc === rpc).map((e) => [e.resourceGroupName, e.requestSource]);
      expect(seen("RawPut")).toEqual([["rg-client", "external_app"]]);
      expect(seen("RawGet")).toEqual([["rg-call", "internal_gc"]]);
      expect(seen("KvPrewrite")).toEqual([["rg-txn", "external_txn"]]);
      expect(seen("KvCommit")).toEqual([["rg-txn", "external_txn"]]);
      // a snapshot's group overrides the client's; its source stays the client's
      for (const rpc of ["KvGet", "KvBatchGet", "KvScan"]) {
        expect(seen(rpc).length, rpc).toBeGreaterThan(0);
        for (const s of seen(rpc)) expect(s, rpc).toEqual(["rg-snap", "external_app"]);
      }
    },
  );

  it("bad names are refused at once, typed", async () => {
    await expect(env.connect({ resourceGroupName: "x".repeat(33) })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      argument: "resourceGroupName",
    });
    const raw = (await env.connect()).raw();
    await expect(raw.get("k", { resourceGroupName: "" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe.skipIf(skipOnRealCluster("v1"))("throttling by the embedded resource manager", () => {
  const env = useCluster({ stores: 3 });
  const fast = { targetPeriodMs: 300, updateIntervalMs: 100, waitRetryIntervalMs: 20 };

  itFault("a small-RU group is throttled: requests wait for PD's trickled grants, none fails", async () => {
    addGroup(env.cluster, "small", 100, 100);
    // (retries generous enough that a slow machine does not turn a wait into a failure)
    const client = await env.connect({
      resourceGroupName: "small",
      resourceControl: { ...fast, waitRetryTimes: 250 },
    });
    const raw = client.raw();
    const p = uniquePrefix("rc-small");
    // 8 workers x 8 puts: ~64 x 1.7 RU x replicas, several times the 100 RU the group starts with
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 8; i++) await raw.put(`${p}${w}-${i}`, "v");
      }),
    );
    const s = client.resourceGroupStats("small");
    expect(s?.requests).toBe(64);
    expect(s?.throttled).toBe(0);
    // requests had to wait for tokens, and PD had to trickle its grants
    expect((s?.delayed ?? 0) + (s?.retries ?? 0)).toBeGreaterThan(0);
    const pd = env.cluster.resourceGroups.grantStats("small");
    expect(pd?.trickled ?? 0).toBeGreaterThan(0);
    expect(s?.grants ?? 0).toBeGreaterThan(0);
    // it spent more than the 100 tokens it started with: the rest came from PD's grants, and it
    // applied no more than PD granted (a last grant may still be on its way)
    expect(s?.consumedRU ?? 0).toBeGreaterThan(100);
    expect(s?.grantedRU ?? 0).toBeLessThanOrEqual((pd?.granted ?? 0) + 1e-6);
    expect(pd?.granted ?? 0).toBeGreaterThan(0);
  });

  itFault(
    "the unlimited 'default' group is never throttled; the group's priority becomes override_priority",
    async () => {
      addGroup(env.cluster, "urgent", 1_000_000, -1, 16);
      const client = await env.connect({ resourceGroupName: "default", resourceControl: fast });
      const raw = client.raw();
      const p = uniquePrefix("rc-default");
      for (let i = 0; i < 20; i++) await raw.put(`${p}${i}`, "v");
      expect(client.resourceGroupStats("default")).toMatchObject({
        requests: 20,
        delayed: 0,
        retries: 0,
        throttled: 0,
      });
      const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
      await raw.get(`${p}0`, { resourceGroupName: "urgent" });
      rec.stop();
      expect(rec.entries.map((e) => [e.resourceGroupName, e.overridePriority])).toEqual([["urgent", 16n]]);
    },
  );

  itFault(
    "a group without tokens fails requests with ResourceGroupThrottledError, unsent (TestOnSendFailByResourceGroupThrottled)",
    async () => {
      addGroup(env.cluster, "tiny", 1, 1);
      const client = await env.connect({
        resourceGroupName: "tiny",
        resourceControl: { ...fast, maxWaitMs: 50, waitRetryTimes: 3 },
      });
      const raw = client.raw();
      const p = uniquePrefix("rc-tiny");
      const rec = env.cluster.recordRequests({ rpcs: ["RawPut"] });
      const err = await raw.put(`${p}k`, "v").catch((e: unknown) => e);
      rec.stop();
      const t = findError(err, ResourceGroupThrottledError);
      expect(t, String(err)).toBeDefined();
      expect(t?.resourceGroup).toBe("tiny");
      expect(t?.isRetryable).toBe(false);
      // never sent: TiKV saw nothing, and the write is not undetermined
      expect(rec.entries).toEqual([]);
      expect(client.resourceGroupStats("tiny")).toMatchObject({ throttled: 1, retries: 3 });
    },
  );

  itFault(
    "while PD's token stream fails, a throttled group's requests fail typed instead of hanging",
    async () => {
      addGroup(env.cluster, "dark", 2, 2);
      const faults = env.cluster.pd.state.faults;
      faults.failNext("AcquireTokenBuckets", 1000, { kind: "unavailable" });
      try {
        const client = await env.connect({
          resourceGroupName: "dark",
          resourceControl: { ...fast, maxWaitMs: 50, waitRetryTimes: 5 },
        });
        const err = await client
          .raw()
          .put(`${uniquePrefix("rc-dark")}k`, "v")
          .catch((e: unknown) => e);
        expect(findError(err, ResourceGroupThrottledError), String(err)).toBeDefined();
        expect(faults.calls("AcquireTokenBuckets")).toBeGreaterThan(0);
        expect(client.resourceGroupStats("dark")).toMatchObject({ grants: 0, throttled: 1 });
      } finally {
        faults.reset();
      }
    },
  );

  itFault(
    "settings changed at PD reach the client; a group deleted at PD fails its next requests",
    async () => {
      addGroup(env.cluster, "moving", 1_000_000, -1, 1);
      const client = await env.connect({ resourceGroupName: "moving", resourceControl: fast });
      const raw = client.raw();
      const k = `${uniquePrefix("rc-moving")}k`;
      const priorityOf = async () => {
        const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
        await raw.get(k);
        rec.stop();
        return rec.entries[0]?.overridePriority;
      };
      expect(await priorityOf()).toBe(1n);
      env.cluster.resourceGroups.modify({
        name: "moving",
        mode: GroupMode.RUMode,
        priority: 5,
        rUSettings: { rU: { settings: { fillRate: 1_000_000n, burstLimit: -1n, maxTokens: 0 }, tokens: 0 } },
      });
      // re-read every 10 update ticks (1 s here): poll until the client has it
      await vi.waitFor(async () => expect(await priorityOf()).toBe(5n), { timeout: 4000, interval: 50 });
      env.cluster.resourceGroups.delete("moving");
      await vi.waitFor(
        async () =>
          expect(
            findError(await raw.get(k).catch((e: unknown) => e), ResourceGroupNotFoundError),
          ).toBeDefined(),
        { timeout: 4000, interval: 50 },
      );
    },
  );

  itFault(
    "a group PD does not have fails with ResourceGroupNotFoundError; requests without a group pass",
    async () => {
      const client = await env.connect({ resourceControl: fast });
      const raw = client.raw();
      const p = uniquePrefix("rc-ghost");
      await raw.put(`${p}k`, "v");
      const err = await raw.get(`${p}k`, { resourceGroupName: "ghost" }).catch((e: unknown) => e);
      const nf = findError(err, ResourceGroupNotFoundError);
      expect(nf, String(err)).toBeDefined();
      expect(nf?.resourceGroup).toBe("ghost");
      // the controller counted nothing for a group that never loaded
      expect(client.resourceGroupStats("ghost")).toBeUndefined();
    },
  );
});
