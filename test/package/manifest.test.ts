// Package hygiene (issue #17): package.json lists only dependencies the code uses, and npm's
// install-script approvals cover every dependency that has an install script.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as {
  packages: Record<string, { hasInstallScript?: boolean; version?: string }>;
};

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (/\.(m|c)?[jt]s$/.test(e.name)) out.push(p);
  }
  return out;
}

describe("package.json", () => {
  it("imports every runtime dependency somewhere in src/ or bin/", () => {
    const code = [...sources(join(repo, "src")), ...sources(join(repo, "bin"))]
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unused = Object.keys(pkg.dependencies).filter((dep) => {
      const name = dep.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      return !new RegExp(`(from\\s+|import\\s*\\(\\s*|require\\(\\s*)["']${name}(/[^"']*)?["']`).test(code);
    });
    expect(unused).toEqual([]);
  });

  it("decides (allowScripts) for every locked package with an install script, so npm ci warns about none", () => {
    const withScripts = new Set(
      Object.entries(lock.packages)
        .filter(([path, p]) => path !== "" && p.hasInstallScript)
        .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)),
    );
    expect(withScripts.size).toBeGreaterThan(0);
    const allow = pkg.allowScripts ?? {};
    const covered = (name: string) => Object.keys(allow).some((k) => k === name || k.startsWith(`${name}@`));
    expect([...withScripts].filter((n) => !covered(n))).toEqual([]);
    // protobufjs' postinstall only prints a version warning: denied.
    expect(allow.protobufjs).toBe(false);
  });
});
