// Raw traffic across PD trouble: a PD leader change and a stopped PD member while the client
// needs region lookups (client-go's PD client follows the leader; rawkv retries region loads
// with BoPDRPC). Also aborting a long iteration.

import { describe, expect } from "vitest";
import { AbortedError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("raw client and PD failover", () => {
  const env = useCluster({ stores: 3, pdMembers: 3, splitKeys: ["m"] });

  itFault("region lookups follow a PD leader change", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.put("a", "1");
    env.cluster.pd.transferLeader(1);
    // a split the client has not seen, on a region it has not cached: needs PD
    env.cluster.topology.splitAt(["x"]);
    await raw.put("y", "2");
    expect((await raw.get("y"))?.toString()).toBe("2");
    expect((await raw.get("a"))?.toString()).toBe("1");
    env.cluster.pd.transferLeader(0);
  });

  itFault("a stopped PD member (the leader) does not stop raw traffic", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.put("b", "1");
    // the leader's process dies; the others elect member 2
    await env.cluster.pd.stopMember(0);
    env.cluster.pd.transferLeader(2);
    try {
      env.cluster.topology.splitAt(["c"]);
      await raw.put("d", "2");
      expect((await raw.batchGet(["b", "d"])).map((v) => v?.toString())).toEqual(["1", "2"]);
    } finally {
      await env.cluster.pd.startMember(0);
      env.cluster.pd.transferLeader(0);
    }
  });

  itFault("an AbortSignal stops an iteration between pages", async () => {
    const client = await env.connect();
    const raw = client.raw();
    const keys = Array.from({ length: 50 }, (_, i) => `it${String(i).padStart(3, "0")}`);
    await raw.batchPut(keys, keys);
    const ac = new AbortController();
    const seen: string[] = [];
    const run = async () => {
      for await (const p of raw.iterate("it", "iu", { pageSize: 10, signal: ac.signal })) {
        seen.push(p.key.toString());
        if (seen.length === 15) ac.abort();
      }
    };
    await expect(run()).rejects.toBeInstanceOf(AbortedError);
    expect(seen.length).toBe(20); // the page in hand is delivered, the next one is refused
  });
});
