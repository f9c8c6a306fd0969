// Transactions while the cluster changes under them: splits, leader transfers and a store
// restart during commits. Every acknowledged transaction's writes must be there afterwards,
// nothing of a failed one, and the counters must equal the number of acknowledged increments
// (nothing lost, nothing doubled). Undetermined commits may go either way and are checked as such.

import { describe, expect } from "vitest";
import { ResultUndeterminedError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions under topology changes", () => {
  const env = useCluster({ stores: 3, splitKeys: ["c:5", "log:4"], regionKeyEncoding: "memcomparable" });

  itFault(
    "concurrent increments across splits, leader moves and a store restart: no lost or doubled commit",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const COUNTERS = 6;
      const WORKERS = 6;
      const PER_WORKER = 12;
      const counter = (i: number) => `c:${i}`;
      await t.runTransaction(async (txn) => {
        for (let i = 0; i < COUNTERS; i++) txn.set(counter(i), "0");
      });
      const acked: string[] = [];
      const undetermined: Array<{ log: string; counters: number[] }> = [];
      const perCounterAcked = new Array<number>(COUNTERS).fill(0);
      let stop = false;

      const worker = async (w: number) => {
        for (let i = 0; i < PER_WORKER; i++) {
          const a = (w + i) % COUNTERS;
          const b = (w + 2 * i + 1) % COUNTERS;
          const log = `log:${w}:${String(i).padStart(3, "0")}`;
          try {
            await t.runTransaction(
              async (txn) => {
                const [va, vb] = (await txn.batchGet([counter(a), counter(b)])).map((v) =>
                  Number(v?.toString()),
                );
                txn.set(counter(a), String((va as number) + 1));
                if (b !== a) txn.set(counter(b), String((vb as number) + 1));
                txn.set(log, "x");
              },
              { maxAttempts: 100 },
            );
            acked.push(log);
            perCounterAcked[a] = (perCounterAcked[a] as number) + 1;
            if (b !== a) perCounterAcked[b] = (perCounterAcked[b] as number) + 1;
          } catch (e) {
            if (!(e instanceof ResultUndeterminedError)) throw e;
            undetermined.push({ log, counters: b !== a ? [a, b] : [a] });
          }
        }
      };

      const chaos = async () => {
        const topo = env.cluster.topology;
        let step = 0;
        while (!stop) {
          await new Promise((r) => setTimeout(r, 20));
          step++;
          const regions = topo.regions();
          const r = regions[step % regions.length];
          if (!r) continue;
          if (step % 4 === 0) {
            const key = Buffer.from(`log:${step % WORKERS}:${String(step % PER_WORKER).padStart(3, "0")}5`);
            const at = topo.locateKey(key);
            try {
              if (at) topo.splitRegion(at.id, [key]);
            } catch {
              // already a boundary
            }
          } else {
            const to = r.peers.find((p) => p.storeId !== r.leader?.storeId && topo.isStoreRunning(p.storeId));
            if (to) topo.transferLeader(r.id, to.storeId);
          }
          if (step === 8) {
            const victim = topo.stores()[1]?.id as bigint;
            await env.cluster.stopStore(victim, { failover: true });
            setTimeout(() => void env.cluster.startStore(victim), 150);
          }
        }
      };

      const chaosDone = chaos();
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      stop = true;
      await chaosDone;
      for (const s of env.cluster.topology.stores()) if (!s.running) await env.cluster.startStore(s.id);
      await t.whenIdle();

      const snap = await t.snapshot();
      const counters = (await snap.batchGet(Array.from({ length: COUNTERS }, (_, i) => counter(i)))).map(
        (v) => Number(v?.toString()),
      );
      const logs = new Set<string>();
      for await (const e of snap.iterate("log:", "log;")) {
        expect(logs.has(e.key.toString())).toBe(false); // each key once
        logs.add(e.key.toString());
      }
      // every acknowledged transaction is there
      for (const l of acked) expect(logs.has(l)).toBe(true);
      // an undetermined one either fully happened or not at all
      const extra = new Array<number>(COUNTERS).fill(0);
      for (const u of undetermined) {
        if (!logs.has(u.log)) continue;
        for (const c of u.counters) extra[c] = (extra[c] as number) + 1;
      }
      // nothing else: no log key of a transaction that did not commit
      expect(logs.size).toBe(acked.length + undetermined.filter((u) => logs.has(u.log)).length);
      // counters equal the increments that committed: none lost, none doubled
      expect(counters).toEqual(perCounterAcked.map((n, i) => n + (extra[i] as number)));
      expect(acked.length + undetermined.length).toBe(WORKERS * PER_WORKER);
      expect(env.cluster.topology.regions().length).toBeGreaterThan(3);
    },
    90_000,
  );
});
