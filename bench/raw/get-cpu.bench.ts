/**
 * Client CPU per batched raw get at concurrency 256, tikv-ts only (the figure DESIGN.md bounds at
 * 12 µs). Faster to iterate on than bench/raw/raw.bench.ts: one cluster process, a warmup, then
 * `ROUNDS` measurements; prints each and the median. `OP=put` measures raw puts instead. With `PROFILE=file.cpuprofile` the measured
 * rounds (not startup or warmup) are recorded by the V8 profiler; `bench/raw/profile-top.ts`
 * summarizes the file.
 * Plain script: `node --import tsx bench/raw/get-cpu.bench.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { TikvClient } from "../../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const OPS = Number(process.env.OPS ?? 30_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 256);
const OP = process.env.OP === "put" ? "put" : "get";

async function startCluster(): Promise<{ child: ChildProcess; pd: string[] }> {
  const child = spawn(
    process.execPath,
    ["bin/tikv-ts.mjs", "cluster", "--json", "--pd-port", "0", "--stores", "1"],
    { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
  );
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`cluster process exited (${code})`)));
  });
  rl.close();
  return { child, pd: (JSON.parse(line) as { pd: string[] }).pd };
}

// Runs `total` gets keeping `concurrency` in flight; returns client CPU µs per get.
async function round(get: (i: number) => Promise<unknown>, total: number): Promise<number> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    const launch = () => {
      while (running < CONCURRENCY && next < total) {
        running++;
        get(next++).then(() => {
          running--;
          if (next >= total && running === 0) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / total;
}

const { child, pd } = await startCluster();
const client = await TikvClient.connect({ pdEndpoints: pd });
try {
  const raw = client.raw();
  const keys = Array.from({ length: 1024 }, (_, i) => Buffer.from(`bench-${String(i).padStart(6, "0")}`));
  await raw.batchPut(
    keys,
    keys.map(() => Buffer.alloc(64, 0x61)),
  );
  const value = Buffer.alloc(64, 0x62);
  const get =
    OP === "put"
      ? (i: number) => raw.put(keys[i % keys.length] as Buffer, value)
      : (i: number) => raw.get(keys[i % keys.length] as Buffer);
  await round(get, 40_000);
  const profilePath = process.env.PROFILE;
  const session = profilePath ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
  }
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const us = await round(get, OPS);
    results.push(us);
    console.log(`round ${r + 1}: ${us.toFixed(2)} µs/${OP}`);
  }
  if (session && profilePath) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(profilePath, JSON.stringify(profile));
    session.disconnect();
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(
    `median ${(sorted[Math.floor(sorted.length / 2)] as number).toFixed(2)} µs/${OP}, min ${(sorted[0] as number).toFixed(2)} (c=${CONCURRENCY}, ${OPS} ${OP}s/round)`,
  );
} finally {
  await client.close();
  child.stdin?.end();
  child.kill("SIGTERM");
}
