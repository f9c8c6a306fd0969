// Compact storage of the cached regions: struct-of-arrays in typed arrays indexed by slot, so a
// cached region costs a few hundred bytes outside the JS heap instead of a graph of objects
// (decoded metapb.Region, Buffers, Peer objects, bigints) the GC has to trace.
//
// Each slot holds the mutable state of one region (TTL, leader index, invalid reason, flags, the
// last proxy) in 24 bytes of one typed array (one cache line for a lookup: lookups at a million
// regions are bound by cache misses), and points to an immutable blob in a byte arena: ids, epoch,
// start/end keys and every peer PD reported. The arena is a list of 1 MiB chunks (growing never
// copies); blobs are appended and never overwritten in place: a freed slot leaves dead bytes, a
// chunk whose blobs all died is dropped, and one mostly dead is emptied by moving its live blobs
// to the current chunk. A CachedRegion handle that captured (chunk, offset) so keeps reading its
// own region after its slot was freed and reused. Rare data (down peers, buckets, flashback
// fields) lives in sparse Maps.

import type { Buckets, Peer } from "../../proto/metapb.js";

/** Why a cached region was invalidated (client-go InvalidReason). */
export type InvalidReason =
  | "ok"
  | "noLeader"
  | "regionNotFound"
  | "epochNotMatch"
  | "storeNotFound"
  | "other";

/** Invalid reasons by their stored code (0 = "ok"). */
export const REASONS: readonly InvalidReason[] = [
  "ok",
  "noLeader",
  "regionNotFound",
  "epochNotMatch",
  "storeNotFound",
  "other",
];

/** The stored code of a reason. */
export function reasonCode(r: InvalidReason): number {
  return REASONS.indexOf(r);
}

// blob layout (little endian): id u64, confVer u64, version u64, startLen u32, endLen u32,
// peerCount u8, then start key, end key, and per peer: id u64, storeId u64, epoch u32, role u8, bits u8
const B_CONF = 8;
const B_VER = 16;
const B_SLEN = 24;
const B_ELEN = 28;
const B_PEERS = 32;
/** Size of a blob's header; the start key follows it. */
const BLOB_HEADER = 33;
/** Bytes per encoded peer. */
const PEER_BYTES = 22;
/** Peer bits: usable (kept in the cached region's peer list). */
const PEER_USABLE = 1;
/** Peer bits: witness. */
const PEER_WITNESS = 2;

// slot flags: live (holds a region)
const F_LIVE = 1;
/** Slot flag: reload from PD on next access (client-go needReloadOnAccess). */
export const F_NEED_RELOAD = 2;
/** Slot flag: do not extend the TTL on access (client-go needExpireAfterTTL). */
export const F_EXPIRE_AFTER_TTL = 4;

/** Everything needed to store one region. */
export interface RegionRecord {
  id: bigint;
  confVer: bigint;
  version: bigint;
  startKey: Uint8Array;
  endKey: Uint8Array;
  /** Every peer PD reported, in its order. */
  allPeers: readonly Peer[];
  /** Per entry of `allPeers`: the store epoch when usable, -1 when filtered out. */
  epochs: readonly number[];
  leaderIdx: number;
  ttlAt: number;
  reason: number;
  needReload: boolean;
  expireAfterTtl: boolean;
  downPeers: Peer[];
  buckets: Buckets | undefined;
  isInFlashback: boolean;
  flashbackStartTs: bigint;
}

function lowWord(id: bigint): number {
  return Number(BigInt.asUintN(32, id));
}

function highWord(id: bigint): number {
  return Number(BigInt.asUintN(32, id >> 32n));
}

function hashWords(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 15;
  return Math.imul(h, 0xc2b2ae35) >>> 0;
}

// per slot, 8 words (32 bytes: never across two cache lines): ttlAt (f64), gen, blob offset (the
// next free slot while free), state (reason | flags << 8 | leader << 16), proxy + 1, unused
const W = 8;
const W_GEN = 2;
const W_OFF = 3;
const W_STATE = 4;
const W_PROXY = 5;

const CHUNK_BITS = 20;
const CHUNK = 1 << CHUNK_BITS;
const LOCAL = CHUNK - 1;
const NO_CHUNK = Buffer.alloc(0);

