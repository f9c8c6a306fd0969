// The transactional workloads through the harness: every workload in every mode under the full
// nemesis set shows no anomaly; with the embedded engine's write-conflict check switched off
// (a deliberately broken cluster) the bank and list-append checkers report anomalies.
import { describe, expect, it } from "vitest";
import type { TikvClient } from "../../src/api/tikv-client.js";
import { createRng } from "../../src/consistency/rng.js";
import { runConsistency, startClusterFor } from "../../src/consistency/runner.js";
import { WORKLOADS } from "../../src/consistency/workloads/index.js";
import { TXN_MODES, txnModeOf } from "../../src/consistency/workloads/txn-mode.js";
import { InvalidArgumentError } from "../../src/errors/base.js";
import { WriteConflictError } from "../../src/errors/txn.js";
import { isRealCluster, itFault, REAL_PD_ENDPOINTS, uniquePrefix, useCluster } from "../support/cluster.js";

const TXN_WORKLOADS = ["bank", "list-append", "long-fork", "monotonic"] as const;
// short runs: faults come and go quickly so each run meets several
const TIMING = { gapMs: [30, 150] as [number, number], holdMs: [80, 300] as [number, number] };

describe("transactional workloads under the full nemesis set", () => {
  for (const workload of TXN_WORKLOADS) {
    for (const mode of TXN_MODES) {
      it(`${workload} / ${mode}: 0 anomalies`, { timeout: 60_000 }, async () => {
        const r = await runConsistency({
          workload,
          clients: 4,
          ops: mode === "pessimistic" ? 50 : 70,
          nemesis: "all",
          seed: `${workload}/${mode}`,
          timing: TIMING,
          // a hung operation is recorded as info and abandoned (see the BUG test below)
          opTimeoutMs: 10_000,
          settings: { mode, prefix: uniquePrefix(workload) },
          ...(REAL_PD_ENDPOINTS ? { pdEndpoints: REAL_PD_ENDPOINTS } : {}),
        });
        const anomalies = r.verdicts.flatMap((v) => v.anomalies);
        expect(anomalies).toEqual([]);
        expect(r.valid).toBe(true);
        expect(r.stats.ok).toBeGreaterThan(0);
        expect(r.workload).toBe(`${workload}/${mode}`);
      });
    }
  }
});

describe("liveness under dropped replies", () => {
  // A lost primary-commit reply used to hold commit() for client-go's 30 s RPC timeout (the commit
  // phase is deliberately not interruptible: it must end with a verdict), past the harness's 10 s.
  // The runner's clients now give up on an attempt after rpcTimeoutMs (2 s) and resend it. Found
  // with `npm run consistency -- --workload list-append --opt mode=pessimistic --nemesis
  // drop-reply --clients 6 --ops 150 --seed 11 --gap 30-200 --hold 80-400`. It needs those 150 ops
  // to meet the case (~1 min): a long run, on with TIKV_TS_LONG=1; the mechanism itself is tested
  // in test/api/config.test.ts ("rpcTimeoutMs: ...").
  (process.env.TIKV_TS_LONG === "1" ? itFault : itFault.skip)(
    "pessimistic list-append: every operation ends within the harness timeout",
    { timeout: 120_000 },
    async () => {
      const r = await runConsistency({
        workload: "list-append",
        clients: 6,
        ops: 150,
        nemesis: "drop-reply",
        seed: 11,
        timing: { gapMs: [30, 200], holdMs: [80, 400] },
        opTimeoutMs: 10_000,
        settings: { mode: "pessimistic", prefix: uniquePrefix("hang") },
      });
      expect(r.valid).toBe(true);
      expect(r.history.filter((e) => e.error?.startsWith("HarnessTimeoutError"))).toEqual([]);
    },
  );
});

describe("a deliberately broken cluster is caught", () => {
  async function brokenRun(workload: "bank" | "list-append" | "monotonic") {
    const w = (WORKLOADS[workload] as (typeof WORKLOADS)[string])({
      clients: 5,
      ops: 150,
      settings: { mode: "optimistic" },
    });
    const cluster = await startClusterFor(w, createRng(1, "cluster"));
    cluster.txnEngine.testing.skipWriteConflictCheck = true;
    try {
      const r = await runConsistency({ workload: w, cluster, clients: 5, ops: 150, seed: 3 });
      return { r, kinds: new Set(r.verdicts.flatMap((v) => v.anomalies.map((a) => a.kind))) };
    } finally {
      await cluster.close();
    }
  }

  itFault("bank: lost updates change the total", { timeout: 60_000 }, async () => {
    const { r, kinds } = await brokenRun("bank");
    expect(r.valid).toBe(false);
    expect(kinds.has("wrong-total") || kinds.has("partial-transfer")).toBe(true);
  });

  itFault("list-append: lost appends and incompatible orders", { timeout: 60_000 }, async () => {
    const { r, kinds } = await brokenRun("list-append");
    expect(r.valid).toBe(false);
    expect(kinds.has("lost-append") || kinds.has("incompatible-order")).toBe(true);
  });

  itFault("monotonic: counters lose increments and go backwards", { timeout: 60_000 }, async () => {
    const { r, kinds } = await brokenRun("monotonic");
    expect(r.valid).toBe(false);
    expect(kinds.has("lost-increment")).toBe(true);
  });
});

describe.skipIf(isRealCluster)("the engine's test-only write-conflict switch", () => {
  const env = useCluster({ stores: 1 });

  async function conflictingCommits(client: TikvClient, key: string): Promise<unknown> {
    const txns = client.txn();
    const t1 = await txns.begin();
    const t2 = await txns.begin();
    t1.set(key, "1");
    t2.set(key, "2");
    await t1.commit();
    return t2.commit().then(
      () => "committed",
      (e: unknown) => e,
    );
  }

  it("is off by default: a newer commit fails an optimistic prewrite", async () => {
    const c = await env.connect();
    expect(env.cluster.txnEngine.testing.skipWriteConflictCheck).toBe(false);
    expect(await conflictingCommits(c, uniquePrefix("wc"))).toBeInstanceOf(WriteConflictError);
  });

  it("when on, the second writer commits over the first (a lost update)", async () => {
    const c = await env.connect();
    const key = uniquePrefix("wc");
    env.cluster.txnEngine.testing.skipWriteConflictCheck = true;
    try {
      expect(await conflictingCommits(c, key)).toBe("committed");
      expect((await (await c.txn().snapshot()).get(key))?.toString()).toBe("2");
    } finally {
      env.cluster.txnEngine.testing.skipWriteConflictCheck = false;
    }
  });
});

describe("workload options", () => {
  it("an unknown mode or a bad number setting is an InvalidArgumentError", () => {
    expect(() => txnModeOf({ clients: 1, ops: 1, settings: { mode: "2pl" } })).toThrow(InvalidArgumentError);
    expect(() => WORKLOADS.bank?.({ clients: 1, ops: 1, settings: { accounts: "0" } })).toThrow(
      InvalidArgumentError,
    );
    expect(txnModeOf({ clients: 1, ops: 1 })).toBe("optimistic");
    expect(txnModeOf({ clients: 1, ops: 1, mode: "onePC", settings: { mode: "pessimistic" } })).toBe("onePC");
  });

  it("the same seed asks for the same operations", () => {
    const gen = () => {
      const w = (WORKLOADS["list-append"] as (typeof WORKLOADS)[string])({ clients: 2, ops: 10 });
      const rng = createRng(9, "process-0");
      return Array.from({ length: 20 }, () => w.next(rng, 0));
    };
    expect(gen()).toEqual(gen());
  });
});
