// Finds every machine exported from src/machines and renders it (src/statecharts):
// <name>.mmd, <name>.svg and an index page. Used by `npm run statecharts` and by the test that
// fails when the committed files are stale.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AnyStateMachine } from "xstate";
import { chartStates, isMachine, type RenderedMachine, renderMachine } from "../../src/statecharts/index.js";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** A machine exported by src/machines, with the file and export it came from. */
export interface FoundMachine {
  name: string;
  file: string;
  machine: AnyStateMachine;
}

/** Every machine exported by src/machines/*.ts, sorted by name (export name without `Machine`). */
export async function findMachines(): Promise<FoundMachine[]> {
  const dir = join(repoRoot, "src/machines");
  const found: FoundMachine[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    for (const [exportName, value] of Object.entries(mod))
      if (isMachine(value)) found.push({ name: exportName.replace(/Machine$/, ""), file, machine: value });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every machine of src/machines, rendered. */
export async function renderMachines(): Promise<RenderedMachine[]> {
  const found = await findMachines();
  return Promise.all(found.map((f) => renderMachine(f.machine, f.name)));
}

/** The files docs/statecharts/ should hold, by file name (from `rendered`, default: render now). */
export async function renderAll(rendered?: RenderedMachine[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  rendered ??= await renderMachines();
  const index = [
    "# Statecharts",
    "",
    "Generated from the machine definitions in `src/machines/` by `npm run statecharts` (renderer:",
    "`src/statecharts/`); do not edit by hand. Labels read `EVENT [guard]`; `else` is the branch",
    "taken when the guards listed before it for the same event fail; dashed boxes group the states",
    "of one phase.",
    "",
    "Transaction behaviour without a machine of its own: the TTL manager (primary heartbeat) is the",
    "committer's `ttlManager` callback child, started and stopped by the `TTL_START` / `TTL_STOPPED`",
    "transitions on the committer's root; pessimistic locking is the committer's *pessimistic",
    "locking* phase, its per-call policy (wait, no-wait, timeout, locks to resolve) pure functions",
    "in `src/machines/pessimistic-policy.ts`.",
    "",
    "| machine | states | transitions | diagrams |",
    "|---|---|---|---|",
  ];
  for (const { chart, svg, mermaid } of rendered) {
    files.set(`${chart.name}.mmd`, mermaid);
    files.set(`${chart.name}.svg`, svg);
    index.push(
      `| [${chart.name}](#${chart.name.toLowerCase()}) | ${chartStates(chart).length} | ${chart.edges.length} | [svg](${chart.name}.svg) · [mermaid](${chart.name}.mmd) |`,
    );
  }
  index.push("");
  for (const { chart, mermaid } of rendered)
    index.push(
      `## ${chart.name}`,
      "",
      `![${chart.name}](${chart.name}.svg)`,
      "",
      "<details><summary>Mermaid source</summary>",
      "",
      "```mermaid",
      mermaid.trimEnd(),
      "```",
      "",
      "</details>",
      "",
    );
  files.set("README.md", index.join("\n"));
  return files;
}

/** Writes the rendered files into `outDir`. */
export async function writeAll(outDir = join(repoRoot, "docs/statecharts")): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const files = await renderAll();
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  return [...files.keys()];
}
