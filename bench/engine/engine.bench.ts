/**
 * In-process engine throughput: RawEngine point puts/gets over 1M keys and,
 * when the txn engine is present, TxnEngine point gets, prewrites and commits.
 * Plain script (not vitest): `node --import tsx bench/engine/engine.bench.ts`.
 * Prints one line per measurement and a final JSON summary line; the
 * bench/run.ts aggregator calls `runEngineBench()` instead.
 *
 * Each read measurement runs several rounds and reports the best one: the
 * machine is shared, and the best round is the one least disturbed by others.
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
  /** Read rounds per measurement; the best is reported (default 3). */
  rounds?: number;
  /** Value size in bytes (default 16). */
  valueSize?: number;
  /** Print progress lines (default true). */
  log?: boolean;
}

/** Operations per second for each measured operation (undefined = not measured). */
export interface EngineBenchResult {
  bench: "engine";
  rawKeys: number;
  rawPutsPerSec: number;
  rawOverwritesPerSec: number;
  rawGetsPerSec: number;
  rawMissesPerSec: number;
  /** RawBatchGet requests of 64 keys per second. */
  rawBatchGets64PerSec: number;
  /** RawScan requests (limit 100, forward) per second. */
  rawScans100PerSec: number;
  txnKeys?: number;
  txnPrewritesPerSec?: number;
  txnCommitsPerSec?: number;
  txnGetsPerSec?: number;
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

function opsPerSec(ops: number, ms: number): number {
  return Math.round((ops / ms) * 1000);
}

function bestOf(rounds: number, fn: () => number): number {
  let best = 0;
  for (let r = 0; r < rounds; r++) best = Math.max(best, fn());
  return best;
}

function benchRaw(o: Required<EngineBenchOptions>, say: (s: string) => void) {
  const n = o.rawKeys;
  const engine = new RawEngine();
  const rawPrefix = Buffer.from("raw");
  const missPrefix = Buffer.from("zzz");
  const misses = Math.min(n, 100_000);
  const value = Buffer.alloc(o.valueSize, 0x61);
  const stride = strideFor(n);

  let t = performance.now();
  for (let i = 0; i < n; i++) {
    engine.rawPut({ context: undefined, key: keyFor(rawPrefix, i), value, cf: "", ttl: 0n, forCas: false });
  }
  const rawPutsPerSec = opsPerSec(n, performance.now() - t);
  say(`raw put (insert, ${n} keys): ${rawPutsPerSec} ops/s`);

  const rawOverwritesPerSec = bestOf(o.rounds, () => {
    const start = performance.now();
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) {
      engine.rawPut({ context: undefined, key: keyFor(rawPrefix, j), value, cf: "", ttl: 0n, forCas: false });
    }
    return opsPerSec(n, performance.now() - start);
  });
  say(`raw put (overwrite, random order): ${rawOverwritesPerSec} ops/s`);

  let found = 0;
  const rawGetsPerSec = bestOf(o.rounds, () => {
    const start = performance.now();
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) {
      if (!engine.rawGet({ context: undefined, key: keyFor(rawPrefix, j), cf: "" }).notFound) found++;
    }
    return opsPerSec(n, performance.now() - start);
  });
  if (found !== n * o.rounds) throw new Error(`raw get found ${found} of ${n * o.rounds}`);
  say(`raw get (hit, random order): ${rawGetsPerSec} ops/s`);

  t = performance.now();
  for (let i = 0; i < misses; i++) {
    const key = keyFor(missPrefix, i);
    if (!engine.rawGet({ context: undefined, key, cf: "" }).notFound) throw new Error("unexpected hit");
  }
  const rawMissesPerSec = opsPerSec(misses, performance.now() - t);
  say(`raw get (miss): ${rawMissesPerSec} ops/s`);

  const batch = 64;
  const batchReqs = Math.floor(n / batch);
  const rawBatchGets64PerSec = bestOf(o.rounds, () => {
    const start = performance.now();
    for (let i = 0, j = 0; i < batchReqs; i++) {
      const ks = new Array<Buffer>(batch);
      for (let x = 0; x < batch; x++, j = (j + stride) % n) ks[x] = keyFor(rawPrefix, j);
      if (engine.rawBatchGet({ context: undefined, keys: ks, cf: "" }).pairs.length !== batch) {
        throw new Error("raw batch get missed");
      }
    }
    return opsPerSec(batchReqs, performance.now() - start);
  });
  say(`raw batch get (${batch} keys, random): ${rawBatchGets64PerSec} req/s`);

  const scans = Math.min(20_000, Math.floor(n / 100));
  const rawScans100PerSec = bestOf(o.rounds, () => {
    const start = performance.now();
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
    return opsPerSec(scans, performance.now() - start);
  });
  say(`raw scan (limit 100): ${rawScans100PerSec} req/s`);

  return {
    rawPutsPerSec,
    rawOverwritesPerSec,
    rawGetsPerSec,
    rawMissesPerSec,
    rawBatchGets64PerSec,
    rawScans100PerSec,
  };
}

