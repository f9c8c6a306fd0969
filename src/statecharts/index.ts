/**
 * Statechart rendering: one XState v5 machine definition in, its diagram out. Used by `npm run
 * statecharts` (docs/statecharts/) and meant for anything else that draws a machine (the live
 * view, rendered traces), so every picture of a machine has the same layout.
 *
 * API:
 * - `renderMachine(machine, name?)` → `{ chart, layout, svg, mermaid }`
 *   - `chart`: the states and transitions read from the definition (graph.ts: Chart),
 *   - `layout`: positions of every state / phase box / edge (layout.ts: Layout); each state
 *     carries its XState id (`stateId`), each edge the indexes of the chart transitions it draws,
 *   - `svg`: a standalone SVG; states are `<g data-state="<xstate id>">`, edges
 *     `<g data-edge data-from data-to>`; add class `active` / `taken` to highlight them,
 *   - `mermaid`: Mermaid stateDiagram-v2 source.
 * - lower-level pieces: `readChart`, `layoutChart`, `layoutToSvg`, `toMermaid`.
 *
 * States with `meta: { phase: "<name>" }` are drawn inside a dashed box per phase (a drawing
 * aid: it does not change the machine). Pure: no I/O; the layout is deterministic.
 *
 * @example
 * ```ts
 * import { renderMachine } from "./statecharts/index.js";
 * const { svg, layout } = await renderMachine(committerMachine);
 * const prewriting = layout.nodes.find((n) => n.stateId === "committer.prewriting");
 * ```
 */
import type { AnyStateMachine } from "xstate";
import { type Chart, readChart } from "./graph.js";
import { type Layout, layoutChart } from "./layout.js";
import { toMermaid } from "./mermaid.js";
import { layoutToSvg } from "./svg.js";

export { type Chart, type ChartEdge, type ChartState, chartStates, isMachine, readChart } from "./graph.js";
export {
  type Layout,
  type LayoutBox,
  type LayoutEdge,
  type LayoutNode,
  type LayoutPoint,
  layoutChart,
} from "./layout.js";
export { toMermaid } from "./mermaid.js";
export { esc, layoutToSvg, SVG_STYLE } from "./svg.js";

/** A machine's diagram in every form. */
export interface RenderedMachine {
  chart: Chart;
  layout: Layout;
  svg: string;
  mermaid: string;
}

/** Renders `machine` (named `name`, default its id) as a chart, a layout, an SVG and Mermaid. */
export async function renderMachine(
  machine: AnyStateMachine,
  name: string = machine.id,
): Promise<RenderedMachine> {
  const chart = readChart(machine, name);
  const layout = await layoutChart(chart);
  return { chart, layout, svg: layoutToSvg(layout, name), mermaid: toMermaid(chart) };
}
