// Forwarding under churn (client-go internal/client/client_test.go
// TestRandomRestartStoreAndForwarding, by meaning): with enableForwarding on, concurrent raw
// reads and writes run while a nemesis keeps stopping and restarting stores (with and without a
// leader failover) and cutting stores from the client only (cluster.blockClients). client-go's
// test hammers one connection pool and accepts a list of transport errors; here the check is end
// to end: every request settles within its deadline, a success carries the right value, a
// failure is a typed TikvError, forwarding was actually used, and once the churn stops every key
// reads back what its writer last confirmed.

import { describe, expect } from "vitest";
import type { TikvClient } from "../../../src/api/tikv-client.js";
import { TikvError } from "../../../src/errors/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { sleep } from "../../support/wait.js";

const CHURN_MS = 7_000;
const WORKERS = 12;
const OP_TIMEOUT_MS = 4_000;
// a request must settle by its own deadline; the slack covers event-loop lag on a busy machine
const SETTLE_SLACK_MS = 2_000;

/** mulberry32: a seeded generator, so a failing run can be replayed with its logged seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a key's single writer knows: the value last confirmed, and writes whose outcome is unknown. */
interface KeyModel {
  confirmed: string;
  unknown: Set<string>;
}

describe.skipIf(skipOnRealCluster("v1"))("forwarding while stores restart and are cut (chaos)", () => {
  const env = useCluster({ stores: 3 });

  itFault(
    "every request settles: right value or a typed error; nothing is lost (TestRandomRestartStoreAndForwarding)",
    { timeout: 40_000 },
    async () => {
      const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
      const rand = seeded(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const topo = env.cluster.topology;
      const p = uniquePrefix("fwd-chaos");
      // three regions, each led by a different store, so every store's churn hits some leader
      topo.splitAt([Buffer.from(`${p}1`), Buffer.from(`${p}2`), Buffer.from(`${p}3`)]);
      const storeIds = topo.stores().map((s) => s.id);
      expect(storeIds).toHaveLength(3);
      for (let r = 0; r < 3; r++) {
        const region = topo.locateKey(Buffer.from(`${p}${r}`));
        if (!region) throw new Error(`no region for ${p}${r}`);
        topo.transferLeader(region.id, storeIds[r] as bigint);
      }

      const c: TikvClient = await env.connect({ enableForwarding: true });
      const raw = c.raw();
      const keys = Array.from({ length: WORKERS }, (_, w) => `${p}${w % 3}-w${w}`);
      const model = new Map<string, KeyModel>();
      for (const k of keys) {
        await raw.put(k, "init");
        model.set(k, { confirmed: "init", unknown: new Set() });
      }

      const rec = env.cluster.recordRequests({ rpcs: ["RawGet", "RawPut"] });
      const violations: string[] = [];
      const failures = new Map<string, number>();
      const stats = { started: 0, settled: 0, ok: 0, failed: 0 };
      const okPerWorker = new Array<number>(WORKERS).fill(0);
      const nemesisLog: string[] = [];
      const end = Date.now() + CHURN_MS;

      // the nemesis: one store disturbed at a time (a majority stays up), the first disturbance a
      // cut of a leader's store so forwarding is sure to be needed
      const nemesis = async () => {
        let first = true;
        while (Date.now() < end) {
          const id = first ? (storeIds[0] as bigint) : pick(storeIds);
          const kind = first ? "cut" : pick(["cut", "cut", "restart", "restart-failover"] as const);
          first = false;
          nemesisLog.push(`${kind}:${id}`);
          if (kind === "cut") {
            env.cluster.blockClients(id);
            await sleep(300 + rand() * 700);
            env.cluster.unblockClients(id);
          } else {
            await env.cluster.stopStore(id, { failover: kind === "restart-failover" });
            await sleep(rand() * 300);
            await env.cluster.startStore(id);
          }
          await sleep(rand() * 200);
        }
      };

      const record = (err: unknown, what: string) => {
        stats.failed++;
        if (!(err instanceof TikvError)) violations.push(`${what}: untyped failure ${String(err)}`);
        const name = err instanceof Error ? err.constructor.name : typeof err;
        failures.set(name, (failures.get(name) ?? 0) + 1);
      };

      const worker = async (w: number) => {
        const k = keys[w] as string;
        const m = model.get(k) as KeyModel;
        for (let seq = 0; Date.now() < end; seq++) {
          const write = rand() < 0.4;
          const value = `w${w}:${seq}`;
          const t0 = Date.now();
          stats.started++;
          try {
            if (write) {
              await raw.put(k, value, { timeoutMs: OP_TIMEOUT_MS });
              m.confirmed = value;
              m.unknown.clear();
            } else {
              const got = (await raw.get(k, { timeoutMs: OP_TIMEOUT_MS }))?.toString();
              if (got !== m.confirmed && !(got !== undefined && m.unknown.has(got)))
                violations.push(`get ${k}: ${got} (confirmed ${m.confirmed})`);
            }
            stats.ok++;
            okPerWorker[w] = (okPerWorker[w] ?? 0) + 1;
          } catch (err) {
            record(err, `${write ? "put" : "get"} ${k}`);
            // a write that failed may still have been applied: either value may be read next
            if (write) m.unknown.add(value);
          } finally {
            stats.settled++;
            const took = Date.now() - t0;
            if (took > OP_TIMEOUT_MS + SETTLE_SLACK_MS) violations.push(`${k} #${seq} took ${took} ms`);
          }
          // a little think time: the churn, not the request rate, is what is under test
          await sleep(rand() * 4);
        }
      };

      try {
        await Promise.all([nemesis(), ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);
      } finally {
        for (const id of storeIds) {
          env.cluster.unblockClients(id);
          await env.cluster.startStore(id);
        }
        rec.stop();
      }

      const summary = { seed, stats, failures: Object.fromEntries(failures), nemesis: nemesisLog };
      expect(violations, JSON.stringify(summary)).toEqual([]);
      // nothing lost: every request that started settled, and each worker got work done
      expect(stats.settled).toBe(stats.started);
      expect(stats.ok).toBeGreaterThan(stats.failed);
      expect(
        okPerWorker.every((n) => n > 0),
        JSON.stringify(summary),
      ).toBe(true);
      // forwarding was really used: some requests reached a leader through a follower
      expect(rec.entries.some((e) => e.forwardedBy !== undefined && e.outcome === "ok")).toBe(true);
      // only the errors of an unreachable store or an interrupted write show up
      for (const name of failures.keys())
        expect(["TimeoutError", "ResultUndeterminedError", "RegionUnavailableError"], name).toContain(name);

      // after the churn every key holds its writer's last confirmed value (or a write left unknown)
      for (const k of keys) {
        const m = model.get(k) as KeyModel;
        const got = (await raw.get(k, { timeoutMs: 15_000 }))?.toString();
        expect([m.confirmed, ...m.unknown], `${k} (seed ${seed})`).toContain(got);
      }
    },
  );
});
