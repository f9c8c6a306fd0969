#!/usr/bin/env node
// Regenerates src/proto/ from proto/ with ts-proto, using the protoc bundled in the npm
// `protoc` package so no compiler is downloaded at install time.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// `--out DIR` lets the freshness test generate into a scratch folder and compare.
const outFlag = process.argv.indexOf("--out");
const out = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(root, "src/proto");
// Recursive: proto/etcd/ holds the etcd API subset (its own packages, outside kvproto).
const protos = readdirSync(join(root, "proto"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".proto"))
  .map((f) => f.split(sep).join("/"))
  .sort();
const opts = [
  "outputServices=grpc-js",
  "env=node",
  "forceLong=bigint",
  "useOptionals=messages",
  "esModuleInterop=true",
  "oneof=unions",
  "outputJsonMethods=false",
  "importSuffix=.js",
  "useExactTypes=false",
].join(",");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(
  process.execPath,
  [
    join(root, "node_modules/protoc/protoc.cjs"),
    `--plugin=protoc-gen-ts_proto=${join(root, "node_modules/.bin/protoc-gen-ts_proto")}`,
    `--ts_proto_out=${out}`,
    `--ts_proto_opt=${opts}`,
    "-I",
    join(root, "proto"),
    ...protos,
  ],
  { stdio: "inherit", cwd: join(root, "proto") },
);
console.log(`generated ${protos.length} files into ${out}`);
