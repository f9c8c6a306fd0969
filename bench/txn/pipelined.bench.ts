/**
 * One pipelined transaction writing 1M keys (client-go pipelined DML) against the embedded
 * cluster in its own process: time to write + commit, and the client's peak heap and RSS
 * (process.memoryUsage sampled every 20 ms) against the bytes written. The bound: the client
 * holds at most the mutable buffer (flushed from 16 MiB / 10 000 keys, writes wait at 128 MiB)
 * plus one flushing generation and its in-flight requests, whatever the number of keys; a plain
 * transaction holds everything (and stops at 100 MiB). Plain script:
 * `node --import tsx bench/txn/pipelined.bench.ts [keys]`; a runner may call runPipelinedBench().
 */
import { TikvClient } from "../../src/index.js";
import { startClusterProcess } from "../raw/raw.bench.js";

/** Knobs of {@link runPipelinedBench}. */
export interface PipelinedBenchOptions {
  /** Keys written (default 1 000 000). */
  keys?: number;
  /** Value bytes per key (default 100). */
  valueBytes?: number;
  /** Regions of the cluster (default 4). */
  regions?: number;
  log?: boolean;
}

/** Result of {@link runPipelinedBench}. */
export interface PipelinedBenchResult {
  bench: "pipelined";
  keys: number;
  /** Key + value bytes written. */
  bytesWritten: number;
  writeMs: number;
  commitMs: number;
  /** Until every lock was resolved (background range ResolveLock). */
  resolveMs: number;
  keysPerSec: number;
  generations: number;
  baselineHeapMB: number;
  peakHeapMB: number;
  peakRssMB: number;
  /** Peak heap above the baseline, as a share of the bytes written. */
  heapGrowthVsWritten: number;
  /** The stated bound on the client's buffer memory (MB). */
  boundMB: number;
}

const MB = 1024 * 1024;
const round = (n: number) => Math.round(n * 10) / 10;

/** Runs the pipelined benchmark. */
export async function runPipelinedBench(options: PipelinedBenchOptions = {}): Promise<PipelinedBenchResult> {
  const say = options.log === false ? () => {} : (s: string) => console.log(s);
  const n = options.keys ?? 1_000_000;
  const valueBytes = options.valueBytes ?? 100;
  const { child, pd } = await startClusterProcess(
    [
      "cluster",
      "--json",
      "--pd-port",
      "0",
      "--stores",
      "1",
      "--regions",
      String(options.regions ?? 4),
      "--region-key-encoding",
      "memcomparable",
    ],
    ["bin/tikv-ts.mjs"],
  );
  const client = await TikvClient.connect({ pdEndpoints: pd });
  let peakHeap = 0;
  let peakRss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
    if (m.rss > peakRss) peakRss = m.rss;
  };
  try {
    const t = client.txn();
    // warm the connection and the region cache
    await t.runTransaction(async (w) => w.set("warm", "1"));
    (globalThis as { gc?: () => void }).gc?.();
    const baseline = process.memoryUsage().heapUsed;
    sample();
    const sampler = setInterval(sample, 20);
    const value = Buffer.alloc(valueBytes, 0x61);
    const t0 = Date.now();
    const txn = await t.begin({ pipelined: true });
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      // the first byte spreads the keys over every region
      const key = Buffer.from(`\u0000row${String(i).padStart(8, "0")}`, "latin1");
      key[0] = (i * 37) & 0xff;
      txn.set(key, value);
      bytes += key.length + value.length;
      // let the background flushes run (and wait when the buffer passed 128 MiB)
      if (i % 1000 === 999) await txn.flush();
    }
    const t1 = Date.now();
    await txn.commit();
    const t2 = Date.now();
    await t.whenIdle();
    const t3 = Date.now();
    clearInterval(sampler);
    sample();
    const r: PipelinedBenchResult = {
      bench: "pipelined",
      keys: n,
      bytesWritten: bytes,
      writeMs: t1 - t0,
      commitMs: t2 - t1,
      resolveMs: t3 - t2,
      keysPerSec: Math.round(n / ((t2 - t0) / 1000)),
      generations: txn.generation,
      baselineHeapMB: round(baseline / MB),
      peakHeapMB: round(peakHeap / MB),
      peakRssMB: round(peakRss / MB),
      heapGrowthVsWritten: Math.round(((peakHeap - baseline) / bytes) * 100) / 100,
      boundMB: 2 * 128,
    };
    say(
      `pipelined: ${n} keys (${round(bytes / MB)} MB) in ${r.generations} generations; write ${r.writeMs} ms, ` +
        `commit ${r.commitMs} ms, resolve ${r.resolveMs} ms (${r.keysPerSec} keys/s to commit); ` +
        `heap ${r.baselineHeapMB} -> peak ${r.peakHeapMB} MB, peak RSS ${r.peakRssMB} MB ` +
        `(bound: ${r.boundMB} MB of buffers + in-flight requests)`,
    );
    return r;
  } finally {
    await client.close();
    child.kill();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const keys = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(JSON.stringify(await runPipelinedBench({ keys })));
}