/** The slot store. Not thread-safe (single event loop). */
export class RegionStore {
  /** Live slots. */
  size = 0;
  private words: Uint32Array;
  private f64: Float64Array;
  /** The arena chunks; chunk k holds global offsets [k * CHUNK, (k + 1) * CHUNK). */
  private chunks: Buffer[] = [];
  private chunkUsed: number[] = [];
  private chunkDead: number[] = [];
  private cur = -1;
  /** Bumped whenever live blobs move (handles onto live slots then re-read their position). */
  moves = 0;
  // free slots, linked through their offset word (-1 ends the list)
  private freeHead = -1;
  private capacity: number;
  // open addressing id -> slot + 1 (0 empty, -1 deleted)
  private idTable: Int32Array;
  private idHashes: Uint32Array;
  private idFilled = 0;
  /** Peers PD reported as down, per slot (rare). */
  readonly downPeers = new Map<number, Peer[]>();
  /** Buckets per slot (rare). */
  readonly buckets = new Map<number, Buckets>();
  /** Flashback start ts per slot of regions in flashback (rare). */
  readonly flashback = new Map<number, bigint>();

  constructor(capacity = 1024) {
    this.capacity = capacity;
    this.words = new Uint32Array(capacity * W);
    this.f64 = new Float64Array(this.words.buffer);
    this.linkFree(0, capacity);
    this.idTable = new Int32Array(capacity * 2);
    this.idHashes = new Uint32Array(capacity * 2);
  }

  /** True when `slot` holds a region. */
  isLive(slot: number): boolean {
    return (this.flags(slot) & F_LIVE) !== 0;
  }

  // ---- per-slot state ----

  /** Bumped when the slot is freed: a handle is attached while its gen matches. */
  gen(slot: number): number {
    return this.words[slot * W + W_GEN] as number;
  }

  /** Blob offset of the slot. */
  off(slot: number): number {
    return this.words[slot * W + W_OFF] as number;
  }

  /** Expiry time (ms). */
  ttlAt(slot: number): number {
    return this.f64[(slot * W) >> 1] as number;
  }

  setTtlAt(slot: number, v: number): void {
    this.f64[(slot * W) >> 1] = v;
  }

  /** Invalid reason code (0 = ok). */
  reason(slot: number): number {
    return (this.words[slot * W + W_STATE] as number) & 0xff;
  }

  setReason(slot: number, code: number): void {
    const i = slot * W + W_STATE;
    this.words[i] = ((this.words[i] as number) & ~0xff) | code;
  }

  /** F_* flags. */
  flags(slot: number): number {
    return ((this.words[slot * W + W_STATE] as number) >>> 8) & 0xff;
  }

  setFlags(slot: number, f: number): void {
    const i = slot * W + W_STATE;
    this.words[i] = ((this.words[i] as number) & ~0xff00) | (f << 8);
  }

  /** Index of the leader among the usable peers. */
  leader(slot: number): number {
    return (this.words[slot * W + W_STATE] as number) >>> 16;
  }

  setLeader(slot: number, idx: number): void {
    const i = slot * W + W_STATE;
    this.words[i] = ((this.words[i] as number) & 0xffff) | (idx << 16);
  }

  /** Index of the peer that last forwarded for the region, -1 for none (client-go proxyTiKVIdx). */
  proxy(slot: number): number {
    return (this.words[slot * W + W_PROXY] as number) - 1;
  }

  setProxy(slot: number, idx: number): void {
    this.words[slot * W + W_PROXY] = idx + 1;
  }

