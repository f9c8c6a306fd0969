// Memcomparable bytes encoding used by TiKV/TiDB for region boundaries (API v1 txn and API v2).
// Format follows client-go util/codec/bytes.go and tikv components/codec/src/byte.rs:
// the input is cut into groups of 8 bytes; every group is written in full (the last one padded
// with 0x00) followed by a marker byte 0xff - <number of pad bytes>. An input whose length is a
// multiple of 8 therefore ends with an all-padding group (marker 0xf7). The descending variant is
// the bitwise NOT of the ascending one.

import { KeyDecodeError } from "../errors/codec.js";

const GROUP = 8;
const MARKER = 0xff;

/** Length of the memcomparable encoding of `n` bytes. */
export function encodedLength(n: number): number {
  return (Math.floor(n / GROUP) + 1) * (GROUP + 1);
}

/** Encodes `key` in ascending memcomparable form (client-go codec.EncodeBytes). */
export function encodeBytes(key: Uint8Array): Buffer {
  const n = key.length;
  const out = Buffer.alloc(encodedLength(n)); // zero-filled: pad bytes are already in place
  let src = 0;
  let dst = 0;
  for (;;) {
    const remain = n - src;
    if (remain >= GROUP) {
      out.set(key.subarray(src, src + GROUP), dst);
      out[dst + GROUP] = MARKER;
      src += GROUP;
      dst += GROUP + 1;
    } else {
      out.set(key.subarray(src), dst);
      out[dst + GROUP] = MARKER - (GROUP - remain);
      return out;
    }
  }
}

/** Encodes `key` in descending memcomparable form (tikv encode_bytes_desc). */
export function encodeBytesDesc(key: Uint8Array): Buffer {
  const out = encodeBytes(key);
  for (let i = 0; i < out.length; i++) out[i] = ~out[i]! & 0xff;
  return out;
}

/** Result of a decode: the key and the offset just past its encoding in the input. */
export interface DecodedBytes {
  key: Buffer;
  next: number;
}

/**
 * Decodes one ascending memcomparable value starting at `offset` (client-go codec.DecodeBytes).
 * Bytes after the value are left alone: `next` tells where they start.
 * Throws KeyDecodeError ("truncated", "bad-marker", "bad-padding") on malformed input.
 */
export function decodeBytes(buf: Uint8Array, offset = 0): DecodedBytes {
  return decode(buf, offset, false);
}

/** Decodes one descending memcomparable value (tikv decode_bytes with desc = true). */
export function decodeBytesDesc(buf: Uint8Array, offset = 0): DecodedBytes {
  return decode(buf, offset, true);
}

function decode(buf: Uint8Array, offset: number, desc: boolean): DecodedBytes {
  // First pass validates and measures, so the result is allocated once at its exact size.
  const flip = desc ? 0xff : 0;
  const padByte = desc ? 0xff : 0;
  let pos = offset;
  let size = 0;
  let padCount: number;
  for (;;) {
    if (buf.length - pos < GROUP + 1) throw malformed("truncated", buf, pos);
    const marker = buf[pos + GROUP]! ^ flip;
    padCount = MARKER - marker;
    if (padCount > GROUP) throw malformed("bad-marker", buf, pos + GROUP);
    if (padCount === 0) {
      size += GROUP;
      pos += GROUP + 1;
      continue;
    }
    const real = GROUP - padCount;
    for (let i = pos + real; i < pos + GROUP; i++) {
      if (buf[i] !== padByte) throw malformed("bad-padding", buf, i);
    }
    size += real;
    break;
  }
  const key = Buffer.allocUnsafe(size);
  let src = offset;
  let dst = 0;
  while (dst < size) {
    const take = Math.min(GROUP, size - dst);
    key.set(buf.subarray(src, src + take), dst);
    dst += take;
    src += GROUP + 1;
  }
  if (desc) for (let i = 0; i < size; i++) key[i] = ~key[i]! & 0xff;
  return { key, next: pos + GROUP + 1 };
}

function malformed(failure: "truncated" | "bad-marker" | "bad-padding", buf: Uint8Array, at: number) {
  return new KeyDecodeError(failure, Buffer.from(buf), at);
}

/**
 * Decodes a region boundary stored in memcomparable form, the way client-go's region codec does
 * (internal/apicodec/mem_codec.go): an empty boundary stays empty (-inf / +inf) and bytes after
 * the encoded value are ignored.
 */
export function decodeRegionBoundary(encoded: Uint8Array): Buffer {
  if (encoded.length === 0) return Buffer.alloc(0);
  return decodeBytes(encoded).key;
}
