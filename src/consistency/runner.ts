// The consistency runner: N logical processes invoke a workload's operations concurrently while a
// nemesis schedule injects faults; then the faults are healed, the workload's final operations
// run, and its checkers judge the recorded history. Writes history.jsonl and verdict.json.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ConnectOptions } from "../api/options.js";
import { TikvClient } from "../api/tikv-client.js";
import { EmbeddedCluster } from "../cluster/embedded-cluster.js";
import { classify, describeError } from "./classify.js";
import { HistoryRecorder } from "./history.js";
import { connectCrashingClient } from "./nemesis/client-crash.js";
import { healCluster, resolveNemeses, runSchedule, type ScheduleTiming } from "./nemesis/index.js";
import type { CrashPoint, NemesisContext } from "./nemesis/types.js";
import { createRng, type Seed } from "./rng.js";
import type {
  HistoryEvent,
  OpOutcome,
  OpRequest,
  OpValue,
  Rng,
  Verdict,
  Workload,
  WorkloadClient,
} from "./types.js";
import { WORKLOADS, workloadNames } from "./workloads/index.js";

/** Thrown for options the runner cannot run with (unknown workload, no op budget, ...). */
export class ConsistencyOptionsError extends Error {
  readonly code = "CONSISTENCY_OPTIONS";
  constructor(message: string) {
    super(message);
    this.name = "ConsistencyOptionsError";
  }
}

/** Options of {@link runConsistency}. */
export interface RunOptions {
  /** A registered workload name, or a workload. */
  workload: string | Workload;
  /** Concurrent logical processes (default 5). */
  clients?: number;
  /** Operations to invoke in total (before the final ones). At least one of ops / durationMs. */
  ops?: number;
  /** Stop invoking after this many ms. */
  durationMs?: number;
  /** Nemeses: "all", "none" (default), a comma-separated list, or names. */
  nemesis?: string | readonly string[];
  /** Seed of every random choice (default: the current time). */
  seed?: Seed;
  /** Directory for history.jsonl and verdict.json (created); nothing written when absent. */
  out?: string;
  /** A real cluster's PD endpoints; without them an embedded cluster is started. */
  pdEndpoints?: readonly string[];
  /** Run on this embedded cluster (not closed by the runner) instead of starting one. */
  cluster?: EmbeddedCluster;
  /** Extra connect options of every client (default timeoutMs: 3000, rpcTimeoutMs: 2000). */
  connect?: Partial<ConnectOptions>;
  /** Test hook: wraps each client before the workload uses it (e.g. a deliberately broken one). */
  wrapClient?: (client: TikvClient) => WorkloadClient;
  /** Workload settings (CLI `--opt name=value`). */
  settings?: Record<string, string>;
  /** Nemesis timing (default gaps 100-600 ms, holds 200-1200 ms). */
  timing?: Partial<ScheduleTiming>;
  /** An operation still running after this long is recorded as info and abandoned (default 30 s). */
  opTimeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link runConsistency} returns (and writes to verdict.json, without the history). */
export interface RunResult {
  /** True when every checker found nothing. */
  valid: boolean;
  workload: string;
  seed: string;
  clients: number;
  nemesis: string[];
  /** "embedded" or the PD endpoints. */
  cluster: string;
  durationMs: number;
  verdicts: Verdict[];
  /** Operation counts by outcome, nemesis faults started. */
  stats: Record<string, number>;
  /** The recorded history. */
  history: readonly HistoryEvent[];
  /** Paths written, when `out` was given. */
  files?: { history: string; verdict: string };
}

interface CrashRequest {
  point: CrashPoint;
  resolve(v: OpValue): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function buildWorkload(opts: RunOptions, clients: number): Workload {
  if (typeof opts.workload !== "string") return opts.workload;
  const make = WORKLOADS[opts.workload];
  if (!make) {
    throw new ConsistencyOptionsError(
      `unknown workload ${JSON.stringify(opts.workload)}; known: ${workloadNames().join(", ")}`,
    );
  }
  return make({ clients, ops: opts.ops ?? 0, ...(opts.settings ? { settings: opts.settings } : {}) });
}

function sampleKeyOf(workload: Workload, rng: Rng): string {
  if (workload.sampleKey) return workload.sampleKey(rng);
  let s = workload.keyPrefix ?? "";
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) s += String(rng.int(10));
  return s;
}

