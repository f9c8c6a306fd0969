// Profiles one bench:peers workload of tikv-ts alone (no client-go): `node --cpu-prof --import tsx
// bench/peers/profile-one.ts <workload> <concurrency> <ops>` against dist/ (build first).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import type { TikvClient as TikvClientType } from "../../src/index.js";
import { measure, startClusterProcess } from "../raw/raw.bench.js";
import { tikvTsWorkloads, type WorkloadName } from "./workloads.js";

const { TikvClient } = (await import(
  process.env.PROFILE_SOURCE === "1" ? "../../src/index.js" : "../../dist/src/index.js"
)) as { TikvClient: typeof TikvClientType };
// PROFILE_HEAP=1: sampled allocations (a .heapprofile) instead of CPU
const heap = process.env.PROFILE_HEAP === "1";
const [w = "txn-commit", c = "64", n = "4000"] = process.argv.slice(2);
const { child, pd } = await startClusterProcess(
  ["cluster", "--json", "--pd-port", "0", "--stores", "1"],
  ["bin/tikv-ts.mjs"],
);
const client = await TikvClient.connect({ pdEndpoints: pd });
try {
  const ts = tikvTsWorkloads(client);
  await ts.load();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  for (let rep = 0; rep < 3; rep++) {
    // the last repetition is profiled (the first two warm the JIT)
    if (rep === 2 && heap)
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    else if (rep === 2) await session.post("Profiler.start");
    const op = await ts.op(w as WorkloadName, `prof/${rep}/`);
    const m = await measure(w, Number(c), Number(n), (i, done) => void op(i).then(() => done(), done));
    console.log(rep, JSON.stringify(m));
  }
  const { profile } = heap
    ? await session.post("HeapProfiler.stopSampling")
    : await session.post("Profiler.stop");
  writeFileSync(process.env.PROFILE_OUT ?? "/tmp/one.cpuprofile", JSON.stringify(profile));
} finally {
  await client.close();
  child.kill();
}
