// Iteration over a transaction's view: its buffer merged with the snapshot (client-go
// internal/unionstore/union_iter.go): on equal keys the buffer wins, and keys the buffer deletes
// are hidden.

import type { MemDb } from "../../kv/memdb/memdb.js";
import type { KvEntry } from "./snapshot-reader.js";

/**
 * Merges the buffer's entries of `[lower, upper)` with `snapshot` (the same range, same
 * direction), yielding each visible key once in order (descending with `reverse`).
 */
export async function* unionScan(
  buffer: MemDb,
  snapshot: AsyncIterator<KvEntry>,
  lower: Buffer,
  upper: Buffer,
  reverse: boolean,
): AsyncGenerator<KvEntry, void, undefined> {
  const lo = lower.length > 0 ? lower : undefined;
  const hi = upper.length > 0 ? upper : undefined;
  const mem = reverse ? buffer.iterateReverse(hi, lo) : buffer.iterate(lo, hi);
  // positive when a comes after b in the iteration order
  const order = (a: Buffer, b: Buffer) => (reverse ? -Buffer.compare(a, b) : Buffer.compare(a, b));
  let m = mem.next();
  let s = await snapshot.next();
  while (!m.done || !s.done) {
    if (!m.done && (s.done || order(m.value.key, s.value.key) <= 0)) {
      const e = m.value;
      if (!s.done && order(e.key, s.value.key) === 0) s = await snapshot.next();
      m = mem.next();
      if (e.value.length > 0) yield { key: e.key, value: e.value };
      continue;
    }
    const e = s.value as KvEntry;
    s = await snapshot.next();
    yield e;
  }
}
