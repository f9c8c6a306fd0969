// The wire contract: our .proto subset must stay wire-compatible with kvproto, and the
// committed generated code must be exactly what the scripts produce today.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const shared = resolve(root, "../shared/wire");
const hasShared = existsSync(join(shared, "check-proto.mjs"));
const scratch = mkdtempSync(join(tmpdir(), "tikv-ts-proto-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sameTree(a: string, b: string): string[] {
  const diffs: string[] = [];
  const names = new Set([...readdirSync(a), ...readdirSync(b)]);
  for (const n of names) {
    const pa = join(a, n);
    const pb = join(b, n);
    if (!existsSync(pa) || !existsSync(pb)) diffs.push(`${n}: only in one tree`);
    // src/proto/etcd/ holds the etcd API subset in subfolders
    else if (statSync(pa).isDirectory()) diffs.push(...sameTree(pa, pb).map((d) => `${n}/${d}`));
    else if (readFileSync(pa, "utf8") !== readFileSync(pb, "utf8")) diffs.push(`${n}: differs`);
  }
  return diffs;
}

describe.runIf(hasShared)("wire compatibility with kvproto", () => {
  it("reports 0 problems and defines every required RPC", () => {
    const r = spawnSync(
      process.execPath,
      [join(shared, "check-proto.mjs"), "proto", "--require", join(shared, "required-rpcs.json")],
      { cwd: root, encoding: "utf8" },
    );
    const last = r.stdout.trim().split("\n").pop() ?? "";
    expect(last).toMatch(/ 0 problems$/);
    expect(r.status).toBe(0);
  });

  it("committed proto/ is what derive-proto-subset writes", () => {
    const out = join(scratch, "proto");
    execFileSync(process.execPath, [join(root, "scripts/derive-proto-subset.mjs"), "--out", out], {
      cwd: root,
    });
    const ours = readdirSync(join(root, "proto")).filter((f) => f.endsWith(".proto"));
    const theirs = readdirSync(out);
    expect(theirs.sort()).toEqual(ours.sort());
    for (const f of ours)
      expect(readFileSync(join(out, f), "utf8"), f).toBe(readFileSync(join(root, "proto", f), "utf8"));
  });
});

describe("generated code", () => {
  it("src/proto is exactly what `npm run proto` generates (regeneration gives no diff)", () => {
    const out = join(scratch, "ts");
    execFileSync(process.execPath, [join(root, "scripts/gen-proto.mjs"), "--out", out], { cwd: root });
    expect(sameTree(out, join(root, "src/proto"))).toEqual([]);
  }, 60_000);
});
