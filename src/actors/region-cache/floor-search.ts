// The binary search both index levels share: the floor of a probe among keys stored back to back
// in one byte array, their bounds in an offsets array. It carries the common prefix of the probe
// with both ends of the range, so each comparison starts past bytes already known equal.

/**
 * Floor among keys (lo, hi) of `probe`: key i spans bytes[offs[base + i], offs[base + i + 1]).
 * Key lo (if any) is below the probe and key hi above it, and every key between them shares
 * `skip` bytes with it. `strict`: the floor of keys < probe (else ≤ probe).
 */
export function floorIn(
  bytes: Uint8Array,
  offs: ArrayLike<number>,
  base: number,
  probe: Uint8Array,
  strict: boolean,
  lo: number,
  hi: number,
  skip: number,
): number {
  const plen = probe.length;
  // every key between lo and hi shares with the probe at least the smaller of their common
  // prefixes with it
  let llcp = skip;
  let hlcp = skip;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const s = offs[base + mid] as number;
    const klen = (offs[base + mid + 1] as number) - s;
    const m = klen < plen ? klen : plen;
    let j = llcp < hlcp ? llcp : hlcp;
    while (j < m && bytes[s + j] === probe[j]) j++;
    // key < probe, key = probe, key > probe
    const below =
      j < m ? (bytes[s + j] as number) < (probe[j] as number) : strict ? klen < plen : klen <= plen;
    if (below) {
      lo = mid;
      llcp = j;
    } else {
      hi = mid;
      hlcp = j;
    }
  }
  return lo;
}
