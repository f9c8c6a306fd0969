// docs/statecharts/ is generated from src/machines/ (renderer: src/statecharts/): a machine
// change without `npm run statecharts` leaves the committed diagrams stale, and this test says
// which. It also holds the diagrams to being readable: every machine drawn, every edge labelled,
// every guard named, each SVG narrow enough for a page, and the index linking them all.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { and, createMachine, not, setup } from "xstate";
import { findMachines, renderAll, renderMachines, repoRoot } from "../../scripts/statecharts/render.js";
import { chartStates, readChart, renderMachine } from "../../src/statecharts/index.js";

const docs = join(repoRoot, "docs/statecharts");
/** Widest SVG allowed (px): wider ones shrink their 10 px labels below ~7 px on a 1100 px page. */
const MAX_SVG_WIDTH = 1600;

const rendered = await renderMachines();

describe("generated statecharts", () => {
  it("renders every machine defined in src/machines (transaction machines included)", async () => {
    // counted from the sources, independently of the loader's export scan
    const dir = join(repoRoot, "src/machines");
    const defined = readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) => [
        ...readFileSync(join(dir, f), "utf8").matchAll(/export const (\w+)Machine = setup\(/g),
      ])
      .map((m) => m[1])
      .sort();
    expect(rendered.map((r) => r.chart.name).sort()).toEqual(defined);
    expect(defined).toEqual(
      expect.arrayContaining([
        "committer",
        "lockResolution",
        "lockResolver",
        "pipelinedFlush",
        "pd",
        "store",
      ]),
    );
    expect((await findMachines()).length).toBe(defined.length);
  });

  it("labels every edge", () => {
    for (const { chart, layout } of rendered) {
      for (const e of chart.edges) expect(e.label.trim(), `${chart.name} ${e.from} -> ${e.to}`).not.toBe("");
      const transitions = layout.edges.filter((e) => !e.id.startsWith("i_"));
      expect(transitions.flatMap((e) => e.transitions).sort((a, b) => a - b)).toEqual(
        chart.edges.map((_, i) => i),
      );
      for (const e of transitions) {
        expect(e.lines.length, `${chart.name} ${e.id}`).toBeGreaterThan(0);
        expect(e.labelBox, `${chart.name} ${e.id} has no placed label`).toBeDefined();
      }
    }
  });

  it("names every guard (no inline guard function)", () => {
    for (const { chart, mermaid, svg } of rendered) {
      expect(
        chart.edges.filter((e) => e.anonymousGuard).map((e) => `${e.from} -> ${e.to}: ${e.label}`),
        chart.name,
      ).toEqual([]);
      expect(mermaid).not.toMatch(/\[(guard|inline guard)\]/);
      expect(svg).not.toMatch(/\[(guard|inline guard)\]/);
    }
  });

  it("draws every state with its XState id, and each SVG fits a page", () => {
    for (const { chart, layout, svg } of rendered) {
      for (const s of chartStates(chart))
        expect(svg, `${chart.name} ${s.stateId}`).toContain(`data-state="${s.stateId}"`);
      expect(layout.width, `${chart.name}.svg is ${layout.width}px wide`).toBeLessThanOrEqual(MAX_SVG_WIDTH);
    }
  });

  it("committed docs/statecharts match the machines (run `npm run statecharts` if not)", async () => {
    const expected = await renderAll(rendered);
    const committed = existsSync(docs) ? readdirSync(docs).filter((f) => /\.(mmd|svg|md)$/.test(f)) : [];
    expect(committed.sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected)
      expect(readFileSync(join(docs, name), "utf8"), `${name} is stale`).toBe(text);
  });

  it("the index page links every SVG and Mermaid file", () => {
    const index = readFileSync(join(docs, "README.md"), "utf8");
    const files = readdirSync(docs).filter((f) => /\.(svg|mmd)$/.test(f));
    expect(files.length).toBe(rendered.length * 2);
    for (const f of files) expect(index, f).toContain(`](${f})`);
  });
});

describe("the renderer", () => {
  it("flags an inline guard and names composed ones", () => {
    const m = setup({ guards: { ready: () => true, busy: () => false } }).createMachine({
      id: "planted",
      initial: "a",
      states: {
        a: {
          on: {
            GO: [
              { guard: ({ event }) => event.type === "GO", target: "b" },
              { guard: and(["ready", not("busy")]), target: "b" },
              { target: "a" },
            ],
          },
        },
        b: { always: { guard: "ready", target: "a" } },
      },
    });
    const labels = readChart(m).edges.map((e) => [e.label, e.anonymousGuard]);
    expect(labels).toEqual([
      ["GO [inline guard]", true],
      ["GO [(ready && !busy)]", false],
      ["GO [else]", false],
      ["[ready]", false],
    ]);
  });

  it("draws states sharing meta.phase inside one phase box, and is deterministic", async () => {
    const m = createMachine({
      id: "phased",
      initial: "a",
      states: {
        a: { meta: { phase: "one" }, on: { NEXT: "b" } },
        b: { meta: { phase: "one" }, on: { NEXT: "c" } },
        c: { type: "final" },
      },
    });
    const first = await renderMachine(m);
    const phase = first.layout.nodes.find((n) => n.kind === "phase");
    expect(phase?.label).toBe("one");
    for (const id of ["phased.a", "phased.b"]) {
      const n = first.layout.nodes.find((x) => x.stateId === id);
      expect(n && phase && n.x >= phase.x && n.x + n.width <= phase.x + phase.width, id).toBe(true);
    }
    expect(first.svg).toContain('data-phase="one"');
    expect((await renderMachine(m)).svg).toBe(first.svg);
  });
});
