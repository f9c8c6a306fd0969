// MurmurHash3 x86 32-bit (Austin Appleby's public-domain algorithm), the hash client-go's latches
// use to pick a key's slot (twmb/murmur3 Sum32, seed 0). Written here rather than taken from npm:
// the packages that provide it are unmaintained single releases or string-only, and the latch only
// needs a fast, well-spread hash of key bytes. Same function as client-go, so keys fall in the
// same slots.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function scramble(k: number): number {
  const a = Math.imul(k, C1);
  return Math.imul((a << 15) | (a >>> 17), C2);
}

/** MurmurHash3_x86_32 of `bytes` with `seed` (default 0), as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  const n = bytes.length;
  const blocks = n & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocks; i += 4) {
    const k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    h ^= scramble(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = n & 3;
  if (rest > 0) {
    let tail = bytes[blocks] as number;
    if (rest > 1) tail |= (bytes[blocks + 1] as number) << 8;
    if (rest > 2) tail |= (bytes[blocks + 2] as number) << 16;
    h ^= scramble(tail);
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
