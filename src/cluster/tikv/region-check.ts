// The checks TiKV makes before serving a request on a region, in TiKV's order:
// store id, region present on this store, peer id, leadership (replica and stale reads may be
// served by followers and learners), witness, region epoch, flashback state (with the region and its left siblings, as
// raftstore's collect_sibling_region fills EpochNotMatch), stale-read safe ts, keys in region.
// Follows tikv components/raftstore/src/store/util.rs, store/worker/read.rs and
// store/fsm/peer.rs (pre_propose_raft_command). Keys meet the boundaries in TiKV's stored form
// (util.rs check_key_in_region on data keys): see RegionKeyForm.
import { encodeBytes } from "../../kv/memcomparable.js";
import type { Error as RegionError } from "../../proto/errorpb.js";
import type { Context } from "../../proto/kvrpcpb.js";
import type { Peer, Region } from "../../proto/metapb.js";
import type { RegionState, TopologyPort } from "./ports.js";
import { RegionErrors } from "./region-errors.js";

/**
 * Which region checks run before a command:
 * - read: leader unless replica/stale read; RegionNotFound message of the read path;
 * - write: leader only;
 * - split: like write, and the epoch check includes conf_ver (BatchSplit);
 * - none: no region context (store-level RPCs).
 */
export type Access = "read" | "write" | "split" | "none";

/** Where a command's first key must lie. */
export interface Bound {
  key: Buffer;
  /** Reverse scans name an exclusive upper bound, which may equal the region end. */
  upper: boolean;
}

/** TiKV's MAX_REGIONS_IN_ERROR: cap on regions attached to EpochNotMatch. */
const MAX_REGIONS_IN_ERROR = 10;

/** A request that passed the checks: the region it runs on and this store's peer. */
export interface CheckedRegion {
  state: RegionState;
  peer: Peer;
}

/** What the checks look at in a request. */
export interface CheckInput {
  access: Exclude<Access, "none">;
  keys: readonly Buffer[];
  bound?: Bound | undefined;
  readTs?: bigint | undefined;
}

function inRegion(key: Buffer, r: Region): boolean {
  return Buffer.compare(key, r.startKey) >= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0);
}

/** An exclusive upper bound may equal the region end. */
function upperInRegion(key: Buffer, r: Region): boolean {
  return Buffer.compare(key, r.startKey) > 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) <= 0);
}

/**
 * Regions to the left of `region` on this store, nearest first, as TiKV attaches them to
 * EpochNotMatch when the client's version is older (right-derived splits keep the id on the
 * right, so the new regions are on the left).
 */
function leftSiblings(
  topology: TopologyPort,
  storeId: bigint,
  region: Region,
  requestedVersion: bigint,
): Region[] {
  let maxVersion = region.regionEpoch?.version ?? 0n;
  if (requestedVersion >= maxVersion) return [];
  let want = maxVersion - requestedVersion;
  const all = topology.storedRegionsOnStore?.(storeId) ?? topology.regionsOnStore(storeId);
  // Regions ending at or before this region's start, walked right to left.
  const left = all
    .filter(
      (r) => r.id !== region.id && r.endKey.length > 0 && Buffer.compare(r.endKey, region.startKey) <= 0,
    )
    .sort((a, b) => Buffer.compare(b.endKey, a.endKey));
  const out: Region[] = [];
  for (const r of left.slice(0, MAX_REGIONS_IN_ERROR)) {
    want -= 1n;
    const v = r.regionEpoch?.version ?? 0n;
    if (v >= maxVersion) {
      want += v - maxVersion;
      maxVersion = v;
    }
    out.push(r);
    if (want <= 0n) break;
  }
  return out;
}

/**
 * How a command's keys meet the region boundaries, which are kept in stored form: TiKV encodes
 * a transactional key (Key::from_raw, and an API V2 raw key) before comparing it, and compares
 * an API V1 raw key as sent. Errors report the key and region in that form.
 */
export interface RegionKeyForm {
  /** The key in stored form (an empty key stays empty: unbounded). */
  key(k: Buffer): Buffer;
  /**
   * True when `key` encodes. The region's user-key view (RegionState.region) then cuts the
   * keys exactly where the stored boundaries cut their encodings, so keys are checked, and
   * engines clamped, in user keys without encoding each one.
   */
  readonly encodes: boolean;
}

/** Keys compared as sent. */
export const USER_KEY_FORM: RegionKeyForm = { key: (k) => k, encodes: false };

