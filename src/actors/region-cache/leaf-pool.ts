// The leaves of the region index, all in one Uint32Array (a fixed stride per leaf) plus one
// byte block per leaf for its keys. At a million regions a lookup is bound by cache misses, and
// every typed array touched costs one for its object and more for its data; a leaf here is one
// run of words: header (count, shared prefix length, the shared prefix itself), a summary of
// every 16th head, the heads (the 4 bytes of each key after the shared prefix), the values and
// the key offsets. A lookup reads the header, the summary, one group of heads and a value, and
// touches key bytes only when a key's head equals the probe's.

import { floorIn } from "./floor-search.js";

/** Keys per leaf before it splits. */
export const LEAF = 256;
const CAP = LEAF + 1;
const GROUP = 16;
const PREFIX_WORDS = 8;
const H_N = 0;
const H_CP = 1;
const H_PREFIX = 2;
const SUMS = H_PREFIX + PREFIX_WORDS;
const HEADS = SUMS + Math.ceil(CAP / GROUP);
const VALS = HEADS + CAP;
const OFFS = VALS + CAP;
const STRIDE = OFFS + CAP + 1;

// the 4 bytes of `key` (at `at`, `len` long) from `from` on, big endian, zero padded
function headOf(key: Uint8Array, at: number, len: number, from: number): number {
  let h = 0;
  for (let j = from; j < from + 4; j++) h = h * 256 + (j < len ? (key[at + j] as number) : 0);
  return h;
}

/** A pool of index leaves addressed by id. Not thread-safe (single event loop). */
export class LeafPool {
  private words = new Uint32Array(STRIDE * 16);
  private bytes: Uint8Array[] = [];
  private freeIds: number[] = [];
  private next = 0;

  /** A new empty leaf. */
  alloc(): number {
    const id = this.freeIds.pop() ?? this.next++;
    if ((id + 1) * STRIDE > this.words.length) {
      const w = new Uint32Array(Math.max((id + 1) * STRIDE, this.words.length * 2));
      w.set(this.words);
      this.words = w;
    }
    this.words.fill(0, id * STRIDE, (id + 1) * STRIDE);
    this.bytes[id] = new Uint8Array(LEAF * 16);
    return id;
  }

  /** Frees a leaf. */
  release(id: number): void {
    this.bytes[id] = EMPTY;
    this.freeIds.push(id);
  }

  /** Frees every leaf. */
  reset(): void {
    this.words = new Uint32Array(STRIDE * 16);
    this.bytes = [];
    this.freeIds = [];
    this.next = 0;
  }

  /** Number of keys in leaf `id`. */
  size(id: number): number {
    return this.words[id * STRIDE + H_N] as number;
  }

  /** Value at position `i`. */
  val(id: number, i: number): number {
    return this.words[id * STRIDE + VALS + i] as number;
  }

  /** Sets the value at position `i`. */
  setVal(id: number, i: number, v: number): void {
    this.words[id * STRIDE + VALS + i] = v;
  }

  /** Key `i` of leaf `id` (a view, valid until the leaf changes). */
  keyView(id: number, i: number): Uint8Array {
    const b = id * STRIDE + OFFS;
    return (this.bytes[id] as Uint8Array).subarray(
      this.words[b + i] as number,
      this.words[b + i + 1] as number,
    );
  }

