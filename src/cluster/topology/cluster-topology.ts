// The embedded cluster's topology: stores, regions, epochs, peers and leaders. It is the single
// source of truth shared by the mock PD and the mock TiKV stores (TEAM.md, Topology contract).
// Epoch rules follow TiKV components/raftstore/src/store/fsm/apply.rs: a batch split of N keys
// gives every resulting region version + N and the original id keeps the right-most range
// (right_derive_when_split = true); prepare-merge bumps the source's version and conf_ver, and
// commit-merge sets the target's version to max(source, target) + 1; each conf change bumps
// conf_ver by one.

import type { EventEmitter } from "eventemitter3";
import BTreeModule from "sorted-btree";
import { Peer, PeerRole, Region, RegionEpoch } from "../../proto/metapb.js";
import { hex, TopologyError } from "./errors.js";
import { IdAllocator } from "./id-allocator.js";
import { bucketBoundaries, bucketCuts, nextBucketVersion, sameBucketKeys } from "./region-buckets.js";
import { SafeEmitter } from "./safe-emitter.js";
import { fromStoredKey, type RegionKeyEncoding, toStoredKey } from "./stored-keys.js";
import type {
  PeerInfo,
  PeerRoleName,
  RegionBuckets,
  RegionInfo,
  StoreInfo,
  StoreLabelInfo,
  StoreStateName,
  TopologyChange,
  TopologyEvents,
} from "./types.js";

type KeyLike = Uint8Array | string;

// sorted-btree is CommonJS with `exports.default`; unwrap it for Node ESM and vitest alike.
type BTreeCtor = typeof BTreeModule.default;
const BTree: BTreeCtor =
  (BTreeModule as unknown as { default?: BTreeCtor }).default ?? (BTreeModule as unknown as BTreeCtor);

interface RegionRec {
  id: bigint;
  /** Boundaries in stored form (see stored-keys.ts). */
  startKey: Buffer;
  endKey: Buffer;
  confVer: bigint;
  version: bigint;
  peers: PeerInfo[];
  leaderPeerId: bigint | undefined;
  downPeers: Map<bigint, number>;
  pendingPeers: Set<bigint>;
  safeTs: bigint;
  /** Current buckets (undefined: none yet, or reset by a split/merge). */
  buckets?: RegionBuckets | undefined;
  /** Last bucket version this region had, kept across resets so versions only grow. */
  bucketVer?: bigint;
  snap: RegionInfo | undefined;
}

interface StoreRec {
  id: bigint;
  address: string;
  statusAddress: string;
  labels: StoreLabelInfo[];
  state: StoreStateName;
  running: boolean;
  startTimestamp: bigint;
  snap: StoreInfo | undefined;
}

/** Options of {@link ClusterTopology.addStore}. */
export interface AddStoreOptions {
  address?: string;
  labels?: Record<string, string> | readonly StoreLabelInfo[];
}

function toBuf(k: KeyLike): Buffer {
  if (typeof k === "string") return Buffer.from(k, "utf8");
  return Buffer.isBuffer(k) ? k : Buffer.from(k.buffer, k.byteOffset, k.byteLength);
}

// Latin1 strings compare in byte order and are much cheaper to compare than Buffers.
function ord(k: Uint8Array): string {
  return toBuf(k).toString("latin1");
}

function labelList(labels: Record<string, string> | readonly StoreLabelInfo[] | undefined): StoreLabelInfo[] {
  if (!labels) return [];
  if (Array.isArray(labels)) return labels.map((l) => ({ key: l.key, value: l.value }));
  return Object.entries(labels).map(([key, value]) => ({ key, value }));
}

