/**
 * Keys inside the engine are held as latin1 strings: one char per byte, so JS string
 * comparison orders them exactly like the bytes (memcmp), and B+tree comparisons stay cheap.
 */
export type StoreKey = string;

/** Converts wire bytes to the engine's internal key form. */
export function storeKey(key: Uint8Array): StoreKey {
  const buf = Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return buf.toString("latin1");
}

/** Converts an internal key back to the wire bytes. */
export function rawKey(key: StoreKey): Buffer {
  return Buffer.from(key, "latin1");
}
