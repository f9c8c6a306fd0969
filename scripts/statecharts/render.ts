// Finds every machine exported from src/machines and renders it: <name>.mmd, <name>.svg and an
// index page. Used by `npm run statecharts` and by the staleness test.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Chart, isMachine, readChart } from "./graph.js";
import { toMermaid } from "./mermaid.js";
import { toSvg } from "./svg.js";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** Every machine exported by src/machines/*.ts, as charts sorted by name. */
export async function loadCharts(): Promise<Chart[]> {
  const dir = join(repoRoot, "src/machines");
  const charts: Chart[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    for (const [exportName, value] of Object.entries(mod)) {
      if (isMachine(value)) charts.push(readChart(exportName.replace(/Machine$/, ""), value));
    }
  }
  return charts.sort((a, b) => a.name.localeCompare(b.name));
}

/** The files docs/statecharts/ should hold, by file name. */
export async function renderAll(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const charts = await loadCharts();
  const index = [
    "# Statecharts",
    "",
    "Generated from the machine definitions in `src/machines/` by `npm run statecharts`; do not edit by hand.",
    "",
    "| machine | states | transitions | diagrams |",
    "|---|---|---|---|",
  ];
  for (const c of charts) {
    files.set(`${c.name}.mmd`, toMermaid(c));
    files.set(`${c.name}.svg`, await toSvg(c));
    let states = 0;
    const count = (s: Chart["root"]) => {
      states++;
      s.children.forEach(count);
    };
    count(c.root);
    index.push(
      `| ${c.name} | ${states} | ${c.edges.length} | [svg](${c.name}.svg) · [mermaid](${c.name}.mmd) |`,
    );
  }
  index.push("");
  for (const c of charts)
    index.push(
      `## ${c.name}`,
      "",
      `![${c.name}](${c.name}.svg)`,
      "",
      "```mermaid",
      toMermaid(c).trimEnd(),
      "```",
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