  /** Compares key `i` of leaf `id` with `probe` as bytes. */
  compareAt(id: number, i: number, probe: Uint8Array): number {
    const b = id * STRIDE + OFFS;
    const s = this.words[b + i] as number;
    const klen = (this.words[b + i + 1] as number) - s;
    const bytes = this.bytes[id] as Uint8Array;
    const m = klen < probe.length ? klen : probe.length;
    for (let j = 0; j < m; j++) {
      const d = (bytes[s + j] as number) - (probe[j] as number);
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return klen === probe.length ? 0 : klen < probe.length ? -1 : 1;
  }

  /**
   * Index of the last key <= `probe` in leaf `id` (with `strict`, the last key < `probe`), -1
   * when none. Keys compare as bytes, a prefix before its extensions.
   */
  floor(id: number, probe: Uint8Array, strict: boolean): number {
    const w = this.words;
    const base = id * STRIDE;
    const n = w[base + H_N] as number;
    if (n === 0) return -1;
    const cp = w[base + H_CP] as number;
    const plen = probe.length;
    // does the probe share the prefix of every key? (else it is below or above them all)
    for (let j = 0; j < cp; j++) {
      if (j >= plen) return -1;
      const kb =
        j < PREFIX_WORDS * 4
          ? ((w[base + H_PREFIX + (j >> 2)] as number) >>> ((3 - (j & 3)) * 8)) & 0xff
          : ((this.bytes[id] as Uint8Array)[j] as number);
      const d = kb - (probe[j] as number);
      if (d !== 0) return d > 0 ? -1 : n - 1;
    }
    const ph = headOf(probe, 0, plen, cp);
    // keys before `a` have a smaller head (are below the probe), keys from `b` on a greater one
    const a = this.headBound(base, n, ph, false);
    const b = this.headBound(base, n, ph, true);
    return a === b ? a - 1 : this.floorIn(id, probe, strict, a - 1, b, cp);
  }

  // the first index whose head is >= h (with `above`, > h): summary first, then one group
  private headBound(base: number, n: number, h: number, above: boolean): number {
    const w = this.words;
    let g = 0;
    let hi = Math.ceil(n / GROUP);
    while (g < hi) {
      const mid = (g + hi) >>> 1;
      const v = w[base + SUMS + mid] as number;
      if (above ? v <= h : v < h) g = mid + 1;
      else hi = mid;
    }
    // groups before g start below the bound, group g (if any) at or above it
    if (g === 0) return 0;
    let lo = (g - 1) * GROUP + 1;
    hi = g * GROUP < n ? g * GROUP : n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = w[base + HEADS + mid] as number;
      if (above ? v <= h : v < h) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // floor among keys (lo, hi) of leaf `id`, knowing key lo (if any) is below the probe and key
  // hi above it, and that every key there shares `skip` bytes with the probe
  private floorIn(
    id: number,
    probe: Uint8Array,
    strict: boolean,
    lo: number,
    hi: number,
    skip: number,
  ): number {
    return floorIn(this.bytes[id] as Uint8Array, this.words, id * STRIDE + OFFS, probe, strict, lo, hi, skip);
  }

  /** Inserts `key` with `val` at position `i` of leaf `id` (at most LEAF + 1 keys). */
  insert(id: number, i: number, key: Uint8Array, val: number): void {
    const w = this.words;
    const base = id * STRIDE;
    const n = w[base + H_N] as number;
    const offs = base + OFFS;
    const len = key.length;
    const used = w[offs + n] as number;
    let bytes = this.bytes[id] as Uint8Array;
    if (used + len > bytes.length) {
      const grown = new Uint8Array(Math.max(used + len, Math.ceil(bytes.length * 1.25)));
      grown.set(bytes.subarray(0, used));
      this.bytes[id] = grown;
      bytes = grown;
    }
    const pos = w[offs + i] as number;
    bytes.copyWithin(pos + len, pos, used);
    bytes.set(key, pos);
    w.copyWithin(offs + i + 2, offs + i + 1, offs + n + 1);
    for (let j = i + 2; j <= n + 1; j++) w[offs + j] = (w[offs + j] as number) + len;
    w[offs + i + 1] = pos + len;
    w.copyWithin(base + VALS + i + 1, base + VALS + i, base + VALS + n);
    w[base + VALS + i] = val;
    w.copyWithin(base + HEADS + i + 1, base + HEADS + i, base + HEADS + n);
    w[base + HEADS + i] = headOf(bytes, pos, len, w[base + H_CP] as number);
    w[base + H_N] = n + 1;
    // a new first or last key may shorten the shared prefix
    if (i === 0 || i === n) this.refreshPrefix(id, false);
    this.refreshSums(id, i);
  }

  /** Removes the key at position `i` of leaf `id`. */
  remove(id: number, i: number): void {
    const w = this.words;
    const base = id * STRIDE;
    const n = w[base + H_N] as number;
    const offs = base + OFFS;
    const bytes = this.bytes[id] as Uint8Array;
    const s = w[offs + i] as number;
    const len = (w[offs + i + 1] as number) - s;
    bytes.copyWithin(s, s + len, w[offs + n] as number);
    w.copyWithin(offs + i + 1, offs + i + 2, offs + n + 1);
    for (let j = i + 1; j < n; j++) w[offs + j] = (w[offs + j] as number) - len;
    w.copyWithin(base + VALS + i, base + VALS + i + 1, base + VALS + n);
    w.copyWithin(base + HEADS + i, base + HEADS + i + 1, base + HEADS + n);
    w[base + H_N] = n - 1;
    if (i === 0 || i === n - 1) this.refreshPrefix(id, false);
    this.refreshSums(id, i);
  }

  /** Moves the keys of leaf `id` from position `from` on into a new leaf, returned. */
  splitOff(id: number, from: number): number {
    const out = this.alloc();
    const w = this.words;
    const base = id * STRIDE;
    const ob = out * STRIDE;
    const n = w[base + H_N] as number;
    const start = w[base + OFFS + from] as number;
    const end = w[base + OFFS + n] as number;
    const src = this.bytes[id] as Uint8Array;
    const dst = new Uint8Array(Math.max(Math.ceil((end - start) * 1.25), LEAF * 16));
    dst.set(src.subarray(start, end), 0);
    this.bytes[out] = dst;
    for (let j = from; j <= n; j++) w[ob + OFFS + j - from] = (w[base + OFFS + j] as number) - start;
    w.copyWithin(ob + VALS, base + VALS + from, base + VALS + n);
    w[ob + H_N] = n - from;
    w[base + H_N] = from;
    this.refreshPrefix(out, true);
    this.refreshPrefix(id, true);
    return out;
  }

  /** Appends every key of leaf `other` (all greater) to leaf `id`; together at most LEAF + 1. */
  append(id: number, other: number): void {
    const w = this.words;
    const base = id * STRIDE;
    const ob = other * STRIDE;
    const n = w[base + H_N] as number;
    const m = w[ob + H_N] as number;
    const used = w[base + OFFS + n] as number;
    const add = w[ob + OFFS + m] as number;
    let bytes = this.bytes[id] as Uint8Array;
    if (used + add > bytes.length) {
      const grown = new Uint8Array(Math.ceil((used + add) * 1.25));
      grown.set(bytes.subarray(0, used));
      this.bytes[id] = grown;
      bytes = grown;
    }
    bytes.set((this.bytes[other] as Uint8Array).subarray(0, add), used);
    for (let j = 1; j <= m; j++) w[base + OFFS + n + j] = used + (w[ob + OFFS + j] as number);
    w.copyWithin(base + VALS + n, ob + VALS, ob + VALS + m);
    w[base + H_N] = n + m;
    this.refreshPrefix(id, true);
  }

  // recomputes the shared prefix (first vs last key) and, when it changed, every head
  private refreshPrefix(id: number, force: boolean): void {
    const w = this.words;
    const base = id * STRIDE;
    const n = w[base + H_N] as number;
    const offs = base + OFFS;
    const bytes = this.bytes[id] as Uint8Array;
    let cp = 0;
    if (n > 0) {
      const fl = w[offs + 1] as number;
      const l = w[offs + n - 1] as number;
      const ll = (w[offs + n] as number) - l;
      const m = fl < ll ? fl : ll;
      while (cp < m && bytes[cp] === bytes[l + cp]) cp++;
    }
    if (cp === w[base + H_CP] && !force) return;
    w[base + H_CP] = cp;
    for (let k = 0; k < PREFIX_WORDS; k++) w[base + H_PREFIX + k] = headOf(bytes, 0, cp, k * 4);
    for (let i = 0; i < n; i++) {
      const s = w[offs + i] as number;
      w[base + HEADS + i] = headOf(bytes, s, (w[offs + i + 1] as number) - s, cp);
    }
    this.refreshSums(id, 0);
  }

  // refreshes the summary of leaf `id` from the group of index `from` on
  private refreshSums(id: number, from: number): void {
    const w = this.words;
    const base = id * STRIDE;
    const n = w[base + H_N] as number;
    for (let k = Math.floor(from / GROUP), i = k * GROUP; i < n; k++, i += GROUP)
      w[base + SUMS + k] = w[base + HEADS + i] as number;
  }
}

const EMPTY = new Uint8Array(0);
