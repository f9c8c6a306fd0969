// docs/statecharts/ is generated from src/machines/: a machine change without `npm run
// statecharts` leaves the committed diagrams stale, and this test says which.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCharts, renderAll, repoRoot } from "../../scripts/statecharts/render.js";

const docs = join(repoRoot, "docs/statecharts");

describe("generated statecharts", () => {
  it("renders every machine exported from src/machines", async () => {
    const charts = await loadCharts();
    expect(charts.map((c) => c.name)).toEqual(expect.arrayContaining(["pd", "store"]));
    for (const c of charts) expect(c.edges.length, c.name).toBeGreaterThan(0);
  });

  it("committed docs/statecharts match the machines (run `npm run statecharts` if not)", async () => {
    const expected = await renderAll();
    const committed = existsSync(docs) ? readdirSync(docs).filter((f) => /\.(mmd|svg|md)$/.test(f)) : [];
    expect(committed.sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected)
      expect(readFileSync(join(docs, name), "utf8"), `${name} is stale`).toBe(text);
  }, 60_000);
});