  /** Stores a region in a free slot and returns the slot. */
  add(r: RegionRecord): number {
    if (r.allPeers.length > 255) throw new RangeError(`region ${r.id} has more than 255 peers`);
    if (this.freeHead < 0) this.grow();
    const slot = this.freeHead;
    this.freeHead = this.words[slot * W + W_OFF] | 0;
    const size = BLOB_HEADER + r.startKey.length + r.endKey.length + r.allPeers.length * PEER_BYTES;
    const global = this.reserve(size);
    const a = this.chunks[global >>> CHUNK_BITS] as Buffer;
    const at = global & LOCAL;
    a.writeBigUInt64LE(BigInt.asUintN(64, r.id), at);
    a.writeBigUInt64LE(BigInt.asUintN(64, r.confVer), at + B_CONF);
    a.writeBigUInt64LE(BigInt.asUintN(64, r.version), at + B_VER);
    a.writeUInt32LE(r.startKey.length, at + B_SLEN);
    a.writeUInt32LE(r.endKey.length, at + B_ELEN);
    a[at + B_PEERS] = r.allPeers.length;
    let p = at + BLOB_HEADER;
    a.set(r.startKey, p);
    p += r.startKey.length;
    a.set(r.endKey, p);
    p += r.endKey.length;
    for (let i = 0; i < r.allPeers.length; i++) {
      const peer = r.allPeers[i] as Peer;
      const epoch = r.epochs[i] ?? -1;
      a.writeBigUInt64LE(BigInt.asUintN(64, peer.id), p);
      a.writeBigUInt64LE(BigInt.asUintN(64, peer.storeId), p + 8);
      a.writeUInt32LE(epoch < 0 ? 0 : epoch >>> 0, p + 16);
      a[p + 20] = peer.role;
      a[p + 21] = (epoch >= 0 ? PEER_USABLE : 0) | (peer.isWitness ? PEER_WITNESS : 0);
      p += PEER_BYTES;
    }
    this.chunkUsed[this.cur] = at + size;
    const w = slot * W;
    this.words[w + W_OFF] = global;
    this.f64[w >> 1] = r.ttlAt;
    const flags = F_LIVE | (r.needReload ? F_NEED_RELOAD : 0) | (r.expireAfterTtl ? F_EXPIRE_AFTER_TTL : 0);
    this.words[w + W_STATE] = r.reason | (flags << 8) | (r.leaderIdx << 16);
    this.words[w + W_PROXY] = 0;
    if (r.downPeers.length > 0) this.downPeers.set(slot, r.downPeers);
    if (r.buckets) this.buckets.set(slot, r.buckets);
    if (r.isInFlashback) this.flashback.set(slot, r.flashbackStartTs);
    this.size++;
    return slot;
  }

  /** Frees `slot`: handles onto it become retired, its blob becomes dead bytes. */
  release(slot: number): void {
    if (!this.isLive(slot)) return;
    if (this.idGet(this.idLo(slot), this.idHi(slot)) === slot) this.idDelete(slot);
    const k = this.off(slot) >>> CHUNK_BITS;
    this.chunkDead[k] = (this.chunkDead[k] as number) + this.blobSize(slot);
    this.setFlags(slot, 0);
    const w = slot * W + W_GEN;
    this.words[w] = ((this.words[w] as number) + 1) >>> 0;
    this.downPeers.delete(slot);
    this.buckets.delete(slot);
    this.flashback.delete(slot);
    this.words[slot * W + W_OFF] = this.freeHead;
    this.freeHead = slot;
    this.size--;
    // a chunk of dead blobs only is dropped (handles still holding it keep it alive)
    if (k !== this.cur && this.chunkDead[k] === this.chunkUsed[k]) this.dropChunk(k);
  }

  private dropChunk(k: number): void {
    this.chunks[k] = NO_CHUNK;
    this.chunkUsed[k] = 0;
    this.chunkDead[k] = 0;
  }

  /** Frees every slot. */
  releaseAll(): void {
    for (let s = 0; s < this.capacity; s++) if (this.isLive(s)) this.release(s);
  }

  // ---- immutable fields ----

  /** The arena chunk holding the blob of a live slot. */
  chunk(slot: number): Buffer {
    return this.chunks[this.off(slot) >>> CHUNK_BITS] as Buffer;
  }

  /** The blob's offset in its chunk. */
  local(slot: number): number {
    return this.off(slot) & LOCAL;
  }

  /** Region id of a live slot. */
  id(slot: number): bigint {
    return blob.id(this.chunk(slot), this.local(slot));
  }

  /** Epoch version of a live slot. */
  version(slot: number): bigint {
    return blob.version(this.chunk(slot), this.local(slot));
  }

  /** Epoch conf version of a live slot. */
  confVer(slot: number): bigint {
    return blob.confVer(this.chunk(slot), this.local(slot));
  }

  /** Length of the end key of a live slot (0 = +inf). */
  endLen(slot: number): number {
    return this.chunk(slot).readUInt32LE(this.local(slot) + B_ELEN);
  }

  /** Compares `key` with the end key of a live slot as bytes; an empty end key is +inf. */
  compareToEnd(key: Uint8Array, slot: number): number {
    const c = this.chunk(slot);
    const o = this.local(slot);
    const len = c.readUInt32LE(o + B_ELEN);
    if (len === 0) return -1;
    return compareWithArena(key, c, o + BLOB_HEADER + c.readUInt32LE(o + B_SLEN), len);
  }

