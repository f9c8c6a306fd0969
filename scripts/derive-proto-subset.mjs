#!/usr/bin/env node
// Writes proto/*.proto: the subset of kvproto's wire schema that tikv-ts speaks.
//
// Why a script: the subset is decided here (the RPC list below and the exclusions), and the
// field tables come from the shared wire schema (data extracted from kvproto, no source text),
// so our .proto files stay wire-compatible by construction and can grow by editing one list.
// Usage: node scripts/derive-proto-subset.mjs [--out DIR] [path/to/kvproto-schema.json]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outAt = args.indexOf("--out");
const outDir = outAt >= 0 ? resolve(args.splice(outAt, 2)[1]) : join(root, "proto");
const schemaPath = args[0] ?? resolve(root, "../shared/wire/kvproto-schema.json");
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));

// The RPCs tikv-ts sends (client) or serves (embedded cluster).
const rpcs = [
  ...JSON.parse(readFileSync(resolve(root, "../shared/wire/required-rpcs.json"), "utf8")),
  "tikvpb.Tikv.KvPrepareFlashbackToVersion",
  "tikvpb.Tikv.KvFlashbackToVersion",
  "tikvpb.Tikv.KvGC",
  "tikvpb.Tikv.KvCleanup",
  "pdpb.PD.GetClusterConfig",
  // GC barriers on every keyspace at once (PD server/gc_service.go)
  "pdpb.PD.SetGlobalGCBarrier",
  "pdpb.PD.DeleteGlobalGCBarrier",
  "pdpb.PD.StoreHeartbeat",
  "pdpb.PD.ReportBuckets",
  "pdpb.PD.LoadGlobalConfig",
  "pdpb.PD.WatchGlobalConfig",
  "pdpb.PD.StoreGlobalConfig",
  // resource control (PD pkg/mcs/resourcemanager/server/grpc_service.go)
  "resource_manager.ResourceManager.ListResourceGroups",
  "resource_manager.ResourceManager.GetResourceGroup",
  "resource_manager.ResourceManager.AddResourceGroup",
  "resource_manager.ResourceManager.ModifyResourceGroup",
  "resource_manager.ResourceManager.DeleteResourceGroup",
  "resource_manager.ResourceManager.AcquireTokenBuckets",
  // PD's TSO microservice (pkg/mcs/tso/server/grpc_service.go): keyspace-group timestamps
  "tsopb.TSO.Tso",
  "tsopb.TSO.FindGroupByKeyspaceID",
  "tsopb.TSO.GetMinTS",
];
// Extra messages worth having even if no listed RPC reaches them.
const extraTypes = [
  "deadlock.DeadlockResponse",
  "kvrpcpb.LockInfo",
  "kvrpcpb.TimeDetailV2",
  "kvrpcpb.ScanDetailV2",
];

// What a KV client never touches: coprocessor / TiFlash / MPP passthrough and encryption internals.
const excludedPackages = new Set([
  "coprocessor",
  "mpp",
  "disaggregated",
  "encryptionpb",
  "raft_serverpb",
  "eraftpb",
]);
const pkgOf = (t) => t.split(".")[0];
const keepField = (f) => f.kind === "scalar" || !excludedPackages.has(pkgOf(f.type));

const types = new Set();
function visit(t) {
  if (types.has(t)) return;
  types.add(t);
  const m = schema.messages[t];
  if (!m) return;
  for (const f of m.fields) if (keepField(f) && f.kind !== "scalar") visit(f.type);
  // Nested definitions ride with their parent.
  const parent = t.split(".").slice(0, -1).join(".");
  if (schema.messages[parent]) visit(parent);
}
const methodsBySvc = new Map();
for (const r of rpcs) {
  const i = r.lastIndexOf(".");
  const svc = r.slice(0, i);
  const name = r.slice(i + 1);
  const m = schema.services[svc]?.methods[name];
  if (!m) throw new Error(`unknown rpc ${r}`);
  if (!methodsBySvc.has(svc)) methodsBySvc.set(svc, []);
  if (!methodsBySvc.get(svc).includes(name)) methodsBySvc.get(svc).push(name);
  visit(m.requestType);
  visit(m.responseType);
}
for (const t of extraTypes) visit(t);

// Group top-level definitions by file; nested ones print inside their parent.
const isTopLevel = (t) => t.split(".").length === 2;
const fileOf = (t) => (schema.messages[t] ?? schema.enums[t]).file;
const byFile = new Map();
for (const t of [...types].sort()) {
  if (!isTopLevel(t)) continue;
  const f = fileOf(t);
  if (!byFile.has(f)) byFile.set(f, []);
  byFile.get(f).push(t);
}
for (const svc of methodsBySvc.keys()) {
  const f = schema.services[svc].file;
  if (!byFile.has(f)) byFile.set(f, []);
}

