// One region entry of the cache, as the rest of the client sees it. Follows client-go
// internal/locate/region_cache.go (Region, regionStore, InvalidReason, TTL).
//
// A CachedRegion is a handle. Built from PD's answer it is detached and holds its own data; once
// cached it is attached to a slot of the RegionStore: its immutable data is decoded lazily from
// the slot's blob (and kept in the handle), its mutable state (leader, TTL, invalid reason,
// reload mark, buckets, proxy) is read and written through to the store, so every handle of the
// slot sees the same state. When the slot is freed (the region was replaced) the handle is
// retired: invalid for good, still answering its own immutable data (the blob it read is never
// overwritten). Two handles may describe one entry: compare them with `sameEntry`, not `===`.

import { compareKeysShort, type Latin1Key, toLatin1Key } from "../../kv/key.js";
import type { Buckets, Peer, Region } from "../../proto/metapb.js";
import {
  blob,
  decodePeers,
  F_NEED_RELOAD,
  type InvalidReason,
  REASONS,
  type RegionRecord,
  type RegionStore,
  reasonCode,
} from "./region-store.js";

export type { InvalidReason } from "./region-store.js";

/** A region version: id + epoch (client-go RegionVerID). */
export interface RegionVerId {
  id: bigint;
  confVer: bigint;
  version: bigint;
}

const NONE: Peer[] = [];
const NO_EPOCHS: number[] = [];
const EMPTY = Buffer.alloc(0);

/** A cached region. Peers are the usable ones (tombstone / down stores and non-leader witnesses removed). */
export class CachedRegion {
  private store: RegionStore | undefined = undefined;
  private slot = -1;
  private gen = 0;
  private arena: Buffer = EMPTY;
  private off = 0;
  // immutable data: given (detached) or decoded on first use (attached)
  private id_: bigint | undefined;
  private confVer_: bigint | undefined;
  private version_: bigint | undefined;
  private start_: Buffer | undefined;
  private end_: Buffer | undefined;
  private peers_: Peer[] | undefined;
  private epochs_: number[] | undefined;
  private all_: Peer[] | undefined;
  private meta_: Region | undefined;
  private down_: Peer[];
  private flashbackTs_: bigint | undefined;
  // mutable state: authoritative while detached, the last value seen once attached
  private leader_: number;
  private ttl_: number;
  private reason_: InvalidReason = "ok";
  private reload_ = false;
  private buckets_: Buckets | undefined;
  private proxy_ = -1;

  constructor(
    meta: Region,
    peers: Peer[],
    storeEpochs: number[],
    leaderIdx: number,
    downPeers: Peer[],
    ttlAt: number,
    buckets?: Buckets,
  ) {
    this.meta_ = meta;
    this.id_ = meta.id;
    this.confVer_ = meta.regionEpoch?.confVer ?? 0n;
    this.version_ = meta.regionEpoch?.version ?? 0n;
    this.start_ = meta.startKey;
    this.end_ = meta.endKey;
    this.all_ = meta.peers;
    this.peers_ = peers;
    this.epochs_ = storeEpochs;
    this.leader_ = leaderIdx;
    this.down_ = downPeers;
    this.flashbackTs_ = meta.isInFlashback ? meta.flashbackStartTs : undefined;
    this.ttl_ = ttlAt;
    this.buckets_ = buckets;
  }

  /** A handle onto a live slot of `store` (nothing decoded yet). */
  static ofSlot(store: RegionStore, slot: number): CachedRegion {
    const h = new CachedRegion(NO_META, NONE, NO_EPOCHS, 0, NONE, 0);
    h.meta_ = undefined;
    h.id_ = undefined;
    h.confVer_ = undefined;
    h.version_ = undefined;
    h.start_ = undefined;
    h.end_ = undefined;
    h.all_ = undefined;
    h.peers_ = undefined;
    h.epochs_ = undefined;
    h.attachTo(store, slot);
    if (store.downPeers.size > 0) h.down_ = store.downPeers.get(slot) ?? NONE;
    if (store.flashback.size > 0) h.flashbackTs_ = store.flashback.get(slot);
    return h;
  }