  /** The start key of a live slot (a view into the arena). */
  startKeyView(slot: number): Buffer {
    const c = this.chunk(slot);
    const at = this.local(slot) + BLOB_HEADER;
    return c.subarray(at, at + c.readUInt32LE(at - BLOB_HEADER + B_SLEN));
  }

  // ---- id lookups ----

  /** The live slot of region `id` recorded by {@link setById}, or -1. */
  byId(id: bigint): number {
    return this.idGet(lowWord(id), highWord(id));
  }

  /** Makes `slot` the one {@link byId} answers for its region id. */
  setById(slot: number): void {
    const lo = this.idLo(slot);
    const hi = this.idHi(slot);
    const h = hashWords(lo, hi);
    const t = this.idTable;
    const hs = this.idHashes;
    const mask = t.length - 1;
    let firstDeleted = -1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = t[i] as number;
      if (v === 0) {
        const at = firstDeleted >= 0 ? firstDeleted : i;
        if (firstDeleted < 0) this.idFilled++;
        t[at] = slot + 1;
        hs[at] = h;
        break;
      }
      if (v < 0) {
        if (firstDeleted < 0) firstDeleted = i;
        continue;
      }
      if (hs[i] === h && this.idLo(v - 1) === lo && this.idHi(v - 1) === hi) {
        t[i] = slot + 1;
        break;
      }
    }
    if (this.idFilled * 2 > t.length) this.rehash(t.length);
  }

  /** Forgets the id entry of `slot` (when it is the one recorded). */
  idDelete(slot: number): void {
    const t = this.idTable;
    const mask = t.length - 1;
    for (let i = hashWords(this.idLo(slot), this.idHi(slot)) & mask; ; i = (i + 1) & mask) {
      const v = t[i] as number;
      if (v === 0) return;
      if (v === slot + 1) {
        t[i] = -1;
        return;
      }
    }
  }

  private idGet(lo: number, hi: number): number {
    const h = hashWords(lo, hi);
    const t = this.idTable;
    const hs = this.idHashes;
    const mask = t.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = t[i] as number;
      if (v === 0) return -1;
      if (v > 0 && hs[i] === h && this.idLo(v - 1) === lo && this.idHi(v - 1) === hi) return v - 1;
    }
  }

  private idLo(slot: number): number {
    return this.chunk(slot).readUInt32LE(this.local(slot));
  }

  private idHi(slot: number): number {
    return this.chunk(slot).readUInt32LE(this.local(slot) + 4);
  }

  // rebuilds the id table from the kept hashes (no arena reads: a rehash at a million regions stays short)
  private rehash(size: number): void {
    const old = this.idTable;
    const oldHashes = this.idHashes;
    const t = new Int32Array(size);
    const hs = new Uint32Array(size);
    const mask = size - 1;
    let filled = 0;
    for (let j = 0; j < old.length; j++) {
      const v = old[j] as number;
      if (v <= 0) continue;
      const h = oldHashes[j] as number;
      let i = h & mask;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = v;
      hs[i] = h;
      filled++;
    }
    this.idTable = t;
    this.idHashes = hs;
    this.idFilled = filled;
  }

  // ---- growth ----

  private blobSize(slot: number): number {
    const o = this.local(slot);
    const a = this.chunk(slot);
    return (
      BLOB_HEADER +
      a.readUInt32LE(o + B_SLEN) +
      a.readUInt32LE(o + B_ELEN) +
      (a[o + B_PEERS] as number) * PEER_BYTES
    );
  }

  // the global offset of `size` free bytes in the current chunk, starting a new one when full
  private reserve(size: number): number {
    const c = this.cur;
    if (c >= 0 && (this.chunkUsed[c] as number) + size <= (this.chunks[c] as Buffer).length)
      return c * CHUNK + (this.chunkUsed[c] as number);
    if (size > CHUNK) throw new RangeError(`region record of ${size} bytes exceeds ${CHUNK}`);
    // reuse a dropped chunk's index, else append one
    let k = this.chunks.indexOf(NO_CHUNK);
    if (k < 0) k = this.chunks.length;
    if (k >= 4096) throw new RangeError("region arena full (4 GiB)");
    this.chunks[k] = Buffer.allocUnsafeSlow(CHUNK);
    this.chunkUsed[k] = 0;
    this.chunkDead[k] = 0;
    this.cur = k;
    this.compactOne(k);
    return k * CHUNK + (this.chunkUsed[k] as number);
  }

  // moves the live blobs of the most dead chunk (over half dead) into chunk `into`
  private compactOne(into: number): void {
    let worst = -1;
    for (let k = 0; k < this.chunks.length; k++) {
      const used = this.chunkUsed[k] as number;
      if (k === into || used === 0 || (this.chunkDead[k] as number) * 2 < used) continue;
      if (worst < 0 || (this.chunkDead[k] as number) > (this.chunkDead[worst] as number)) worst = k;
    }
    if (worst < 0) return;
    const from = this.chunks[worst] as Buffer;
    const to = this.chunks[into] as Buffer;
    let p = this.chunkUsed[into] as number;
    for (let s = 0; s < this.capacity; s++) {
      if (!this.isLive(s) || this.off(s) >>> CHUNK_BITS !== worst) continue;
      const o = this.local(s);
      const n = this.blobSize(s);
      from.copy(to, p, o, o + n);
      this.words[s * W + W_OFF] = into * CHUNK + p;
      p += n;
    }
    this.chunkUsed[into] = p;
    this.dropChunk(worst);
    this.moves++;
  }

  // puts slots [from, to) on the free list, lowest first
  private linkFree(from: number, to: number): void {
    for (let s = to - 1; s >= from; s--) {
      this.words[s * W + W_OFF] = this.freeHead;
      this.freeHead = s;
    }
  }

  private grow(): void {
    const n = this.capacity;
    const m = n * 2;
    const words = new Uint32Array(m * W);
    words.set(this.words);
    this.words = words;
    this.f64 = new Float64Array(words.buffer);
    this.linkFree(n, m);
    this.capacity = m;
    if (this.idTable.length < m * 2) this.rehash(m * 2);
  }
}

