// Lays a chart out with ELK (elkjs, layered, top to bottom): positions of every state box, phase
// box and edge, in one coordinate space. The same chart always gives the same layout (fixed
// seed), so committed diagrams can be compared byte for byte, and a live view can draw the very
// same picture and highlight states and edges on it by id.
import ElkModule from "elkjs/lib/elk.bundled.js";
import type { Chart, ChartState } from "./graph.js";

/** A point of an edge's route. */
export interface LayoutPoint {
  x: number;
  y: number;
}

/** A positioned box. */
export interface LayoutBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A drawn node: a state, a phase box grouping sibling states, or a compound's initial dot. */
export interface LayoutNode extends LayoutBox {
  /** The chart id (ChartState.id; phase boxes: `<parent>__phase_<name>`, dots: `<parent>__initial`). */
  id: string;
  kind: ChartState["kind"] | "phase" | "initial";
  label: string;
  /** The XState state node id, for states (what actor snapshots name). */
  stateId?: string;
  depth: number;
}

/** A drawn edge: every transition between the same two states, under one label. */
export interface LayoutEdge {
  id: string;
  from: string;
  to: string;
  /** Indexes into Chart.edges of the transitions this edge draws ([] for initial arrows). */
  transitions: number[];
  /** The label's text lines (a long `EVENT [guard]` is split after the event). */
  lines: string[];
  points: LayoutPoint[];
  labelBox?: LayoutBox;
}

/** A chart's drawing: everything the SVG shows, by position. */
export interface Layout {
  width: number;
  height: number;
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

interface ElkLabel {
  text: string;
  width: number;
  height: number;
  x?: number;
  y?: number;
}
interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
  labels?: ElkLabel[];
  children?: ElkNode[];
  layoutOptions?: Record<string, string>;
}
interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: Array<{ startPoint: LayoutPoint; endPoint: LayoutPoint; bendPoints?: LayoutPoint[] }>;
}
interface ElkGraph extends ElkNode {
  edges: ElkEdge[];
}
// elkjs is CommonJS with a default-export declaration; NodeNext sees the module object.
const Elk = ElkModule as unknown as new () => { layout(graph: ElkGraph): Promise<ElkGraph> };

/** Width of one character of the 11 px sans-serif font (estimate: no font metrics here). */
const CHAR_WIDTH = 6.6;
/** Width of one character of the 10 px edge labels. */
const LABEL_CHAR_WIDTH = 6;
/** Height of one edge label line. */
export const LINE_HEIGHT = 12;
const textWidth = (t: string) => Math.ceil(t.length * CHAR_WIDTH) + 8;
const labelWidth = (t: string) => Math.ceil(t.length * LABEL_CHAR_WIDTH) + 4;
const round = (n: number) => Math.round(n * 10) / 10;

const PHASE_PREFIX = "__phase_";

function toElk(s: ChartState, info: Map<string, Omit<LayoutNode, keyof LayoutBox>>, depth: number): ElkNode {
  info.set(s.id, { id: s.id, kind: s.kind, label: s.key, stateId: s.stateId, depth });
  const label = [{ text: s.key, width: textWidth(s.key), height: 14 }];
  if (!s.children.length)
    return { id: s.id, width: Math.max(70, textWidth(s.key) + 16), height: 34, labels: label };
  const children: ElkNode[] = [];
  if (s.initial) {
    children.push({ id: `${s.id}__initial`, width: 12, height: 12 });
    info.set(`${s.id}__initial`, { id: `${s.id}__initial`, kind: "initial", label: "", depth: depth + 1 });
  }
  const phases = new Map<string, ElkNode>();
  for (const c of s.children) {
    if (c.phase === undefined) {
      children.push(toElk(c, info, depth + 1));
      continue;
    }
    let box = phases.get(c.phase);
    if (!box) {
      const id = `${s.id}${PHASE_PREFIX}${c.phase.replace(/[^A-Za-z0-9_]/g, "_")}`;
      box = {
        id,
        labels: [{ text: c.phase, width: textWidth(c.phase), height: 14 }],
        children: [],
        layoutOptions: { "elk.padding": "[top=26,left=10,bottom=10,right=10]" },
      };
      info.set(id, { id, kind: "phase", label: c.phase, depth: depth + 1 });
      phases.set(c.phase, box);
      children.push(box);
    }
    box.children?.push(toElk(c, info, depth + 2));
  }
  return {
    id: s.id,
    labels: label,
    children,
    layoutOptions: {
      "elk.padding": "[top=28,left=14,bottom=14,right=14]",
      // labels sit next to their source state rather than all in the widest layer
      "elk.layered.edgeLabels.centerLabelPlacementStrategy": "TAIL_LAYER",
      // edges run close together (still apart at 11 px text): a many-edged chart stays page-wide
      "elk.spacing.edgeEdge": "6",
      "elk.spacing.edgeNode": "8",
    },
  };
}

