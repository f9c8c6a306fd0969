// Cross-check of the register verdict with porcupine (github.com/anishathalye/porcupine), a
// linearizability checker written by someone else: consistency-go/porcupine-check reads the same
// history JSONL and judges each key. The two must agree key by key; a disagreement is itself an
// anomaly (one of the two checkers is wrong). Without `go` on PATH the check is skipped, saying so.

import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { toJsonl } from "../history.js";
import type { Anomaly, Checker, HistoryEvent, Verdict } from "../types.js";
import { checkRegisterHistory, type KeyResult } from "./linearizable.js";

const run = promisify(execFile);

/** Directory of the Go module (consistency-go/ at the repository root). */
export const GO_MODULE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../consistency-go");

/** True when a `go` toolchain is on PATH. */
export function hasGo(): boolean {
  const r = spawnSync("go", ["version"], { encoding: "utf8" });
  return r.status === 0;
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

let built: Promise<string> | undefined;

/** Builds porcupine-check once per process (reusing a binary newer than its sources). */
export function buildPorcupineCheck(): Promise<string> {
  built ??= (async () => {
    const binDir = resolve(GO_MODULE_DIR, "../node_modules/.cache/tikv-ts-consistency");
    mkdirSync(binDir, { recursive: true });
    const bin = join(binDir, "porcupine-check");
    const src = Math.max(
      mtime(join(GO_MODULE_DIR, "porcupine-check/main.go")),
      mtime(join(GO_MODULE_DIR, "go.sum")),
      mtime(join(GO_MODULE_DIR, "go.mod")),
    );
    if (mtime(bin) <= src) {
      await run("go", ["build", "-o", bin, "./porcupine-check"], { cwd: GO_MODULE_DIR, timeout: 300_000 });
    }
    return bin;
  })();
  built.catch(() => {
    built = undefined;
  });
  return built;
}

const PORCUPINE_RESULT: Record<string, KeyResult> = { Ok: "ok", Illegal: "illegal", Unknown: "unknown" };

/** Runs porcupine-check on a history; each key's result. */
export async function porcupineKeys(history: readonly HistoryEvent[]): Promise<Map<string, KeyResult>> {
  const bin = await buildPorcupineCheck();
  const dir = mkdtempSync(join(tmpdir(), "porcupine-"));
  try {
    const file = join(dir, "history.jsonl");
    writeFileSync(file, toJsonl(history));
    const { stdout } = await run(bin, [file], { maxBuffer: 256 * 1024 * 1024, timeout: 3_600_000 });
    const parsed = JSON.parse(stdout) as { keys: Record<string, string> };
    return new Map(Object.entries(parsed.keys ?? {}).map(([k, v]) => [k, PORCUPINE_RESULT[v] ?? "unknown"]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The porcupine checker: valid when porcupine finds every key linearizable and agrees with the
 * linearizable checker on every key. Anomalies: "nonlinearizable" (porcupine's own finding),
 * "checker-disagreement" (the two verdicts differ on a key), "undecided" (porcupine timed out).
 */
export const porcupineChecker: Checker = async (history): Promise<Verdict> => {
  if (!hasGo()) {
    return { checker: "porcupine", valid: true, anomalies: [], stats: { skipped: "go is not on PATH" } };
  }
  const theirs = await porcupineKeys(history);
  const ours = checkRegisterHistory(history).perKey;
  const anomalies: Anomaly[] = [];
  const keys = new Set([...theirs.keys(), ...ours.keys()]);
  let illegal = 0;
  for (const key of [...keys].sort()) {
    const p = theirs.get(key);
    const o = ours.get(key);
    if (p === "illegal") illegal++;
    if (p === "unknown") {
      anomalies.push({ kind: "undecided", message: `key ${key}: porcupine timed out`, events: [] });
    } else if (p === "illegal" && o === "illegal") {
      anomalies.push({
        kind: "nonlinearizable",
        message: `key ${key}: porcupine finds no linearization`,
        events: [],
      });
    } else if (o !== "unknown" && p !== o) {
      anomalies.push({
        kind: "checker-disagreement",
        message: `key ${key}: porcupine says ${p ?? "nothing"}, the linearizable checker says ${o ?? "nothing"}`,
        events: [],
      });
    }
  }
  return {
    checker: "porcupine",
    valid: anomalies.length === 0,
    anomalies,
    stats: { keys: keys.size, illegalKeys: illegal },
  };
};
