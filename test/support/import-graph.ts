// A small import-graph reader for the layering check: which source file imports which, the
// layer each file sits in, the imports that run up the layers and the import circles.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { DepGraph, WW } from "../../src/consistency/checkers/graph.js";

/** Layers from the bottom up; a file may import only from its own layer or one below. */
export const LAYERS: Readonly<Record<string, number>> = {
  proto: 0,
  errors: 1,
  kv: 2,
  rpc: 3,
  cluster: 3,
  machines: 4,
  // the pure statechart renderer: reads machine definitions, draws them (no I/O)
  statecharts: 4,
  actors: 5,
  api: 6,
  consistency: 7,
  cli: 7,
  "index.ts": 8,
  "testing.ts": 8,
};

export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

function sourceFiles(dir: string, root: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, root, out);
    else if (entry.name.endsWith(".ts")) out.push(relative(root, path));
  }
  return out;
}

/** The relative imports of every .ts file under `root`, as paths relative to `root`. */
export function readImportGraph(root: string): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root, root)) {
    const targets: string[] = [];
    for (const m of readFileSync(join(root, file), "utf8").matchAll(IMPORT)) {
      const spec = m[1] as string;
      targets.push(normalize(join(dirname(file), spec)).replace(/\.js$/, ".ts"));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** The layer name of a file (its top-level directory, or the file itself at the top). */
export function layerOf(file: string): string {
  return file.split("/")[0] as string;
}

/** Every import from a lower layer to a higher one, as "from -> to". */
export function upwardImports(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const own = LAYERS[layerOf(from)];
    for (const to of targets) {
      const theirs = LAYERS[layerOf(to)];
      if (own === undefined || theirs === undefined) {
        out.push(`${from} -> ${to} (unranked layer)`);
      } else if (theirs > own) {
        out.push(`${from} -> ${to}`);
      }
    }
  }
  return out.sort();
}

/**
 * Import circles: strongly connected components of more than one file (the consistency
 * checkers' dependency graph finds them), and files that import themselves.
 */
export function importCircles(graph: ImportGraph): string[][] {
  const files = [...graph.keys()];
  const id = new Map(files.map((f, i) => [f, i]));
  const deps = new DepGraph();
  const circles: string[][] = [];
  for (const [from, targets] of graph) {
    deps.addNode(id.get(from) as number);
    for (const to of targets) {
      if (to === from) circles.push([from]);
      const t = id.get(to);
      if (t !== undefined) deps.add(id.get(from) as number, t, WW, "");
    }
  }
  for (const scc of deps.sccs(WW)) circles.push(scc.map((i) => files[i] as string).sort());
  return circles.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}