  /** The record that stores this region (a detached one, or a retired one inserted again). */
  toRecord(): RegionRecord {
    const peers = this.peers;
    const epochs = this.storeEpochs;
    const all = this.all_ ?? peers;
    // the usable peers are PD's peers minus the filtered ones, in PD's order
    const marks: number[] = [];
    let j = 0;
    for (const p of all) {
      const u = peers[j];
      if (u !== undefined && (u === p || (u.id === p.id && u.storeId === p.storeId))) {
        marks.push(epochs[j] ?? 0);
        j++;
      } else marks.push(-1);
    }
    const ok = j === peers.length;
    return {
      id: this.id,
      confVer: this.confVer,
      version: this.version,
      startKey: this.startKey,
      endKey: this.endKey,
      allPeers: ok ? all : peers,
      epochs: ok ? marks : peers.map((_, i) => epochs[i] ?? 0),
      leaderIdx: this.leader_,
      ttlAt: this.ttl_,
      reason: reasonCode(this.reason_),
      needReload: this.reload_,
      expireAfterTtl: this.down_.length > 0,
      downPeers: this.down_,
      buckets: this.buckets_,
      isInFlashback: this.flashbackTs_ !== undefined,
      flashbackStartTs: this.flashbackTs_ ?? 0n,
    };
  }

  /** Attaches this handle to `slot` (which stores its data); its state is read through from now on. */
  attachTo(store: RegionStore, slot: number): void {
    this.store = store;
    this.slot = slot;
    this.gen = store.gen(slot);
    this.arena = store.chunk(slot);
    this.off = store.local(slot);
    // PD's decoded message is not needed any more: rebuilt on demand
    this.meta_ = undefined;
  }

  /** Re-reads the blob position of a live slot (the store moved its blob). */
  rebase(): void {
    const s = this.live();
    if (s >= 0) {
      const st = this.store as RegionStore;
      this.arena = st.chunk(s);
      this.off = st.local(s);
    }
  }

  /** The slot while attached and live, else -1. */
  liveSlot(): number {
    return this.live();
  }

  private live(): number {
    const st = this.store;
    return st !== undefined && st.gen(this.slot) === this.gen ? this.slot : -1;
  }

  /** True when both handles describe the same cache entry. */
  sameEntry(other: CachedRegion): boolean {
    return (
      this === other ||
      (this.store !== undefined &&
        this.store === other.store &&
        this.slot === other.slot &&
        this.gen === other.gen)
    );
  }

  // ---- immutable data ----

  /** Region id. */
  get id(): bigint {
    if (this.id_ === undefined) this.id_ = blob.id(this.arena, this.off);
    return this.id_;
  }

  /** Epoch conf version. */
  get confVer(): bigint {
    if (this.confVer_ === undefined) this.confVer_ = blob.confVer(this.arena, this.off);
    return this.confVer_;
  }

  /** Epoch version. */
  get version(): bigint {
    if (this.version_ === undefined) this.version_ = blob.version(this.arena, this.off);
    return this.version_;
  }

  /** Start key (user key, inclusive). */
  get startKey(): Buffer {
    if (this.start_ === undefined) this.start_ = blob.startKey(this.arena, this.off);
    return this.start_;
  }

  /** End key (user key, exclusive; empty = +inf). */
  get endKey(): Buffer {
    if (this.end_ === undefined) this.end_ = blob.endKey(this.arena, this.off);
    return this.end_;
  }

  /** Start key in latin1 form. */
  get startL1(): Latin1Key {
    return toLatin1Key(this.startKey);
  }

  /** End key in latin1 form ("" = +inf). */
  get endL1(): Latin1Key {
    return toLatin1Key(this.endKey);
  }

  private decodePeers(): void {
    const d = decodePeers(this.arena, this.off);
    this.all_ = d.all;
    this.peers_ = d.usable;
    this.epochs_ = d.epochs;
  }

