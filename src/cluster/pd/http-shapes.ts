// PD's HTTP answers as Go encodes them (pd pkg/response/store.go, region.go; gogoproto structs
// with `json:"name,omitempty"`, so zero fields such as state Up or role Voter are left out).
// The mock keeps no disk statistics: byte sizes are "0B", and every region counts as PD's
// EmptyRegionApproximateSize (1 MiB) in approximate and leader/region sizes.

import { type Peer, PeerRole, type Store } from "../../proto/metapb.js";
import type { Member } from "../../proto/pdpb.js";
import type { RegionInfo, StoreInfo } from "../topology/types.js";
import { type GoJson, goDuration, goTime, hexKey } from "./go-json.js";
import type { PdState } from "./pd-state.js";
import { downPeerStats, encodeRegionMeta, pendingPeers, storeMeta } from "./region-answers.js";

const STATE_NAME = { up: "Up", offline: "Offline", tombstone: "Tombstone" } as const;
const nz = <T extends bigint | number>(v: T): T | undefined => (v ? v : undefined);
const ne = (v: string): string | undefined => (v === "" ? undefined : v);

/** metapb.Store (Go JSON). */
function metaStoreJson(m: Store): { [k: string]: GoJson | undefined } {
  return {
    id: nz(m.id),
    address: ne(m.address),
    state: nz(m.state),
    labels: m.labels.length ? m.labels.map((l) => ({ key: ne(l.key), value: ne(l.value) })) : undefined,
    version: ne(m.version),
    peer_address: ne(m.peerAddress),
    status_address: ne(m.statusAddress),
    git_hash: ne(m.gitHash),
    start_timestamp: nz(m.startTimestamp),
    deploy_path: ne(m.deployPath),
    last_heartbeat: nz(m.lastHeartbeat),
    physically_destroyed: m.physicallyDestroyed || undefined,
    node_state: nz(m.nodeState),
  };
}

/** response.StoreInfo: the store's meta and status (counts from the topology). */
export function storeInfoJson(state: PdState, s: StoreInfo): GoJson {
  let leaders = 0;
  let regions = 0;
  let learners = 0;
  let pending = 0;
  for (const r of state.regionView().regions()) {
    const p = r.peers.find((x) => x.storeId === s.id);
    if (!p) continue;
    regions++;
    if (p.role === "learner") learners++;
    if (r.pendingPeers.includes(p.id)) pending++;
    if (r.leaderPeerId === p.id) leaders++;
  }
  const startMs = Number(s.startTimestamp) * 1000;
  const now = state.now();
  return {
    store: {
      ...metaStoreJson(storeMeta(state, s)),
      // BuildStoreInfo: an Up store whose heartbeats stopped reads Disconnected
      state_name: s.state === "up" && !s.running ? "Disconnected" : STATE_NAME[s.state],
    },
    status: {
      capacity: "0B",
      available: "0B",
      used_size: "0B",
      leader_count: leaders,
      leader_weight: 1,
      leader_score: leaders,
      leader_size: leaders,
      region_count: regions,
      region_weight: 1,
      region_score: regions,
      region_size: regions,
      learner_count: nz(learners),
      pending_peer_count: nz(pending),
      start_ts: goTime(startMs),
      last_heartbeat_ts: s.running ? goTime(now) : goTime(startMs),
      uptime: s.running ? goDuration(Math.max(0, now - startMs)) : undefined,
    },
  };
}

function metaPeerJson(p: Peer | undefined): GoJson {
  if (!p) return { role_name: "" };
  const learner = p.role === PeerRole.Learner;
  return {
    role_name: learner ? "Learner" : "Voter",
    is_learner: learner || undefined,
    id: nz(p.id),
    store_id: nz(p.storeId),
    role: nz(p.role),
    is_witness: p.isWitness || undefined,
  };
}

/** response.RegionInfo, boundaries in PD's form as upper-case hex. */
export function regionInfoJson(state: PdState, r: RegionInfo): GoJson {
  const meta = encodeRegionMeta(state, r);
  const epoch = meta.regionEpoch;
  const down = downPeerStats(state, r);
  const pendings = pendingPeers(r);
  return {
    id: r.id,
    start_key: hexKey(meta.startKey),
    end_key: hexKey(meta.endKey),
    epoch: epoch ? { conf_ver: nz(epoch.confVer), version: nz(epoch.version) } : undefined,
    peers: meta.peers.length ? meta.peers.map(metaPeerJson) : undefined,
    leader: metaPeerJson(r.leader),
    down_peers: down.length
      ? down.map((d) => ({ peer: metaPeerJson(d.peer), down_seconds: nz(d.downSeconds) }))
      : undefined,
    pending_peers: pendings.length ? pendings.map(metaPeerJson) : undefined,
    cpu_usage: 0,
    written_bytes: 0,
    read_bytes: 0,
    written_keys: 0,
    read_keys: 0,
    approximate_size: 1,
    approximate_keys: 0,
    approximate_kv_size: 0,
    approximate_columnar_kv_size: 0,
    buckets: r.buckets ? r.buckets.keys.map((k) => hexKey(state.codec.encode(k))) : undefined,
    bucket_version: r.buckets ? nz(r.buckets.version) : undefined,
  };
}

/** response.RegionsInfo. */
export function regionsInfoJson(state: PdState, regions: readonly RegionInfo[]): GoJson {
  return { count: regions.length, regions: regions.map((r) => regionInfoJson(state, r)) };
}

/** pdpb.Member (Go JSON). */
export function memberJson(m: Member): GoJson {
  return {
    name: ne(m.name),
    member_id: nz(m.memberId),
    peer_urls: m.peerUrls.length ? m.peerUrls : undefined,
    client_urls: m.clientUrls.length ? m.clientUrls : undefined,
    leader_priority: nz(m.leaderPriority),
    deploy_path: ne(m.deployPath),
    binary_version: ne(m.binaryVersion),
    git_hash: ne(m.gitHash),
    dc_location: ne(m.dcLocation),
  };
}

/** pdpb.GetMembersResponse as GET /members answers it. */
export function membersJson(state: PdState): GoJson {
  const leader = state.leader();
  return {
    header: { cluster_id: state.clusterId },
    members: state.members.map(memberJson),
    leader: leader ? memberJson(leader) : undefined,
    etcd_leader: leader ? memberJson(leader) : undefined,
  };
}
