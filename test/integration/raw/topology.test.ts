// Raw traffic while the cluster changes under the client: leader transfers, splits, merges and
// store restarts, with no lost or duplicated writes. Ports the meaning of client-go
// integration_tests/raw/api_test.go (split / leader-change cases) and rawkv_test.go
// TestReplaceAddrWithNewStore / TestUpdateStoreAddr-style routing cases.

import { describe, expect } from "vitest";
import { ResultUndeterminedError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("raw traffic during topology changes", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  async function fresh() {
    const client = await env.connect();
    const raw = client.raw();
    await raw.deleteRange("", "");
    return { client, raw };
  }

  function otherStore(regionKey: string): bigint {
    const r = env.cluster.topology.locateKey(Buffer.from(regionKey))!;
    const leaderStore = r.leader!.storeId;
    return r.peers.find((p) => p.storeId !== leaderStore)!.storeId;
  }

  itFault("a leader transfer is followed through the NotLeader hint, without PD or backoff", async () => {
    const { client, raw } = await fresh();
    await raw.put("a", "1");
    const region = env.cluster.topology.locateKey(Buffer.from("a"))!;
    const oldLeader = region.leader!.storeId;
    const target = otherStore("a");
    env.cluster.topology.transferLeader(region.id, target);
    client.resetMetrics();
    expect((await raw.get("a"))?.toString()).toBe("1");
    const m = client.metrics();
    expect(m.regionErrors).toEqual({ notLeader: 1 });
    expect(m.backoffs).toEqual({});
    expect(m.pdRegionLookups).toBe(0);
    expect(m.sendsByStore).toEqual({ [String(oldLeader)]: 1, [String(target)]: 1 });
    client.resetMetrics();
    await raw.get("a");
    expect(client.metrics().sendsByStore).toEqual({ [String(target)]: 1 });
  });

  itFault("a split is learned from EpochNotMatch's current regions", async () => {
    const { client, raw } = await fresh();
    await raw.batchPut(["b", "f", "x"], ["1", "2", "3"]);
    const region = env.cluster.topology.locateKey(Buffer.from("b"))!;
    env.cluster.topology.splitRegion(region.id, ["d"]);
    client.resetMetrics();
    expect((await raw.get("f"))?.toString()).toBe("2");
    expect(client.metrics().regionErrors).toEqual({ epochNotMatch: 1 });
    expect(client.metrics().pdRegionLookups).toBe(0);
    client.resetMetrics();
    expect((await raw.get("b"))?.toString()).toBe("1");
    expect(client.metrics().regionErrors).toEqual({});
    const all = await raw.scan("", "", 10);
    expect(all.map((p) => p.key.toString())).toEqual(["b", "f", "x"]);
  });

  itFault("a merge is followed (scans and batches over the merged region)", async () => {
    const { raw } = await fresh();
    await raw.batchPut(["k1", "k2", "q1"], ["1", "2", "3"]);
    await raw.scan("", "", 10); // cache both regions
    const left = env.cluster.topology.locateKey(Buffer.from("k1"))!;
    const right = env.cluster.topology.locateKey(Buffer.from("q1"))!;
    if (left.id !== right.id) env.cluster.topology.merge(left.id, right.id);
    expect((await raw.batchGet(["k1", "q1", "k2"])).map((v) => v?.toString())).toEqual(["1", "3", "2"]);
    expect((await raw.scan("", "", 10)).map((p) => p.key.toString())).toEqual(["k1", "k2", "q1"]);
    // split again for the next tests
    env.cluster.topology.splitAt(["m"]);
  });

  itFault("a stopped leader store: the client moves to another peer; the store comes back", async () => {
    const { client, raw } = await fresh();
    await raw.put("s", "1");
    const region = env.cluster.topology.locateKey(Buffer.from("s"))!;
    const leader = region.leader!.storeId;
    await env.cluster.stopStore(leader);
    try {
      // raft elects another leader
      env.cluster.topology.transferLeader(region.id, otherStore("s"));
      client.resetMetrics();
      // a put that went to the stopped store may have been applied: it ends as undetermined (not
      // re-sent by the client); putting the same value again is the caller's idempotent retry
      await raw.put("s", "2").catch(async (e: unknown) => {
        if (!(e instanceof ResultUndeterminedError)) throw e;
        await raw.put("s", "2");
      });
      expect((await raw.get("s"))?.toString()).toBe("2");
      expect(client.metrics().sendFailures).toBeGreaterThanOrEqual(1);
    } finally {
      await env.cluster.startStore(leader);
    }
    env.cluster.topology.transferLeader(region.id, leader);
    expect((await raw.get("s"))?.toString()).toBe("2");
  });

  itFault(
    "concurrent writes during splits, leader moves and a store restart: none lost or doubled",
    async () => {
      const { client, raw } = await fresh();
      const cas = client.raw({ atomic: true });
      const N = 400;
      const keys = Array.from({ length: N }, (_, i) => `w${String(i).padStart(4, "0")}`);
      await cas.put("counter", "0");
      let swaps = 0;
      // a write in flight on the stopped store may have been applied: it is reported undetermined,
      // never re-sent by the client; the writer puts its own value again, and an undetermined CAS
      // may or may not have counted
      let undeterminedSwaps = 0;
      let stop = false;
      const putOwn = async (key: string, value: string): Promise<void> => {
        for (;;) {
          try {
            return await raw.put(key, value);
          } catch (e) {
            if (!(e instanceof ResultUndeterminedError)) throw e;
          }
        }
      };

      const writer = async (worker: number) => {
        for (let i = worker; i < N; i += 8) {
          await putOwn(keys[i] as string, `v${i}`);
          // one CAS increment per write: the final counter must equal the successful swaps
          for (;;) {
            const cur = (await cas.get("counter")) as Buffer;
            try {
              const r = await cas.compareAndSwap("counter", cur, String(Number(cur.toString()) + 1));
              if (r.swapped) {
                swaps++;
                break;
              }
            } catch (e) {
              if (!(e instanceof ResultUndeterminedError)) throw e;
              undeterminedSwaps++;
            }
          }
        }
      };

      const chaos = async () => {
        const topo = env.cluster.topology;
        let step = 0;
        while (!stop) {
          await new Promise((r) => setTimeout(r, 15));
          step++;
          const k = `w${String(Math.floor(Math.random() * N)).padStart(4, "0")}5`;
          const r = topo.locateKey(Buffer.from(k))!;
          if (step % 3 === 0) {
            try {
              topo.splitRegion(r.id, [k]);
            } catch {
              // already a boundary
            }
          } else {
            const peers = r.peers.filter(
              (p) => p.storeId !== r.leader?.storeId && topo.isStoreRunning(p.storeId),
            );
            if (peers.length > 0) topo.transferLeader(r.id, peers[step % peers.length]!.storeId);
          }
          if (step === 10) {
            // restart a store: its leaders move away first (raft elects new ones)
            const victim = topo.stores()[2]!.id;
            for (const reg of topo.regions()) {
              if (reg.leader?.storeId === victim) {
                const to = reg.peers.find((p) => p.storeId !== victim)!.storeId;
                topo.transferLeader(reg.id, to);
              }
            }
            await env.cluster.stopStore(victim);
            setTimeout(() => void env.cluster.startStore(victim), 100);
          }
        }
      };

      const chaosDone = chaos();
      await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
      stop = true;
      await chaosDone;
      for (const s of env.cluster.topology.stores()) if (!s.running) await env.cluster.startStore(s.id);

      const got = await raw.batchGet(keys);
      expect(got.map((v) => v?.toString())).toEqual(keys.map((_, i) => `v${i}`));
      const scanned: string[] = [];
      for await (const p of raw.iterate("w", "x", { pageSize: 97 })) scanned.push(p.key.toString());
      expect(scanned).toEqual(keys);
      const counter = Number((await cas.get("counter"))?.toString());
      expect(counter).toBeGreaterThanOrEqual(swaps);
      expect(counter).toBeLessThanOrEqual(swaps + undeterminedSwaps);
      expect(swaps).toBe(N);
      expect(env.cluster.topology.regions().length).toBeGreaterThan(2);
    },
    60_000,
  );
});