const TXN_ENGINE_PATH = "../../src/cluster/engine/txn/txn-engine.js";

async function loadTxnEngine(): Promise<{ new (): TxnEngineLike } | string> {
  const url = new URL(TXN_ENGINE_PATH, import.meta.url);
  const tsPath = fileURLToPath(url).replace(/\.js$/, ".ts");
  if (!existsSync(tsPath) && !existsSync(fileURLToPath(url))) return "txn-engine.ts not present";
  const specifier: string = url.href;
  const mod = (await import(specifier)) as { TxnEngine?: new () => TxnEngineLike };
  return mod.TxnEngine ?? "txn-engine.ts has no TxnEngine export";
}

async function benchTxn(o: Required<EngineBenchOptions>, say: (s: string) => void) {
  const Ctor = await loadTxnEngine();
  if (typeof Ctor === "string") {
    say(`txn: skipped (${Ctor})`);
    return { txnSkipped: Ctor };
  }
  const n = o.txnKeys;
  const engine = new Ctor();
  const txnPrefix = Buffer.from("txn");
  const value = Buffer.alloc(o.valueSize, 0x62);
  // Complete messages as the server would decode them; per-op fields are spread over a template.
  const prewriteTemplate = PrewriteRequest.fromPartial({ lockTtl: 3000n });
  const commitTemplate = CommitRequest.fromPartial({});
  const getTemplate = GetRequest.fromPartial({});
  // One single-key transaction per key: start_ts = 2i+1, commit_ts = 2i+2.
  let t = performance.now();
  for (let i = 0; i < n; i++) {
    const key = keyFor(txnPrefix, i);
    const resp = engine.prewrite({
      ...prewriteTemplate,
      mutations: [{ op: Op.Put, key, value, assertion: 0 }],
      primaryLock: key,
      startVersion: BigInt(2 * i + 1),
    });
    if (resp.errors.length > 0 || resp.regionError)
      throw new Error(`prewrite failed: ${JSON.stringify(resp)}`);
  }
  const txnPrewritesPerSec = opsPerSec(n, performance.now() - t);
  say(`txn prewrite (1 key, ${n} txns): ${txnPrewritesPerSec} ops/s`);

  t = performance.now();
  for (let i = 0; i < n; i++) {
    const resp = engine.commit({
      ...commitTemplate,
      keys: [keyFor(txnPrefix, i)],
      startVersion: BigInt(2 * i + 1),
      commitVersion: BigInt(2 * i + 2),
    });
    if (resp.error || resp.regionError) throw new Error("commit failed");
  }
  const txnCommitsPerSec = opsPerSec(n, performance.now() - t);
  say(`txn commit (1 key): ${txnCommitsPerSec} ops/s`);

  const stride = strideFor(n);
  const readTs = BigInt(2 * n + 10);
  const txnGetsPerSec = bestOf(o.rounds, () => {
    const start = performance.now();
    for (let i = 0, j = 0; i < n; i++, j = (j + stride) % n) {
      const resp = engine.get({ ...getTemplate, key: keyFor(txnPrefix, j), version: readTs });
      if (resp.notFound || resp.error) throw new Error("txn get missed");
    }
    return opsPerSec(n, performance.now() - start);
  });
  say(`txn get (hit, random order): ${txnGetsPerSec} ops/s`);
  return { txnKeys: n, txnPrewritesPerSec, txnCommitsPerSec, txnGetsPerSec };
}

/** Runs the engine benchmark and returns ops/s per operation. */
export async function runEngineBench(options: EngineBenchOptions = {}): Promise<EngineBenchResult> {
  const o: Required<EngineBenchOptions> = {
    rawKeys: options.rawKeys ?? 1_000_000,
    txnKeys: options.txnKeys ?? 200_000,
    rounds: options.rounds ?? 3,
    valueSize: options.valueSize ?? 16,
    log: options.log ?? true,
  };
  const say = o.log ? (s: string) => console.log(s) : () => {};
  const raw = benchRaw(o, say);
  const txn = await benchTxn(o, say);
  return { bench: "engine", rawKeys: o.rawKeys, ...raw, ...txn };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runEngineBench();
  console.log(JSON.stringify(result));
}
