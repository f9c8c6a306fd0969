// `tikv-ts gc`: one GC round against a cluster (client.gc): advance the txn safe point, resolve
// every lock at or below it, advance the GC safe point. Progress goes to stderr (a bar on a TTY,
// plain lines otherwise), the summary to stdout (text, or one JSON line with --json).
// Exit codes: 0 = done, 1 = the round failed, 2 = bad usage, 130 = interrupted (SIGINT/SIGTERM).

import { type Command, InvalidArgumentError, Option } from "commander";
import type { GcProgress, GcResult } from "../api/gc/gc.js";
import { TikvClient } from "../api/tikv-client.js";
import { AbortedError } from "../errors/server.js";

type ApiVersion = "v1" | "v1ttl" | "v2";

/** The `gc` command's parsed options. */
interface GcFlags {
  pd: string[];
  safePoint?: bigint;
  safePointAgo?: number;
  concurrency: number;
  keyspace?: string;
  apiVersion: ApiVersion;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  json: boolean;
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "10m", "90s", "1h30m", "500ms" into milliseconds (commander argument parser). */
export function parseDuration(raw: string): number {
  const parts = [...raw.trim().matchAll(/(\d+)(ms|s|m|h|d)/g)];
  const joined = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || joined !== raw.trim()) {
    throw new InvalidArgumentError(`--safe-point-ago must be a duration like 10m, 1h30m or 90s, not ${raw}`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNITS_MS[p[2] as string] as number), 0);
}

function parseTs(raw: string): bigint {
  if (!/^\d+$/.test(raw.trim()))
    throw new InvalidArgumentError(`--safe-point must be a TSO timestamp, not ${raw}`);
  const ts = BigInt(raw.trim());
  if (ts === 0n || ts >= 1n << 64n)
    throw new InvalidArgumentError(`--safe-point must be in 1..2^64-1, not ${raw}`);
  return ts;
}

const positive = (flag: string) => (raw: string) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${flag} must be an integer >= 1, not ${raw}`);
  return n;
};

/** Adds `gc` to the program; `setCode` receives the exit code when it ran. */
export function addGcCommand(prog: Command, setCode: (code: number) => void): Command {
  return (
    prog
      .command("gc")
      .summary("run one GC round on a cluster: move the safe points, resolve old locks")
      .description(
        "Run one GC round on a TiKV cluster: advance the txn safe point to the given point (GC " +
          "barriers may hold it lower), resolve every lock at or below it in every region, then " +
          "advance the GC safe point. Without --safe-point, the safe point is --safe-point-ago " +
          "(default 10m) before the current TSO. Progress goes to stderr, the summary to stdout.",
      )
      .requiredOption("--pd <host:port[,host:port...]>", "PD endpoints", (v: string) =>
        v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .addOption(new Option("--safe-point <ts>", "safe point as a TSO timestamp").argParser(parseTs))
      .addOption(
        new Option("--safe-point-ago <duration>", "safe point this long before now (e.g. 10m, 1h30m)")
          .argParser(parseDuration)
          .conflicts("safePoint"),
      )
      .addOption(
        new Option("--concurrency <n>", "regions resolved at once")
          .default(8)
          .argParser(positive("--concurrency")),
      )
      .option("--keyspace <name>", "keyspace to run GC for (API v2; keyspace-level GC if PD has it)")
      .addOption(
        new Option("--api-version <v1|v1ttl|v2>", "storage API version of the cluster")
          .choices(["v1", "v1ttl", "v2"])
          .default("v1"),
      )
      // the same names as `tikv-ts cluster`'s TLS flags, seen from the client side
      .option("--tls-ca <path>", "CA certificate: talk TLS to PD and TiKV")
      .option("--tls-cert <path>", "client certificate (mutual TLS; needs --tls-key)")
      .option("--tls-key <path>", "client private key (mutual TLS; needs --tls-cert)")
      .option("--json", "print one JSON line with the result instead of text (no progress)", false)
      .action(async (flags: GcFlags) => setCode(await runGc(flags)))
  );
}

async function runGc(flags: GcFlags): Promise<number> {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    process.stderr.write("error: --tls-cert and --tls-key must be given together\n");
    return 2;
  }
  if (flags.keyspace !== undefined && flags.apiVersion !== "v2") {
    process.stderr.write("error: --keyspace needs --api-version v2\n");
    return 2;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("interrupted"));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const tls =
    flags.tlsCa !== undefined || flags.tlsCert !== undefined
      ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey }
      : undefined;
  let client: TikvClient | undefined;
  const view = flags.json ? undefined : progressView(process.stderr);
  try {
    client = await TikvClient.connect({
      pdEndpoints: flags.pd,
      apiVersion: flags.apiVersion,
      keyspace: flags.keyspace,
      tls,
      signal: stop.signal,
    });
    let safePoint = flags.safePoint;
    if (safePoint === undefined) {
      const now = await client.txn().currentTimestamp({ signal: stop.signal });
      const agoMs = BigInt(flags.safePointAgo ?? UNITS_MS.m! * 10);
      safePoint = ((now >> 18n) - agoMs) << 18n;
    }
    const result = await client.gc(safePoint, {
      concurrency: flags.concurrency,
      signal: stop.signal,
      onProgress: view?.update,
    });
    view?.end();
    process.stdout.write(flags.json ? `${jsonResult(safePoint, result)}\n` : textResult(safePoint, result));
    return 0;
  } catch (e) {
    view?.end();
    if (e instanceof AbortedError && stop.signal.aborted) {
      process.stderr.write("gc interrupted: safe points already advanced stay advanced\n");
      return 130;
    }
    const err = e as Error;
    if (flags.json) process.stdout.write(`${JSON.stringify({ error: err.name, message: err.message })}\n`);
    process.stderr.write(`error: ${err.name}: ${err.message}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await client?.close();
  }
}

