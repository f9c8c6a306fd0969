// The replica-read adjuster (client-go KVSnapshot.SetReplicaReadAdjuster): per Get / BatchGet
// request it picks the replica read kind and the stores to prefer from the number of keys read.
// Ported by meaning: client-go integration_tests/snapshot_test.go TestReplicaReadAdjuster (a
// "hit" adjuster keeps mixed reads on the dc1 store, a "miss" one turns them into leader reads,
// and a leader target never carries replica_read).
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, type ReplicaReadAdjustment, type TikvClient } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { rolesOf, served, zoneOf } from "./support.js";

describe.skipIf(skipOnRealCluster("v1"))("replica read adjuster", () => {
  const env = useCluster({
    stores: 3,
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `dc${i + 1}` }),
  });
  const p = uniquePrefix("rra");
  const keys = [`${p}x`, `${p}y`, `${p}z`];

  async function setup(): Promise<TikvClient> {
    const client = await env.connect();
    await client.txn().runTransaction(async (txn) => {
      for (const k of keys) txn.set(k, `v-${k}`);
    });
    return client;
  }

  it.each([true, false])("TestReplicaReadAdjuster (hit = %s)", async (hit) => {
    const client = await setup();
    const { followers, leader } = rolesOf(env.cluster, keys[0] as string);
    const dc = zoneOf(env.cluster, followers[0] as bigint);
    const asked: number[] = [];
    const snap = await client.txn().snapshot(undefined, {
      replicaRead: "mixed",
      replicaReadAdjuster: (n): ReplicaReadAdjustment => {
        asked.push(n);
        return hit ? { replicaRead: "mixed", matchStoreLabels: { zone: dc } } : { replicaRead: "leader" };
      },
    });
    const entries = await served(env.cluster, async () => {
      expect(await snap.get(keys[0] as string)).toEqual(Buffer.from(`v-${keys[0]}`));
      const got = await snap.batchGet([keys[1] as string, keys[2] as string]);
      expect(got.map(String)).toEqual([`v-${keys[1]}`, `v-${keys[2]}`]);
    });
    // asked once per request, with its key count
    expect(asked).toEqual([1, 2]);
    expect(entries).toHaveLength(2);
    for (const e of entries) {
      if (hit) {
        // the labelled follower serves, as a replica read
        expect(e.storeId).toBe(followers[0]);
        expect(e.replicaRead).toBe(true);
      } else {
        expect(e.storeId).toBe(leader);
        expect(e.replicaRead).toBe(false);
      }
    }
  });

  it("a leader snapshot never asks the adjuster, nor does a stale read", async () => {
    const client = await setup();
    let calls = 0;
    const adjust = (): ReplicaReadAdjustment => {
      calls++;
      return { replicaRead: "follower" };
    };
    await (await client.txn().snapshot(undefined, { replicaReadAdjuster: adjust })).get(keys[0] as string);
    const ts = await client.txn().currentTimestamp();
    await (await client.txn().snapshot(ts, { staleRead: true, replicaReadAdjuster: adjust })).get(
      keys[0] as string,
    );
    expect(calls).toBe(0);
  });

  it("bad input: a non-function is refused at snapshot; a bad answer fails the read, typed", async () => {
    const client = await setup();
    await expect(
      client.txn().snapshot(undefined, { replicaRead: "mixed", replicaReadAdjuster: 1 as never }),
    ).rejects.toThrow(InvalidArgumentError);
    const bad = await client.txn().snapshot(undefined, {
      replicaRead: "mixed",
      replicaReadAdjuster: () => ({ replicaRead: "nearest" as never }),
    });
    const e = await bad.get(keys[0] as string).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).argument).toBe("replicaRead");
    const none = await client.txn().snapshot(undefined, {
      replicaRead: "mixed",
      replicaReadAdjuster: () => undefined as never,
    });
    await expect(none.get(keys[0] as string)).rejects.toThrow(/replicaReadAdjuster/);
  });
});
