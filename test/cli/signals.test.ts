// `tikv-ts cluster` stops on SIGTERM and SIGINT: the process exits 0 and every port it listened
// on (PD, control channel) can be bound again at once.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const entries: Array<[string, string[]]> = [
  ["node --import tsx src/cli/main.ts", ["--import", "tsx", join(root, "src/cli/main.ts")]],
  ["bin/tikv-ts.mjs", [join(root, "bin/tikv-ts.mjs")]],
];

describe("tikv-ts cluster stops on a signal and frees its ports", () => {
  for (const [signal, [entry, prefix]] of [
    ["SIGTERM", entries[0]!],
    ["SIGINT", entries[1]!],
  ] as const) {
    it(`${signal} via ${entry}`, async () => {
      const pdPort = await freePort();
      const controlPort = await freePort();
      const child = spawn(
        process.execPath,
        [
          ...prefix,
          "cluster",
          "--stores",
          "1",
          "--pd-port",
          String(pdPort),
          "--control-port",
          String(controlPort),
          "--json",
        ],
        { cwd: root, stdio: ["pipe", "pipe", "pipe"] },
      ) as ChildProcessWithoutNullStreams;
      const info = JSON.parse(await readyLine(child)) as {
        pd: string[];
        control: string;
        apiVersion: string;
      };
      expect(info.pd).toEqual([`127.0.0.1:${pdPort}`]);
      expect(info.control).toContain(String(controlPort));
      expect(info.apiVersion).toBe("v1");
      // the ports are taken while it runs
      expect(await canBind(pdPort)).toBe(false);
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        child.once("exit", (code, sig) => r([code, sig])),
      );
      child.kill(signal);
      expect(await exited).toEqual([0, null]);
      expect(await canBind(pdPort)).toBe(true);
      expect(await canBind(controlPort)).toBe(true);
    }, 20_000);
  }
});

function readyLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise<string>((resolveLine, reject) => {
    let buf = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolveLine(buf.slice(0, nl));
    });
    child.once("exit", (code) => reject(new Error(`exited early with ${code}: ${err}`)));
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((r) => {
    const srv = createServer();
    srv.once("error", () => r(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => r(true)));
  });
}

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