/** Stores, regions and their replicas, with TiKV-like epoch bookkeeping and change events. */
export class ClusterTopology {
  /** Allocator shared by stores, regions, peers and PD's AllocID. */
  readonly ids: IdAllocator;
  /** Emits "change" with a {@link TopologyChange} after every mutation. */
  readonly changes: EventEmitter<TopologyEvents> = new SafeEmitter<TopologyEvents>();
  private readonly storesById = new Map<bigint, StoreRec>();
  private readonly regionsById = new Map<bigint, RegionRec>();
  /** Regions by start key (latin1 form). */
  private readonly byStart: InstanceType<typeof BTreeModule.default<string, RegionRec>> = new BTree<
    string,
    RegionRec
  >();
  private readonly now: () => number;
  /**
   * How user keys given to this topology become boundaries. Regions are kept in stored form
   * (TiKV's one key space: raw keys byte for byte, txn keys encoded); methods taking and
   * returning user keys convert, the `*Stored*` ones and `storedRegion` do not.
   */
  readonly keyEncoding: RegionKeyEncoding;

  constructor(opts: { firstId?: bigint; now?: () => number; keyEncoding?: RegionKeyEncoding } = {}) {
    this.ids = new IdAllocator(opts.firstId ?? 1n);
    this.now = opts.now ?? Date.now;
    this.keyEncoding = opts.keyEncoding ?? "raw";
  }

  private stored(key: KeyLike): Buffer {
    return toStoredKey(this.keyEncoding, toBuf(key));
  }

  private user(key: Buffer): Buffer {
    return fromStoredKey(this.keyEncoding, key);
  }

  // ---------------------------------------------------------------- stores

  /** Adds a store (state up, running). */
  addStore(opts: AddStoreOptions = {}): StoreInfo {
    const rec: StoreRec = {
      id: this.ids.alloc(),
      address: opts.address ?? "",
      statusAddress: "",
      labels: labelList(opts.labels),
      state: "up",
      running: true,
      startTimestamp: BigInt(Math.floor(this.now() / 1000)),
      snap: undefined,
    };
    this.storesById.set(rec.id, rec);
    this.emit({ kind: "storeAdded", storeId: rec.id });
    return this.storeSnap(rec);
  }

  /** The store, or undefined. */
  store(id: bigint): StoreInfo | undefined {
    const rec = this.storesById.get(id);
    return rec && this.storeSnap(rec);
  }

  /** All stores by id. */
  stores(): StoreInfo[] {
    return [...this.storesById.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => this.storeSnap(r));
  }

  /** Whether the store exists and its process runs. */
  isStoreRunning(id: bigint): boolean {
    return this.storesById.get(id)?.running ?? false;
  }

  /**
   * Records the address a store's server listens on, and its status server's (TiKV
   * server.status-addr; kept when not given).
   */
  setStoreAddress(id: bigint, address: string, statusAddress?: string): StoreInfo {
    const rec = this.requireStore(id);
    rec.address = address;
    if (statusAddress !== undefined) rec.statusAddress = statusAddress;
    rec.snap = undefined;
    this.emit({ kind: "storeAddress", storeId: id, address });
    return this.storeSnap(rec);
  }

  /** Replaces a store's labels. */
  setStoreLabels(id: bigint, labels: Record<string, string> | readonly StoreLabelInfo[]): StoreInfo {
    const rec = this.requireStore(id);
    rec.labels = labelList(labels);
    rec.snap = undefined;
    this.emit({ kind: "storeLabels", storeId: id });
    return this.storeSnap(rec);
  }

  /** Sets a store's lifecycle state (up / offline / tombstone). */
  setStoreState(id: bigint, state: StoreStateName): StoreInfo {
    const rec = this.requireStore(id);
    rec.state = state;
    rec.snap = undefined;
    this.emit({ kind: "storeState", storeId: id, state });
    return this.storeSnap(rec);
  }

  /** Stops a store's process; its address is kept for the restart. */
  stopStore(id: bigint): StoreInfo {
    return this.setRunning(id, false);
  }

  /** Starts a stopped store again on the same address. */
  startStore(id: bigint): StoreInfo {
    return this.setRunning(id, true);
  }

  /** Stops then starts a store (new start timestamp, same address). */
  restartStore(id: bigint): StoreInfo {
    this.setRunning(id, false);
    return this.setRunning(id, true);
  }

