// PD's HTTP API on the PD port (see shared-port.ts), the endpoints clients and tools read:
// /pd/api/v1/{members, leader, health, ping, version, status, stores, store/{id}, regions,
// region/id/{id}, region/key/{key}, config, config/{replicate,schedule,pd-server}, cluster,
// cluster/status, min-resolved-ts, gc/safepoint} and /pd/api/v2/keyspaces[/{name}, /id/{id}] (pd
// server/api/router.go, server/apiv2/handlers/keyspace.go). Every member answers from the
// shared state, as a follower PD proxies these to its leader. Answers are PD's JSON (uint64
// as bare numbers); bad input gets PD's status code and message, as a JSON string.
//
// GET /pd/api/v1/min-resolved-ts (server/api/min_resolved_ts.go):
//   no scope           {min_resolved_ts: cluster value, stores_min_resolved_ts: null}
//   scope=cluster      cluster value, and every store's value
//   scope=1,2,3        min over those stores, and each of their values (2^64-1: no value)
//   is_real_time       present (true) only while the persistence interval is not 0
// It alone goes through the PD fault registry (method "HTTP:GetMinResolvedTS").

import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { KeyspaceMeta } from "../../proto/keyspacepb.js";
import { KeyspaceState } from "../../proto/keyspacepb.js";
import { sleep } from "./call-guard.js";
import { pdErrorMessage } from "./errors.js";
import { NULL_KEYSPACE_ID } from "./gc-state.js";
import { type GoJson, goDuration, goJson, goTime } from "./go-json.js";
import { fullConfig, pdServerConfig, replicationConfig, scheduleConfig } from "./http-config.js";
import { memberJson, membersJson, regionInfoJson, regionsInfoJson, storeInfoJson } from "./http-shapes.js";
import { MAX_U64, type PdState } from "./pd-state.js";
import { locateEncoded } from "./region-answers.js";

/** The path PD serves the min resolved ts on (pd client/http MinResolvedTSPrefix). */
export const MIN_RESOLVED_TS_PATH = "/pd/api/v1/min-resolved-ts";
/** The name the mock PD's fault registry and counters know this endpoint by. */
export const MIN_RESOLVED_TS_METHOD = "HTTP:GetMinResolvedTS";

/** An answer: status code and Go-JSON body. */
type Answer = { code: number; body: GoJson } | { code: number; raw: string };
type Handler = (state: PdState, member: number, params: string[], query: URLSearchParams) => Answer;

const ok = (body: GoJson): Answer => ({ code: 200, body });
const fail = (code: number, message: string): Answer => ({ code, body: message });
const parseU64 = (s: string): bigint | string =>
  /^[0-9]+$/.test(s) && BigInt(s) <= MAX_U64
    ? BigInt(s)
    : `strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`;

