// `tikv-ts cluster` TLS flags: certificates from files or generated into a directory; a client
// connects with the printed files; inconsistent flags exit 2 with a message.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { TestCa } from "../../../src/cluster/tls/test-certs.js";
import { TikvClient, TlsError } from "../../../src/index.js";

const root = resolve(import.meta.dirname, "../../..");
const bin = join(root, "bin/tikv-ts.mjs");
const BASE = ["cluster", "--stores", "1", "--pd-port", "0", "--json"];

interface Info {
  pd: string[];
  tls?: { ca: string; clientCert: string; clientKey: string };
}

async function startCli(args: string[]): Promise<{ child: ChildProcess; info: Info }> {
  const child = spawn(process.execPath, [bin, ...BASE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const line = await new Promise<string>((ok, fail) => {
    let buf = "";
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) ok(buf.slice(0, nl));
    });
    child.once("exit", (code) => fail(new Error(`exited early with ${code}`)));
  });
  return { child, info: JSON.parse(line) as Info };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

describe("tikv-ts cluster TLS flags", () => {
  it("--tls-generate DIR serves mutual TLS and writes the client files it prints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tikv-ts-cli-tls-"));
    const { child, info } = await startCli(["--tls-generate", dir]);
    try {
      expect(info.tls?.ca).toBe(join(dir, "ca.pem"));
      const tls = { ca: info.tls?.ca, cert: info.tls?.clientCert, key: info.tls?.clientKey };
      const client = await TikvClient.connect({ pdEndpoints: info.pd, tls });
      await client.raw().put("cli-tls", "1");
      expect((await client.raw().get("cli-tls"))?.toString()).toBe("1");
      await client.close();
    } finally {
      await stop(child);
    }
  }, 60_000);

  it("--tls-ca/--tls-cert/--tls-key with --tls-allowed-cn refuse other common names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tikv-ts-cli-tls-"));
    const ca = await TestCa.create();
    const server = await ca.issue({ commonName: "tikv-server" });
    writeFileSync(join(dir, "ca.pem"), ca.cert);
    writeFileSync(join(dir, "server.pem"), server.cert);
    writeFileSync(join(dir, "server-key.pem"), server.key);
    const files = ["--tls-ca", join(dir, "ca.pem"), "--tls-cert", join(dir, "server.pem")];
    const { child, info } = await startCli([
      ...files,
      "--tls-key",
      join(dir, "server-key.pem"),
      "--tls-allowed-cn",
      "app",
    ]);
    try {
      const app = await ca.issue({ commonName: "app" });
      const client = await TikvClient.connect({ pdEndpoints: info.pd, tls: { ca: ca.cert, ...app } });
      await client.raw().put("cli-tls-cn", "1");
      await client.close();
      const other = await ca.issue({ commonName: "other" });
      const err = await TikvClient.connect({ pdEndpoints: info.pd, tls: { ca: ca.cert, ...other } }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TlsError);
      expect((err as TlsError).reason).toBe("client-certificate-rejected");
    } finally {
      await stop(child);
    }
  }, 60_000);

  it.each([
    [["--tls-ca", "ca.pem"], /--tls-ca, --tls-cert and --tls-key must be given together/],
    [["--tls-allowed-cn", "x"], /--tls-allowed-cn needs/],
    [["--tls-generate", "d", "--tls-ca", "ca.pem"], /--tls-generate cannot be combined/],
  ])("rejects %j with exit code 2", (args, message) => {
    const r = spawnSync(process.execPath, [bin, ...BASE, ...args], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
