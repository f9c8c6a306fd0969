/**
 * In-process engine throughput: RawEngine point puts/gets over 1M keys (plus
 * batch gets and scans) and, when the txn engine is present, TxnEngine point
 * gets, prewrites and commits.
 * Plain script (not vitest): `node --import tsx bench/engine/engine.bench.ts`.
 * Prints one line per measurement and a final JSON summary line; the
 * bench/run.ts aggregator calls `runEngineBench()` instead.
 *
 * Each measurement reports two rates: per wall-clock second and per CPU second
 * of this process (`process.cpuUsage`). On a shared machine the wall rate
 * mostly measures the neighbours; the CPU rate approximates "on one core".
 * Repeatable measurements run several rounds and keep the best.
 */
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { RawEngine } from "../../src/cluster/engine/raw/raw-engine.js";
import { CommitRequest, GetRequest, Op, PrewriteRequest } from "../../src/proto/kvrpcpb.js";

/** Knobs of `runEngineBench`. */
export interface EngineBenchOptions {
  /** Keys loaded into the raw engine (default 1,000,000). */
  rawKeys?: number;
  /** Keys used for the txn engine (default 200,000; each costs a prewrite and a commit). */
  txnKeys?: number;
  /** Rounds per repeatable measurement; the best is reported (default 3). */
  rounds?: number;
  /** Value size in bytes (default 16). */
  valueSize?: number;
  /** Print one line per measurement (default true). */
  log?: boolean;
}

/** One measured operation: operations per wall-clock second and per CPU second. */
export interface Rate {
  perSec: number;
  perCpuSec: number;
}

/** Result of `runEngineBench`: a rate per operation name. */
export interface EngineBenchResult {
  bench: "engine";
  rawKeys: number;
  txnKeys?: number;
  /** e.g. "raw.get", "raw.put.insert", "txn.prewrite". */
  rates: Record<string, Rate>;
  /** Why the txn part was skipped, when it was. */
  txnSkipped?: string;
}

/** Minimal structural view of the txn engine, so this file builds without it. */
interface TxnEngineLike {
  prewrite(req: unknown): { errors: unknown[]; regionError?: unknown };
  commit(req: unknown): { error?: unknown; regionError?: unknown };
  get(req: unknown): { value: Buffer; notFound: boolean; error?: unknown };
}

const EMPTY = Buffer.alloc(0);

/**
 * Builds key `prefix` + 10-digit `j` in a fresh buffer, as a request decoder
 * would: reading keys from a pre-built array in random order would add two
 * cache misses per operation that a server never pays (its key was just
 * decoded), and would dominate the measurement.
 */
function keyFor(prefix: Buffer, j: number): Buffer {
  const b = Buffer.allocUnsafe(prefix.length + 10);
  prefix.copy(b, 0);
  let x = j;
  for (let p = b.length - 1; p >= prefix.length; p--) {
    b[p] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return b;
}

/** A stride coprime with n visits every index once in a cache-unfriendly order. */
function strideFor(n: number): number {
  let s = 7919;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  while (gcd(s, n) !== 1) s += 2;
  return s;
}

/** Collects rates and prints them as they are measured. */
class Recorder {
  readonly rates: Record<string, Rate> = {};
  constructor(private readonly say: (line: string) => void) {}

  /** Runs `body` (which performs `ops` operations) `rounds` times and records the best rates. */
  measure(name: string, label: string, ops: number, rounds: number, body: () => void): void {
    let best: Rate = { perSec: 0, perCpuSec: 0 };
    for (let r = 0; r < rounds; r++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      body();
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      best = {
        perSec: Math.max(best.perSec, Math.round((ops / wallMs) * 1000)),
        perCpuSec: Math.max(best.perCpuSec, Math.round((ops / Math.max(cpuMs, 0.001)) * 1000)),
      };
    }
    this.rates[name] = best;
    this.say(`${label}: ${best.perSec} ops/s (${best.perCpuSec} per CPU-second)`);
  }
}

function benchRaw(o: Required<EngineBenchOptions>, rec: Recorder): void {
  const n = o.rawKeys;
  const engine = new RawEngine();
  const rawPrefix = Buffer.from("raw");
  const value = Buffer.alloc(o.valueSize, 0x61);
  const stride = strideFor(n);
  const put = (j: number) =>
    engine.rawPut({ context: undefined, key: keyFor(rawPrefix, j), value, cf: "", ttl: 0n, forCas: false });

  rec.measure("raw.put.insert", `raw put (insert, ${n} keys)`, n, 1, () => {
    for (let i = 0; i < n; i++) put(i);
  });
  rec.measure("raw.put.overwrite", "raw put (overwrite, random order)", n, o.rounds, () => {
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) put(j);
  });
  rec.measure("raw.get", "raw get (hit, random order)", n, o.rounds, () => {
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) {
      if (engine.rawGet({ context: undefined, key: keyFor(rawPrefix, j), cf: "" }).notFound) {
        throw new Error("raw get missed");
      }
    }
  });
  const missPrefix = Buffer.from("zzz");
  const misses = Math.min(n, 200_000);
  rec.measure("raw.get.miss", "raw get (miss)", misses, o.rounds, () => {
    for (let i = 0; i < misses; i++) {
      if (!engine.rawGet({ context: undefined, key: keyFor(missPrefix, i), cf: "" }).notFound) {
        throw new Error("unexpected hit");
      }
    }
  });

  const batch = 64;
  const batchReqs = Math.floor(n / batch);
  rec.measure(
    "raw.batchGet64",
    `raw batch get (${batch} keys, random; rate in requests)`,
    batchReqs,
    o.rounds,
    () => {
      for (let i = 0, j = 0; i < batchReqs; i++) {
        const keys = new Array<Buffer>(batch);
        for (let x = 0; x < batch; x++, j = (j + stride) % n) keys[x] = keyFor(rawPrefix, j);
        if (engine.rawBatchGet({ context: undefined, keys, cf: "" }).pairs.length !== batch) {
          throw new Error("raw batch get missed");
        }
      }
    },
  );

  const scans = Math.min(20_000, Math.floor(n / 100));
  rec.measure("raw.scan100", "raw scan (limit 100; rate in requests)", scans, o.rounds, () => {
    for (let i = 0, j = 0; i < scans; i++, j = (j + stride) % (n - 100)) {
      const resp = engine.rawScan({
        context: undefined,
        startKey: keyFor(rawPrefix, j),
        endKey: EMPTY,
        limit: 100,
        keyOnly: false,
        cf: "",
        reverse: false,
      });
      if (resp.kvs.length !== 100) throw new Error("raw scan short");
    }
  });
}

