// Renders a chart as a standalone SVG, laid out by ELK (elkjs): no browser needed, and the same
// input always gives the same file, so a test can tell when committed diagrams are stale.
import ElkModule from "elkjs/lib/elk.bundled.js";
import type { Chart, ChartState } from "./graph.js";

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
  edges?: ElkEdge[];
  layoutOptions?: Record<string, string>;
}
interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: Array<{ startPoint: P; endPoint: P; bendPoints?: P[] }>;
}
interface P {
  x: number;
  y: number;
}
// elkjs is CommonJS with a default-export declaration; NodeNext sees the module object.
const Elk = ElkModule as unknown as new () => { layout(graph: unknown): Promise<unknown> };

const CHAR_W = 6.6;
const FONT = 11;
const textWidth = (t: string) => Math.ceil(t.length * CHAR_W) + 8;
const r = (n: number) => Math.round(n * 10) / 10;
const esc = (t: string) =>
  t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function toElk(s: ChartState, kinds: Map<string, ChartState>): ElkNode {
  kinds.set(s.id, s);
  if (!s.children.length) {
    if (s.kind === "final")
      return {
        id: s.id,
        width: Math.max(60, textWidth(s.key) + 10),
        height: 34,
        labels: [{ text: s.key, width: textWidth(s.key), height: 14 }],
      };
    return {
      id: s.id,
      width: Math.max(70, textWidth(s.key) + 16),
      height: 34,
      labels: [{ text: s.key, width: textWidth(s.key), height: 14 }],
    };
  }
  const children = s.children.map((c) => toElk(c, kinds));
  if (s.initial) children.unshift({ id: `${s.id}__initial`, width: 12, height: 12 });
  return {
    id: s.id,
    labels: [{ text: s.key, width: textWidth(s.key), height: 14 }],
    children,
    layoutOptions: { "elk.padding": "[top=28,left=14,bottom=14,right=14]" },
  };
}

/** SVG text of `chart`. */
export async function toSvg(chart: Chart): Promise<string> {
  const kinds = new Map<string, ChartState>();
  const root = toElk(chart.root, kinds);
  const edges: ElkEdge[] = chart.edges.map((e, i) => ({
    id: `e${i}`,
    sources: [e.from],
    targets: [e.to],
    labels: [{ text: e.label, width: textWidth(e.label), height: 14 }],
  }));
  const initialEdges: ElkEdge[] = [];
  const addInitial = (s: ChartState) => {
    if (s.initial)
      initialEdges.push({ id: `i_${s.id}`, sources: [`${s.id}__initial`], targets: [s.initial] });
    s.children.forEach(addInitial);
  };
  addInitial(chart.root);
  const graph: ElkNode = {
    id: "graph",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.layered.spacing.nodeNodeBetweenLayers": "40",
      "elk.spacing.nodeNode": "30",
      "elk.spacing.edgeLabel": "4",
      "elk.edgeLabels.inline": "false",
      "elk.json.edgeCoords": "ROOT",
      "elk.json.shapeCoords": "ROOT",
      "elk.randomSeed": "1",
    },
    children: [root],
    edges: [...edges, ...initialEdges],
  };
  const laid = (await new Elk().layout(graph)) as ElkNode;

  const shapes: string[] = [];
  let maxX = 0;
  let maxY = 0;
  const grow = (x: number, y: number) => {
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  };
  const drawNode = (n: ElkNode, depth: number) => {
    const x = n.x ?? 0;
    const y = n.y ?? 0;
    const w = n.width ?? 0;
    const h = n.height ?? 0;
    grow(x + w, y + h);
    if (n.id.endsWith("__initial")) {
      shapes.push(`<circle cx="${r(x + w / 2)}" cy="${r(y + h / 2)}" r="5" class="initial"/>`);
      return;
    }
    const s = kinds.get(n.id);
    const label = esc(n.labels?.[0]?.text ?? "");
    if (n.children?.length) {
      shapes.push(
        `<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${r(h)}" rx="10" class="compound depth${depth % 2}"/>`,
      );
      shapes.push(
        `<text x="${r(x + 10)}" y="${r(y + 17)}" class="title">${label}${s?.kind === "parallel" ? " (parallel)" : ""}</text>`,
      );
      for (const c of n.children) drawNode(c, depth + 1);
      return;
    }
    shapes.push(
      `<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${r(h)}" rx="8" class="state${s?.kind === "final" ? " final" : ""}"/>`,
    );
    if (s?.kind === "final")
      shapes.push(
        `<rect x="${r(x + 3)}" y="${r(y + 3)}" width="${r(w - 6)}" height="${r(h - 6)}" rx="6" class="state final"/>`,
      );
    shapes.push(`<text x="${r(x + w / 2)}" y="${r(y + h / 2 + 4)}" text-anchor="middle">${label}</text>`);
  };
  for (const c of laid.children ?? []) drawNode(c, 0);

  for (const e of laid.edges ?? []) {
    for (const sec of e.sections ?? []) {
      const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
      for (const p of pts) grow(p.x, p.y);
      shapes.push(
        `<polyline points="${pts.map((p) => `${r(p.x)},${r(p.y)}`).join(" ")}" class="edge" marker-end="url(#arrow)"/>`,
      );
    }
    for (const l of e.labels ?? []) {
      grow((l.x ?? 0) + l.width, (l.y ?? 0) + l.height);
      shapes.push(`<text x="${r(l.x ?? 0)}" y="${r((l.y ?? 0) + 11)}" class="label">${esc(l.text)}</text>`);
    }
  }
  const W = r(maxX + 20);
  const H = r(maxY + 20);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="${FONT}">`,
    `<title>${esc(chart.name)}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    "<style>.state{fill:#eef4ff;stroke:#3a63b8}.final{fill:#f2f2f2;stroke:#444}.compound{fill:none;stroke:#888}.depth1{fill:#fafafa}.title{font-weight:bold}.initial{fill:#222}.edge{fill:none;stroke:#555}.label{fill:#333;font-size:10px}</style>",
    `<rect width="100%" height="100%" fill="white"/>`,
    ...shapes,
    "</svg>",
    "",
  ].join("\n");
}
