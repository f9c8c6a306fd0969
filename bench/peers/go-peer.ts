// Builds and drives the client-go side of bench/peers (go/main.go) as a child process.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { WorkloadName } from "./workloads.js";

const goDir = join(dirname(fileURLToPath(import.meta.url)), "go");

/** What one run of a workload reports (client CPU only; the driver adds the cluster's). */
export interface PeerRun {
  ops: number;
  wallUs: number;
  p50Us: number;
  p99Us: number;
  cpuUs: number;
}

/** True when a Go toolchain is on PATH. */
export function goAvailable(): boolean {
  return spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
}

/** Builds go/main.go; returns the binary's path. Throws with Go's output when the build fails. */
export function buildGoPeer(out = join(tmpdir(), "tikv-ts-bench-peers")): string {
  const r = spawnSync("go", ["build", "-o", out, "."], { cwd: goDir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`go build of bench/peers/go failed:\n${r.stderr}`);
  return out;
}

/** The module version of client-go the Go program is built with (from go.mod). */
export function clientGoVersion(): string {
  const r = spawnSync("go", ["list", "-m", "-f", "{{.Version}}", "github.com/tikv/client-go/v2"], {
    cwd: goDir,
    encoding: "utf8",
  });
  return r.status === 0 ? r.stdout.trim() : "unknown";
}

/** The client-go process: one request line in, one JSON line out. */
export class GoPeer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: Interface,
    private readonly pending: Array<(line: string) => void>,
  ) {}

  /** Starts the binary against `pd` and waits until it has connected. */
  static async start(binary: string, pd: readonly string[]): Promise<GoPeer> {
    // client-go logs to stdout; only lines starting with "{" are ours. stderr is ignored.
    const child = spawn(binary, ["-pd", pd.join(",")], { stdio: ["pipe", "pipe", "ignore"] });
    const lines = createInterface({ input: child.stdout! });
    const pending: Array<(line: string) => void> = [];
    lines.on("line", (l) => {
      if (l.startsWith("{")) pending.shift()?.(l);
    });
    const peer = new GoPeer(child, lines, pending);
    const ready = await peer.next();
    if (!("ready" in ready)) throw new Error(`client-go did not start: ${JSON.stringify(ready)}`);
    return peer;
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`client-go exited (${code})`));
      this.child.once("exit", onExit);
      this.pending.push((l) => {
        this.child.off("exit", onExit);
        resolve(JSON.parse(l) as Record<string, unknown>);
      });
    });
  }

  /** Runs one workload in the Go process. */
  async run(
    workload: WorkloadName | "txn-load",
    concurrency: number,
    ops: number,
    prefix = "",
  ): Promise<PeerRun> {
    const reply = this.next();
    this.child.stdin!.write(`${JSON.stringify({ workload, concurrency, ops, prefix })}\n`);
    const r = await reply;
    if (typeof r.error === "string") throw new Error(`client-go ${workload}: ${r.error}`);
    return r as unknown as PeerRun;
  }

  /** Closes stdin (the program exits) and waits. */
  async stop(): Promise<void> {
    this.lines.close();
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}
