// PD stores region boundaries in the form the client encodes them: memcomparable-encoded for
// txn / API v2, plain for API v1 raw (client-go internal/apicodec codec_v1/v2,
// internal/locate/pd_codec.go). Empty keys stay empty (unbounded) in both forms.
import { decodeBytes, encodeBytes } from "../../kv/memcomparable.js";
import type { RegionKeyEncoding } from "../topology/stored-keys.js";

export type { RegionKeyEncoding };

/** Converts between user keys (topology) and PD's wire form. */
export class RegionKeyCodec {
  constructor(readonly encoding: RegionKeyEncoding) {}

  /** User key -> PD form. */
  encode(key: Buffer): Buffer {
    if (this.encoding === "raw" || key.length === 0) return key;
    return encodeBytes(key);
  }

  /**
   * PD form -> user key for lookups. Returns undefined when the bytes are not one complete
   * memcomparable value; callers then compare in encoded space.
   */
  decode(key: Buffer): Buffer | undefined {
    if (this.encoding === "raw" || key.length === 0) return key;
    try {
      const { key: k, next } = decodeBytes(key);
      return next === key.length ? k : undefined;
    } catch {
      return undefined;
    }
  }
}