/** The layout of `chart`. */
export async function layoutChart(chart: Chart): Promise<Layout> {
  const info = new Map<string, Omit<LayoutNode, keyof LayoutBox>>();
  const root = toElk(chart.root, info, 0);
  // one drawn edge per pair of states: parallel arrows with their own labels would only widen it
  const grouped = new Map<string, LayoutEdge>();
  chart.edges.forEach((e, i) => {
    const key = `${e.from}\u0000${e.to}`;
    let g = grouped.get(key);
    if (!g) {
      g = { id: `e${grouped.size}`, from: e.from, to: e.to, transitions: [], lines: [], points: [] };
      grouped.set(key, g);
    }
    g.transitions.push(i);
    // the guard goes on its own line: labels side by side in one layer set the chart's width
    if (e.guard !== undefined && e.event !== "" && e.label.length > 24)
      g.lines.push(e.trigger, `  [${e.guard}]`);
    else g.lines.push(e.label);
  });
  const edges: LayoutEdge[] = [...grouped.values()];
  const initials: LayoutEdge[] = [];
  const addInitial = (s: ChartState) => {
    if (s.initial)
      initials.push({
        id: `i_${s.id}`,
        from: `${s.id}__initial`,
        to: s.initial,
        transitions: [],
        lines: [],
        points: [],
      });
    s.children.forEach(addInitial);
  };
  addInitial(chart.root);
  const all = [...edges, ...initials];
  const graph: ElkGraph = {
    id: "graph",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.layered.spacing.nodeNodeBetweenLayers": "36",
      "elk.spacing.nodeNode": "24",
      "elk.spacing.edgeLabel": "3",
      "elk.spacing.edgeEdge": "8",
      "elk.layered.spacing.edgeNodeBetweenLayers": "12",
      "elk.edgeLabels.inline": "false",
      "elk.json.edgeCoords": "ROOT",
      "elk.json.shapeCoords": "ROOT",
      "elk.randomSeed": "1",
    },
    children: [root],
    edges: all.map((e) => {
      const out: ElkEdge = { id: e.id, sources: [e.from], targets: [e.to] };
      if (e.lines.length)
        out.labels = [
          {
            text: e.lines.join("\n"),
            width: Math.max(...e.lines.map(labelWidth)),
            height: e.lines.length * LINE_HEIGHT + 2,
          },
        ];
      return out;
    }),
  };
  const laid = await new Elk().layout(graph);

  const nodes: LayoutNode[] = [];
  let maxX = 0;
  let maxY = 0;
  const grow = (x: number, y: number) => {
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  };
  const readNode = (n: ElkNode) => {
    const box = {
      x: round(n.x ?? 0),
      y: round(n.y ?? 0),
      width: round(n.width ?? 0),
      height: round(n.height ?? 0),
    };
    grow(box.x + box.width, box.y + box.height);
    const meta = info.get(n.id);
    if (meta) nodes.push({ ...meta, ...box });
    for (const c of n.children ?? []) readNode(c);
  };
  for (const c of laid.children ?? []) readNode(c);
  const byId = new Map(all.map((e) => [e.id, e]));
  for (const le of laid.edges) {
    const e = byId.get(le.id);
    if (!e) continue;
    for (const sec of le.sections ?? [])
      for (const p of [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint]) {
        e.points.push({ x: round(p.x), y: round(p.y) });
        grow(p.x, p.y);
      }
    const l = le.labels?.[0];
    if (l) {
      e.labelBox = { x: round(l.x ?? 0), y: round(l.y ?? 0), width: l.width, height: l.height };
      grow((l.x ?? 0) + l.width, (l.y ?? 0) + l.height);
    }
  }
  return { width: round(maxX + 20), height: round(maxY + 20), nodes, edges: all };
}
