// `tikv-ts inspect trace.json --out file.html|file.svg`: a trace drawn on the committer's
// statechart (visited states highlighted with their step numbers, the transitions taken
// marked, the final state outlined, the timeline listed); bad traces and bad usage get exit
// codes 1 and 2 with the offending field named.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "tikv-ts-trace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const state = (at: number, from: string, to: string, event: string) => ({
  type: "state",
  txn: "7",
  at,
  machine: "committer",
  from,
  to,
  event,
});
// a commit whose prewrite met a region error, retried, then committed
const trace = {
  format: "tikv-ts/txn-trace",
  version: 1,
  txn: "7",
  kind: "optimistic",
  startedAt: 1000,
  endedAt: 1040,
  outcome: "committed",
  machines: ["committer"],
  events: [
    { type: "begin", txn: "7", at: 1000, kind: "optimistic", asyncCommit: false, onePC: false },
    { type: "commitStart", txn: "7", at: 1001, keys: 1, sampleKeys: ["k"], primary: "k" },
    state(1002, "", "prewriting", ""),
    {
      type: "rpc",
      txn: "7",
      at: 1003,
      command: "Prewrite",
      regionId: "2",
      storeId: "1",
      address: "127.0.0.1:1",
      attempt: 0,
      outcome: "regionError",
      detail: "notLeader",
      durationMs: 1,
    },
    { type: "backoff", txn: "7", at: 1004, kind: "regionMiss", sleepMs: 2, reason: "not leader" },
    state(1010, "prewriting", "gettingCommitTs", "PREWRITE_OK"),
    state(1012, "gettingCommitTs", "committingPrimary", "COMMIT_TS"),
    state(1020, "committingPrimary", "committed", "PRIMARY_COMMITTED"),
    {
      type: "commit",
      txn: "7",
      at: 1021,
      commitTs: "9",
      mode: "2pc",
      asyncCommitFallback: false,
      onePCFallback: false,
      durationMs: 21,
    },
    state(1040, "committed", "resting.done", "SECONDARIES_DONE"),
  ],
};

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    err += String(s);
    return true;
  });
  return main(args)
    .then((code) => ({ code, out, err }))
    .finally(() => {
      o.mockRestore();
      e.mockRestore();
    });
}

describe("tikv-ts inspect", () => {
  const file = join(dir, "trace.json");
  writeFileSync(file, JSON.stringify(trace));

  it("renders HTML with the visited states highlighted, the taken transitions marked and the timeline", async () => {
    const out = join(dir, "trace.html");
    const r = await run(["inspect", file, "--out", out]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(out);
    const html = readFileSync(out, "utf8");
    for (const s of ["prewriting", "gettingCommitTs", "committingPrimary", "committed"]) {
      expect(html).toContain(`<g class="node visited" data-state="committer.${s}"`);
    }
    expect(html).toContain('<g class="node current" data-state="committer.resting.done"');
    // states not passed stay plain
    expect(html).toContain('<g class="node" data-state="committer.cleaningUp"');
    expect(html).toContain('<g class="node" data-state="committer.resting.undetermined"');
    // the four transitions taken, each once
    expect(html.match(/<g class="edge taken"/g)?.length).toBe(4);
    expect(html).toMatch(
      /<g class="edge taken" data-edge="[^"]+" data-from="committer_prewriting" data-to="committer_gettingCommitTs"/,
    );
    // step numbers and the timeline
    expect(html).toContain('class="step">1</text>');
    expect(html).toContain(
      "Prewrite to region 2 on store 1 (127.0.0.1:1), attempt 0: regionError (notLeader)",
    );
    expect(html).toContain("backoff regionMiss 2 ms");
    expect(html).toContain('data-outcome="committed"');
  });

  it("renders a standalone SVG", async () => {
    const out = join(dir, "trace.svg");
    const r = await run(["inspect", file, "--out", out]);
    expect(r.code).toBe(0);
    const svg = readFileSync(out, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain(".visited>rect{");
    expect(svg).toContain('<g class="node visited" data-state="committer.prewriting"');
    expect(svg).toContain('<g class="node current" data-state="committer.resting.done"');
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  });

  it("writes <trace>.html next to the input by default", async () => {
    const r = await run(["inspect", file]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "trace.html"), "utf8")).toContain("<!doctype html>");
  });

  it("names the offending field of a bad trace (exit 1), refuses other outputs (exit 2)", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ ...trace, events: [{ ...trace.events[3], outcome: "meh" }] }));
    const r = await run(["inspect", bad, "--out", join(dir, "bad.html")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /invalid trace .*bad\.json: .*events\[0\]\.outcome: must be one of ok, regionError/,
    );
    const notJson = join(dir, "x.json");
    writeFileSync(notJson, "{");
    expect((await run(["inspect", notJson])).err).toMatch(/not JSON/);
    expect((await run(["inspect", join(dir, "missing.json")])).code).toBe(1);
    const png = await run(["inspect", file, "--out", join(dir, "t.png")]);
    expect(png.code).toBe(2);
    expect(png.err).toMatch(/--out must end in .html or .svg/);
  });
});
