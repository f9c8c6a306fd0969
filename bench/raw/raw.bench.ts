/**
 * Raw get/put through tikv-ts against a bare @grpc/grpc-js client sending the same RawGet/RawPut
 * (unary, with the region context filled in) to the same store, in the same run. The cluster runs
 * in its own process (`tikv-ts cluster --json`), so its CPU is not counted as the client's.
 * Reports p50/p99 latency, ops/s and client CPU µs/op at concurrency 1 and 256, and the ratios
 * the design aims for (DESIGN.md): latency ≤ 1.15× bare at c=1, throughput ≥ 10× bare at c=256,
 * ≤ 12 µs client CPU per batched get.
 * Plain script: `node --import tsx bench/raw/raw.bench.ts`; bench/run.ts calls runRawBench().
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { credentials } from "@grpc/grpc-js";
import { TikvClient } from "../../src/index.js";
import { APIVersion, Context, RawGetRequest, RawPutRequest } from "../../src/proto/kvrpcpb.js";
import { TikvClient as BareTikv } from "../../src/proto/tikvpb.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Knobs of {@link runRawBench}. */
export interface RawBenchOptions {
  /** Operations per measurement at c=1 (default 3000). */
  opsC1?: number;
  /** Operations per measurement at c=256 (default 30000). */
  opsC256?: number;
  /** Print progress lines (default true). */
  log?: boolean;
}

/** One measurement. */
export interface Measurement {
  name: string;
  concurrency: number;
  ops: number;
  p50Us: number;
  p99Us: number;
  opsPerSec: number;
  cpuUsPerOp: number;
}

/** Result of {@link runRawBench}. */
export interface RawBenchResult {
  bench: "raw";
  clusterProcess: "cli";
  measurements: Measurement[];
  ratios: {
    getLatencyP50C1: number;
    putLatencyP50C1: number;
    getThroughputC256: number;
    putThroughputC256: number;
    getCpuUsPerOpC256: number;
  };
  aims: { latencyC1Max: 1.15; throughputC256Min: 10; cpuUsPerBatchedGetMax: 12 };
}

export async function startClusterProcess(
  args: string[],
  cmd: string[],
): Promise<{ child: ChildProcess; pd: string[] }> {
  const child = spawn(process.execPath, [...cmd, ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once("line", resolve);
    child.once("exit", (code) =>
      reject(new Error(`cluster process exited (${code}): ${stderr.slice(0, 500)}`)),
    );
  });
  rl.close();
  const parsed = JSON.parse(line) as { pd: string[] };
  return { child, pd: parsed.pd };
}

async function startCluster() {
  const r = await startClusterProcess(
    ["cluster", "--json", "--pd-port", "0", "--stores", "1"],
    ["bin/tikv-ts.mjs"],
  );
  return { ...r, kind: "cli" as const };
}

export type Op = (i: number, done: (err?: Error | null) => void) => void;

export async function measure(
  name: string,
  concurrency: number,
  total: number,
  op: Op,
): Promise<Measurement> {
  const lat = new Float64Array(total);
  let next = 0;
  let failed: Error | undefined;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    let running = 0;
    const launch = () => {
      while (running < concurrency && next < total && !failed) {
        const i = next++;
        running++;
        const s = process.hrtime.bigint();
        op(i, (err) => {
          lat[i] = Number(process.hrtime.bigint() - s) / 1000;
          running--;
          if (err && !failed) failed = err;
          if ((next >= total || failed) && running === 0) resolve();
          else launch();
        });
      }
    };
    launch();
  });
  if (failed) throw failed;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
  return {
    name,
    concurrency,
    ops: total,
    p50Us: round(pct(0.5)),
    p99Us: round(pct(0.99)),
    opsPerSec: Math.round(total / wallS),
    cpuUsPerOp: round((cpu.user + cpu.system) / total),
  };
}

