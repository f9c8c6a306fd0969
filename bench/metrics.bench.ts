/**
 * Cost of the metrics export. Raw get/put ops/s and client CPU with `metrics` off vs on (a
 * prom-client Registry), in the same run against the same cluster process, reported as on/off
 * ratios; plus the cost of the disabled hooks themselves (what every request pays when metrics
 * are off: one clock-free `now()`, an `observeRequest` and an `observeBatch` that find no sink)
 * and of the same hooks feeding prom-client, in ns per request.
 * Plain script: `node --import tsx bench/metrics.bench.ts`; bench/run.ts calls runMetricsBench().
 */
import { pathToFileURL } from "node:url";
import { Registry } from "prom-client";
import { ClientMetrics } from "../src/actors/runtime/metrics.js";
import type { MetricsSink } from "../src/actors/runtime/metrics-sink.js";
import { createPromSink } from "../src/api/prometheus-sink.js";
import { TikvClient } from "../src/index.js";
import { type Measurement, measure, type Op, startClusterProcess } from "./raw/raw.bench.js";

/** Knobs of {@link runMetricsBench}. */
export interface MetricsBenchOptions {
  /** Operations per measurement at c=1 (default 3000). */
  opsC1?: number;
  /** Operations per measurement at c=256 (default 30000). */
  opsC256?: number;
  /** Rounds of off/on measurements, alternated to even out drift (default 3). */
  rounds?: number;
  log?: boolean;
}

/** Result of {@link runMetricsBench}. */
export interface MetricsBenchResult {
  bench: "metrics";
  measurements: Measurement[];
  ratios: {
    /** ops/s with metrics on ÷ off (1 = no cost). */
    getThroughputOnOffC1: number;
    getThroughputOnOffC256: number;
    putThroughputOnOffC256: number;
    /** client CPU per op on ÷ off at c=256. */
    getCpuOnOffC256: number;
  };
  /** ns per request of the hooks with no sink attached (metrics off). */
  offHookNsPerRequest: number;
  /** The same with the prom-client sink attached (metrics on). */
  onHookNsPerRequest: number;
}

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

// the per-request hooks as the routed sender and a batch stream call them (a lone request is
// its own batch), with no sink (metrics off) or with the prom-client one
function hookNs(sink?: MetricsSink): number {
  const m = new ClientMetrics();
  m.sink = sink;
  const n = sink ? 200_000 : 5_000_000;
  let t0 = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    t0 += m.now();
    m.observeRequest("RawGet", 1n, t0, true);
    m.observeBatch("127.0.0.1:20160", 1, 1);
  }
  return Math.round((Number(process.hrtime.bigint() - start) / n) * 100) / 100;
}

/** Runs the metrics benchmark. */
export async function runMetricsBench(options: MetricsBenchOptions = {}): Promise<MetricsBenchResult> {
  const say = options.log === false ? () => {} : (s: string) => console.log(s);
  const opsC1 = options.opsC1 ?? 3000;
  const opsC256 = options.opsC256 ?? 30000;
  const rounds = options.rounds ?? 3;
  const { child, pd } = await startClusterProcess(
    ["cluster", "--json", "--pd-port", "0", "--stores", "1"],
    ["bin/tikv-ts.mjs"],
  );
  const registry = new Registry();
  const off = await TikvClient.connect({ pdEndpoints: pd });
  const on = await TikvClient.connect({ pdEndpoints: pd, metrics: { registry } });
  try {
    const keys = Array.from({ length: 1024 }, (_, i) => Buffer.from(`mbench-${String(i).padStart(6, "0")}`));
    const value = Buffer.alloc(64, 0x61);
    await off.raw().batchPut(
      keys,
      keys.map(() => value),
    );
    const key = (i: number) => keys[i % keys.length] as Buffer;
    const ops = (c: TikvClient): { get: Op; put: Op } => {
      const raw = c.raw();
      return {
        get: (i, done) => raw.get(key(i)).then(() => done(), done),
        put: (i, done) => raw.put(key(i), value).then(() => done(), done),
      };
    };
    const clients = { off: ops(off), on: ops(on) };
    for (const c of [clients.off, clients.on]) await measure("warmup", 256, 20000, c.get);
    const out: Measurement[] = [];
    const runs = new Map<string, Measurement[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [conc, n] of [
        [1, opsC1],
        [256, opsC256],
      ] as const) {
        for (const kind of ["get", "put"] as const) {
          for (const mode of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
            const name = `metrics ${mode} ${kind}`;
            const m = await measure(name, conc, n, clients[mode][kind]);
            out.push(m);
            const k = `${name}@${conc}`;
            runs.set(k, [...(runs.get(k) ?? []), m]);
            say(
              `${name.padEnd(16)} c=${String(conc).padEnd(3)} ${m.opsPerSec} ops/s cpu ${m.cpuUsPerOp}µs/op`,
            );
          }
        }
      }
    }
    const ops_ = (name: string, c: number) =>
      median((runs.get(`${name}@${c}`) ?? []).map((m) => m.opsPerSec));
    const cpu = (name: string, c: number) =>
      median((runs.get(`${name}@${c}`) ?? []).map((m) => m.cpuUsPerOp));
    const ratios = {
      getThroughputOnOffC1: ratio(ops_("metrics on get", 1), ops_("metrics off get", 1)),
      getThroughputOnOffC256: ratio(ops_("metrics on get", 256), ops_("metrics off get", 256)),
      putThroughputOnOffC256: ratio(ops_("metrics on put", 256), ops_("metrics off put", 256)),
      getCpuOnOffC256: ratio(cpu("metrics on get", 256), cpu("metrics off get", 256)),
    };
    const offHookNsPerRequest = hookNs();
    const onHookNsPerRequest = hookNs(createPromSink({ registry: new Registry(), prefix: "bench_" }));
    say(
      `ratios (on/off, medians of ${rounds}): get ops/s c=1 ${ratios.getThroughputOnOffC1}×, ` +
        `c=256 ${ratios.getThroughputOnOffC256}×; put c=256 ${ratios.putThroughputOnOffC256}×; ` +
        `get CPU/op c=256 ${ratios.getCpuOnOffC256}×; hooks per request: ${offHookNsPerRequest} ns off, ` +
        `${onHookNsPerRequest} ns on`,
    );
    return { bench: "metrics", measurements: out, ratios, offHookNsPerRequest, onHookNsPerRequest };
  } finally {
    await off.close();
    await on.close();
    child.stdin?.end();
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runMetricsBench();
  console.log(JSON.stringify(result));
}
