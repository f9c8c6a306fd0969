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
    const none = run();
    expect(none.status).toBe(0);
    expect(none.stderr).toMatch(/Usage: tikv-ts/);
    expect(none.stderr).toMatch(/cluster/);
    const unknown = run("frobnicate");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it("--help, help and cluster --help print help on stdout and exit 0", () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const r = run(...args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Usage: tikv-ts/);
      expect(r.stdout).toMatch(/cluster/);
    }
    for (const args of [
      ["cluster", "--help"],
      ["help", "cluster"],
    ]) {
      const r = run(...args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Usage: tikv-ts cluster/);
      for (const flag of ["--stores", "--regions", "--pd-port", "--pd-members", "--host", "--control-port"])
        expect(r.stdout).toContain(flag);
      for (const flag of [
        "--region-key-encoding",
        "--json",
        "--tls-ca",
        "--tls-generate",
        "--tls-allowed-cn",
      ])
        expect(r.stdout).toContain(flag);
    }
  });

  it("cluster --help states TiKV's defaults: API v1, TTL off, and how to get TTL", () => {
    const help = run("cluster", "--help").stdout.replace(/\s+/g, " ");
    expect(help).toMatch(/--api-version <v1\|v1ttl\|v2>/);
    expect(help).toMatch(/v1 = TiKV's default, TTL off/);
    expect(help).toMatch(/\(default: "v1"\)/);
    expect(help).toMatch(/serves API v1 with TTL off/);
    expect(help).toMatch(/need --api-version v1ttl or v2/);
    expect(help).toMatch(/--stores <n> number of TiKV stores \(default: 3\)/);
    expect(help).toMatch(/\(default: 2379\)/);
  });

  it.each([
    [["--stores", "0"], /--stores must be an integer >= 1, not 0/],
    [["--regions", "x"], /--regions must be an integer >= 1, not x/],
    [["--api-version", "v3"], /--api-version must be v1, v1ttl or v2, not v3/],
    [["--region-key-encoding", "hex"], /--region-key-encoding must be raw or memcomparable, not hex/],
    [["--pd-port", "-1"], /--pd-port must be an integer >= 0, not -1/],
    [["--bogus"], /unknown option '--bogus'/],
    [["--stores"], /option '--stores <n>' argument missing/],
    [["--tls-cert", "x.pem"], /--tls-ca, --tls-cert and --tls-key must be given together/],
    [["--tls-allowed-cn", "a"], /--tls-allowed-cn needs/],
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
    const info = JSON.parse(line) as {
      pd: string[];
      pdHttp: string;
      storeStatus: Record<string, string>;
      control: string;
    };
    expect(info.pd).toHaveLength(1);
    expect(info.pd).toEqual([`127.0.0.1:${port}`]);
    // PD's HTTP API on the PD port, and a status server per store
    expect(info.pdHttp).toBe(`http://127.0.0.1:${port}`);
    const stores = (await (await fetch(`${info.pdHttp}/pd/api/v1/stores`)).json()) as {
      stores: { store: { id: number; status_address: string } }[];
    };
    expect(stores.stores.map((s) => `http://${s.store.status_address}`)).toEqual([
      info.storeStatus["1"],
      info.storeStatus["2"],
    ]);
    expect((await fetch(`${info.storeStatus["1"]}/status`)).status).toBe(200);
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
