// Stale reads and the min safe ts against a cluster whose resolved ts advances on its own (the
// embedded cluster's resolved-ts worker, every 50 ms here; TiKV's resolved-ts worker on a real
// cluster): reads a moment in the past are served by the replica asked without falling back,
// the min safe ts climbs by itself, and an open lock holds it below the lock's start ts.

import { beforeAll, describe, expect, it } from "vitest";
import type { TikvClient } from "../../../src/index.js";
import {
  isRealCluster,
  itFault,
  skipOnRealCluster,
  uniquePrefix,
  useCluster,
} from "../../support/cluster.js";
import { eventually } from "../../support/wait.js";
import { engineRollback, prewriteOnly } from "../txn/snapshot-support.js";
import { REAL_CLUSTER_SKIP, rolesOf, served, zoneOf } from "./support.js";

describe.skipIf(skipOnRealCluster("v1"))("stale reads with the resolved ts advancing", () => {
  const env = useCluster({
    stores: 3,
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 50,
  });
  let client: TikvClient;
  const p = uniquePrefix("resolved");

  beforeAll(async () => {
    client = await env.connect();
  });

  // a real TiKV advances every second or so (resolved-ts.advance-ts-interval); allow for it
  const within = isRealCluster ? 60_000 : 5_000;

  it("the min safe ts climbs by itself and never passes the TSO", async () => {
    const txns = client.txn();
    const t0 = await txns.currentTimestamp();
    expect(await eventually(async () => (await txns.getMinSafeTs({ refresh: true })) >= t0, within, 50)).toBe(
      true,
    );
    expect(await txns.getMinSafeTs()).toBeLessThanOrEqual(await txns.currentTimestamp());
  });

  itFault(
    `once the safe ts passed the read ts, the follower asked serves it at once (${REAL_CLUSTER_SKIP})`,
    async () => {
      const key = `${p}served`;
      const txn = await client.txn().begin();
      txn.set(key, "v1");
      await txn.commit();
      const readTs = await client.txn().currentTimestamp();
      const txns = client.txn();
      expect(
        await eventually(async () => (await txns.getMinSafeTs({ refresh: true })) >= readTs, within, 50),
      ).toBe(true);
      const follower = rolesOf(env.cluster, key).followers[0] as bigint;
      const snap = await txns.snapshot(readTs, {
        staleRead: true,
        matchStoreLabels: { zone: zoneOf(env.cluster, follower) },
      });
      const entries = await served(env.cluster, async () => {
        for (let i = 0; i < 10; i++) expect(await snap.get(key)).toEqual(Buffer.from("v1"));
      });
      expect(entries.map((e) => [e.storeId, e.staleRead, e.outcome])).toEqual(
        Array.from({ length: 10 }, () => [follower, true, "ok"]),
      );
    },
  );

  itFault(
    "an open lock holds the min safe ts at or below its start ts [embedded cluster only: engine]",
    async () => {
      const key = `${p}held`;
      const txns = client.txn();
      const lockTs = await txns.currentTimestamp();
      prewriteOnly(env.cluster, { startTs: lockTs, primary: key, writes: [[key, "x"]], ttlMs: 60_000n });
      try {
        // several worker rounds pass; the region stays at most at the lock's ts (min(lock ts, tso))
        await new Promise((r) => setTimeout(r, 300));
        expect(await txns.getMinSafeTs({ refresh: true })).toBeLessThanOrEqual(lockTs);
      } finally {
        engineRollback(env.cluster, lockTs, [key]);
      }
      // gone: the safe ts moves past it again
      const after = await txns.currentTimestamp();
      expect(
        await eventually(async () => (await txns.getMinSafeTs({ refresh: true })) >= after, within, 50),
      ).toBe(true);
    },
  );
});