const round = (x: number) => Math.round(x * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** Runs the raw benchmark. */
export async function runRawBench(options: RawBenchOptions = {}): Promise<RawBenchResult> {
  const say = options.log === false ? () => {} : (s: string) => console.log(s);
  const opsC1 = options.opsC1 ?? 3000;
  const opsC256 = options.opsC256 ?? 30000;
  const { child, pd, kind } = await startCluster();
  const client = await TikvClient.connect({ pdEndpoints: pd });
  const bareClients: BareTikv[] = [];
  try {
    const raw = client.raw();
    const keys = Array.from({ length: 1024 }, (_, i) => Buffer.from(`bench-${String(i).padStart(6, "0")}`));
    const value = Buffer.alloc(64, 0x61);
    await raw.batchPut(
      keys,
      keys.map(() => value),
    );
    // the region and leader the bare client addresses, as tikv-ts found them
    const region = client.regionCache.tryLocateKey(keys[0] as Buffer);
    if (!region) throw new Error("region not cached");
    const store = await client.pd.getStore(Number(region.leader.storeId));
    if (!store) throw new Error("store not found");
    const context = Context.fromPartial({
      regionId: region.id,
      regionEpoch: region.meta.regionEpoch,
      peer: region.leader,
      apiVersion: APIVersion.V1,
    });
    const bare = new BareTikv(store.address, credentials.createInsecure());
    bareClients.push(bare);
    const key = (i: number) => keys[i % keys.length] as Buffer;
    const bareGet: Op = (i, done) =>
      bare.rawGet(RawGetRequest.fromPartial({ context, key: key(i) }), (e, r) =>
        done(e ?? (r?.regionError ? new Error("region error") : null)),
      );
    const barePut: Op = (i, done) =>
      bare.rawPut(RawPutRequest.fromPartial({ context, key: key(i), value }), (e, r) =>
        done(e ?? (r?.regionError ? new Error("region error") : null)),
      );
    const tsGet: Op = (i, done) => raw.get(key(i)).then(() => done(), done);
    const tsPut: Op = (i, done) => raw.put(key(i), value).then(() => done(), done);

    say(`cluster process: ${kind}; store ${store.address}`);
    for (const [n, op] of [
      ["warmup bare", bareGet],
      ["warmup tikv-ts", tsGet],
    ] as const) {
      // JIT-warm both clients at the concurrency that matters most
      await measure(n, 256, 20000, op);
    }
    const out: Measurement[] = [];
    for (const c of [1, 256]) {
      const n = c === 1 ? opsC1 : opsC256;
      for (const [name, op] of [
        ["bare get", bareGet],
        ["tikv-ts get", tsGet],
        ["bare put", barePut],
        ["tikv-ts put", tsPut],
      ] as const) {
        const m = await measure(name, c, n, op);
        out.push(m);
        say(
          `${name.padEnd(12)} c=${String(c).padEnd(3)} p50 ${m.p50Us}µs p99 ${m.p99Us}µs ${m.opsPerSec} ops/s cpu ${m.cpuUsPerOp}µs/op`,
        );
      }
    }
    const find = (name: string, c: number) =>
      out.find((m) => m.name === name && m.concurrency === c) as Measurement;
    const ratios = {
      getLatencyP50C1: ratio(find("tikv-ts get", 1).p50Us, find("bare get", 1).p50Us),
      putLatencyP50C1: ratio(find("tikv-ts put", 1).p50Us, find("bare put", 1).p50Us),
      getThroughputC256: ratio(find("tikv-ts get", 256).opsPerSec, find("bare get", 256).opsPerSec),
      putThroughputC256: ratio(find("tikv-ts put", 256).opsPerSec, find("bare put", 256).opsPerSec),
      getCpuUsPerOpC256: find("tikv-ts get", 256).cpuUsPerOp,
    };
    say(
      `ratios: get p50 c=1 ${ratios.getLatencyP50C1}× bare (aim ≤ 1.15), put ${ratios.putLatencyP50C1}×; ` +
        `throughput c=256 get ${ratios.getThroughputC256}× bare (aim ≥ 10), put ${ratios.putThroughputC256}×; ` +
        `client CPU per batched get ${ratios.getCpuUsPerOpC256} µs (aim ≤ 12)`,
    );
    return {
      bench: "raw",
      clusterProcess: kind,
      measurements: out,
      ratios,
      aims: { latencyC1Max: 1.15, throughputC256Min: 10, cpuUsPerBatchedGetMax: 12 },
    };
  } finally {
    for (const b of bareClients) b.close();
    await client.close();
    child.stdin?.end();
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runRawBench();
  console.log(JSON.stringify(result));
}
