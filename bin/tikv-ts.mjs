#!/usr/bin/env node
// Entry point of the `tikv-ts` command. Inside a development checkout (the TypeScript source is
// present) it runs the source through tsx, so a stale dist/ is never used; an installed package
// has only dist/ and runs that.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src/cli/main.ts");
let main;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import(pathToFileURL(source).href));
} else {
  ({ main } = await import(pathToFileURL(join(root, "dist/src/cli/main.js")).href));
}
process.exitCode = await main(process.argv.slice(2));
