// Renders a chart as a Mermaid stateDiagram-v2 (GitHub renders these natively). Phases (see
// ChartState.phase) are not drawn here: Mermaid cannot group states without nesting them.
import type { Chart, ChartState } from "./graph.js";

function walk(s: ChartState, out: string[], depth: number): void {
  const pad = "  ".repeat(depth);
  if (s.children.length) {
    out.push(`${pad}state "${s.key}" as ${s.id} {`);
    const inner = `${pad}  `;
    if (s.kind === "parallel") {
      s.children.forEach((c, i) => {
        if (i) out.push(`${inner}--`);
        walk(c, out, depth + 1);
      });
    } else {
      if (s.initial) out.push(`${inner}[*] --> ${s.initial}`);
      for (const c of s.children) walk(c, out, depth + 1);
    }
    out.push(`${pad}}`);
    return;
  }
  out.push(`${pad}state "${s.key}" as ${s.id}`);
  if (s.kind === "final") out.push(`${pad}${s.id} --> [*]`);
}

/** Mermaid source for `chart`. */
export function toMermaid(chart: Chart): string {
  const out = ["stateDiagram-v2", `[*] --> ${chart.root.id}`];
  walk(chart.root, out, 0);
  for (const e of chart.edges) out.push(`${e.from} --> ${e.to}: ${e.label.replace(/:/g, "#colon;")}`);
  return `${out.join("\n")}\n`;
}
