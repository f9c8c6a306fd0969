// etcd's key-range forms (RangeRequest, DeleteRangeRequest, Compare, WatchCreateRequest): an
// empty range_end means the single key, range_end "\0" every key >= key, otherwise the
// half-open interval [key, range_end). Keys are compared byte-wise; internally they are
// latin1 strings, whose code-unit order is byte order.

/** A key interval in internal (latin1) form; `end` undefined = unbounded above. */
export type KeyRange =
  | { kind: "single"; key: string }
  | { kind: "interval"; start: string; end: string | undefined };

/** Internal form of key bytes. */
export const keyString = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

/** Key bytes of an internal key. */
export const keyBytes = (k: string): Buffer => Buffer.from(k, "latin1");

/** Reads a key and range_end pair as etcd does. */
export function keyRange(key: Uint8Array, rangeEnd: Uint8Array): KeyRange {
  const start = keyString(key);
  if (rangeEnd.length === 0) return { kind: "single", key: start };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: "interval", start, end: undefined };
  return { kind: "interval", start, end: keyString(rangeEnd) };
}

/** Whether `k` lies in `r`. */
export function inRange(r: KeyRange, k: string): boolean {
  if (r.kind === "single") return k === r.key;
  return k >= r.start && (r.end === undefined || k < r.end);
}

/** Whether two ranges share a key (used for etcd's duplicate-key check in txns). */
export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  if (a.kind === "single") return inRange(b, a.key);
  if (b.kind === "single") return inRange(a, b.key);
  const aBeforeB = a.end !== undefined && a.end <= b.start;
  const bBeforeA = b.end !== undefined && b.end <= a.start;
  return !aBeforeB && !bBeforeA;
}
