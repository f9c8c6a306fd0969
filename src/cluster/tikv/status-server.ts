// A mock store's status server, as TiKV's (src/server/status_server/mod.rs) on its own
// address (server.status-addr): GET /status (200, empty), /config (the store's config as
// kebab-case JSON, the keys clients read: storage.api-version, storage.enable-ttl...),
// /metrics (Prometheus text of what the mock honestly counts) and /region/{id} (the peer's
// RegionMeta; 404 "region(id) not found" when the store holds no peer of it). With cluster
// TLS it speaks https with the same certificates, as TiKV does.
//
// The mock has no raft log: raft indexes and terms in /region/{id} are TiKV's initial ones
// (RAFT_INIT_LOG_INDEX / RAFT_INIT_LOG_TERM, 5).
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { APIVersion } from "../../proto/kvrpcpb.js";
import { type Peer, PeerRole } from "../../proto/metapb.js";
import { listen } from "../../rpc/listen.js";
import type { ServerSecurity } from "../tls/server-security.js";
import type { TopologyPort } from "./ports.js";
import type { StoreMetrics } from "./store-metrics.js";

/** TiKV's initial raft log index and term of a bootstrapped region. */
const RAFT_INIT = 5;

/** What the status server reports about its store. */
export interface StatusSource {
  storeId: bigint;
  apiVersion: APIVersion;
  /** The store's gRPC address (server.addr). */
  address(): string;
  /** The status address (server.status-addr). */
  statusAddress(): string;
  /** raftstore.raft-entry-max-size in bytes. */
  raftEntryMaxSize: number;
  topology: TopologyPort;
  metrics: StoreMetrics;
  security: ServerSecurity;
}

/** A listening status server. */
export interface StatusServer {
  /** host:port it listens on. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Starts the status server on host:port (0 = any free port). */
export async function listenStatusServer(
  src: StatusSource,
  host: string,
  port: number,
): Promise<StatusServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => answer(src, req, res);
  const tls = src.security.httpsOptions();
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  const bound = await listen(server, port, host);
  return {
    endpoint: `${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Reply {
  code: number;
  type: string;
  body: string;
}

const text = (code: number, body: string): Reply => ({ code, type: "text/plain", body });
const json = (v: object): Reply => ({ code: 200, type: "application/json", body: JSON.stringify(v) });

function answer(src: StatusSource, req: IncomingMessage, res: ServerResponse): void {
  const r = route(src, req);
  res.writeHead(r.code, { "content-type": r.type });
  res.end(r.body);
}

function route(src: StatusSource, req: IncomingMessage): Reply {
  const url = new URL(req.url ?? "/", "http://tikv");
  const path = url.pathname;
  if (req.method !== "GET") return text(404, "path not found");
  if (path === "/status") return text(200, "");
  if (path === "/metrics") return { code: 200, type: "text/plain; version=0.0.4", body: metricsText(src) };
  if (path === "/config") {
    const full = url.searchParams.get("full");
    if (full !== null && full !== "true" && full !== "false") {
      return text(400, "provided string was not `true` or `false`");
    }
    return json(configJson(src));
  }
  if (path.startsWith("/region")) return regionAnswer(src, path);
  return text(404, "path not found");
}

function metricsText(src: StatusSource): string {
  let leaders = 0;
  const regions = src.topology.regionsOnStore(src.storeId);
  for (const r of regions) {
    if (src.topology.regionState(r.id)?.leader?.storeId === src.storeId) leaders++;
  }
  return (
    src.metrics.render() +
    "# HELP tikv_raftstore_region_count The number of regions collected in region_collector\n" +
    "# TYPE tikv_raftstore_region_count gauge\n" +
    `tikv_raftstore_region_count{type="leader"} ${leaders}\n` +
    `tikv_raftstore_region_count{type="region"} ${regions.length}\n`
  );
}

// TiKV's TikvConfig encoder: kebab-case sections; only the keys the mock honours or clients read
function configJson(src: StatusSource): object {
  const v2 = src.apiVersion === APIVersion.V2;
  const mib = (n: number) => (n % (1 << 20) === 0 ? `${n / (1 << 20)}MiB` : `${n}B`);
  return {
    server: {
      addr: src.address(),
      "advertise-addr": src.address(),
      "status-addr": src.statusAddress(),
      "advertise-status-addr": src.statusAddress(),
    },
    storage: {
      engine: "raft-kv",
      "api-version": v2 ? 2 : 1,
      "enable-ttl": src.apiVersion !== APIVersion.V1,
      "max-key-size": 8192,
    },
    raftstore: { "raft-entry-max-size": mib(src.raftEntryMaxSize) },
    security: {
      "ca-path": "",
      "cert-path": "",
      "key-path": "",
      "cert-allowed-cn": [],
    },
  };
}

const ROLE = ["Voter", "Learner", "IncomingVoter", "DemotingVoter"] as const;

function regionAnswer(src: StatusSource, path: string): Reply {
  const m = /\/region\/(\d+)/.exec(path);
  if (!m?.[1]) return text(404, `path ${path} not found`);
  const digits = m[1];
  if (BigInt(digits) > (1n << 64n) - 1n)
    return text(400, "invalid region id: number too large to fit in target type");
  const id = BigInt(digits);
  const state = src.topology.regionState(id);
  const self = state?.region.peers.find((p) => p.storeId === src.storeId);
  if (!state || !self) return text(404, `region(${id}) not found`);
  const region = state.storedRegion ?? state.region;
  const leader = state.leader;
  const isLeader = leader?.id === self.id;
  // the leader alone tracks its peers' progress (raft::Status.progress)
  const progress = {
    matched: RAFT_INIT,
    next_idx: RAFT_INIT + 1,
    state: "Replicate",
    paused: false,
    pending_snapshot: 0,
    pending_request_snapshot: 0,
    recent_active: true,
  };
  const byRole = (learner: boolean) =>
    isLeader
      ? Object.fromEntries(
          region.peers
            .filter((p: Peer) => (p.role === PeerRole.Learner) === learner)
            .map((p) => [String(p.id), progress]),
        )
      : {};
  const meta = {
    group_state: "Ordered",
    raft_status: {
      id: Number(self.id),
      hard_state: { term: RAFT_INIT, vote: isLeader ? Number(self.id) : 0, commit: RAFT_INIT },
      soft_state: { leader_id: leader ? Number(leader.id) : 0, raft_state: isLeader ? "Leader" : "Follower" },
      applied: RAFT_INIT,
      voters: byRole(false),
      learners: byRole(true),
      last_index: RAFT_INIT,
      persisted_index: RAFT_INIT,
    },
    raft_apply: {
      applied_index: RAFT_INIT,
      commit_index: RAFT_INIT,
      commit_term: RAFT_INIT,
      truncated_state: { index: RAFT_INIT, term: RAFT_INIT },
    },
    region_state: {
      id: Number(region.id),
      start_key: [...region.startKey],
      end_key: [...region.endKey],
      epoch: {
        conf_ver: Number(region.regionEpoch?.confVer ?? 0n),
        version: Number(region.regionEpoch?.version ?? 0n),
      },
      peers: region.peers.map((p) => ({
        id: Number(p.id),
        store_id: Number(p.storeId),
        role: (ROLE as readonly string[])[p.role] ?? "Voter",
        is_witness: p.isWitness,
      })),
      merge_state: null,
      tablet_index: 0,
    },
    bucket_keys: (state.buckets?.keys ?? []).map((k) => [...k]),
  };
  return json(meta);
}
