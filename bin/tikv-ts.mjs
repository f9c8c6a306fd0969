#!/usr/bin/env node
// Entry point of the `tikv-ts` command. Runs the built CLI when the package is built, and the
// TypeScript source through tsx inside a development checkout.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist/src/cli/main.js");
let main;
if (existsSync(built)) {
  ({ main } = await import(pathToFileURL(built).href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import(pathToFileURL(join(root, "src/cli/main.ts")).href));
}
process.exitCode = await main(process.argv.slice(2));