  private setRunning(id: bigint, running: boolean): StoreInfo {
    const rec = this.requireStore(id);
    rec.running = running;
    if (running) rec.startTimestamp = BigInt(Math.floor(this.now() / 1000));
    rec.snap = undefined;
    this.emit({ kind: "storeRunning", storeId: id, running });
    return this.storeSnap(rec);
  }

  // --------------------------------------------------------------- lookups

  /** The region containing user key `key` (a txn key), or undefined before bootstrap. */
  locateKey(key: KeyLike): RegionInfo | undefined {
    return this.locateStoredKey(this.stored(key));
  }

  /** The region containing `key` compared byte for byte with the stored boundaries (a raw key, PD's lookups). */
  locateStoredKey(key: KeyLike): RegionInfo | undefined {
    const k = ord(toBuf(key));
    const pair = this.byStart.getPairOrNextLower(k);
    if (!pair) return undefined;
    const rec = pair[1];
    if (rec.endKey.length > 0 && ord(rec.endKey) <= k) return undefined;
    return this.regionSnap(rec);
  }

  /** The region just before the one containing `key` (PD GetPrevRegion), or undefined. */
  prevRegion(key: KeyLike): RegionInfo | undefined {
    return this.prevStoredRegion(this.stored(key));
  }

  /** {@link prevRegion} for a key in stored form. */
  prevStoredRegion(key: KeyLike): RegionInfo | undefined {
    const cur = this.locateStoredKey(key);
    if (!cur || cur.storedRegion.startKey.length === 0) return undefined;
    const pair = this.byStart.nextLowerPair(ord(cur.storedRegion.startKey));
    return pair && this.regionSnap(pair[1]);
  }

  /** The region with this id, or undefined. */
  regionById(id: bigint): RegionInfo | undefined {
    const rec = this.regionsById.get(id);
    return rec && this.regionSnap(rec);
  }

  /** Alias of {@link regionById} shaped for the mock stores (TopologyPort). */
  regionState(id: bigint): RegionInfo | undefined {
    return this.regionById(id);
  }

  /** All regions sorted by start key. */
  regions(): RegionInfo[] {
    const out: RegionInfo[] = [];
    for (const [, rec] of this.byStart.entries()) out.push(this.regionSnap(rec));
    return out;
  }

  /**
   * Regions intersecting [start, end) in key order, at most `limit` (<= 0: no limit).
   * Empty end = unbounded. Follows PD RegionsInfo.ScanRegions.
   */
  scanRegions(start: KeyLike, end: KeyLike = Buffer.alloc(0), limit = 0): RegionInfo[] {
    return this.scanStoredRegions(this.stored(start), this.stored(end), limit);
  }

  /** {@link scanRegions} with bounds in stored form. */
  scanStoredRegions(start: KeyLike, end: KeyLike = Buffer.alloc(0), limit = 0): RegionInfo[] {
    const s = toBuf(start);
    const e = toBuf(end);
    const out: RegionInfo[] = [];
    const first = this.locateStoredKey(s);
    if (!first) return out;
    const eOrd = e.length > 0 ? ord(e) : undefined;
    for (const [k, rec] of this.byStart.entries(ord(first.storedRegion.startKey))) {
      if (eOrd !== undefined && k >= eOrd) break;
      if (limit > 0 && out.length >= limit) break;
      out.push(this.regionSnap(rec));
    }
    return out;
  }

  /** Regions with a peer on `storeId`, sorted by start key (metapb form, for the stores). */
  regionsOnStore(storeId: bigint): Region[] {
    return this.onStore(storeId).map((r) => r.region);
  }

  /** {@link regionsOnStore} with boundaries in stored form. */
  storedRegionsOnStore(storeId: bigint): Region[] {
    return this.onStore(storeId).map((r) => r.storedRegion);
  }

  private onStore(storeId: bigint): RegionInfo[] {
    const out: RegionInfo[] = [];
    for (const [, rec] of this.byStart.entries()) {
      if (rec.peers.some((p) => p.storeId === storeId)) out.push(this.regionSnap(rec));
    }
    return out;
  }

  // ------------------------------------------------------------- bootstrap

