// The `tikv-ts` command: bad input gets a clear message and exit code 2; a good start prints
// endpoints a client (and the control channel) can use.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlClient } from "../../src/cluster/control/index.js";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "bin/tikv-ts.mjs");
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });

describe("tikv-ts CLI", () => {
  it("prints usage for no command and exits 0; unknown command exits 2", () => {
    expect(run().stderr).toMatch(/usage: tikv-ts cluster/);
    expect(run().status).toBe(0);
    expect(run("frobnicate").status).toBe(2);
  });

  it.each([
    [["--stores", "0"], /--stores must be an integer >= 1, not 0/],
    [["--regions", "x"], /--regions must be an integer >= 1, not x/],
    [["--api-version", "v3"], /--api-version must be v1, v1ttl or v2, not v3/],
    [["--region-key-encoding", "hex"], /--region-key-encoding must be raw or memcomparable, not hex/],
    [["--bogus"], /Unknown option '--bogus'/],
  ])("rejects %j", (args, message) => {
    const r = run("cluster", ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("starts a cluster on the given PD port, prints its endpoints as JSON, serves the control channel and stops on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [bin, "cluster", "--stores", "2", "--regions", "3", "--pd-port", String(port), "--json"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const line = await new Promise<string>((resolveLine, reject) => {
      let buf = "";
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf("\n");
        if (nl >= 0) resolveLine(buf.slice(0, nl));
      });
      child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
    });
    const info = JSON.parse(line) as { pd: string[]; control: string };
    expect(info.pd).toHaveLength(1);
    expect(info.pd).toEqual([`127.0.0.1:${port}`]);
    const control = new ControlClient(info.control);
    const regions = (await control.call("topology", "regions", [])) as unknown[];
    expect(regions).toHaveLength(3);
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);
});

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}
