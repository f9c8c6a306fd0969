// `npm run consistency -- --workload <name> --clients N --ops N --nemesis <list|all|none>
//  --seed S --out DIR [--pd <endpoints>]`: runs one consistency test and prints its verdict.
// Exit code: 0 when no checker found an anomaly, 1 when one did, 2 for bad usage or a harness error.

import { Command, InvalidArgumentError, Option } from "commander";
import { NEMESES } from "./nemesis/index.js";
import { runConsistency } from "./runner.js";
import { workloadNames } from "./workloads/index.js";

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function range(v: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m || Number(m[1]) > Number(m[2]))
    throw new InvalidArgumentError("expected MIN-MAX in ms, e.g. 100-600");
  return [Number(m[1]), Number(m[2])];
}

function setting(v: string, prev: Record<string, string>): Record<string, string> {
  const i = v.indexOf("=");
  if (i <= 0) throw new InvalidArgumentError("expected name=value");
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

/** Parses argv and runs; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command("consistency")
    .description("Jepsen-style consistency test: a workload under faults, judged by checkers")
    .addOption(
      new Option("--workload <name>", "workload to run").choices(workloadNames()).makeOptionMandatory(),
    )
    .option("--clients <n>", "concurrent processes", positiveInt("--clients"), 5)
    .option("--ops <n>", "operations to invoke (before the final reads)", positiveInt("--ops"))
    .option("--duration <s>", "stop invoking after this many seconds", positiveInt("--duration"))
    .option(
      "--nemesis <list>",
      `faults: all, none, or a comma-separated list of ${Object.keys(NEMESES).join(", ")}`,
      "none",
    )
    .option("--seed <s>", "seed of every random choice (default: the time)")
    .option(
      "--out <dir>",
      "directory for history.jsonl and verdict.json (default consistency-out/<workload>-<seed>)",
    )
    .option(
      "--pd <endpoints>",
      "PD endpoints of a real cluster, comma-separated (default $TIKV_PD_ENDPOINTS; else an embedded cluster)",
    )
    .option("--opt <name=value>", "workload setting (repeatable)", setting, {})
    .option("--gap <min-max>", "ms between faults", range)
    .option("--hold <min-max>", "ms a fault holds", range)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const o = program.opts<{
    workload: string;
    clients: number;
    ops?: number;
    duration?: number;
    nemesis: string;
    seed?: string;
    out?: string;
    pd?: string;
    opt: Record<string, string>;
    gap?: [number, number];
    hold?: [number, number];
  }>();
  if (o.ops === undefined && o.duration === undefined) o.ops = 1000;
  const seed = o.seed ?? String(Date.now());
  const pdList = (o.pd ?? process.env.TIKV_PD_ENDPOINTS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const out = o.out ?? `consistency-out/${o.workload}-${seed}`;
  try {
    const r = await runConsistency({
      workload: o.workload,
      clients: o.clients,
      ...(o.ops !== undefined ? { ops: o.ops } : {}),
      ...(o.duration !== undefined ? { durationMs: o.duration * 1000 } : {}),
      nemesis: o.nemesis,
      seed,
      out,
      ...(pdList.length > 0 ? { pdEndpoints: pdList } : {}),
      settings: o.opt,
      timing: { ...(o.gap ? { gapMs: o.gap } : {}), ...(o.hold ? { holdMs: o.hold } : {}) },
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const s = r.stats;
    console.log(
      `${r.workload} seed=${r.seed} clients=${r.clients} cluster=${r.cluster} ${r.durationMs} ms: ` +
        `${s.ok ?? 0} ok, ${s.fail ?? 0} fail, ${s.info ?? 0} info, ${s.nemesisFaults ?? 0} faults`,
    );
    for (const v of r.verdicts) {
      const skipped = v.stats.skipped !== undefined ? ` (skipped: ${v.stats.skipped})` : "";
      console.log(`  ${v.checker}: ${v.valid ? "valid" : `${v.anomalies.length} anomalies`}${skipped}`);
      for (const a of v.anomalies.slice(0, 10))
        console.log(`    ${a.kind}: ${a.message} [events ${a.events.join(", ")}]`);
    }
    console.log(
      `${r.valid ? "VALID" : "INVALID"}  history: ${r.files?.history}  verdict: ${r.files?.verdict}`,
    );
    return r.valid ? 0 : 1;
  } catch (e) {
    process.stderr.write(`consistency: ${(e as Error).message}\n`);
    return 2;
  }
}

const code = await main(process.argv.slice(2));
process.exit(code);