const ROUTES: [RegExp, Handler][] = [
  [/^\/pd\/api\/v1\/members$/, (s) => ok(membersJson(s))],
  [/^\/pd\/api\/v1\/leader$/, (s) => ok(leaderJson(s))],
  [/^\/pd\/api\/v1\/health$/, (s) => ok(healthJson(s))],
  [/^\/pd\/api\/v1\/ping$/, () => ({ code: 200, raw: "" })],
  [/^\/pd\/api\/v1\/version$/, (s) => ok({ version: s.storeVersion })],
  [/^\/pd\/api\/v1\/status$/, statusJson],
  [/^\/pd\/api\/v1\/stores$/, (s) => storesAnswer(s)],
  [/^\/pd\/api\/v1\/store\/([^/]*)$/, (s, _m, [id]) => storeAnswer(s, id ?? "")],
  [/^\/pd\/api\/v1\/regions$/, (s) => ok(regionsInfoJson(s, s.regionView().regions()))],
  [/^\/pd\/api\/v1\/regions\/count$/, (s) => ok({ count: s.regionView().regions().length, regions: null })],
  [/^\/pd\/api\/v1\/region\/id\/([^/]*)$/, (s, _m, [id]) => regionByIdAnswer(s, id ?? "")],
  [/^\/pd\/api\/v1\/region\/key\/(.*)$/, (s, _m, [key], q) => regionByKeyAnswer(s, key ?? "", q)],
  [/^\/pd\/api\/v1\/config$/, (s, m) => ok(fullConfig(s, m))],
  [/^\/pd\/api\/v1\/config\/replicate$/, (s) => ok(replicationConfig(s))],
  [/^\/pd\/api\/v1\/config\/schedule$/, () => ok(scheduleConfig())],
  [/^\/pd\/api\/v1\/config\/pd-server$/, (s) => ok(pdServerConfig(s))],
  [/^\/pd\/api\/v1\/cluster$/, (s) => ok({ id: s.clusterId, max_peer_count: s.maxPeerCount })],
  [/^\/pd\/api\/v1\/cluster\/status$/, clusterStatusJson],
  [/^\/pd\/api\/v1\/min-resolved-ts$/, (s, _m, _p, q) => minResolvedTsRoute(s, q)],
  [/^\/pd\/api\/v1\/gc\/safepoint$/, (s) => ok(gcSafePointJson(s))],
  [/^\/pd\/api\/v2\/keyspaces$/, (s, _m, _p, q) => keyspacesAnswer(s, q)],
  [/^\/pd\/api\/v2\/keyspaces\/id\/([^/]*)$/, (s, _m, [id]) => keyspaceByIdAnswer(s, id ?? "")],
  [/^\/pd\/api\/v2\/keyspaces\/([^/]+)$/, (s, _m, [name]) => keyspaceAnswer(s, name ?? "")],
];

/** The request listener of member `member`'s HTTP face. */
export function pdHttpListener(state: PdState, member: number): RequestListener {
  return (req, res) => void handle(state, member, req, res);
}

async function handle(
  state: PdState,
  member: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://pd");
  const path = url.pathname;
  const route = ROUTES.find(([re]) => re.test(path));
  if (!route) return send(res, { code: 404, raw: "404 page not found\n" }, "text/plain; charset=utf-8");
  if (req.method !== "GET") return send(res, { code: 405, raw: "" }, "text/plain; charset=utf-8");
  if (path === MIN_RESOLVED_TS_PATH) {
    const faulted = await minResolvedTsFault(state, member, url.search);
    if (faulted) return send(res, faulted);
  }
  const params = (route[0].exec(path) ?? []).slice(1).map(decodePathPart);
  send(res, route[1](state, member, params, url.searchParams));
}

