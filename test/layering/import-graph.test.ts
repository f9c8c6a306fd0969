// Layering check (issue #17): every import in src/ points down the layers of LAYERS, and no
// files import each other in a circle. The upward imports still open are listed below and must match
// exactly, so a new upward import fails, and so does leaving a mended one listed.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { importCircles, readImportGraph, upwardImports } from "../support/import-graph.js";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

/** Upward imports still to mend: the retry and region machines take types and policy from actors. */
const KNOWN_UPWARD = [
  "machines/region.ts -> actors/region-cache/cached-region.ts",
  "machines/retry.ts -> actors/backoff/backoff-config.ts",
  "machines/retry.ts -> actors/backoff/backoffer.ts",
  "machines/retry.ts -> actors/region-cache/cached-region.ts",
  "machines/retry.ts -> actors/region-cache/region-cache.ts",
  "machines/retry.ts -> actors/region-cache/replica-selector.ts",
];

describe("import graph of src/", () => {
  const graph = readImportGraph(SRC);

  it("has no upward import beyond the listed debts", () => {
    expect(upwardImports(graph)).toEqual(KNOWN_UPWARD);
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
