// A sorted list of byte keys packed into one Uint8Array (offsets in a Uint32Array): the
// separators of the region index. Keys are compared as bytes in place, never as strings or
// Buffers. Lookups are bound by cache misses at a million keys, so the list also
// keeps, per key, the 4 bytes that follow the prefix all its keys share ("heads", one small
// Uint32Array): a binary search over the heads settles most of a lookup in a few cache lines, and
// only keys whose head equals the probe's are compared in full. Every 16th head is copied into a
// summary of one cache line, so the head search reads that line and one group of 16 heads.

import { floorIn } from "./floor-search.js";

// the 4 bytes of `key` (at `at`, `len` long) from `from` on, big endian, zero padded
/** Heads per summary entry. */
const GROUP = 16;

function headOf(key: Uint8Array, at: number, len: number, from: number): number {
  let h = 0;
  for (let j = from; j < from + 4; j++) h = h * 256 + (j < len ? (key[at + j] as number) : 0);
  return h;
}

/** A growable sorted key list. Not thread-safe (single event loop). */
export class KeyList {
  /** Number of keys. */
  n = 0;
  /** The keys, back to back: key i is bytes[offs[i], offs[i + 1]). */
  bytes: Uint8Array;
  /** n + 1 offsets into `bytes`. */
  offs: Uint32Array;
  /** Per key: its 4 bytes after the shared prefix (big endian, zero padded). */
  heads: Uint32Array;
  /** heads[GROUP * k], per group k. */
  sums: Uint32Array;
  /** Length of the prefix every key shares (that of the first and last key). */
  cp = 0;

  constructor(capacity = 16, byteCapacity = capacity * 24) {
    this.bytes = new Uint8Array(byteCapacity);
    this.offs = new Uint32Array(capacity + 1);
    this.heads = new Uint32Array(capacity);
    this.sums = new Uint32Array(Math.ceil(capacity / GROUP));
  }

  /**
   * Index of the last key <= `probe` (with `strict`, the last key < `probe`), -1 when none.
   * Keys compare as bytes, a prefix before its extensions.
   */
  floor(probe: Uint8Array, strict: boolean): number {
    const n = this.n;
    if (n === 0) return -1;
    const cp = this.cp;
    const bytes = this.bytes;
    const plen = probe.length;
    const first = this.offs[0] as number;
    for (let j = 0; j < cp; j++) {
      // the probe is a proper prefix of every key, or leaves the shared prefix below or above it
      if (j >= plen) return -1;
      const d = (bytes[first + j] as number) - (probe[j] as number);
      if (d !== 0) return d > 0 ? -1 : n - 1;
    }
    const ph = headOf(probe, 0, plen, cp);
    // keys before `a` have a smaller head (are below the probe), keys from `b` on a greater one
    const a = this.headBound(ph, false);
    const b = this.headBound(ph, true);
    return a === b ? a - 1 : this.floorIn(probe, strict, a - 1, b, cp);
  }

  // the first index whose head is >= h (with `above`, > h): summary first, then one group
  private headBound(h: number, above: boolean): number {
    const sums = this.sums;
    const groups = Math.ceil(this.n / GROUP);
    let g = 0;
    let hi = groups;
    while (g < hi) {
      const mid = (g + hi) >>> 1;
      const v = sums[mid] as number;
      if (above ? v <= h : v < h) g = mid + 1;
      else hi = mid;
    }
    // groups before g start below the bound, group g (if any) at or above it
    if (g === 0) return 0;
    const heads = this.heads;
    let lo = (g - 1) * GROUP + 1;
    hi = g * GROUP < this.n ? g * GROUP : this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = heads[mid] as number;
      if (above ? v <= h : v < h) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // refreshes the summary from the group of index `from` on
  private refreshSums(from: number): void {
    const heads = this.heads;
    const sums = this.sums;
    for (let k = Math.floor(from / GROUP), i = k * GROUP; i < this.n; k++, i += GROUP)
      sums[k] = heads[i] as number;
  }

  // floor among keys (lo, hi), knowing key lo (if any) is below the probe and key hi above it,
  // and that every key there shares `skip` bytes with the probe
  private floorIn(probe: Uint8Array, strict: boolean, lo: number, hi: number, skip: number): number {
    return floorIn(this.bytes, this.offs, 0, probe, strict, lo, hi, skip);
  }

  /** Inserts `key` at position `i`. */
  insert(i: number, key: Uint8Array): void {
    const len = key.length;
    const n = this.n;
    this.ensure(n + 1, (this.offs[n] as number) + len);
    const offs = this.offs;
    const pos = offs[i] as number;
    this.bytes.copyWithin(pos + len, pos, offs[n] as number);
    this.bytes.set(key, pos);
    offs.copyWithin(i + 2, i + 1, n + 1);
    for (let j = i + 2; j <= n + 1; j++) offs[j] = (offs[j] as number) + len;
    offs[i + 1] = pos + len;
    this.heads.copyWithin(i + 1, i, n);
    this.n = n + 1;
    this.heads[i] = headOf(this.bytes, pos, len, this.cp);
    // a new first or last key may shorten the shared prefix
    if (i === 0 || i === n) this.refreshHeads();
    this.refreshSums(i);
  }

  /** Removes the key at position `i`. */
  remove(i: number): void {
    const n = this.n;
    const offs = this.offs;
    const s = offs[i] as number;
    const len = (offs[i + 1] as number) - s;
    this.bytes.copyWithin(s, s + len, offs[n] as number);
    offs.copyWithin(i + 1, i + 2, n + 1);
    for (let j = i + 1; j < n; j++) offs[j] = (offs[j] as number) - len;
    this.heads.copyWithin(i, i + 1, n);
    this.n = n - 1;
    if (i === 0 || i === n - 1) this.refreshHeads();
    this.refreshSums(i);
  }

  // recomputes the shared prefix (first vs last key) and, when it changed, every head
  private refreshHeads(): void {
    const n = this.n;
    const offs = this.offs;
    const bytes = this.bytes;
    let cp = 0;
    if (n > 0) {
      const f = offs[0] as number;
      const fl = (offs[1] as number) - f;
      const l = offs[n - 1] as number;
      const ll = (offs[n] as number) - l;
      const m = fl < ll ? fl : ll;
      while (cp < m && bytes[f + cp] === bytes[l + cp]) cp++;
    }
    if (cp === this.cp) return;
    this.cp = cp;
    for (let i = 0; i < n; i++) {
      const s = offs[i] as number;
      this.heads[i] = headOf(bytes, s, (offs[i + 1] as number) - s, cp);
    }
    this.refreshSums(0);
  }

  private ensure(count: number, byteCount: number): void {
    if (count > this.heads.length) {
      const cap = Math.max(count, this.heads.length * 2);
      const offs = new Uint32Array(cap + 1);
      offs.set(this.offs.subarray(0, this.n + 1));
      this.offs = offs;
      const heads = new Uint32Array(cap);
      heads.set(this.heads.subarray(0, this.n));
      this.heads = heads;
      const sums = new Uint32Array(Math.ceil(cap / GROUP));
      sums.set(this.sums);
      this.sums = sums;
    }
    if (byteCount > this.bytes.length) {
      const bytes = new Uint8Array(Math.max(byteCount, this.bytes.length * 2));
      bytes.set(this.bytes.subarray(0, this.offs[this.n] as number));
      this.bytes = bytes;
    }
  }
}
