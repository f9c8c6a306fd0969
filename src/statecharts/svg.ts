// Draws a Layout as a standalone SVG. Every state is a <g data-state="<xstate id>">, every edge
// a <g data-edge="<id>" data-from data-to>, so a page showing the SVG can highlight the active
// state (`.active`) or the last transition (`.taken`) with CSS alone.
import type { Layout, LayoutNode } from "./layout.js";
import { LINE_HEIGHT } from "./layout.js";

/** `t` escaped for XML / HTML text and attribute values. */
export const esc = (t: string): string =>
  t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The style sheet embedded in every SVG (classes a live view may toggle: active, taken). */
export const SVG_STYLE =
  ".state{fill:#eef4ff;stroke:#3a63b8}.final{fill:#f2f2f2;stroke:#444}.compound{fill:none;stroke:#888}" +
  ".depth1{fill:#fafafa}.phase{fill:#fffbea;stroke:#c9b458;stroke-dasharray:4 3}.title{font-weight:bold}" +
  ".phase-title{fill:#7a6a1a;font-style:italic}.initial{fill:#222}.edge polyline{fill:none;stroke:#555}" +
  ".label{fill:#333;font-size:10px}.active>rect{fill:#ffe08a;stroke:#b8860b;stroke-width:2}" +
  ".taken polyline{stroke:#d2691e;stroke-width:2.5}.taken text{fill:#d2691e;font-weight:bold}";

function drawNode(n: LayoutNode): string {
  const { x, y, width: w, height: h } = n;
  if (n.kind === "initial") return `<circle cx="${x + w / 2}" cy="${y + h / 2}" r="5" class="initial"/>`;
  const label = esc(n.label);
  if (n.kind === "phase")
    return (
      `<g class="phase-box" data-phase="${esc(n.label)}"><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" class="phase"/>` +
      `<text x="${x + 8}" y="${y + 16}" class="phase-title">${label}</text></g>`
    );
  const data = n.stateId === undefined ? "" : ` data-state="${esc(n.stateId)}"`;
  if (n.kind === "compound" || n.kind === "parallel")
    return (
      `<g class="node"${data}><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="10" class="compound depth${n.depth % 2}"/>` +
      `<text x="${x + 10}" y="${y + 17}" class="title">${label}${n.kind === "parallel" ? " (parallel)" : ""}</text></g>`
    );
  const final = n.kind === "final";
  const inner = final
    ? `<rect x="${x + 3}" y="${y + 3}" width="${w - 6}" height="${h - 6}" rx="6" class="state final"/>`
    : "";
  return (
    `<g class="node"${data}><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" class="state${final ? " final" : ""}"/>${inner}` +
    `<text x="${x + w / 2}" y="${y + h / 2 + 4}" text-anchor="middle">${label}</text></g>`
  );
}

/** SVG text of `layout`, titled `title`. */
export function layoutToSvg(layout: Layout, title: string): string {
  // outer boxes first, so inner ones are drawn on top of them
  const nodes = [...layout.nodes].sort((a, b) => a.depth - b.depth).map(drawNode);
  const edges = layout.edges.map((e) => {
    const pts = e.points.map((p) => `${p.x},${p.y}`).join(" ");
    const parts = [`<polyline points="${pts}" marker-end="url(#arrow)"/>`];
    const l = e.labelBox;
    if (l)
      parts.push(
        `<text class="label">${e.lines
          .map(
            (t, i) =>
              `<tspan x="${l.x}" y="${Math.round((l.y + 10 + i * LINE_HEIGHT) * 10) / 10}">${esc(t)}</tspan>`,
          )
          .join("")}</text>`,
      );
    return `<g class="edge" data-edge="${e.id}" data-from="${e.from}" data-to="${e.to}">${parts.join("")}</g>`;
  });
  const { width: W, height: H } = layout;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    `<style>${SVG_STYLE}</style>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...nodes,
    ...edges,
    "</svg>",
    "",
  ].join("\n");
}