/** The region's boundaries `form`'s keys are compared with (and engines clamp to). */
export function regionBounds(state: RegionState, form: RegionKeyForm): Region {
  return form.encodes ? state.region : (state.storedRegion ?? state.region);
}

/**
 * Runs the checks; returns the region to run on, or the region error TiKV would answer.
 * Regions and keys inside errors are rendered with `form`.
 */
export function checkRegion(
  topology: TopologyPort,
  storeId: bigint,
  ctx: Context | undefined,
  input: CheckInput,
  form: RegionKeyForm = USER_KEY_FORM,
): CheckedRegion | RegionError {
  const regionId = ctx?.regionId ?? 0n;
  const reqStore = ctx?.peer?.storeId ?? 0n;
  if (reqStore !== storeId) return RegionErrors.storeNotMatch(reqStore, storeId);

  const state = topology.regionState(regionId);
  const peer = state?.region.peers.find((p) => p.storeId === storeId);
  if (!state || !peer)
    return RegionErrors.regionNotFound(regionId, input.access === "read" ? "read" : "write");
  const region = state.region;
  const stored = state.storedRegion ?? region;

  const reqPeer = ctx?.peer?.id ?? 0n;
  if (reqPeer !== peer.id) return RegionErrors.mismatchPeerId(reqPeer, peer.id);

  const isLeader = state.leader !== undefined && state.leader.id === peer.id;
  const followerRead = input.access === "read" && (ctx?.replicaRead === true || ctx?.staleRead === true);
  if (!isLeader) {
    if (!followerRead) return RegionErrors.notLeader(regionId, state.leader);
    // Replica read goes through read index, which needs a leader to answer it.
    if (ctx?.replicaRead && !ctx.staleRead && state.leader === undefined) {
      return RegionErrors.notLeader(regionId, undefined);
    }
  }

  // A witness holds no data (raftstore rejects every proposal and local read on it).
  if (peer.isWitness) return RegionErrors.isWitness(regionId);

  const sent = ctx?.regionEpoch;
  if (!sent) return RegionErrors.missingEpoch();
  const cur = region.regionEpoch;
  const checkConf = input.access === "split";
  if (sent.version !== (cur?.version ?? 0n) || (checkConf && sent.confVer !== (cur?.confVer ?? 0n))) {
    const current = [stored, ...leftSiblings(topology, storeId, stored, sent.version)];
    return RegionErrors.epochNotMatch(regionId, cur, sent, current);
  }

  // During flashback only reads below the flashback start ts pass (util.rs check_flashback_state).
  if (region.isInFlashback || region.flashbackStartTs > 0n) {
    const readTs = input.access === "read" ? (input.readTs ?? 0n) : 0n;
    if (readTs === 0n || readTs >= region.flashbackStartTs) {
      return RegionErrors.flashbackInProgress(regionId, region.flashbackStartTs);
    }
  }

  // A lagging stale read fails on a follower; a valid leader serves it as a normal snapshot read
  // instead (raftstore worker/read.rs: the StaleRead policy falls back to a local leader read).
  if (ctx?.staleRead && input.access === "read" && !isLeader) {
    const readTs = input.readTs ?? 0n;
    if (state.safeTs < readTs) return RegionErrors.dataIsNotReady(regionId, peer.id, state.safeTs);
  }

  const path = input.access === "read" ? "read" : "write";
  if (input.bound) {
    // One key: compared in stored form, exact even at a boundary no user key encodes to.
    const { key, upper } = input.bound;
    const k = form.key(key);
    const ok = upper ? key.length === 0 || upperInRegion(k, stored) : inRegion(k, stored);
    if (!ok) return RegionErrors.keyNotInRegion(k, stored, path);
  } else {
    // each key in stored form against the stored boundaries: exact for any boundary (a raw
    // split's boundary may cut where no txn key's encoding does, e.g. at 0x00)
    for (const k of input.keys) {
      // (a point key is never "unbounded": an empty txn key is encode(""), as TiKV's Key::from_raw)
      const sk = form.encodes && k.length === 0 ? encodeBytes(k) : form.key(k);
      if (!inRegion(sk, stored)) return RegionErrors.keyNotInRegion(sk, stored, path);
    }
  }
  return { state, peer };
}

/** Type guard separating a check failure from a pass. */
export function isRegionError(r: CheckedRegion | RegionError): r is RegionError {
  return !("state" in r);
}
