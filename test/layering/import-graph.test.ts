// Layering check (issue #17): every import in src/ points down the layers of LAYERS, and no
// files import each other in a circle. No upward import is allowed: the machines take the
// actors' objects through the type-only ports of src/machines/ports.ts and their pure policy
// from src/machines/policy/, so a new upward import fails here.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { importCircles, readImportGraph, upwardImports } from "../support/import-graph.js";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

describe("import graph of src/", () => {
  const graph = readImportGraph(SRC);

  it("has no upward import", () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it("the pure machines import nothing from the actors (not even types)", () => {
    const machines = [...graph].filter(([f]) => f.startsWith("machines/"));
    expect(machines.length).toBeGreaterThan(0);
    for (const [from, targets] of machines)
      for (const to of targets) expect(`${from} -> ${to}`).not.toMatch(/-> actors\//);
  });

  it("has no import circle", () => {
    expect(importCircles(graph)).toEqual([]);
  });

  it("the errors every layer uses sit at the bottom: src/errors imports only the protocol", () => {
    const fromErrors = [...graph].filter(([f]) => f.startsWith("errors/")).flatMap(([, ts]) => ts);
    expect(fromErrors.length).toBeGreaterThan(0);
    for (const to of fromErrors) expect(to).toMatch(/^(errors|proto)\//);
  });
});

describe("the checker itself", () => {
  it("reports a planted upward import (kv importing the facade)", () => {
    const planted = new Map([
      ["kv/key.ts", ["api/tikv-client.ts", "errors/base.ts"]],
      ["api/tikv-client.ts", ["kv/key.ts"]],
      ["errors/base.ts", []],
    ]);
    expect(upwardImports(planted)).toEqual(["kv/key.ts -> api/tikv-client.ts"]);
  });

  it("reads type-only, re-export and dynamic imports from source files", () => {
    const root = mkdtempSync(join(tmpdir(), "import-graph-"));
    try {
      mkdirSync(join(root, "machines"));
      mkdirSync(join(root, "actors"));
      writeFileSync(
        join(root, "machines/retry.ts"),
        [
          'import type { RegionCache } from "../actors/cache.js";',
          'export type { Backoffer } from "../actors/backoff.js";',
          'export const load = () => import("../actors/lazy.js");',
          'import { Bo } from "./policy.js";',
        ].join("\n"),
      );
      writeFileSync(join(root, "machines/policy.ts"), "export const Bo = {};\n");
      for (const f of ["cache", "backoff", "lazy"])
        writeFileSync(join(root, `actors/${f}.ts`), "export {};\n");
      expect(upwardImports(readImportGraph(root))).toEqual([
        "machines/retry.ts -> actors/backoff.ts",
        "machines/retry.ts -> actors/cache.ts",
        "machines/retry.ts -> actors/lazy.ts",
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("reports a file in no known layer", () => {
    expect(upwardImports(new Map([["newlayer/x.ts", ["kv/key.ts"]]]))).toEqual([
      "newlayer/x.ts -> kv/key.ts (unranked layer)",
    ]);
  });

  it("reports a planted circle and a self-import, and no circle in a chain", () => {
    const planted = new Map([
      ["a/x.ts", ["a/y.ts"]],
      ["a/y.ts", ["a/z.ts"]],
      ["a/z.ts", ["a/x.ts"]],
      ["a/self.ts", ["a/self.ts"]],
      ["a/chain1.ts", ["a/chain2.ts"]],
      ["a/chain2.ts", []],
    ]);
    expect(importCircles(planted)).toEqual([["a/self.ts"], ["a/x.ts", "a/y.ts", "a/z.ts"]]);
  });
});
