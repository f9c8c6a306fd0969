// close() must release every timer, stream and channel: a process that closed its client exits
// by itself. So must a process whose connect() was aborted.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { useCluster } from "../support/cluster.js";

async function runChild(
  args: string[],
): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/clean-exit-child.ts", ...args], {
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
  // a leaked handle shows up as a child that never exits: kill it after a generous grace period
  const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(killer);
  return { code, out, err, ms: Date.now() - started };
}

// A listening socket that accepts connections and never answers: a PD that hangs.
async function silentServer(): Promise<{ address: string; close: () => void }> {
  const sockets = new Set<import("node:net").Socket>();
  const s = createServer((sock) => {
    sockets.add(sock);
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const c of sockets) c.destroy();
      s.close();
    },
  };
}

describe("TikvClient.close", () => {
  const env = useCluster({ stores: 1 });

  it("leaves nothing that keeps the process alive", async () => {
    const r = await runChild([env.pdEndpoints[0] as string]);
    expect(r.err).not.toMatch(/Error/);
    expect(r.out).toContain("closed");
    expect(r.code).toBe(0);
  });

  it("an aborted connect() leaves nothing that keeps the process alive", async () => {
    const pd = await silentServer();
    try {
      const r = await runChild(["abort", pd.address]);
      expect(r.err).not.toMatch(/Error/);
      expect(r.out).toContain("aborted");
      expect(r.code).toBe(0);
      // it exited soon after the abort, long before the 60 s connect timeout
      expect(r.ms).toBeLessThan(20_000);
    } finally {
      pd.close();
    }
  });
});
