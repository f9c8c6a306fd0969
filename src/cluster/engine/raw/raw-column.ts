/**
 * One raw column family: an ordered map from key to value with an optional
 * expiry, the in-memory stand-in for a RocksDB column family holding raw data.
 *
 * Layout, chosen by measurement (bench/engine/engine.bench.ts, 1M keys); it
 * favours point reads and overwrites over scans, which pay one hash lookup per
 * returned pair:
 * - `values`: index key -> value Buffer. Point reads are one hash lookup; a
 *   B+tree lookup over 1M keys cost several times more in cache misses, and an
 *   extra per-key entry object cost another ~30%.
 * - `expiries`: index key -> expiry, only for keys written with a TTL, so a
 *   column without TTL data (all of API V1) never consults it.
 * - `order`: B+tree of index key -> key Buffer, for scans. Overwriting an
 *   existing key touches only `values`.
 * Index keys are latin1 strings: each byte becomes one UTF-16 code unit, so
 * native string ordering equals bytewise key ordering (a cheap comparator).
 */
import { BTree } from "../mvcc/btree.js";

/** Expiry of a value written with a TTL. */
interface Expiry {
  /** Unix seconds at which the value stops being visible (TiKV's expire_ts). */
  readonly expireTs: bigint;
  /** `expireTs` as a number, for cheap comparisons. */
  readonly expireAt: number;
}

/** A scan visitor; return `false` to stop. */
export type PairVisitor = (key: Buffer, value: Buffer) => boolean;

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Converts key bytes to the index form (latin1 string). */
export function indexKey(key: Uint8Array): string {
  const buf = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return buf.toString("latin1");
}

/** An ordered raw key space. All bounds are index keys (see `indexKey`). */
export class RawColumn {
  private readonly values = new Map<string, Buffer>();
  private readonly expiries = new Map<string, Expiry>();
  private readonly order = new BTree<string, Buffer>(undefined, compareStrings);

  /** Number of stored keys, expired ones included. */
  get size(): number {
    return this.values.size;
  }

  /** True when `key`'s value has expired at the time `nowSec()` returns (called only if needed). */
  private expired(key: string, nowSec: () => number): boolean {
    if (this.expiries.size === 0) return false;
    const e = this.expiries.get(key);
    // TiKV: a value is expired once expire_ts <= current_ts.
    return e !== undefined && e.expireAt <= nowSec();
  }

  /** The visible value of `key`, or undefined when absent or expired. */
  get(key: string, nowSec: () => number): Buffer | undefined {
    const v = this.values.get(key);
    if (v === undefined || this.expired(key, nowSec)) return undefined;
    return v;
  }

  /**
   * TTL view of `key` for GetKeyTTL: undefined when absent or expired, else
   * its expire_ts (undefined expireTs = no TTL).
   */
  getExpiry(key: string, nowSec: () => number): { expireTs: bigint | undefined } | undefined {
    if (!this.values.has(key) || this.expired(key, nowSec)) return undefined;
    return { expireTs: this.expiries.get(key)?.expireTs };
  }

  /**
   * Stores `value` under `key` with an optional expiry, replacing any previous
   * value and expiry. `value` is stored as given (the caller copies it if it
   * may be mutated); a new key's bytes are copied for the scan index.
   */
  put(key: Uint8Array, value: Buffer, expireTs: bigint | undefined): void {
    const k = indexKey(key);
    const before = this.values.size;
    this.values.set(k, value);
    if (this.values.size !== before) this.order.set(k, Buffer.from(key), true);
    if (expireTs !== undefined) this.expiries.set(k, { expireTs, expireAt: Number(expireTs) });
    else if (this.expiries.size !== 0) this.expiries.delete(k);
  }

  /** Removes `key`; returns whether it existed. */
  delete(key: string): boolean {
    if (!this.values.delete(key)) return false;
    this.expiries.delete(key);
    this.order.delete(key);
    return true;
  }

  /** Removes every key in [start, end); `end` undefined = no upper bound. */
  deleteRange(start: string, end: string | undefined): number {
    let high = end;
    let includeHigh = false;
    if (high === undefined) {
      high = this.order.maxKey();
      if (high === undefined) return 0;
      includeHigh = true;
    }
    if (high < start || (!includeHigh && high === start)) return 0;
    const { values, expiries } = this;
    return this.order.editRange(start, high, includeHigh, (k) => {
      values.delete(k);
      expiries.delete(k);
      return { delete: true };
    }) as number;
  }

  /**
   * Visits pairs with lower <= key < upper in ascending order (`upper`
   * undefined = unbounded), skipping values expired at `nowSec`, until the
   * visitor returns false.
   */
  forward(lower: string, upper: string | undefined, nowSec: number, visit: PairVisitor): void {
    const now = () => nowSec;
    const pair: (string | Buffer)[] = [];
    for (const [k, key] of this.order.entries(lower, pair) as Iterable<[string, Buffer]>) {
      if (upper !== undefined && k >= upper) return;
      if (this.expired(k, now)) continue;
      if (!visit(key, this.values.get(k)!)) return;
    }
  }

  /**
   * Visits pairs with lower <= key < upper in descending order (`lower`
   * undefined = unbounded), skipping values expired at `nowSec`, until the
   * visitor returns false. `upper` is exclusive, like TiKV's reverse_seek.
   */
  reverse(upper: string, lower: string | undefined, nowSec: number, visit: PairVisitor): void {
    const now = () => nowSec;
    const pair: (string | Buffer)[] = [];
    for (const [k, key] of this.order.entriesReversed(upper, pair, true) as Iterable<[string, Buffer]>) {
      if (lower !== undefined && k < lower) return;
      if (this.expired(k, now)) continue;
      if (!visit(key, this.values.get(k)!)) return;
    }
  }
}
