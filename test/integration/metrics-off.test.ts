// Metrics off costs nothing and loads nothing: a process whose client runs without the
// `metrics` option never imports prom-client; the same workload with it on does (control).
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { skipOnRealCluster, useCluster } from "../support/cluster.js";

async function runChild(mode: "on" | "off", pd: string): Promise<{ loaded: boolean }> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/metrics-load-child.ts", mode, pd], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1) as string) as { loaded: boolean };
}

describe.skipIf(skipOnRealCluster("v1"))("metrics off: prom-client never loaded", () => {
  const env = useCluster({ stores: 1 });

  it("a raw + txn workload without `metrics` does not import prom-client", async () => {
    expect(await runChild("off", env.pdEndpoints[0] as string)).toEqual({ loaded: false });
  }, 30_000);

  it("the same workload with `metrics: true` does (the check sees a load)", async () => {
    expect(await runChild("on", env.pdEndpoints[0] as string)).toEqual({ loaded: true });
  }, 30_000);
});