  /** Usable peers in access order. */
  get peers(): Peer[] {
    if (this.peers_ === undefined) this.decodePeers();
    return this.peers_ as Peer[];
  }

  /** Store epoch seen when this entry was built, per peer (a store failure bumps its epoch). */
  get storeEpochs(): number[] {
    if (this.epochs_ === undefined) this.decodePeers();
    return this.epochs_ as number[];
  }

  /** Peers PD reported as down. */
  get downPeers(): Peer[] {
    return this.down_;
  }

  /** Do not extend the TTL on access (client-go needExpireAfterTTL, set when peers are down). */
  get expireAfterTtl(): boolean {
    return this.down_.length > 0;
  }

  /** The meta PD returned (peers include the filtered ones); rebuilt from the store when attached. */
  get meta(): Region {
    if (this.meta_ === undefined) {
      if (this.all_ === undefined) this.decodePeers();
      this.meta_ = {
        id: this.id,
        startKey: this.startKey,
        endKey: this.endKey,
        regionEpoch: { confVer: this.confVer, version: this.version },
        peers: this.all_ as Peer[],
        isInFlashback: this.flashbackTs_ !== undefined,
        flashbackStartTs: this.flashbackTs_ ?? 0n,
      };
    }
    return this.meta_;
  }

  // ---- mutable state ----

  /** Index in `peers` of the peer believed to be leader (client-go workTiKVIdx). */
  get leaderIdx(): number {
    const s = this.live();
    if (s >= 0) this.leader_ = (this.store as RegionStore).leader(s);
    return this.leader_;
  }

  set leaderIdx(v: number) {
    this.leader_ = v;
    const s = this.live();
    if (s >= 0) (this.store as RegionStore).setLeader(s, v);
  }

  /** Expiry time (ms, injected clock); refreshed on access. */
  get ttlAt(): number {
    const s = this.live();
    if (s >= 0) return (this.store as RegionStore).ttlAt(s);
    return this.slot >= 0 ? Number.NEGATIVE_INFINITY : this.ttl_;
  }

  set ttlAt(v: number) {
    this.ttl_ = v;
    const s = this.live();
    if (s >= 0) (this.store as RegionStore).setTtlAt(s, v);
  }

  /** Why it was invalidated; "ok" while valid. */
  get invalidReason(): InvalidReason {
    const s = this.live();
    const st = this.store;
    if (s >= 0) {
      this.reason_ = REASONS[(st as RegionStore).reason(s)] as InvalidReason;
      return this.reason_;
    }
    if (st === undefined) return this.reason_;
    // retired: the reason the slot had when freed while it is not reused yet, else the last seen
    if (st.gen(this.slot) === (this.gen + 1) >>> 0 && !st.isLive(this.slot)) {
      const r = REASONS[st.reason(this.slot)] as InvalidReason;
      if (r !== "ok") return r;
    }
    return this.reason_ === "ok" ? "other" : this.reason_;
  }

  set invalidReason(r: InvalidReason) {
    this.reason_ = r;
    const s = this.live();
    if (s >= 0) (this.store as RegionStore).setReason(s, reasonCode(r));
  }

  /** Reload from PD on next access, keep using it if PD fails (client-go needReloadOnAccess). */
  get needReload(): boolean {
    const s = this.live();
    if (s >= 0) this.reload_ = ((this.store as RegionStore).flags(s) & F_NEED_RELOAD) !== 0;
    return this.reload_;
  }

  set needReload(v: boolean) {
    this.reload_ = v;
    const s = this.live();
    if (s < 0) return;
    const st = this.store as RegionStore;
    const f = st.flags(s);
    st.setFlags(s, v ? f | F_NEED_RELOAD : f & ~F_NEED_RELOAD);
  }

  /**
   * The region's buckets (user keys), when known: loaded with the region from PD, inherited
   * across reloads and epoch changes, replaced by BucketVersionNotMatch. May be stale and reach
   * outside the region (client-go regionStore.buckets); see locateBucket in buckets.ts.
   */
  get buckets(): Buckets | undefined {
    const s = this.live();
    if (s >= 0) this.buckets_ = (this.store as RegionStore).buckets.get(s);
    return this.buckets_;
  }