/** Starts the embedded cluster a workload runs on: 3 stores, 3 PD members, a few regions. */
export async function startClusterFor(workload: Workload, rng: Rng): Promise<EmbeddedCluster> {
  const keys = new Set<string>();
  for (let i = 0; i < 8 && keys.size < 3; i++) {
    const k = sampleKeyOf(workload, rng);
    if (k.length > 0) keys.add(k);
  }
  return EmbeddedCluster.start({
    stores: 3,
    pdMembers: 3,
    regionKeyEncoding: workload.keyMode === "raw" ? "raw" : "memcomparable",
    splitKeys: [...keys].sort(),
  });
}

/**
 * Runs a workload under faults and judges its history.
 *
 * @example
 * ```ts
 * const r = await runConsistency({ workload: "raw-register", clients: 5, ops: 500, nemesis: "all", seed: 1 });
 * if (!r.valid) console.log(r.verdicts.flatMap((v) => v.anomalies));
 * ```
 */
export async function runConsistency(opts: RunOptions): Promise<RunResult> {
  const clients = opts.clients ?? 5;
  if (!Number.isInteger(clients) || clients < 1) {
    throw new ConsistencyOptionsError(`clients must be a positive integer, got ${opts.clients}`);
  }
  if (opts.ops === undefined && opts.durationMs === undefined) {
    throw new ConsistencyOptionsError("give ops or durationMs");
  }
  if (opts.ops !== undefined && (!Number.isInteger(opts.ops) || opts.ops < 0)) {
    throw new ConsistencyOptionsError(`ops must be a non-negative integer, got ${opts.ops}`);
  }
  const seed = opts.seed ?? Date.now();
  const log = opts.log ?? (() => {});
  const workload = buildWorkload(opts, clients);
  const real = opts.pdEndpoints !== undefined && opts.pdEndpoints.length > 0;
  const nemeses = resolveNemeses(opts.nemesis ?? "none", !real);
  const timing: ScheduleTiming = {
    gapMs: opts.timing?.gapMs ?? [100, 600],
    holdMs: opts.timing?.holdMs ?? [200, 1200],
  };
  const opTimeoutMs = opts.opTimeoutMs ?? 30_000;

  // The runner closes only a cluster it started.
  const owned =
    real || opts.cluster ? undefined : await startClusterFor(workload, createRng(seed, "cluster"));
  const cluster = real ? undefined : (opts.cluster ?? owned);
  const pdEndpoints = real ? [...(opts.pdEndpoints as string[])] : (cluster as EmbeddedCluster).pdEndpoints;
  // a lost reply is given up on after 2 s (not client-go's 30 s): a commit whose primary-commit
  // reply was dropped then ends within the operation timeout
  const connectOpts: ConnectOptions = { timeoutMs: 3000, rpcTimeoutMs: 2000, ...opts.connect, pdEndpoints };
  const wrap = opts.wrapClient ?? ((c: TikvClient) => c);

  let files: RunResult["files"];
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    files = { history: join(opts.out, "history.jsonl"), verdict: join(opts.out, "verdict.json") };
  }
  const history = new HistoryRecorder(files ? { jsonlPath: files.history } : {});
  const tikvClients: TikvClient[] = [];
  const crashQueue: CrashRequest[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < clients; i++) tikvClients.push(await TikvClient.connect(connectOpts));
    const workloadClients = tikvClients.map(wrap);
    await workload.setup(workloadClients[0] as WorkloadClient, createRng(seed, "setup"));
    log(
      `workload ${workload.name}: ${clients} clients, nemesis ${nemeses.map((n) => n.name).join(",") || "none"}, seed ${seed}`,
    );

    const nemesisRng = createRng(seed, "nemesis");
    const ctx: NemesisContext = {
      cluster,
      rng: nemesisRng,
      workload,
      sampleKey: () => sampleKeyOf(workload, nemesisRng),
      crashNextOp: (point) => new Promise<OpValue>((resolve) => crashQueue.push({ point, resolve })),
    };
    const schedule = runSchedule(nemeses, ctx, history, timing);

    const runOne = async (client: WorkloadClient, op: OpRequest, process: number): Promise<OpOutcome> => {
      const crash = crashQueue.shift();
      let outcome: OpOutcome | undefined;
      let cc: Awaited<ReturnType<typeof connectCrashingClient>> | undefined;
      try {
        if (crash) {
          try {
            cc = await connectCrashingClient(connectOpts, crash.point);
          } catch (e) {
            return classify(e, "read"); // nothing was sent
          }
          client = wrap(cc.client);
        }
        outcome = await withTimeout(workload.run(client, op, process), opTimeoutMs);
        return outcome;
      } catch (e) {
        outcome = classify(e, "write");
        return outcome;
      } finally {
        if (crash && cc) {
          await cc.crash();
          crash.resolve({ taken: true, process, f: op.f, cut: cc.cut, outcome: outcome?.type ?? "info" });
        }
      }
    };

    let issued = 0;
    const deadline = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + opts.durationMs;
    const more = () => (opts.ops === undefined || issued < opts.ops) && performance.now() < deadline;
    const thread = async (t: number) => {
      const rng = createRng(seed, `process-${t}`);
      const client = workloadClients[t] as WorkloadClient;
      let process = t;
      while (more()) {
        issued++;
        const op = workload.next(rng, process);
        history.invoke(process, op.f, op.value);
        const outcome = await runOne(client, op, process);
        history.complete(
          process,
          outcome.type,
          outcome.type === "ok" ? outcome.value : undefined,
          outcome.type === "ok" ? undefined : outcome.error,
        );
        // An indeterminate operation may still be in flight: its process is never reused.
        if (outcome.type === "info") process += clients;
      }
      return process;
    };
    const last = await Promise.all(Array.from({ length: clients }, (_, t) => thread(t)));
    await schedule.stop();
    for (const r of crashQueue.splice(0)) r.resolve({ taken: false });
    if (cluster) await healCluster(cluster);
    log(`healed after ${Math.round(performance.now() - t0)} ms, ${issued} operations; final reads`);
    await sleep(200);

    // Final operations, on a fresh process each, retried until they succeed (each try recorded).
    let process = Math.max(...last) + clients;
    const finalClient = workloadClients[0] as WorkloadClient;
    for (const op of workload.finalOps?.() ?? []) {
      for (let attempt = 0; attempt < 5; attempt++) {
        history.invoke(process, op.f, op.value);
        const outcome = await runOne(finalClient, op, process);
        history.complete(
          process,
          outcome.type,
          outcome.type === "ok" ? outcome.value : undefined,
          outcome.type === "ok" ? undefined : outcome.error,
        );
        process += 1;
        if (outcome.type === "ok") break;
        await sleep(300);
      }
    }
    await history.close();
    const durationMs = Math.round(performance.now() - t0);

    const verdicts: Verdict[] = [];
    for (const check of workload.checkers) {
      try {
        verdicts.push(await check(history.events));
      } catch (e) {
        verdicts.push({
          checker: check.name || "checker",
          valid: false,
          anomalies: [{ kind: "checker-error", message: describeError(e), events: [] }],
          stats: {},
        });
      }
    }
    const stats: Record<string, number> = { ok: 0, fail: 0, info: 0, nemesisFaults: schedule.started };
    for (const e of history.events)
      if (e.process >= 0 && e.type !== "invoke") stats[e.type] = (stats[e.type] ?? 0) + 1;
    const result: RunResult = {
      valid: verdicts.every((v) => v.valid),
      workload: workload.name,
      seed: String(seed),
      clients,
      nemesis: nemeses.map((n) => n.name),
      cluster: real ? pdEndpoints.join(",") : "embedded",
      durationMs,
      verdicts,
      stats,
      history: history.events,
      ...(files ? { files } : {}),
    };
    if (files) {
      const { history: _h, ...summary } = result;
      writeFileSync(files.verdict, `${JSON.stringify(summary, null, 2)}\n`);
    }
    return result;
  } finally {
    await history.close().catch(() => {});
    await Promise.allSettled(tikvClients.map((c) => c.close()));
    await owned?.close();
  }
}

class HarnessTimeoutError extends Error {
  constructor(ms: number) {
    super(`operation still running after ${ms} ms; abandoned`);
    this.name = "HarnessTimeoutError";
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new HarnessTimeoutError(ms)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