function jsonResult(requested: bigint, r: GcResult): string {
  return JSON.stringify({
    requestedSafePoint: requested.toString(),
    txnSafePoint: r.txnSafePoint.toString(),
    gcSafePoint: r.gcSafePoint.toString(),
    blocker: r.blocker,
    regionsResolved: r.regionsResolved,
    locksResolved: r.locksResolved,
    keyspaceId: r.keyspaceId ?? null,
    legacy: r.legacy,
  });
}

function textResult(requested: bigint, r: GcResult): string {
  const lines = [
    `txn safe point: ${r.txnSafePoint}${r.txnSafePoint < requested ? ` (requested ${requested}, held by ${r.blocker})` : ""}`,
    `gc safe point:  ${r.gcSafePoint}`,
    `regions:        ${r.regionsResolved}`,
    `locks resolved: ${r.locksResolved}`,
    `scope:          ${r.keyspaceId === undefined ? "null keyspace (unified GC)" : `keyspace ${r.keyspaceId}`}`,
  ];
  if (r.legacy) lines.push("(PD without the GC state API: legacy UpdateGCSafePoint used)");
  return `${lines.join("\n")}\n`;
}

const PHASE_TEXT: Record<GcProgress["phase"], string> = {
  advanceTxnSafePoint: "advancing txn safe point",
  resolveLocks: "resolving locks",
  advanceGcSafePoint: "advancing GC safe point",
  done: "done",
};

/** A progress bar on a TTY, one line per phase (and at most one per second) otherwise. */
export function progressView(out: Pick<NodeJS.WriteStream, "isTTY" | "write">): {
  update: (p: GcProgress) => void;
  end: () => void;
} {
  if (out.isTTY) {
    let drawn = false;
    return {
      update: (p) => {
        const total = Math.max(p.totalRegions, p.completedRegions, 1);
        const width = 30;
        const fill = Math.round((p.completedRegions / total) * width);
        const bar = `${"█".repeat(fill)}${"░".repeat(width - fill)}`;
        const est = p.located ? "" : "+";
        out.write(
          `\r${bar} ${p.completedRegions}/${p.totalRegions}${est} regions, ${p.locksResolved} locks — ${PHASE_TEXT[p.phase]}\x1b[K`,
        );
        drawn = true;
      },
      end: () => {
        if (drawn) out.write("\n");
      },
    };
  }
  let lastPhase = "";
  let lastAt = 0;
  return {
    update: (p) => {
      const now = Date.now();
      if (p.phase === lastPhase && now - lastAt < 1_000) return;
      lastPhase = p.phase;
      lastAt = now;
      out.write(
        `gc: ${PHASE_TEXT[p.phase]}: ${p.completedRegions}/${p.totalRegions} regions, ${p.locksResolved} locks\n`,
      );
    },
    end: () => {},
  };
}