  set buckets(b: Buckets | undefined) {
    this.buckets_ = b;
    const s = this.live();
    if (s < 0) return;
    const m = (this.store as RegionStore).buckets;
    if (b) m.set(s, b);
    else m.delete(s);
  }

  /** The index of the replica that last forwarded for this region, or -1 (client-go proxyTiKVIdx). */
  get proxyIdx(): number {
    const s = this.live();
    if (s >= 0) this.proxy_ = (this.store as RegionStore).proxy(s);
    return this.proxy_;
  }

  set proxyIdx(v: number) {
    this.proxy_ = v;
    const s = this.live();
    if (s >= 0) (this.store as RegionStore).setProxy(s, v);
  }

  // ---- derived ----

  /** The buckets' version, 0 when the region has none (client-go KeyLocation.GetBucketVersion). */
  get bucketVersion(): bigint {
    return this.buckets?.version ?? 0n;
  }

  /** The region's version id. */
  get verId(): RegionVerId {
    return { id: this.id, confVer: this.confVer, version: this.version };
  }

  /** The peer believed to be leader. */
  get leader(): Peer {
    return this.peers[this.leaderIdx] as Peer;
  }

  /** True until invalidated (a retired handle is invalid for good). */
  get isValid(): boolean {
    const s = this.live();
    if (s >= 0) return (this.store as RegionStore).reason(s) === 0;
    return this.slot < 0 && this.reason_ === "ok";
  }

  /** True when the latin1 key lies in the region. */
  containsL1(key: Latin1Key): boolean {
    return this.contains(Buffer.from(key, "latin1"));
  }

  /** True when `key` lies in the region (compared as bytes). */
  contains(key: Uint8Array): boolean {
    const end = this.endKey;
    return compareKeysShort(this.startKey, key) <= 0 && (end.length === 0 || compareKeysShort(key, end) < 0);
  }

  /** True when `key` is within (start, end] — the region an exclusive end key belongs to. */
  containsEndKeyL1(key: Latin1Key): boolean {
    const k = Buffer.from(key, "latin1");
    const end = this.endKey;
    return compareKeysShort(this.startKey, k) < 0 && (end.length === 0 || compareKeysShort(k, end) <= 0);
  }

  /** Index of the peer on `storeId`, or -1. */
  peerIndexOnStore(storeId: bigint): number {
    return this.peers.findIndex((p) => p.storeId === storeId);
  }

  /** Index of `peer` (same id and store), or -1. */
  peerIndex(peer: Peer): number {
    return this.peers.findIndex((p) => p.id === peer.id && p.storeId === peer.storeId);
  }

  /** Makes `peer` the leader; false when the peer is not in this region (client-go switchWorkLeaderToPeer). */
  switchLeaderToPeer(peer: Peer): boolean {
    const i = this.peerIndex(peer);
    if (i < 0) return false;
    this.leaderIdx = i;
    return true;
  }

  /** Marks the region invalid (the first reason wins, like client-go's CAS). */
  invalidate(reason: Exclude<InvalidReason, "ok">): void {
    if (this.invalidReason === "ok") {
      this.invalidReason = reason;
      this.ttlAt = Number.NEGATIVE_INFINITY;
    }
  }

  /** True when both describe the same region version. */
  sameVersion(v: RegionVerId): boolean {
    return this.id === v.id && this.confVer === v.confVer && this.version === v.version;
  }
}

const NO_META: Region = {
  id: 0n,
  startKey: EMPTY,
  endKey: EMPTY,
  regionEpoch: undefined,
  peers: NONE,
  isInFlashback: false,
  flashbackStartTs: 0n,
};

/** "id:confVer:version", for logs and maps. */
export function verIdString(v: RegionVerId): string {
  return `${v.id}:${v.confVer}:${v.version}`;
}