/** Compares `key` with `len` bytes of `arena` at `at`, as bytes (shorter prefix first). */
function compareWithArena(key: Uint8Array, arena: Uint8Array, at: number, len: number): number {
  const n = key.length < len ? key.length : len;
  for (let i = 0; i < n; i++) {
    const d = (key[i] as number) - (arena[at + i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return key.length === len ? 0 : key.length < len ? -1 : 1;
}

/** Decodes the peers of a blob: every peer, and which of them are usable with their epochs. */
export function decodePeers(arena: Buffer, off: number): { all: Peer[]; usable: Peer[]; epochs: number[] } {
  const n = arena[off + B_PEERS] as number;
  let p = off + BLOB_HEADER + arena.readUInt32LE(off + B_SLEN) + arena.readUInt32LE(off + B_ELEN);
  const all: Peer[] = [];
  const usable: Peer[] = [];
  const epochs: number[] = [];
  for (let i = 0; i < n; i++, p += PEER_BYTES) {
    const bits = arena[p + 21] as number;
    const peer: Peer = {
      id: arena.readBigUInt64LE(p),
      storeId: arena.readBigUInt64LE(p + 8),
      role: arena[p + 20] as number,
      isWitness: (bits & PEER_WITNESS) !== 0,
    };
    all.push(peer);
    if (bits & PEER_USABLE) {
      usable.push(peer);
      epochs.push(arena.readUInt32LE(p + 16));
    }
  }
  return { all, usable, epochs };
}

/** Blob field readers for handles holding (arena, offset). */
export const blob = {
  id: (a: Buffer, o: number): bigint => a.readBigUInt64LE(o),
  confVer: (a: Buffer, o: number): bigint => a.readBigUInt64LE(o + B_CONF),
  version: (a: Buffer, o: number): bigint => a.readBigUInt64LE(o + B_VER),
  startKey: (a: Buffer, o: number): Buffer => {
    const s = o + BLOB_HEADER;
    return Buffer.from(a.subarray(s, s + a.readUInt32LE(o + B_SLEN)));
  },
  endKey: (a: Buffer, o: number): Buffer => {
    const s = o + BLOB_HEADER + a.readUInt32LE(o + B_SLEN);
    return Buffer.from(a.subarray(s, s + a.readUInt32LE(o + B_ELEN)));
  },
};
