// `tikv-ts gc` against an embedded cluster: it resolves abandoned locks and moves both safe
// points, prints a summary (text or one JSON line), progress on stderr (a bar on a TTY, plain
// lines otherwise), and refuses bad usage with exit code 2.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GcProgress } from "../../src/api/gc/gc.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { parseDuration, progressView } from "../../src/cli/gc-command.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { prewriteAbandoned, runtimeOf, scanAllLocks } from "../integration/gc/gc-support.js";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "bin/tikv-ts.mjs");

function run(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += d;
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    p.on("close", (status) => res({ status, stdout, stderr }));
  });
}

let cluster: EmbeddedCluster;
let client: TikvClient;
let pd: string;

beforeAll(async () => {
  cluster = await EmbeddedCluster.start({
    stores: 1,
    host: "127.0.0.1",
    pdPort: 0,
    splitKeys: ["h", "p"],
    regionKeyEncoding: "memcomparable",
  });
  pd = cluster.pdEndpoints.join(",");
  client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints });
}, 30_000);

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

describe("tikv-ts gc", () => {
  it("defaults to a safe point 10 minutes before now; text summary on stdout, plain progress on stderr", async () => {
    const before = await client.txn().currentTimestamp();
    const r = await run("gc", "--pd", pd);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/txn safe point: \d+/);
    expect(r.stdout).toMatch(/regions: +3/);
    expect(r.stdout).toMatch(/null keyspace/);
    expect(r.stderr).toMatch(/gc: resolving locks/);
    expect(r.stderr).toMatch(/gc: done: 3\/3 regions/);
    const sp = BigInt(/txn safe point: (\d+)/.exec(r.stdout)?.[1] ?? "0");
    // 10 minutes before "now" as the command saw it (a few seconds after our timestamp)
    const deltaMs = Number((sp >> 18n) - (before >> 18n));
    expect(deltaMs).toBeGreaterThan(-600_000);
    expect(deltaMs).toBeLessThan(-590_000);
    // --safe-point-ago moves it closer to now
    const r2 = await run("gc", "--pd", pd, "--safe-point-ago", "1s", "--json");
    expect(r2.status).toBe(0);
    const sp2 = BigInt(JSON.parse(r2.stdout.trim()).txnSafePoint);
    expect(Number((sp2 >> 18n) - (before >> 18n))).toBeGreaterThan(-2_000);
  }, 60_000);

  it("resolves locks at or below --safe-point and prints a JSON summary", async () => {
    const rt = runtimeOf(client);
    const t = client.txn();
    const lockTs = await t.currentTimestamp();
    await prewriteAbandoned(rt, lockTs, ["a-cli", "k-cli", "x-cli"]);
    const sp = await t.currentTimestamp();
    const r = await run("gc", "--pd", pd, "--safe-point", sp.toString(), "--concurrency", "2", "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out).toMatchObject({
      requestedSafePoint: sp.toString(),
      txnSafePoint: sp.toString(),
      gcSafePoint: sp.toString(),
      regionsResolved: 3,
      locksResolved: 3,
      keyspaceId: null,
      legacy: false,
    });
    expect(await scanAllLocks(rt, sp)).toEqual([]);
    expect((await client.getGCState()).gcSafePoint).toBe(sp);
  }, 60_000);

  it("a safe point below the current one fails with PD's refusal, exit 1", async () => {
    const r = await run("gc", "--pd", pd, "--safe-point", "1000", "--json");
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ error: "GcStateError" });
    expect(r.stderr).toMatch(/decreasingTxnSafePoint/);
  }, 60_000);

  it("bad usage exits 2 with a message", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["gc"], /required option '--pd/],
      [["gc", "--pd", pd, "--safe-point", "abc"], /--safe-point must be a TSO timestamp/],
      [["gc", "--pd", pd, "--safe-point-ago", "ten"], /--safe-point-ago must be a duration/],
      [["gc", "--pd", pd, "--concurrency", "0"], /--concurrency must be an integer >= 1/],
      [["gc", "--pd", pd, "--safe-point", "5", "--safe-point-ago", "1m"], /cannot be used with/],
      [["gc", "--pd", pd, "--tls-cert", "c.pem"], /--tls-cert and --tls-key must be given together/],
      [["gc", "--pd", pd, "--keyspace", "k"], /--keyspace needs --api-version v2/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(...args)));
    results.forEach((r, i) => {
      expect(r.status, cases[i]![0].join(" ")).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  }, 90_000);

  it("SIGINT stops a running round: exit 130, nothing more advanced", async () => {
    const before = await client.getGCState();
    // hold AdvanceTxnSafePoint so the round is still running when the signal comes
    cluster.pd.faults.setDelay("AdvanceTxnSafePoint", 20_000);
    try {
      const p = spawn(process.execPath, [bin, "gc", "--pd", pd, "--safe-point-ago", "1s"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      const exited = new Promise<number | null>((res) => p.on("close", (code) => res(code)));
      await new Promise<void>((res) => {
        p.stderr.on("data", (d) => {
          stderr += d;
          if (stderr.includes("advancing txn safe point")) res();
        });
      });
      await new Promise((r) => setTimeout(r, 300));
      p.kill("SIGINT");
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/gc interrupted/);
    } finally {
      cluster.pd.faults.setDelay("AdvanceTxnSafePoint", 0);
    }
    const after = await client.getGCState();
    expect(after.gcSafePoint).toBe(before.gcSafePoint);
  }, 60_000);

  it("talks mutual TLS with --tls-ca/--tls-cert/--tls-key", async () => {
    const secure = await EmbeddedCluster.start({ stores: 1, host: "127.0.0.1", pdPort: 0, tls: "generate" });
    try {
      const certs = secure.certificates as NonNullable<typeof secure.certificates>;
      const dir = mkdtempSync(join(tmpdir(), "tikv-ts-gc-tls-"));
      const files = {
        ca: join(dir, "ca.pem"),
        cert: join(dir, "client.pem"),
        key: join(dir, "client-key.pem"),
      };
      writeFileSync(files.ca, certs.ca);
      writeFileSync(files.cert, certs.client.cert);
      writeFileSync(files.key, certs.client.key);
      const pdTls = secure.pdEndpoints.join(",");
      const ok = await run(
        "gc",
        "--pd",
        pdTls,
        "--safe-point-ago",
        "1s",
        "--json",
        "--tls-ca",
        files.ca,
        "--tls-cert",
        files.cert,
        "--tls-key",
        files.key,
      );
      // (Node may warn about TLS server names that are IP addresses: not ours to silence)
      expect(ok.stderr).not.toMatch(/^error: /m);
      expect(ok.status).toBe(0);
      expect(JSON.parse(ok.stdout.trim()).regionsResolved).toBe(1);
      // without the client certificate the cluster refuses: exit 1 with the error
      const refused = await run("gc", "--pd", pdTls, "--json", "--tls-ca", files.ca);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^error: /m);
    } finally {
      await secure.close();
    }
  }, 90_000);

  it("gc --help lists its flags", async () => {
    const r = await run("gc", "--help");
    expect(r.status).toBe(0);
    for (const f of [
      "--pd",
      "--safe-point",
      "--safe-point-ago",
      "--concurrency",
      "--keyspace",
      "--api-version",
      "--tls-ca",
      "--tls-cert",
      "--json",
    ])
      expect(r.stdout).toContain(f);
  }, 60_000);
});

describe("gc progress view and durations", () => {
  const p = (over: Partial<GcProgress>): GcProgress => ({
    phase: "resolveLocks",
    completedRegions: 0,
    failedRegions: 0,
    totalRegions: 10,
    located: true,
    tasksDone: 0,
    done: false,
    locksResolved: 0,
    txnSafePoint: 1n,
    ...over,
  });

  it("draws a bar in place on a TTY and ends the line", () => {
    let out = "";
    const write = (s: string) => {
      out += s;
      return true;
    };
    const v = progressView({ isTTY: true, write } as never);
    v.update(p({ completedRegions: 5, locksResolved: 7 }));
    v.update(p({ completedRegions: 10, locksResolved: 9, phase: "done", done: true }));
    v.end();
    const frames = out.split("\r").filter(Boolean);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^█{15}░{15} 5\/10 regions, 7 locks — resolving locks/);
    expect(frames[1]).toMatch(/^█{30} 10\/10 regions, 9 locks — done/);
    expect(out.endsWith("\n")).toBe(true);
  });

  it("parses durations", () => {
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(() => parseDuration("10")).toThrow(/duration/);
    expect(() => parseDuration("m10")).toThrow(/duration/);
  });
});
