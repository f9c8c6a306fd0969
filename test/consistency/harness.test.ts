// The consistency harness end to end on the embedded cluster: a short raw-register run under the
// nemesis set finds nothing; runs against deliberately broken clients are caught; the CLI writes
// its files and exits by verdict.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RawClient } from "../../src/api/raw-client.js";
import type { TikvClient } from "../../src/api/tikv-client.js";
import { checkRegisterHistory } from "../../src/consistency/checkers/linearizable.js";
import { NEMESIS_PROCESS, pairOps, readJsonl } from "../../src/consistency/history.js";
import { NEMESES, resolveNemeses, UnknownNemesisError } from "../../src/consistency/nemesis/index.js";
import { ConsistencyOptionsError, runConsistency } from "../../src/consistency/runner.js";
import type { KeyInput } from "../../src/kv/key.js";
import { isRealCluster } from "../support/cluster.js";

const dirs: string[] = [];
function outDir(): string {
  const d = mkdtempSync(join(tmpdir(), "consistency-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The whole nemesis set. */
const SURVIVABLE = Object.keys(NEMESES);
const FAST = { gapMs: [10, 60] as [number, number], holdMs: [60, 300] as [number, number] };

/** Wraps a client so that `raw()` views pass through `patch` (a test-only broken client). */
function breakRaw(client: TikvClient, patch: (raw: RawClient) => Partial<RawClient>): TikvClient {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === "raw") {
        return (opts?: Parameters<TikvClient["raw"]>[0]) => {
          const raw = target.raw(opts);
          const over = patch(raw);
          return new Proxy(raw, {
            get(r, p) {
              if (p in over) return over[p as keyof RawClient];
              const v = Reflect.get(r, p);
              return typeof v === "function" ? v.bind(r) : v;
            },
          });
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

describe.skipIf(isRealCluster)("consistency harness on the embedded cluster", () => {
  it("finds no anomaly in a short raw-register run under the nemesis set", async () => {
    const out = outDir();
    const r = await runConsistency({
      workload: "raw-register",
      clients: 6,
      ops: 3000,
      nemesis: SURVIVABLE,
      seed: 11,
      out,
      timing: FAST,
    });
    const anomalies = r.verdicts.flatMap((v) => v.anomalies);
    expect(anomalies).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.verdicts.map((v) => v.checker)).toEqual(["linearizable", "porcupine"]);
    expect(r.stats.nemesisFaults).toBeGreaterThan(5);
    // The files: the history read back is the one checked, the verdict file says the same.
    const back = readJsonl(join(out, "history.jsonl"));
    expect(back).toEqual(r.history);
    expect(checkRegisterHistory(back).verdict.valid).toBe(true);
    const verdict = JSON.parse(readFileSync(join(out, "verdict.json"), "utf8"));
    expect(verdict).toMatchObject({ valid: true, workload: "raw-register", seed: "11", clients: 6 });
    // Every nemesis start has its stop, on process -1; client operations pair up.
    const nemesis = pairOps(back, { includeNemesis: true }).filter((o) => o.process === NEMESIS_PROCESS);
    expect(nemesis.length).toBeGreaterThan(5);
    expect(nemesis.every((o) => o.complete?.type === "info")).toBe(true);
    const ops = pairOps(back);
    expect(ops.length).toBeGreaterThanOrEqual(1500);
    expect(ops.every((o) => o.complete !== undefined)).toBe(true);
    // The final reads come after the healing and all succeed.
    expect(ops.filter((o) => o.type === "ok").length).toBeGreaterThan(1400);
  }, 60_000);

  it("reproduces each process's operations from the seed", async () => {
    const run = () =>
      runConsistency({ workload: "raw-register", clients: 1, ops: 40, nemesis: "none", seed: "same" });
    const a = await run();
    const b = await run();
    const invokes = (h: typeof a.history) => h.filter((e) => e.type === "invoke").map((e) => [e.f, e.value]);
    expect(invokes(b.history)).toEqual(invokes(a.history));
  }, 30_000);

  it("catches a client that drops every other key of a batchPut (the old batch-grouping bug)", async () => {
    const r = await runConsistency({
      workload: "raw-register",
      clients: 3,
      ops: 300,
      seed: 5,
      wrapClient: (c) =>
        breakRaw(c, (raw) => ({
          batchPut: (keys: readonly KeyInput[], values: readonly KeyInput[]) =>
            raw.batchPut(
              keys.filter((_, i) => i % 2 === 0),
              values.filter((_, i) => i % 2 === 0),
            ),
        })),
    });
    expect(r.valid).toBe(false);
    const lin = r.verdicts.find((v) => v.checker === "linearizable");
    expect(lin?.anomalies.map((a) => a.kind)).toContain("lost-write");
    // porcupine (when Go is here) agrees, key by key.
    const por = r.verdicts.find((v) => v.checker === "porcupine");
    expect(por?.anomalies.some((a) => a.kind === "checker-disagreement")).toBe(false);
  }, 30_000);

  it("catches a client that acknowledges a put without sending it", async () => {
    const r = await runConsistency({
      workload: "raw-register",
      clients: 3,
      ops: 300,
      seed: 6,
      wrapClient: (c) => breakRaw(c, () => ({ put: async () => {} })),
    });
    expect(r.valid).toBe(false);
    expect(r.verdicts[0]?.anomalies.map((a) => a.kind)).toContain("lost-write");
  }, 30_000);

  it("records a crashed client's operation as info or ok, never fail", async () => {
    const r = await runConsistency({
      workload: "raw-register",
      clients: 3,
      ops: 400,
      nemesis: ["client-crash"],
      seed: 8,
      timing: { gapMs: [5, 20], holdMs: [5, 20] },
    });
    expect(r.valid).toBe(true);
    const stops = r.history.filter(
      (e) => e.process === NEMESIS_PROCESS && e.type === "info" && JSON.stringify(e.value).includes('"stop"'),
    );
    const taken = stops.map(
      (e) => (e.value as { detail: { taken?: boolean; pending?: boolean; outcome?: string } }).detail,
    );
    expect(taken.some((d) => d.taken === true || d.pending === true)).toBe(true);
    expect(taken.every((d) => d.outcome !== "fail")).toBe(true);
  }, 30_000);

  // a raw write whose reply is lost after TiKV applied it is not re-sent (a re-sent put could
  // land after a later overwrite, a re-sent CAS would answer about its own first effect): it ends
  // as ResultUndeterminedError, recorded as info
  it("survives writes whose replies are lost after apply (every nemesis)", async () => {
    for (const [nemesis, seed] of [
      [["drop-reply-error"], 6],
      [Object.keys(NEMESES).filter((n) => n !== "drop-reply-error"), 31],
    ] as const) {
      const r = await runConsistency({
        workload: "raw-register",
        clients: 6,
        ops: 1500,
        nemesis,
        seed,
        timing: FAST,
      });
      expect(r.verdicts.flatMap((v) => v.anomalies)).toEqual([]);
    }
  }, 60_000);

  it("refuses bad options with typed errors", async () => {
    await expect(runConsistency({ workload: "nope", ops: 1 })).rejects.toThrow(ConsistencyOptionsError);
    await expect(runConsistency({ workload: "raw-register" })).rejects.toThrow(/give ops or durationMs/);
    await expect(runConsistency({ workload: "raw-register", ops: 1, clients: 0 })).rejects.toThrow(
      ConsistencyOptionsError,
    );
    expect(() => resolveNemeses("split,bogus", true)).toThrow(UnknownNemesisError);
    expect(() => resolveNemeses("split", false)).toThrow(/needs the embedded cluster/);
    expect(resolveNemeses("all", false).map((n) => n.name)).toEqual(["client-crash"]);
    expect(resolveNemeses("none", true)).toEqual([]);
  });
});

describe.skipIf(isRealCluster)("consistency CLI", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/consistency/cli.ts", ...args], {
      encoding: "utf8",
      timeout: 60_000,
    });

  it("runs a workload, writes history.jsonl and verdict.json, exits 0 when valid", () => {
    const out = outDir();
    const r = cli([
      "--workload",
      "raw-register",
      "--clients",
      "3",
      "--ops",
      "100",
      "--nemesis",
      "split,leader-transfer",
      "--seed",
      "3",
      "--out",
      out,
    ]);
    expect(r.stderr).not.toMatch(/consistency:/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/linearizable: valid/);
    expect(r.stdout).toMatch(/VALID/);
    expect(JSON.parse(readFileSync(join(out, "verdict.json"), "utf8")).valid).toBe(true);
    expect(readJsonl(join(out, "history.jsonl")).length).toBeGreaterThan(200);
  }, 60_000);

  it("exits 2 on bad usage", () => {
    expect(cli(["--workload", "nope"]).status).toBe(2);
    const r = cli(["--workload", "raw-register", "--ops", "5", "--nemesis", "bogus"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown nemesis "bogus"/);
  }, 60_000);
});