  /**
   * Creates the initial regions: one region [-inf, +inf) cut at `splitKeys`, as if the first
   * region had been split once (epoch {confVer: 1, version: 1 + number of keys}). Region i gets
   * one voter on each store of `placement(i)`; the first one leads. Only valid while there are
   * no regions.
   */
  bootstrapRegions(
    placement: (regionIndex: number) => readonly bigint[],
    splitKeys: readonly KeyLike[] = [],
  ): RegionInfo[] {
    if (this.regionsById.size > 0)
      throw new TopologyError("INVALID_ARGUMENT", "cluster is already bootstrapped");
    const keys = [...new Map(splitKeys.map((k) => [ord(this.stored(k)), this.stored(k)])).entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([, k]) => k);
    if (keys.some((k) => k.length === 0))
      throw new TopologyError("INVALID_ARGUMENT", "split key must not be empty");
    const bounds = [Buffer.alloc(0), ...keys, Buffer.alloc(0)];
    const version = 1n + BigInt(keys.length);
    const out: RegionInfo[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const storeIds = placement(i);
      if (storeIds.length === 0)
        throw new TopologyError("INVALID_ARGUMENT", "a region needs at least one store");
      for (const s of storeIds) this.requireStore(s);
      const rec: RegionRec = {
        id: this.ids.alloc(),
        startKey: bounds[i]!,
        endKey: bounds[i + 1]!,
        confVer: 1n,
        version,
        peers: storeIds.map((storeId) => ({ id: this.ids.alloc(), storeId, role: "voter" as const })),
        leaderPeerId: undefined,
        downPeers: new Map(),
        pendingPeers: new Set(),
        safeTs: 0n,
        snap: undefined,
      };
      rec.leaderPeerId = rec.peers[0]!.id;
      this.insert(rec);
      out.push(this.regionSnap(rec));
    }
    return out;
  }

  // ----------------------------------------------------------- split/merge

  /**
   * Splits region `regionId` at `keys` (each strictly inside the region). Returns every
   * resulting region sorted by start key; the original id keeps the right-most part.
   */
  splitRegion(regionId: bigint, keys: readonly KeyLike[]): RegionInfo[] {
    return this.splitStoredRegion(
      regionId,
      keys.map((k) => this.stored(k)),
    );
  }

