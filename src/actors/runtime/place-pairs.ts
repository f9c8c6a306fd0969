// Puts the pairs of a batch-get answer at the positions of the keys asked. When every key was
// found, TiKV answers with one pair per key in the order asked, and one forward walk checks and
// places them without building a map of the keys; any other answer (keys missing, a server that
// sorts or drops repeated keys) is matched by key bytes.

import { keysEqual } from "../../kv/key.js";
import type { KvPair } from "../../proto/kvrpcpb.js";

/**
 * True when `pairs` answer every position of `batch` in order: as many pairs as keys, none
 * carrying an error, pair k holding the key of position k. Then pair k is the answer for
 * `batch[k]`, with no map of the keys needed.
 */
export function pairsInRequestOrder(
  pairs: readonly KvPair[],
  batch: readonly number[],
  keys: readonly Buffer[],
): boolean {
  if (pairs.length !== batch.length) return false;
  for (let b = 0; b < batch.length; b++) {
    const p = pairs[b] as KvPair;
    if (p.error !== undefined || !keysEqual(keys[batch[b] as number] as Buffer, p.key)) return false;
  }
  return true;
}

/**
 * Writes the value of each pair into `out[i]` for every position `i` of `batch` whose key
 * (`keys[i]`) it carries; positions without a pair are left as they are. Throws whatever
 * `onError` throws for a pair carrying a key error.
 */
export function placePairs(
  pairs: readonly KvPair[],
  batch: readonly number[],
  keys: readonly Buffer[],
  out: Array<Buffer | undefined>,
  onError: (pair: KvPair) => never,
): void {
  for (const p of pairs) if (p.error) onError(p);
  if (pairsInRequestOrder(pairs, batch, keys)) {
    for (let k = 0; k < batch.length; k++) out[batch[k] as number] = (pairs[k] as KvPair).value;
    return;
  }
  // the last pair for a key wins, as it did when this was always a map
  const found = new Map<string, Buffer>();
  for (const p of pairs) found.set(p.key.toString("latin1"), p.value);
  for (const i of batch) out[i] = found.get((keys[i] as Buffer).toString("latin1"));
}
