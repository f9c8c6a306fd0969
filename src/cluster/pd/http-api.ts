// The one piece of PD's HTTP API the mock serves: GET /pd/api/v1/min-resolved-ts (pd
// server/api/min_resolved_ts.go GetMinResolvedTS), which client-go's safe-ts updater asks
// before falling back to each store's GetStoreSafeTS. Real PD serves HTTP and gRPC on one
// client URL port (cmux); grpc-js owns its HTTP/2 server, so each mock member serves this on a
// port of its own (MockPd.httpEndpoints). Every member answers from the shared state, as a
// follower PD proxies the request to its leader.
//
// Answer (JSON, uint64 as bare numbers as Go encodes them):
//   no scope           {min_resolved_ts: cluster value, stores_min_resolved_ts: null}
//   scope=cluster      cluster value, and every store's value
//   scope=1,2,3        min over those stores, and each of their values (2^64-1: no value)
//   is_real_time       present (true) only while the persistence interval is not 0
// A scope id that is not a number answers 400 with the parse error as a JSON string.

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { ServerSecurity } from "../tls/server-security.js";
import { MAX_U64, type PdState } from "./pd-state.js";

/** The path PD serves the min resolved ts on (pd client/http MinResolvedTSPrefix). */
export const MIN_RESOLVED_TS_PATH = "/pd/api/v1/min-resolved-ts";
/** The name the mock PD's fault registry and counters know this endpoint by. */
export const MIN_RESOLVED_TS_METHOD = "HTTP:GetMinResolvedTS";

/** One member's HTTP server. */
export interface MemberHttpServer {
  server: Server;
  /** host:port it listens on. */
  endpoint: string;
}

/** Starts member `index`'s HTTP server on `host:port` (0 = any free port). */
export async function listenMemberHttp(
  state: PdState,
  index: number,
  security: ServerSecurity,
  host: string,
  port: number,
): Promise<MemberHttpServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => void handle(state, index, req, res);
  const tls = security.httpsOptions();
  const server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === "object" && addr ? addr.port : port;
  return { server, endpoint: `${host}:${bound}` };
}

/** Closes a member's HTTP server, dropping idle keep-alive connections. */
export function closeMemberHttp(m: MemberHttpServer): Promise<void> {
  return new Promise((resolve) => {
    m.server.close(() => resolve());
    m.server.closeAllConnections();
  });
}

async function handle(
  state: PdState,
  member: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://pd");
  if (req.method !== "GET" || url.pathname !== MIN_RESOLVED_TS_PATH) {
    return send(res, 404, JSON.stringify("404 page not found"));
  }
  const fault = state.faults.enter(MIN_RESOLVED_TS_METHOD, member, url.search);
  const delay = state.faults.delayOf(MIN_RESOLVED_TS_METHOD);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  if (fault) {
    const why =
      fault.kind === "status"
        ? fault.details
        : fault.kind === "notLeader"
          ? "not leader"
          : "server not started";
    return send(res, fault.kind === "unavailable" ? 503 : 500, JSON.stringify(why));
  }
  const answer = minResolvedTsAnswer(state, url.searchParams.get("scope") ?? "");
  if (typeof answer === "string") return send(res, 400, JSON.stringify(answer));
  send(res, 200, answer.json);
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
        if (!/^[0-9]+$/.test(part) || BigInt(part) > MAX_U64) {
          return `strconv.ParseUint: parsing "${part}": invalid syntax`;
        }
        ids.push(BigInt(part));
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
  const parts: string[] = [];
  if (ms !== 0) parts.push('"is_real_time":true');
  parts.push(`"min_resolved_ts":${min}`);
  parts.push(`"persist_interval":"${goDuration(ms)}"`);
  const storesJson = stores ? `{${[...stores].map(([id, ts]) => `"${id}":${ts}`).join(",")}}` : "null";
  parts.push(`"stores_min_resolved_ts":${storesJson}`);
  return { json: `{${parts.join(",")}}` };
}

// Go's time.Duration String of a whole number of ms (typeutil.Duration's JSON form)
function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}

function send(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "content-type": "application/json; charset=UTF-8" });
  res.end(`${body}\n`);
}
