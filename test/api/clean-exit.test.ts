// close() must release every timer, stream and channel: a process that closed its client exits
// by itself.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { useCluster } from "../support/cluster.js";

describe("TikvClient.close", () => {
  const env = useCluster({ stores: 1 });

  it("leaves nothing that keeps the process alive", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/clean-exit-child.ts", env.pdEndpoints[0] as string],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    // a leaked handle shows up as a child that never exits: kill it after a generous grace period
    const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    clearTimeout(killer);
    expect(err).not.toMatch(/Error/);
    expect(out).toContain("closed");
    expect(code).toBe(0);
  });
});
