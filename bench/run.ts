// `npm run bench`: runs every benchmark module present and prints one JSON summary line.
// Raw client vs bare gRPC (bench/raw), the embedded engines (bench/engine) and the transport
// (bench/transport.bench.ts, a script run in its own process).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const results: unknown[] = [];

async function tryModule(path: string, fn: string, opts: unknown): Promise<void> {
  const file = join(here, path);
  if (!existsSync(file)) return;
  console.log(`\n== ${path} ==`);
  try {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, (o: unknown) => Promise<unknown>>;
    const run = mod[fn];
    if (typeof run !== "function") {
      console.log(`(${path} has no ${fn}; skipped)`);
      return;
    }
    results.push(await run(opts));
  } catch (e) {
    console.log(`${path} failed: ${(e as Error).message}`);
    results.push({ bench: path, error: (e as Error).message });
  }
}

async function tryScript(path: string): Promise<void> {
  const file = join(here, path);
  if (!existsSync(file)) return;
  console.log(`\n== ${path} ==`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], { stdio: "inherit" });
    child.once("exit", resolve);
  });
  if (code !== 0) results.push({ bench: path, error: `exit code ${code}` });
}

const quick = process.argv.includes("--quick");
await tryModule("raw/raw.bench.ts", "runRawBench", quick ? { opsC1: 500, opsC256: 5000 } : {});
await tryModule("metrics.bench.ts", "runMetricsBench", quick ? { opsC1: 500, opsC256: 5000, rounds: 1 } : {});
await tryModule("txn/txn.bench.ts", "runTxnBench", quick ? { opsC1: 100, opsC64: 500 } : {});
await tryModule("txn/pipelined.bench.ts", "runPipelinedBench", quick ? { keys: 100_000 } : {});
await tryModule(
  "engine/engine.bench.ts",
  "runEngineBench",
  quick ? { rawKeys: 100_000, txnKeys: 20_000 } : {},
);
await tryScript("transport.bench.ts");
console.log(JSON.stringify({ benchmarks: results }));
