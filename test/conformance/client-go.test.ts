// TiKV's own Go client against our embedded cluster (started by the CLI, in its own process).
// Runs only where Go is installed; `npm run conformance` is the same check by hand.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const hasGo = spawnSync("go", ["version"], { encoding: "utf8" }).status === 0;

describe.runIf(hasGo && !process.env.TIKV_PD_ENDPOINTS)("client-go conformance", () => {
  it("client-go's raw and transactional work gives correct results on the embedded cluster", () => {
    const r = spawnSync("bash", [join(root, "conformance/run.sh")], {
      cwd: root,
      encoding: "utf8",
      timeout: 540_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out, out).toContain("conformance: all checks passed");
    expect(out).not.toMatch(/^FAIL /m);
    expect(r.status, out).toBe(0);
  }, 600_000);
});
