// Region boundaries in the form TiKV keeps them ("stored form": raftstore's data keys) and
// their user-key view. TiKV has one key space: a transactional key lives there
// memcomparable-encoded (Key::from_raw), an API V1 raw key as sent, so one boundary cuts both.
// A "memcomparable" cluster writes user split keys encoded (what txn splits leave); a "raw"
// cluster writes them as they are.
import { encodeBytes } from "../../kv/memcomparable.js";

/** How user split keys become region boundaries. */
export type RegionKeyEncoding = "memcomparable" | "raw";

const GROUP = 8;
const MARKER = 0xff;

function trimZeros(b: Buffer): Buffer {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.subarray(0, n);
}

/**
 * The smallest user key whose memcomparable encoding is >= `stored`: where a boundary cuts the
 * transactional key space. The exact inverse of encodeBytes on a clean encoding; for other bytes
 * (e.g. a boundary a raw split left) the first user key at or past it.
 *
 * @example ceilDecodeBytes(encodeBytes(Buffer.from("k3"))) // "k3"
 * @example ceilDecodeBytes(Buffer.from("k3")) // "k3": encode("k3") > "k3" > encode("k2\xff")
 */
export function ceilDecodeBytes(stored: Uint8Array): Buffer {
  const b = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const rest = b.length - pos;
    if (rest <= 0) break;
    if (rest <= GROUP) {
      // The boundary ends inside this group: a key whose padded group starts with these bytes.
      parts.push(trimZeros(b.subarray(pos)));
      break;
    }
    const data = b.subarray(pos, pos + GROUP);
    const marker = b[pos + GROUP]!;
    if (marker === MARKER) {
      parts.push(data);
      pos += GROUP + 1;
      continue;
    }
    // A final group: its marker names a length; the shortest key at or past it wins.
    const markedLen = GROUP - (MARKER - marker);
    const used = trimZeros(data).length;
    let len = used;
    if (markedLen >= 0 && used <= markedLen) {
      // Equal to encode(data[0..markedLen]); bytes after it make that key too small, so the
      // next key (one more zero byte) is the answer.
      len = rest > GROUP + 1 ? markedLen + 1 : markedLen;
    }
    parts.push(data.subarray(0, len));
    break;
  }
  return Buffer.concat(parts);
}

/** User key -> stored boundary form. Empty stays empty (unbounded). */
export function toStoredKey(encoding: RegionKeyEncoding, key: Buffer): Buffer {
  return encoding === "raw" || key.length === 0 ? key : encodeBytes(key);
}

/** Stored boundary -> user-key view (see {@link ceilDecodeBytes}). Empty stays empty. */
export function fromStoredKey(encoding: RegionKeyEncoding, key: Buffer): Buffer {
  return encoding === "raw" || key.length === 0 ? key : ceilDecodeBytes(key);
}
