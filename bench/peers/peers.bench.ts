/**
 * tikv-ts against TiKV's Go client (client-go, the version in go/go.mod, its defaults) on one
 * embedded cluster running in its own process (`tikv-ts cluster --json`). Each repetition runs
 * every workload through both clients, one after the other (the order alternates between
 * repetitions), so each ratio compares two runs made moments apart on the same server state.
 * Reports medians per client and tikv-ts / client-go ratios (median and min–max across
 * repetitions) of throughput, p50, p99, client CPU per op and cluster CPU per op, and writes the
 * markdown table to bench/peers/RESULTS.md (full runs only).
 *
 * `npm run bench:peers` (options: `--reps N`, `--scale F` multiplies every op count, `--only a,b`
 * keeps the workloads named, `--source` measures src/ through tsx instead of the built dist/). Skipped with a message when Go is not installed. On a shared
 * machine, client CPU per op is the stable figure; throughput and latency move with the load.
 */

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TikvClient as TikvClientType } from "../../src/index.js";
import { measure, startClusterProcess } from "../raw/raw.bench.js";
import { buildGoPeer, clientGoVersion, GoPeer, goAvailable } from "./go-peer.js";
import { type Client, markdownTable, type Sample, summarise } from "./report.js";
import { tikvTsWorkloads, type WorkloadName } from "./workloads.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Workload, concurrency, operations per run (before --scale). */
const PLAN: ReadonlyArray<readonly [WorkloadName, number, number]> = [
  ["raw-get", 1, 2000],
  ["raw-get", 16, 10000],
  ["raw-get", 256, 30000],
  ["raw-put", 1, 2000],
  ["raw-put", 16, 10000],
  ["raw-put", 256, 30000],
  ["raw-batch-get", 8, 2000],
  ["raw-batch-put", 8, 1000],
  ["raw-scan", 1, 300],
  ["txn-commit", 1, 300],
  ["txn-commit", 64, 2000],
  ["txn-async-commit", 16, 1000],
  ["txn-1pc", 16, 1000],
  ["txn-pessimistic", 16, 1000],
  ["snapshot-batch-get", 8, 2000],
];

// The library as users run it: tsc's output in dist/ (the npm script builds it first). Through
// tsx, every closure the library creates also pays a name-keeping defineProperty, which the
// published package does not.
const { TikvClient } = (await import(
  process.argv.includes("--source") ? "../../src/index.js" : "../../dist/src/index.js"
)) as { TikvClient: typeof TikvClientType };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// utime + stime of a process in µs, from /proc (Linux); NaN elsewhere.
function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 of stat(5), counted after the command name: indices 11 and 12; ticks of 10 ms
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  if (!goAvailable()) {
    console.log("bench:peers: SKIPPED - Go is not installed (the client-go side needs it)");
    return;
  }
  const reps = Number(arg("reps") ?? 3);
  const scale = Number(arg("scale") ?? 1);
  const only = arg("only")?.split(",");
  const plan = PLAN.filter(([w]) => !only || only.includes(w));
  const binary = buildGoPeer();
  const version = clientGoVersion();
  const { child, pd } = await startClusterProcess(
    ["cluster", "--json", "--pd-port", "0", "--stores", "1"],
    ["bin/tikv-ts.mjs"],
  );
  const clusterPid = child.pid as number;
  const client = await TikvClient.connect({ pdEndpoints: pd });
  let go: GoPeer | undefined;
  const samples: Sample[] = [];
  try {
    const ts = tikvTsWorkloads(client);
    await ts.load();
    go = await GoPeer.start(binary, pd);
    const goPeer = go;
    let runId = 0;
    const runOnce = async (who: Client, w: WorkloadName, c: number, n: number, rep: number) => {
      const prefix = `peers/${who}/${runId++}/`;
      const cl0 = processCpuUs(clusterPid);
      let s: Omit<Sample, "clusterCpuUsPerOp">;
      if (who === "client-go") {
        const r = await goPeer.run(w, c, n, prefix);
        s = {
          client: who,
          workload: w,
          concurrency: c,
          rep,
          opsPerSec: Math.round(r.ops / (r.wallUs / 1e6)),
          p50Us: r.p50Us,
          p99Us: r.p99Us,
          cpuUsPerOp: r.cpuUs / r.ops,
        };
      } else {
        const op = await ts.op(w, prefix);
        const m = await measure(w, c, n, (i, done) => void op(i).then(() => done(), done));
        s = { ...m, client: who, workload: w, concurrency: c, rep };
      }
      const sample = { ...s, clusterCpuUsPerOp: (processCpuUs(clusterPid) - cl0) / n };
      if (rep >= 0) samples.push(sample);
      return sample;
    };
    // JIT-warm both clients on every workload before measuring
    for (const [w, c, n] of plan) {
      const k = Math.max(1, Math.round((n * scale) / 5));
      await runOnce("tikv-ts", w, c, k, -1);
      await runOnce("client-go", w, c, k, -1);
    }
    for (let rep = 0; rep < reps; rep++) {
      const order: Client[] = rep % 2 === 0 ? ["tikv-ts", "client-go"] : ["client-go", "tikv-ts"];
      for (const [w, c, n] of plan) {
        for (const who of order) {
          const s = await runOnce(who, w, c, Math.max(1, Math.round(n * scale)), rep);
          console.log(
            `rep ${rep + 1} ${who.padEnd(9)} ${w.padEnd(18)} c=${String(c).padEnd(3)} ${s.opsPerSec} ops/s p50 ${s.p50Us.toFixed(0)}µs p99 ${s.p99Us.toFixed(0)}µs cpu ${s.cpuUsPerOp.toFixed(1)}µs/op cluster ${s.clusterCpuUsPerOp.toFixed(1)}µs/op`,
          );
        }
      }
    }
  } finally {
    await go?.stop();
    await client.close();
    child.stdin?.end();
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
  }
  const rows = summarise(samples);
  const goVersion = spawnSync("go", ["env", "GOVERSION"], { encoding: "utf8" }).stdout.trim();
  const machine = `${cpus()[0]?.model ?? "unknown CPU"} × ${cpus().length}, Node ${process.version}, ${goVersion}`;
  const md = [
    `tikv-ts / client-go ${version} (defaults, BatchCommands on), one embedded cluster (1 store) in its own process;`,
    `${reps} repetitions, medians; ratio = tikv-ts / client-go, median (min–max) across repetitions.`,
    `Machine: ${machine}; ${new Date().toISOString().slice(0, 10)}. c = concurrency; batches are ${100} keys, scans 1,000 keys, transactions 10 keys.`,
    "",
    markdownTable(rows),
    "",
  ].join("\n");
  // a partial run (--only) prints its table but keeps the last full one
  if (!only) writeFileSync(join(here, "RESULTS.md"), md);
  console.log(`\n${md}`);
  console.log(JSON.stringify({ bench: "peers", clientGo: version, machine, rows }));
}

await main();
