// Protobuf varint sizes and writers for the hand-written encoders (uint32 as a number, uint64 as
// its low and high 32 bits: timestamps exceed 2^53).

const MAX_U64 = (1n << 64n) - 1n;

/** True when `v` fits a uint64 field (the generated encoders throw otherwise). */
export function isUint64(v: bigint): boolean {
  return v >= 0n && v <= MAX_U64;
}

/** Bytes of the varint of a non-negative safe integer. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes the varint of a non-negative safe integer at `pos`; returns the end. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Bytes of the varint of a uint64. */
export function varint64Size(v: bigint): number {
  if (v <= 0xffffffffn) return varintSize(Number(v));
  let lo = Number(v & 0xffffffffn);
  let hi = Number(v >> 32n);
  let size = 1;
  while (hi !== 0 || lo > 127) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    size++;
  }
  return size;
}

/** Writes the varint of a uint64 at `pos`; returns the end. */
export function writeVarint64(buf: Uint8Array, pos: number, v: bigint): number {
  if (v <= 0xffffffffn) return writeVarint(buf, pos, Number(v));
  let lo = Number(v & 0xffffffffn);
  let hi = Number(v >> 32n);
  while (hi !== 0 || lo > 127) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** Bytes of a length-delimited field with a one-byte tag and a body of `len` bytes. */
export function bytesFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}
