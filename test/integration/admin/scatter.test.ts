// Scatter on the embedded cluster's PD, whose scatter-region operators really move peers and
// leaders (one step per `scatterStepMs`): splitRegions({ scatter }), scatterRegion,
// checkRegionInScattering while the operator runs, waitScatterRegionFinish until it is done
// (and its typed timeout), and PD's region view after the moves.

import { describe, expect } from "vitest";
import type { TikvClient } from "../../../src/api/tikv-client.js";
import { InvalidArgumentError, TimeoutError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

async function peerStores(
  client: TikvClient,
  regionId: bigint,
): Promise<{ peers: bigint[]; leader?: bigint }> {
  const r = await client.pd.getRegionById(regionId);
  if (!r) throw new Error(`no region ${regionId}`);
  return { peers: r.meta.peers.map((p) => p.storeId).sort(), leader: r.leader?.storeId };
}

describe.skipIf(skipOnRealCluster("v1"))("scatter on a 5-store cluster", () => {
  // three replicas on five stores: every region starts on the same three stores
  const env = useCluster({ stores: 5, replicas: 3, scatterStepMs: 20 });

  itFault(
    "split + scatter moves peers to the empty stores; wait returns once the operators finished",
    async () => {
      const client = await env.connect();
      const keys = ["s1", "s2", "s3", "s4", "s5", "s6"];
      const initial = new Set(env.cluster.topology.regions()[0]?.peers.map((p) => p.storeId));
      expect(initial.size).toBe(3);
      const { regionIds, scatterErrors } = await client.splitRegions(keys, { keyMode: "raw", scatter: true });
      expect(scatterErrors).toEqual([]);
      expect(regionIds).toHaveLength(6);
      // at least one operator is still running right after the scatter
      const running = await Promise.all(regionIds.map((id) => client.checkRegionInScattering(id)));
      expect(running).toContain(true);
      for (const id of regionIds) await client.waitScatterRegionFinish(id, { timeoutMs: 10_000 });
      expect(await Promise.all(regionIds.map((id) => client.checkRegionInScattering(id)))).not.toContain(
        true,
      );
      // PD's view: the new regions now also live on stores that held no peer before
      const after = await Promise.all(regionIds.map((id) => peerStores(client, id)));
      const used = new Set(after.flatMap((r) => r.peers));
      expect([...used].some((s) => !initial.has(s))).toBe(true);
      for (const r of after) expect(r.peers).toHaveLength(3);
      // and the data path follows the moved peers and leaders
      const raw = client.raw();
      await raw.put("s3x", "v");
      expect((await raw.get("s3x"))?.toString()).toBe("v");
    },
  );

  itFault(
    "scatterRegion: several regions at once, with a group; unknown ids come back as failed",
    async () => {
      const client = await env.connect();
      const { regionIds } = await client.splitRegions(["t1", "t2"], { keyMode: "raw" });
      const res = await client.scatterRegion([...regionIds, 999_999n], { group: "table-7" });
      expect(res.failedRegionIds).toEqual([999_999n]);
      expect(res.finishedPercentage).toBeLessThan(100);
      for (const id of regionIds) await client.waitScatterRegionFinish(id);
    },
  );

  itFault("a region without an operator is not scattering: wait returns at once", async () => {
    const client = await env.connect();
    const id = env.cluster.topology.locateKey(Buffer.from("zz"))?.id as bigint;
    const polls = env.cluster.pd.faults.calls("GetOperator");
    await client.waitScatterRegionFinish(id, { timeoutMs: 5_000 });
    // one GetOperator answer ("no operator") ends the wait: no second poll
    expect(env.cluster.pd.faults.calls("GetOperator") - polls).toBe(1);
  });

  itFault("bad ids and options are refused typed", async () => {
    const client = await env.connect();
    const bad: Array<[() => Promise<unknown>, string]> = [
      [() => client.scatterRegion([]), "regionIds"],
      [() => client.scatterRegion(0n), "regionId"],
      [() => client.scatterRegion([1n, -2]), "regionIds[1]"],
      [() => client.scatterRegion(1n, { group: 1 as never }), "group"],
      [() => client.waitScatterRegionFinish(1n, { timeoutMs: 0 }), "timeoutMs"],
      [() => client.waitScatterRegionFinish("1" as never), "regionId"],
      [() => client.checkRegionInScattering(1.5), "regionId"],
    ];
    for (const [call, argument] of bad) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, argument).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(argument);
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("waiting for a slow scatter", () => {
  const env = useCluster({ stores: 5, replicas: 3, scatterStepMs: 10_000 });

  itFault("times out with a typed TimeoutError while the operator runs", async () => {
    const client = await env.connect();
    const { regionIds } = await client.splitRegions(["w1"], { keyMode: "raw", scatter: true });
    const id = regionIds[0] as bigint;
    expect(await client.checkRegionInScattering(id)).toBe(true);
    const e = await client.waitScatterRegionFinish(id, { timeoutMs: 300 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).timeoutMs).toBe(300);
    // it gave up while the operator was still running
    expect(await client.checkRegionInScattering(id)).toBe(true);
  });

  itFault("an abort ends the wait with AbortedError", async () => {
    const client = await env.connect();
    const { regionIds } = await client.splitRegions(["w2"], { keyMode: "raw", scatter: true });
    const ac = new AbortController();
    setTimeout(() => ac.abort("stop"), 100);
    await expect(
      client.waitScatterRegionFinish(regionIds[0] as bigint, { signal: ac.signal }),
    ).rejects.toMatchObject({ code: "ABORTED" });
  });
});