  /** {@link splitRegion} at keys in stored form (e.g. a raw split on a memcomparable cluster). */
  splitStoredRegion(regionId: bigint, keys: readonly KeyLike[]): RegionInfo[] {
    const rec = this.requireRegion(regionId);
    const sorted = [...new Map(keys.map((k) => [ord(toBuf(k)), toBuf(k)])).entries()].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
    );
    if (sorted.length === 0) throw new TopologyError("INVALID_ARGUMENT", "no split keys");
    const startOrd = ord(rec.startKey);
    const endOrd = rec.endKey.length > 0 ? ord(rec.endKey) : undefined;
    for (const [o, k] of sorted) {
      if (k.length === 0 || o <= startOrd || (endOrd !== undefined && o >= endOrd)) {
        throw new TopologyError(
          "INVALID_ARGUMENT",
          `split key ${hex(k)} is not in region ${rec.id} [${hex(rec.startKey)}, ${hex(rec.endKey)})`,
        );
      }
    }
    const newVersion = rec.version + BigInt(sorted.length);
    const leaderStore = rec.peers.find((p) => p.id === rec.leaderPeerId)?.storeId;
    const created: RegionRec[] = [];
    let start = rec.startKey;
    for (const [, k] of sorted) {
      const peers = rec.peers.map((p) => ({ id: this.ids.alloc(), storeId: p.storeId, role: p.role }));
      const nr: RegionRec = {
        id: this.ids.alloc(),
        startKey: start,
        endKey: k,
        confVer: rec.confVer,
        version: newVersion,
        peers,
        leaderPeerId: peers.find((p) => p.storeId === leaderStore)?.id,
        downPeers: new Map(),
        pendingPeers: new Set(),
        safeTs: rec.safeTs,
        snap: undefined,
      };
      created.push(nr);
      start = k;
    }
    this.byStart.delete(ord(rec.startKey));
    rec.startKey = start;
    rec.version = newVersion;
    // TiKV post_split: every resulting region drops its buckets until the split checker reruns
    rec.buckets = undefined;
    rec.snap = undefined;
    this.byStart.set(ord(rec.startKey), rec);
    for (const nr of created) this.insert(nr);
    const all = [...created, rec];
    this.emit({ kind: "split", parentId: rec.id, regionIds: all.map((r) => r.id) });
    return all.map((r) => this.regionSnap(r));
  }

  /** TopologyPort form of {@link splitStoredRegion}: stored keys in, metapb regions in stored form out. */
  split(regionId: bigint, splitKeys: readonly KeyLike[]): Region[] {
    return this.splitStoredRegion(regionId, splitKeys).map((r) => r.storedRegion);
  }

  /**
   * Splits wherever `keys` fall (keys equal to an existing boundary are skipped). Returns the
   * newly created regions (not the shrunk originals), sorted by start key. Keys are user keys,
   * or stored-form boundaries with `stored: true` (as a raw split leaves them).
   */
  splitAt(keys: readonly KeyLike[], opts: { stored?: boolean } = {}): RegionInfo[] {
    const groups = new Map<bigint, Buffer[]>();
    for (const key of keys) {
      const k = opts.stored ? toBuf(key) : this.stored(key);
      const r = this.locateStoredKey(k);
      if (!r || k.length === 0 || r.storedRegion.startKey.equals(k)) continue;
      const g = groups.get(r.id);
      if (g) g.push(k);
      else groups.set(r.id, [k]);
    }
    const created: RegionInfo[] = [];
    for (const [id, ks] of groups) {
      const res = this.splitStoredRegion(id, ks);
      created.push(...res.filter((r) => r.id !== id));
    }
    return created.sort((a, b) => Buffer.compare(a.storedRegion.startKey, b.storedRegion.startKey));
  }

  /**
   * Splits the key space under `prefix` into `parts` even slices: split keys are `prefix`
   * followed by `width` big-endian bytes spread evenly over [0, 256^width). Returns the created
   * regions.
   */
  splitEvenly(parts: number, opts: { prefix?: KeyLike; width?: 1 | 2 | 3 } = {}): RegionInfo[] {
    const width = opts.width ?? 2;
    const space = 256 ** width;
    if (!Number.isInteger(parts) || parts < 2 || parts > space) {
      throw new TopologyError("INVALID_ARGUMENT", `parts must be an integer in [2, ${space}], got ${parts}`);
    }
    const prefix = toBuf(opts.prefix ?? "");
    const keys: Buffer[] = [];
    for (let i = 1; i < parts; i++) {
      const v = Math.floor((i * space) / parts);
      const suffix = Buffer.alloc(width);
      suffix.writeUIntBE(v, 0, width);
      keys.push(Buffer.concat([prefix, suffix]));
    }
    return this.splitAt(keys);
  }

  /**
   * Merges `sourceId` into the adjacent `targetId`; the target survives and covers both
   * ranges. Both must have peers on the same stores.
   */
  merge(sourceId: bigint, targetId: bigint): RegionInfo {
    const src = this.requireRegion(sourceId);
    const tgt = this.requireRegion(targetId);
    if (src === tgt)
      throw new TopologyError("INVALID_ARGUMENT", `cannot merge region ${sourceId} into itself`);
    const srcLeft = src.endKey.length > 0 && src.endKey.equals(tgt.startKey);
    const srcRight = tgt.endKey.length > 0 && tgt.endKey.equals(src.startKey);
    if (!srcLeft && !srcRight) {
      throw new TopologyError("INVALID_ARGUMENT", `regions ${sourceId} and ${targetId} are not adjacent`);
    }
    const stores = (r: RegionRec) =>
      r.peers
        .map((p) => p.storeId)
        .sort((a, b) => (a < b ? -1 : 1))
        .join(",");
    if (stores(src) !== stores(tgt)) {
      throw new TopologyError(
        "INVALID_ARGUMENT",
        `regions ${sourceId} and ${targetId} have peers on different stores`,
      );
    }
    // Prepare-merge on the source bumps its version (and conf_ver) first.
    const srcVersion = src.version + 1n;
    this.byStart.delete(ord(src.startKey));
    this.regionsById.delete(src.id);
    this.byStart.delete(ord(tgt.startKey));
    if (srcLeft) tgt.startKey = src.startKey;
    else tgt.endKey = src.endKey;
    tgt.version = (srcVersion > tgt.version ? srcVersion : tgt.version) + 1n;
    // TiKV on_ready_commit_merge: the merged region drops its buckets (reset_region_buckets)
    tgt.buckets = undefined;
    tgt.snap = undefined;
    this.byStart.set(ord(tgt.startKey), tgt);
    this.emit({ kind: "merge", sourceId, targetId });
    return this.regionSnap(tgt);
  }

  // --------------------------------------------------------------- buckets

  /**
   * Sets region `regionId`'s buckets to the boundaries `cuts` (each strictly inside the region;
   * none = one bucket over the whole region), as TiKV's bucket split check would. The version
   * is bumped only when the boundaries change (on_refresh_region_buckets).
   *
   * @example topology.setRegionBuckets(r.id, ["b", "d"]) // buckets [start,b) [b,d) [d,end)
   */
  setRegionBuckets(regionId: bigint, cuts: readonly KeyLike[]): RegionInfo {
    const rec = this.requireRegion(regionId);
    // Buckets are kept in user keys.
    const keys = bucketBoundaries(this.user(rec.startKey), this.user(rec.endKey), cuts.map(toBuf));
    if (rec.buckets && sameBucketKeys(rec.buckets.keys, keys)) return this.regionSnap(rec);
    const version = nextBucketVersion(rec.bucketVer ?? 0n);
    rec.buckets = Object.freeze({ version, keys: Object.freeze(keys) });
    rec.bucketVer = version;
    rec.snap = undefined;
    this.emit({ kind: "buckets", regionId, version });
    return this.regionSnap(rec);
  }

  /** Splits region `regionId`'s buckets further at `cuts`, keeping the existing boundaries. */
  splitRegionBuckets(regionId: bigint, cuts: readonly KeyLike[]): RegionInfo {
    const rec = this.requireRegion(regionId);
    return this.setRegionBuckets(regionId, [...bucketCuts(rec.buckets), ...cuts.map(toBuf)]);
  }

  // --------------------------------------------------------- peers/leaders

  /** Moves leadership to the region's voter on `storeId`. */
  transferLeader(regionId: bigint, storeId: bigint): RegionInfo {
    const rec = this.requireRegion(regionId);
    const peer = rec.peers.find((p) => p.storeId === storeId);
    if (!peer)
      throw new TopologyError("PEER_NOT_FOUND", `region ${regionId} has no peer on store ${storeId}`);
    if (peer.role !== "voter") {
      throw new TopologyError(
        "INVALID_ARGUMENT",
        `peer ${peer.id} on store ${storeId} is a learner and cannot lead`,
      );
    }
    rec.leaderPeerId = peer.id;
    rec.snap = undefined;
    this.emit({ kind: "leader", regionId, leaderPeerId: peer.id });
    return this.regionSnap(rec);
  }

  /** Leaves the region without a leader (as during an election). */
  clearLeader(regionId: bigint): RegionInfo {
    const rec = this.requireRegion(regionId);
    rec.leaderPeerId = undefined;
    rec.snap = undefined;
    this.emit({ kind: "leader", regionId, leaderPeerId: undefined });
    return this.regionSnap(rec);
  }

  /** Adds a voter on `storeId` (conf_ver + 1). */
  addPeer(regionId: bigint, storeId: bigint): PeerInfo {
    return this.addReplica(regionId, storeId, "voter");
  }

  /** Adds a learner on `storeId` (conf_ver + 1). */
  addLearner(regionId: bigint, storeId: bigint): PeerInfo {
    return this.addReplica(regionId, storeId, "learner");
  }

  /** Promotes the learner on `storeId` to voter (conf_ver + 1). */
  promoteLearner(regionId: bigint, storeId: bigint): PeerInfo {
    const rec = this.requireRegion(regionId);
    const i = rec.peers.findIndex((p) => p.storeId === storeId);
    const peer = rec.peers[i];
    if (!peer)
      throw new TopologyError("PEER_NOT_FOUND", `region ${regionId} has no peer on store ${storeId}`);
    if (peer.role !== "learner")
      throw new TopologyError("INVALID_ARGUMENT", `peer ${peer.id} is already a voter`);
    const promoted: PeerInfo = { id: peer.id, storeId, role: "voter" };
    rec.peers = rec.peers.map((p, j) => (j === i ? promoted : p));
    this.confChanged(rec, peer.id, "promote");
    return promoted;
  }

  /** Removes the peer on `storeId` (conf_ver + 1). The leader must be transferred first. */
  removePeer(regionId: bigint, storeId: bigint): PeerInfo {
    const rec = this.requireRegion(regionId);
    const peer = rec.peers.find((p) => p.storeId === storeId);
    if (!peer)
      throw new TopologyError("PEER_NOT_FOUND", `region ${regionId} has no peer on store ${storeId}`);
    if (peer.id === rec.leaderPeerId) {
      throw new TopologyError(
        "INVALID_ARGUMENT",
        `peer ${peer.id} leads region ${regionId}; transfer leader first`,
      );
    }
    if (peer.role === "voter" && rec.peers.filter((p) => p.role === "voter").length === 1) {
      throw new TopologyError("INVALID_ARGUMENT", `cannot remove the last voter of region ${regionId}`);
    }
    rec.peers = rec.peers.filter((p) => p !== peer);
    rec.downPeers.delete(peer.id);
    rec.pendingPeers.delete(peer.id);
    this.confChanged(rec, peer.id, "remove");
    return peer;
  }

  /** Marks the peer on `storeId` down (or up again); PD reports down peers with their down time. */
  markPeerDown(regionId: bigint, storeId: bigint, down = true): RegionInfo {
    const { rec, peer } = this.requirePeer(regionId, storeId);
    if (down) {
      if (!rec.downPeers.has(peer.id)) rec.downPeers.set(peer.id, this.now());
    } else rec.downPeers.delete(peer.id);
    return this.peerStatusChanged(rec, peer.id);
  }

  /** Marks the peer on `storeId` pending (or caught up again). */
  markPeerPending(regionId: bigint, storeId: bigint, pending = true): RegionInfo {
    const { rec, peer } = this.requirePeer(regionId, storeId);
    if (pending) rec.pendingPeers.add(peer.id);
    else rec.pendingPeers.delete(peer.id);
    return this.peerStatusChanged(rec, peer.id);
  }

  // ---------------------------------------------------------------- safe ts

  /** Raises the region's safe ts to `ts` (never lowers it). */
  advanceSafeTs(regionId: bigint, ts: bigint): RegionInfo {
    const rec = this.requireRegion(regionId);
    if (ts > rec.safeTs) {
      rec.safeTs = ts;
      rec.snap = undefined;
      this.emit({ kind: "safeTs", regionId, safeTs: ts });
    }
    return this.regionSnap(rec);
  }

  /** Raises the safe ts of every region to `ts`. */
  advanceAllSafeTs(ts: bigint): void {
    for (const id of [...this.regionsById.keys()]) this.advanceSafeTs(id, ts);
  }

  // -------------------------------------------------------------- internals

  private addReplica(regionId: bigint, storeId: bigint, role: PeerRoleName): PeerInfo {
    const rec = this.requireRegion(regionId);
    const store = this.requireStore(storeId);
    if (store.state === "tombstone")
      throw new TopologyError("INVALID_ARGUMENT", `store ${storeId} is tombstone`);
    if (rec.peers.some((p) => p.storeId === storeId)) {
      throw new TopologyError(
        "INVALID_ARGUMENT",
        `region ${regionId} already has a peer on store ${storeId}`,
      );
    }
    const peer: PeerInfo = { id: this.ids.alloc(), storeId, role };
    rec.peers = [...rec.peers, peer];
    this.confChanged(rec, peer.id, "add");
    return peer;
  }

  private confChanged(rec: RegionRec, peerId: bigint, change: "add" | "remove" | "promote"): void {
    rec.confVer += 1n;
    rec.snap = undefined;
    this.emit({ kind: "conf", regionId: rec.id, peerId, change });
  }

  private peerStatusChanged(rec: RegionRec, peerId: bigint): RegionInfo {
    rec.snap = undefined;
    this.emit({
      kind: "peerStatus",
      regionId: rec.id,
      peerId,
      down: rec.downPeers.has(peerId),
      pending: rec.pendingPeers.has(peerId),
    });
    return this.regionSnap(rec);
  }

  private insert(rec: RegionRec): void {
    this.regionsById.set(rec.id, rec);
    this.byStart.set(ord(rec.startKey), rec);
  }

  private requireRegion(id: bigint): RegionRec {
    const rec = this.regionsById.get(id);
    if (!rec) throw new TopologyError("REGION_NOT_FOUND", `region ${id} not found`);
    return rec;
  }

  private requireStore(id: bigint): StoreRec {
    const rec = this.storesById.get(id);
    if (!rec) throw new TopologyError("STORE_NOT_FOUND", `store ${id} not found`);
    return rec;
  }

  private requirePeer(regionId: bigint, storeId: bigint): { rec: RegionRec; peer: PeerInfo } {
    const rec = this.requireRegion(regionId);
    const peer = rec.peers.find((p) => p.storeId === storeId);
    if (!peer)
      throw new TopologyError("PEER_NOT_FOUND", `region ${regionId} has no peer on store ${storeId}`);
    return { rec, peer };
  }

  private emit(change: TopologyChange): void {
    this.changes.emit("change", change);
  }

  private storeSnap(rec: StoreRec): StoreInfo {
    if (!rec.snap) {
      rec.snap = Object.freeze({
        id: rec.id,
        address: rec.address,
        statusAddress: rec.statusAddress,
        labels: Object.freeze(rec.labels.map((l) => Object.freeze({ ...l }))),
        state: rec.state,
        running: rec.running,
        startTimestamp: rec.startTimestamp,
      });
    }
    return rec.snap;
  }

  private regionSnap(rec: RegionRec): RegionInfo {
    if (rec.snap) return rec.snap;
    const metaPeers = rec.peers.map((p) =>
      Peer.fromPartial({
        id: p.id,
        storeId: p.storeId,
        role: p.role === "voter" ? PeerRole.Voter : PeerRole.Learner,
      }),
    );
    const storedRegion = Region.fromPartial({
      id: rec.id,
      startKey: rec.startKey,
      endKey: rec.endKey,
      regionEpoch: RegionEpoch.fromPartial({ confVer: rec.confVer, version: rec.version }),
      peers: metaPeers,
    });
    const startKey = this.user(rec.startKey);
    const endKey = this.user(rec.endKey);
    const region =
      startKey === rec.startKey && endKey === rec.endKey
        ? storedRegion
        : { ...storedRegion, startKey, endKey };
    const leader = metaPeers.find((p) => p.id === rec.leaderPeerId);
    rec.snap = Object.freeze({
      id: rec.id,
      startKey,
      endKey,
      epoch: Object.freeze({ confVer: rec.confVer, version: rec.version }),
      peers: Object.freeze([...rec.peers]),
      leaderPeerId: rec.leaderPeerId,
      downPeers: Object.freeze(
        [...rec.downPeers].map(([peerId, sinceMs]) => Object.freeze({ peerId, sinceMs })),
      ),
      pendingPeers: Object.freeze([...rec.pendingPeers]),
      safeTs: rec.safeTs,
      region,
      storedRegion,
      leader,
      buckets: rec.buckets,
    });
    return rec.snap;
  }
}
