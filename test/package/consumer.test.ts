// Package hygiene (issue #17): what `npm pack` publishes must work for a consumer project.
// Builds with tsconfig.build.json into a staging directory (never touching the repo's dist/),
// packs it, unpacks the tarball into a temp consumer's node_modules/tikv-ts, links the runtime
// dependencies from this repo's node_modules (offline, fast) and typechecks the README example
// with the repo's tsc and skipLibCheck off.
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const fixture = join(repo, "test/package/fixture");
const tsc = join(repo, "node_modules/typescript/bin/tsc");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  files: string[];
};

let work: string;
let unpacked: string; // consumer/node_modules/tikv-ts
let consumer: string;

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

function linkDep(name: string): void {
  const target = join(consumer, "node_modules", name);
  mkdirSync(dirname(target), { recursive: true });
  if (!existsSync(target)) symlinkSync(join(repo, "node_modules", name), target, "dir");
}

function writeConsumer(tsOptions: Record<string, unknown>): void {
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ["node"],
        ...tsOptions,
      },
      include: ["*.ts"],
    }),
  );
}

function typecheckConsumer(): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, "-p", consumer], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  work = realpathSync(mkdtempSync(join(tmpdir(), "tikv-ts-pack-")));
  const stage = join(work, "stage");
  mkdirSync(stage);
  // `npm run build` = tsc -p tsconfig.build.json; outDir redirected into the staging copy.
  const build = spawnSync("npm", ["run", "--silent", "build", "--", "--outDir", join(stage, "dist")], {
    cwd: repo,
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  cpSync(join(repo, "package.json"), join(stage, "package.json"));
  for (const f of ["README.md", "LICENSE"])
    if (existsSync(join(repo, f))) cpSync(join(repo, f), join(stage, f));
  for (const f of pkg.files)
    if (!f.startsWith("dist") && existsSync(join(repo, f)))
      cpSync(join(repo, f), join(stage, f), { recursive: true });
  const packOut = execFileSync("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", work], {
    cwd: stage,
    encoding: "utf8",
  });
  const tgz = join(work, packOut.trim().split("\n").pop() as string);
  consumer = join(work, "consumer");
  unpacked = join(consumer, "node_modules/tikv-ts");
  mkdirSync(unpacked, { recursive: true });
  execFileSync("tar", ["xzf", tgz, "-C", unpacked, "--strip-components=1"]);
  // Runtime deps only (not the optional peers: a consumer without them must still typecheck).
  for (const dep of Object.keys(pkg.dependencies)) linkDep(dep);
  linkDep("@types/node");
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  // The README's "Use it in your app" examples, verbatim.
  writeFileSync(join(consumer, "app.ts"), readFileSync(join(fixture, "app.ts.txt"), "utf8"));
  writeFileSync(
    join(consumer, "cluster-setup.ts"),
    readFileSync(join(fixture, "cluster-setup.ts.txt"), "utf8"),
  );
  writeFileSync(
    join(consumer, "imports.ts"),
    `${readFileSync(join(fixture, "imports.ts.txt"), "utf8")}export {};\n`,
  );
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("packed tarball", () => {
  it("contains both entry points' JS and types, and the bin", () => {
    for (const f of [
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/testing.js",
      "dist/src/testing.d.ts",
      "package.json",
    ]) {
      expect(existsSync(join(unpacked, f)), f).toBe(true);
    }
    expect(readdirSync(join(unpacked, "bin")).length).toBeGreaterThan(0);
    // No test or bench code ships.
    expect(walk(unpacked).filter((p) => /\/(test|bench|demo)\//.test(relative(unpacked, p)))).toEqual([]);
  });

  it("ships source maps only together with the sources they point to", () => {
    const maps = walk(unpacked).filter((p) => p.endsWith(".map"));
    const missing: string[] = [];
    for (const m of maps) {
      const { sources } = JSON.parse(readFileSync(m, "utf8")) as { sources: string[] };
      for (const s of sources) {
        const abs = resolve(dirname(m), s);
        if (!abs.startsWith(unpacked) || !existsSync(abs)) missing.push(`${relative(unpacked, m)} -> ${s}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("typechecks the README example in a strict consumer with skipLibCheck off", () => {
    // The README embeds the fixtures verbatim.
    const readme = readFileSync(join(repo, "README.md"), "utf8");
    for (const f of ["app.ts.txt", "cluster-setup.ts.txt", "imports.ts.txt"]) {
      expect(readme.includes(readFileSync(join(fixture, f), "utf8")), f).toBe(true);
    }
    writeConsumer({ exactOptionalPropertyTypes: false });
    const r = typecheckConsumer();
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  // xstate 5.33's own .d.ts fail under exactOptionalPropertyTypes (setup.d.ts TS2344, StateSchema
  // `id`), so the public declarations must not reach them: actor internals are `@internal` and
  // tsconfig.build.json strips them (stripInternal).
  it("typechecks in a consumer with exactOptionalPropertyTypes", () => {
    writeConsumer({ exactOptionalPropertyTypes: true });
    const r = typecheckConsumer();
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  it("reaches no declaration file that references xstate from either entry point", () => {
    writeConsumer({ exactOptionalPropertyTypes: false });
    const r = spawnSync(process.execPath, [tsc, "-p", consumer, "--listFilesOnly"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const reached = r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith(unpacked) && l.endsWith(".d.ts"));
    expect(reached.length).toBeGreaterThan(10);
    expect(
      reached.filter((p) => p.endsWith("/dist/src/index.d.ts") || p.endsWith("/dist/src/testing.d.ts"))
        .length,
    ).toBe(2);
    expect(reached.some((p) => p.includes("/node_modules/xstate/"))).toBe(false);
    const leaking = reached
      .filter((p) => /from\s+["']xstate["']|import\(\s*["']xstate["']\s*\)/.test(readFileSync(p, "utf8")))
      .map((p) => relative(unpacked, p));
    expect(leaking).toEqual([]);
  }, 60_000);
});
