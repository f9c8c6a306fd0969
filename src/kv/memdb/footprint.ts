// The buffer's memory estimate (`MemDb.mem`). client-go reports its arenas' capacity; we have no
// arena, so we count what we hold: per key an entry object, its B+tree slot, the key as a Buffer
// and as a latin1 string; per held value its bytes plus a Buffer object; per undo record its
// array slots (RECORD_BYTES, value-log.ts). An approximation meant for memory quotas, not a
// measurement of the V8 heap.

/** Bytes per key beyond the key bytes themselves (entry object, tree slot, Buffer and string headers). */
const ENTRY_OVERHEAD = 160;
/** Bytes per held non-empty value beyond its bytes (the Buffer object). */
const VALUE_OVERHEAD = 80;

/** Estimated bytes one key costs. */
export function entryBytes(keyLength: number): number {
  // the key is held twice: as a Buffer (yielded by iterators) and as the latin1 tree key
  return ENTRY_OVERHEAD + 2 * keyLength;
}

/** Estimated bytes one held value costs (tombstones share one empty Buffer: 0). */
export function valueBytes(value: Buffer | undefined): number {
  return value === undefined || value.length === 0 ? 0 : VALUE_OVERHEAD + value.length;
}