// mux matches on the unescaped path; a malformed escape is kept as it came
function decodePathPart(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function send(res: ServerResponse, a: Answer, type = "application/json; charset=UTF-8"): void {
  res.writeHead(a.code, { "content-type": type });
  res.end("raw" in a ? a.raw : `${goJson(a.body)}\n`);
}

async function minResolvedTsFault(
  state: PdState,
  member: number,
  search: string,
): Promise<Answer | undefined> {
  const fault = state.faults.enter(MIN_RESOLVED_TS_METHOD, member, search);
  const delay = state.faults.delayOf(MIN_RESOLVED_TS_METHOD);
  if (delay > 0) await sleep(delay);
  if (!fault) return undefined;
  const why =
    fault.kind === "status"
      ? fault.details
      : fault.kind === "notLeader"
        ? "not leader"
        : "server not started";
  return fail(fault.kind === "unavailable" ? 503 : 500, why);
}

function leaderJson(s: PdState): GoJson {
  const l = s.leader();
  return l ? memberJson(l) : {};
}

// server/api/health.go: one entry per member; a member is healthy while it serves
function healthJson(s: PdState): GoJson {
  return s.members.map((m, i) => ({
    name: m.name,
    member_id: m.memberId,
    client_urls: m.clientUrls,
    health: !s.faults.isUnavailable(i),
  }));
}

function statusJson(s: PdState): Answer {
  return ok({
    build_ts: "",
    version: s.storeVersion,
    git_hash: "",
    start_timestamp: Math.floor(s.startedAtMs / 1000),
    kernel_type: "Classic",
  });
}

function clusterStatusJson(s: PdState): Answer {
  return ok({
    raft_bootstrap_time: goTime(s.startedAtMs),
    is_initialized: true,
    replication_status: "",
  });
}

function storesAnswer(s: PdState): Answer {
  // GetAllStores leaves tombstones out unless asked (state filter); the mock lists all non-tombstones
  const stores = s.topology.stores().filter((x) => x.state !== "tombstone");
  return ok({ count: stores.length, stores: stores.map((x) => storeInfoJson(s, x)) });
}

function storeAnswer(s: PdState, idText: string): Answer {
  const id = parseU64(idText);
  // ParseUint64VarsField + errcode.NewInvalidInputErr, rendered by apiutil.ErrorResp
  if (typeof id === "string") return { code: 400, body: { code: "input", msg: id, data: {} } };
  const store = s.topology.store(id);
  if (!store) return fail(404, pdErrorMessage("PD:core:ErrStoreNotFound", `store ${id} not found`));
  return ok(storeInfoJson(s, store));
}

function regionByIdAnswer(s: PdState, idText: string): Answer {
  const id = parseU64(idText);
  if (typeof id === "string") return fail(400, id);
  if (id === 0n) return fail(400, pdErrorMessage("PD:region:ErrRegionInvalidID", "invalid region id"));
  const r = s.regionView().regionById(id);
  if (!r) return fail(404, pdErrorMessage("PD:region:ErrRegionNotFound", `region ${id} not found`));
  return ok(regionInfoJson(s, r));
}

// the key is in PD's stored form: raw bytes of the unescaped path, or hex with ?format=hex
function regionByKeyAnswer(s: PdState, keyText: string, q: URLSearchParams): Answer {
  let key = Buffer.from(keyText, "latin1");
  if (q.get("format") === "hex") {
    if (!/^([0-9a-fA-F]{2})*$/.test(keyText)) return fail(400, "encoding/hex: invalid byte");
    key = Buffer.from(keyText, "hex");
  }
  const r = locateEncoded(s, key);
  if (!r) return fail(404, pdErrorMessage("PD:region:ErrRegionNotFound", "region %!v(MISSING) not found"));
  return ok(regionInfoJson(s, r));
}

function minResolvedTsRoute(s: PdState, q: URLSearchParams): Answer {
  const a = minResolvedTsAnswer(s, q.get("scope") ?? "");
  return typeof a === "string" ? fail(400, a) : { code: 200, raw: `${a.json}\n` };
}

/** The JSON body PD answers for `scope` ("" = none), or the 400 message. */
export function minResolvedTsAnswer(state: PdState, scope: string): { json: string } | string {
  let min = state.minResolvedTs();
  let stores: Map<bigint, bigint> | undefined;
  if (scope !== "") {
    const cluster = scope === "cluster";
    let ids: bigint[];
    if (cluster) ids = state.topology.stores().map((s) => s.id);
    else {
      ids = [];
      for (const part of scope.split(",")) {
        const id = parseU64(part);
        if (typeof id === "string") return id;
        ids.push(id);
      }
    }
    stores = new Map();
    let scopeMin = MAX_U64;
    for (const id of ids) {
      const ts = state.storeMinResolvedTs(id);
      stores.set(id, ts);
      if (ts < scopeMin) scopeMin = ts;
    }
    // scope=cluster keeps the cluster-level value (PD: "use cluster-level min_resolved_ts")
    if (!cluster) min = scopeMin;
  }
  const ms = state.minResolvedTsPersistenceMs;
  const body: { [k: string]: GoJson | undefined } = {
    is_real_time: ms !== 0 ? true : undefined,
    min_resolved_ts: min,
    persist_interval: goDuration(ms),
    stores_min_resolved_ts: stores
      ? Object.fromEntries([...stores].map(([id, ts]) => [String(id), ts]))
      : null,
  };
  return { json: goJson(body) };
}

// server/api/service_gc_safepoint.go GetGCSafePoint over the null keyspace's GC state
function gcSafePointJson(s: PdState): GoJson {
  const v = s.gc.getState(NULL_KEYSPACE_ID, false);
  const forever = (1n << 63n) - 1n;
  const nowSec = Math.floor(s.now() / 1000);
  const ssps = v.barriers.map((b) => ({
    service_id: b.barrierId,
    expired_at: b.expiresAtMs === undefined ? forever : BigInt(Math.ceil(b.expiresAtMs / 1000)),
    safe_point: b.barrierTs,
  }));
  if (!ssps.some((x) => x.service_id === "gc_worker")) {
    ssps.push({ service_id: "gc_worker", expired_at: forever, safe_point: v.txnSafePoint });
  }
  let min: (typeof ssps)[number] | undefined = ssps.find((x) => x.service_id === "gc_worker");
  for (const x of ssps) {
    if ((!min || min.safe_point > x.safe_point) && x.expired_at > BigInt(nowSec)) min = x;
  }
  return {
    service_gc_safe_points: ssps,
    min_service_gc_safe_point: min && min.safe_point !== 0n ? min.safe_point : undefined,
    gc_safe_point: v.gcSafePoint,
  };
}

const KEYSPACE_STATE_NAME: Record<number, string> = {
  [KeyspaceState.ENABLED]: "ENABLED",
  [KeyspaceState.DISABLED]: "DISABLED",
  [KeyspaceState.ARCHIVED]: "ARCHIVED",
  [KeyspaceState.TOMBSTONE]: "TOMBSTONE",
};

// handlers.KeyspaceMeta.MarshalJSON
function keyspaceJson(m: KeyspaceMeta): GoJson {
  const id = m.keyspace?.$case === "id" ? m.keyspace.id : 0;
  return {
    id,
    name: m.name === "" ? undefined : m.name,
    state: KEYSPACE_STATE_NAME[m.state] ?? "ENABLED",
    created_at: m.createdAt ? m.createdAt : undefined,
    state_changed_at: m.stateChangedAt ? m.stateChangedAt : undefined,
    config: Object.keys(m.config).length ? m.config : undefined,
  };
}

// LoadAllKeyspaces: page_token = first id to scan, limit = page size (0 / unset: all)
function keyspacesAnswer(s: PdState, q: URLSearchParams): Answer {
  const token = q.get("page_token") ?? "";
  const limitText = q.get("limit") ?? "";
  if (token !== "" && !(/^[0-9]+$/.test(token) && Number(token) <= 0xffffffff)) {
    return fail(400, `strconv.ParseUint: parsing ${JSON.stringify(token)}: invalid syntax`);
  }
  if (limitText !== "" && !/^-?[0-9]+$/.test(limitText)) {
    return fail(400, `strconv.ParseInt: parsing ${JSON.stringify(limitText)}: invalid syntax`);
  }
  const start = token === "" ? 0 : Number(token);
  const limit = limitText === "" ? 0 : Number(limitText);
  const ids = s.keyspaces
    .ids()
    .filter((id) => id >= start)
    .sort((a, b) => a - b);
  const metas = ids.map((id) => s.keyspaces.getById(id)).filter((m): m is KeyspaceMeta => m !== undefined);
  if (metas.length === 0) return ok({ keyspaces: null, next_page_token: "" });
  const page = limit > 0 ? metas.slice(0, limit) : metas;
  const next = limit > 0 && metas.length > limit ? metas[limit] : undefined;
  const nextId = next?.keyspace?.$case === "id" ? String(next.keyspace.id) : "";
  return ok({ keyspaces: page.map(keyspaceJson), next_page_token: nextId });
}

const KEYSPACE_NOT_FOUND = pdErrorMessage("PD:keyspace:ErrKeyspaceNotFound", "keyspace does not exist");

function keyspaceAnswer(s: PdState, name: string): Answer {
  const m = s.keyspaces.get(name);
  // LoadKeyspace answers every failure, a missing keyspace included, with 500
  return m ? ok(keyspaceJson(m)) : fail(500, KEYSPACE_NOT_FOUND);
}

// LoadKeyspaceByID: an id that is not a uint64 is 500 "invalid keyspace id" too
function keyspaceByIdAnswer(s: PdState, idText: string): Answer {
  const id = parseU64(idText);
  if (typeof id === "string") return fail(500, "invalid keyspace id");
  const m = id <= 0xffffffffn ? s.keyspaces.getById(Number(id)) : undefined;
  return m ? ok(keyspaceJson(m)) : fail(500, KEYSPACE_NOT_FOUND);
}
