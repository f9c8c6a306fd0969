#!/usr/bin/env node
// Writes test/PORTED.md: the index of test/ported/*.md (one mapping table per area), with the
// number of mapped rows in each, so the parity checklist has one entry point.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dir = join(root, "test/ported");
const rows = [];
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith(".md"))
  .sort()) {
  const text = readFileSync(join(dir, f), "utf8");
  const title = (text.split("\n")[0] ?? f).replace(/^#\s*(Ported tests:\s*)?/, "");
  const table = text.split("\n").filter((l) => l.startsWith("|") && !/^\|\s*-/.test(l));
  const mapped = Math.max(0, table.length - 1 * text.split("\n").filter((l) => /^\|\s*-/.test(l)).length);
  const na = table.filter((l) => /not applicable|n\/a|\bN\/A\b|not ported/i.test(l)).length;
  rows.push(`| [${f.replace(/\.md$/, "")}](ported/${f}) | ${title} | ${mapped} | ${na} |`);
}
const out = [
  "# Ported tests",
  "",
  "Which client-go (and TiKV / PD) tests we ported, by meaning, and where they live; or why one",
  "does not apply. One table per area in `test/ported/`; this index is written by",
  "`node scripts/ported-index.mjs`. The checklist is `../shared/reference/client-go-tests.md`.",
  "",
  "| area | covers | rows | of which not applicable / not ported |",
  "|---|---|---|---|",
  ...rows,
  "",
];
writeFileSync(join(root, "test/PORTED.md"), out.join("\n"));
console.log(`test/PORTED.md: ${rows.length} areas`);
