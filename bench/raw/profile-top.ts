/**
 * Summarizes a V8 .cpuprofile: top functions by self time and by inclusive time, with their
 * share of all samples. `node --import tsx bench/raw/profile-top.ts file.cpuprofile [N]`.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}

const [file, nArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-top.ts file.cpuprofile [N]");
const top = Number(nArg ?? 40);
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const hits = new Map<number, number>();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const total = profile.samples.length;

const label = (n: Node) => {
  const url = n.callFrame.url.replace(/^.*\/(node_modules\/|src\/)/, "$1");
  return `${n.callFrame.functionName || "(anon)"} ${url}:${n.callFrame.lineNumber + 1}`;
};

const self = new Map<string, number>();
const incl = new Map<string, number>();
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
for (const n of profile.nodes) {
  const h = hits.get(n.id) ?? 0;
  if (h === 0) continue;
  self.set(label(n), (self.get(label(n)) ?? 0) + h);
  // inclusive: count each distinct label once per stack
  const seen = new Set<string>();
  for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id) as Node);
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + h);
  }
}

const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (${total} samples)`);
  for (const [l, h] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((h / total) * 100).toFixed(1).padStart(5)}%  ${l}`);
  }
};
print("self", self);
print("inclusive", incl);