function typeRef(f) {
  return f.kind === "scalar" ? f.type : `.${f.type}`;
}
function fieldLine(f) {
  if (f.label === "map") return `map<${f.keyType}, ${typeRef(f)}> ${f.name} = ${f.number};`;
  const label = f.label === "repeated" ? "repeated " : f.label === "optional" ? "optional " : "";
  return `${label}${typeRef(f)} ${f.name} = ${f.number};`;
}
function printEnum(name, ind) {
  const e = schema.enums[name];
  const out = [`${ind}enum ${name.split(".").pop()} {`];
  for (const [k, v] of Object.entries(e.values)) out.push(`${ind}  ${k} = ${v};`);
  out.push(`${ind}}`);
  return out;
}
function printMessage(name, ind) {
  const m = schema.messages[name];
  const out = [`${ind}message ${name.split(".").pop()} {`];
  const nested = [...types]
    .filter((t) => t.startsWith(`${name}.`) && t.split(".").length === name.split(".").length + 1)
    .sort();
  for (const n of nested)
    out.push(...(schema.enums[n] ? printEnum(n, `${ind}  `) : printMessage(n, `${ind}  `)));
  const oneofs = new Map();
  for (const f of m.fields) {
    if (!keepField(f)) continue;
    if (f.oneof && f.label !== "optional") {
      if (!oneofs.has(f.oneof)) {
        oneofs.set(f.oneof, []);
        out.push(`${ind}  oneof ${f.oneof} {`);
        out.push(`${ind}  @@${f.oneof}@@`);
      }
      oneofs.get(f.oneof).push(`${ind}    ${fieldLine(f)}`);
      continue;
    }
    out.push(`${ind}  ${fieldLine(f)}`);
  }
  for (const [o, lines] of oneofs) {
    const at = out.indexOf(`${ind}  @@${o}@@`);
    out.splice(at, 1, ...lines, `${ind}  }`);
  }
  if (m.reserved?.numbers?.length) {
    const nums = m.reserved.numbers.map((n) => (Array.isArray(n) ? `${n[0]} to ${n[1]}` : `${n}`));
    out.push(`${ind}  reserved ${nums.join(", ")};`);
  }
  out.push(`${ind}}`);
  return out;
}

mkdirSync(outDir, { recursive: true });
for (const [file, defs] of [...byFile].sort()) {
  const pkg = schema.files[file].package;
  const deps = new Set();
  const collect = (t) => {
    const m = schema.messages[t];
    if (!m) return;
    for (const f of m.fields)
      if (keepField(f) && f.kind !== "scalar" && fileOf(f.type) !== file) deps.add(fileOf(f.type));
    for (const n of types) if (n.startsWith(`${t}.`)) collect(n);
  };
  for (const d of defs) collect(d);
  for (const [svc, names] of methodsBySvc) {
    if (schema.services[svc].file !== file) continue;
    for (const n of names) {
      const m = schema.services[svc].methods[n];
      for (const t of [m.requestType, m.responseType]) if (fileOf(t) !== file) deps.add(fileOf(t));
    }
  }
  const lines = [
    "// tikv-ts: the part of kvproto's " + file + " that tikv-ts speaks, wire-compatible with it.",
    "// Produced by scripts/derive-proto-subset.mjs from the shared wire schema; edit the script, not this file.",
    'syntax = "proto3";',
    `package ${pkg};`,
    "",
    ...[...deps].sort().map((d) => `import "${d}";`),
    "",
  ];
  for (const d of defs) lines.push(...(schema.enums[d] ? printEnum(d, "") : printMessage(d, "")), "");
  for (const [svc, names] of methodsBySvc) {
    if (schema.services[svc].file !== file) continue;
    lines.push(`service ${svc.split(".").pop()} {`);
    for (const n of names) {
      const m = schema.services[svc].methods[n];
      const rq = `${m.requestStream ? "stream " : ""}.${m.requestType}`;
      const rs = `${m.responseStream ? "stream " : ""}.${m.responseType}`;
      lines.push(`  rpc ${n}(${rq}) returns (${rs});`);
    }
    lines.push("}", "");
  }
  writeFileSync(join(outDir, file), lines.join("\n"));
}
console.log(`wrote ${byFile.size} files, ${types.size} definitions`);
