// Replica reads through the public snapshot / transaction options (client-go KVSnapshot
// SetReplicaRead, SetMatchStoreLabels, WithMatchStores): which stores serve each kind, asserted
// from the embedded cluster's request log over many reads. Region "a…" has three voters;
// region "m…" has three voters and a learner on the fourth store. On a real cluster only the
// values are checked (the request log is the embedded cluster's).

import { beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, type ReplicaReadName, type TikvClient } from "../../../src/index.js";
import {
  isRealCluster,
  itFault,
  skipOnRealCluster,
  uniquePrefix,
  useCluster,
} from "../../support/cluster.js";
import { REAL_CLUSTER_SKIP, type Roles, rolesOf, served, sorted, storesOf, zoneOf } from "./support.js";

const READS = 40;

describe.skipIf(skipOnRealCluster("v1"))("replica reads", () => {
  const env = useCluster({
    stores: 4,
    replicas: 3,
    splitKeys: ["m"],
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });
  let client: TikvClient;
  const p = uniquePrefix("replica");
  const voterKey = `a-${p}k`;
  const learnerKey = `m-${p}k`;
  let voters: Roles;
  let withLearner: Roles;

  beforeAll(async () => {
    if (!isRealCluster) {
      // the "m" region gets a learner on the one store that holds no peer of it
      const r = rolesOf(env.cluster, learnerKey);
      const free = env.cluster.topology.stores().find((s) => !r.region.peers.some((q) => q.storeId === s.id));
      if (!free) throw new Error("no free store for the learner");
      env.cluster.topology.addLearner(r.region.id, free.id);
      voters = rolesOf(env.cluster, voterKey);
      withLearner = rolesOf(env.cluster, learnerKey);
    }
    // connected after the learner was added, so the region cache knows it from the start
    client = await env.connect();
    await client.txn().runTransaction(async (txn) => {
      txn.set(voterKey, "v-voters");
      txn.set(learnerKey, "v-learner");
    });
  });

  async function readMany(key: string, opts: Parameters<ReturnType<TikvClient["txn"]>["snapshot"]>[1]) {
    const snap = await client.txn().snapshot(undefined, opts);
    const values: string[] = [];
    const entries = isRealCluster
      ? []
      : await served(env.cluster, async () => {
          for (let i = 0; i < READS; i++) values.push(String(await snap.get(key)));
        });
    if (isRealCluster) for (let i = 0; i < 5; i++) values.push(String(await snap.get(key)));
    return { values, entries };
  }

  it.each<ReplicaReadName>([
    "leader",
    "follower",
    "learner",
    "mixed",
    "preferLeader",
  ])("%s reads return the committed value", async (kind) => {
    const { values } = await readMany(voterKey, { replicaRead: kind });
    expect(new Set(values)).toEqual(new Set(["v-voters"]));
  });

  itFault(
    `follower reads go to the non-leader voters only, with replica_read set (${REAL_CLUSTER_SKIP})`,
    async () => {
      const { entries } = await readMany(voterKey, { replicaRead: "follower" });
      expect(entries).toHaveLength(READS);
      expect(entries.every((e) => !e.isLeader && e.replicaRead && !e.staleRead && e.outcome === "ok")).toBe(
        true,
      );
      // both followers take reads (each is picked at random)
      expect(storesOf(entries)).toEqual(sorted(voters.followers));
    },
  );

  itFault(`learner reads go to the learner only (${REAL_CLUSTER_SKIP})`, async () => {
    const { entries, values } = await readMany(learnerKey, { replicaRead: "learner" });
    expect(new Set(values)).toEqual(new Set(["v-learner"]));
    expect(entries).toHaveLength(READS);
    expect(storesOf(entries)).toEqual(withLearner.learners);
    expect(entries.every((e) => e.replicaRead && !e.isLeader && e.outcome === "ok")).toBe(true);
  });

  itFault(`mixed reads go to every peer, leader included (${REAL_CLUSTER_SKIP})`, async () => {
    const { entries } = await readMany(voterKey, { replicaRead: "mixed" });
    expect(storesOf(entries)).toEqual(sorted([voters.leader, ...voters.followers]));
    // the flag says how each was served: a leader read on the leader, a replica read elsewhere
    for (const e of entries) expect(e.replicaRead).toBe(!e.isLeader);
  });

  itFault(`preferLeader reads go to the healthy leader (${REAL_CLUSTER_SKIP})`, async () => {
    const { entries } = await readMany(voterKey, { replicaRead: "preferLeader" });
    expect(entries).toHaveLength(READS);
    expect(storesOf(entries)).toEqual([voters.leader]);
    expect(entries.every((e) => e.isLeader && !e.replicaRead)).toBe(true);
  });

  itFault(
    `leader reads ignore labels (client-go TestLabelSelectorTiKVPeer) (${REAL_CLUSTER_SKIP})`,
    async () => {
      const follower = voters.followers[0] as bigint;
      const { entries } = await readMany(voterKey, {
        matchStoreLabels: { zone: zoneOf(env.cluster, follower) },
      });
      expect(storesOf(entries)).toEqual([voters.leader]);
    },
  );

  itFault(`mixed reads with matchStoreLabels go to the labelled store (${REAL_CLUSTER_SKIP})`, async () => {
    for (const target of [voters.leader, ...voters.followers]) {
      const { entries } = await readMany(voterKey, {
        replicaRead: "mixed",
        matchStoreLabels: { zone: zoneOf(env.cluster, target) },
      });
      expect(storesOf(entries), `zone of store ${target}`).toEqual([target]);
    }
  });

  itFault(`follower reads with labels go to the matching follower only (${REAL_CLUSTER_SKIP})`, async () => {
    const target = voters.followers[1] as bigint;
    const { entries } = await readMany(voterKey, {
      replicaRead: "follower",
      matchStoreLabels: { zone: zoneOf(env.cluster, target) },
    });
    expect(storesOf(entries)).toEqual([target]);
  });

  itFault(`labels no store carries fall back to any replica of the kind (${REAL_CLUSTER_SKIP})`, async () => {
    const { entries } = await readMany(voterKey, {
      replicaRead: "follower",
      matchStoreLabels: { zone: "nowhere" },
    });
    expect(storesOf(entries)).toEqual(sorted(voters.followers));
  });

  itFault(`mixed reads with matchStores go to that store (${REAL_CLUSTER_SKIP})`, async () => {
    const target = voters.followers[0] as bigint;
    const { entries } = await readMany(voterKey, { replicaRead: "mixed", matchStores: [target] });
    expect(storesOf(entries)).toEqual([target]);
  });

  itFault(
    `a transaction's reads follow its replicaRead; its commit goes to the leader (${REAL_CLUSTER_SKIP})`,
    async () => {
      const target = voters.followers[0] as bigint;
      const key = `a-${p}txn`;
      const entries = await served(env.cluster, async () => {
        const txn = await client.txn().begin({ replicaRead: "mixed", matchStores: [target] });
        expect(await txn.get(voterKey)).toEqual(Buffer.from("v-voters"));
        expect(await txn.batchGet([voterKey])).toEqual([Buffer.from("v-voters")]);
        txn.set(key, "x");
        await txn.commit();
      }, ["KvGet", "KvBatchGet", "KvPrewrite", "KvCommit"]);
      const reads = entries.filter((e) => e.rpc === "KvGet" || e.rpc === "KvBatchGet");
      expect(reads.map((e) => e.storeId)).toEqual([target, target]);
      const writes = entries.filter((e) => e.rpc === "KvPrewrite" || e.rpc === "KvCommit");
      expect(writes.length).toBeGreaterThanOrEqual(2);
      expect(writes.every((e) => e.isLeader && !e.replicaRead)).toBe(true);
    },
  );

  itFault(`batch gets and scans take the replica read too (${REAL_CLUSTER_SKIP})`, async () => {
    const snap = await client.txn().snapshot(undefined, { replicaRead: "learner" });
    const entries = await served(env.cluster, async () => {
      expect(await snap.batchGet([learnerKey])).toEqual([Buffer.from("v-learner")]);
      const pairs = await snap.scan(`m-${p}`, `m-${p}~`, 10);
      expect(pairs.map((x) => x.key.toString())).toEqual([learnerKey]);
    });
    expect(entries.map((e) => e.rpc).sort()).toEqual(["KvBatchGet", "KvScan"]);
    expect(storesOf(entries)).toEqual(withLearner.learners);
  });

  it("an unknown replicaRead or bad label / store options are refused at once", async () => {
    const txns = client.txn();
    const bad: Array<[string, object]> = [
      ["replicaRead", { replicaRead: "closest" }],
      ["matchStoreLabels", { matchStoreLabels: [{ key: "zone", value: "z1" }] }],
      ["matchStoreLabels", { matchStoreLabels: { zone: 1 } }],
      ["matchStores", { matchStores: [1] }],
      ["matchStores", { matchStores: "1" }],
    ];
    for (const [arg, o] of bad) {
      const e = await txns.snapshot(undefined, o as never).catch((x) => x);
      expect(e, JSON.stringify(o)).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(arg);
      const b = await txns.begin(o as never).catch((x) => x);
      expect(b).toBeInstanceOf(InvalidArgumentError);
    }
  });
});