const TXN_ENGINE_PATH = "../../src/cluster/engine/txn/txn-engine.js";

/** Loads TxnEngine if another engineer's file exists; a reason string otherwise. */
async function loadTxnEngine(): Promise<(new () => TxnEngineLike) | string> {
  const url = new URL(TXN_ENGINE_PATH, import.meta.url);
  const tsPath = fileURLToPath(url).replace(/\.js$/, ".ts");
  if (!existsSync(tsPath) && !existsSync(fileURLToPath(url))) return "txn-engine.ts not present";
  const specifier: string = url.href;
  const mod = (await import(specifier)) as { TxnEngine?: new () => TxnEngineLike };
  return mod.TxnEngine ?? "txn-engine.ts has no TxnEngine export";
}

async function benchTxn(o: Required<EngineBenchOptions>, rec: Recorder): Promise<string | undefined> {
  const Ctor = await loadTxnEngine();
  if (typeof Ctor === "string") return Ctor;
  const n = o.txnKeys;
  const engine = new Ctor();
  const txnPrefix = Buffer.from("txn");
  const value = Buffer.alloc(o.valueSize, 0x62);
  // Complete messages as the server would decode them; per-op fields are spread over a template.
  const prewriteTemplate = PrewriteRequest.fromPartial({ lockTtl: 3000n });
  const commitTemplate = CommitRequest.fromPartial({});
  const getTemplate = GetRequest.fromPartial({});

  // One single-key transaction per key: start_ts = 2i+1, commit_ts = 2i+2.
  rec.measure("txn.prewrite", `txn prewrite (1 key, ${n} txns)`, n, 1, () => {
    for (let i = 0; i < n; i++) {
      const key = keyFor(txnPrefix, i);
      const resp = engine.prewrite({
        ...prewriteTemplate,
        mutations: [{ op: Op.Put, key, value, assertion: 0 }],
        primaryLock: key,
        startVersion: BigInt(2 * i + 1),
      });
      if (resp.errors.length > 0 || resp.regionError) throw new Error("prewrite failed");
    }
  });
  rec.measure("txn.commit", "txn commit (1 key)", n, 1, () => {
    for (let i = 0; i < n; i++) {
      const resp = engine.commit({
        ...commitTemplate,
        keys: [keyFor(txnPrefix, i)],
        startVersion: BigInt(2 * i + 1),
        commitVersion: BigInt(2 * i + 2),
      });
      if (resp.error || resp.regionError) throw new Error("commit failed");
    }
  });
  const stride = strideFor(n);
  const readTs = BigInt(2 * n + 10);
  rec.measure("txn.get", "txn get (hit, random order)", n, o.rounds, () => {
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) {
      const resp = engine.get({ ...getTemplate, key: keyFor(txnPrefix, j), version: readTs });
      if (resp.notFound || resp.error) throw new Error("txn get missed");
    }
  });
  return undefined;
}

/** Runs the engine benchmark and returns the rate of each operation. */
export async function runEngineBench(options: EngineBenchOptions = {}): Promise<EngineBenchResult> {
  const o: Required<EngineBenchOptions> = {
    rawKeys: options.rawKeys ?? 1_000_000,
    txnKeys: options.txnKeys ?? 200_000,
    rounds: options.rounds ?? 3,
    valueSize: options.valueSize ?? 16,
    log: options.log ?? true,
  };
  const rec = new Recorder(o.log ? (line) => console.log(line) : () => {});
  benchRaw(o, rec);
  const txnSkipped = await benchTxn(o, rec);
  if (txnSkipped !== undefined && o.log) console.log(`txn: skipped (${txnSkipped})`);
  return {
    bench: "engine",
    rawKeys: o.rawKeys,
    ...(txnSkipped === undefined ? { txnKeys: o.txnKeys } : { txnSkipped }),
    rates: rec.rates,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runEngineBench();
  console.log(JSON.stringify(result));
}
