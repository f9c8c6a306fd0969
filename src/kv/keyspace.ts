// API v2 keyspace codec. Semantics follow client-go internal/apicodec/codec_v2.go and codec.go:
// every key on the wire is <mode byte 'r'|'x'><3-byte big-endian keyspace id><user key>, and
// region boundaries from PD are those wire keys in memcomparable form.

import { InvalidArgumentError } from "../errors/base.js";
import { KeyDecodeError, KeyOutOfKeyspaceError } from "../errors/codec.js";
import type { KeyspaceMeta } from "../proto/keyspacepb.js";
import { APIVersion, type Context } from "../proto/kvrpcpb.js";
import { type ApiCodec, ApiV1Codec, asBuffer, type KeyMode } from "./api-codec.js";
import type { KeyRange } from "./key.js";
import { decodeBytes, encodeBytes } from "./memcomparable.js";

/** Mode byte of raw keys in API v2 ('r'). */
export const RAW_MODE_PREFIX = 0x72;
/** Mode byte of transactional keys in API v2 ('x'). */
export const TXN_MODE_PREFIX = 0x78;
/** Length of the keyspace prefix: mode byte + 3-byte keyspace id. */
export const KEYSPACE_PREFIX_LENGTH = 4;
/** Largest keyspace id (ids are 24-bit). */
export const MAX_KEYSPACE_ID = 0xffffff;
/** Id of the default keyspace. */
export const DEFAULT_KEYSPACE_ID = 0;
/** Name of the default keyspace. */
export const DEFAULT_KEYSPACE_NAME = "DEFAULT";

/** The keyspace name to use: `name`, or "DEFAULT" when empty (client-go BuildKeyspaceName). */
export function keyspaceNameOrDefault(name: string | undefined): string {
  return name ? name : DEFAULT_KEYSPACE_NAME;
}

/** The mode prefixes used by API v2, sorted (client-go CodecV2Prefixes / CodecV1ExcludePrefixes). */
export function apiV2Prefixes(): Buffer[] {
  return [Buffer.from([RAW_MODE_PREFIX]), Buffer.from([TXN_MODE_PREFIX])];
}

function checkApiV2Key(key: Uint8Array): void {
  if (key.length < KEYSPACE_PREFIX_LENGTH || (key[0] !== RAW_MODE_PREFIX && key[0] !== TXN_MODE_PREFIX)) {
    throw new KeyDecodeError("not-api-v2", Buffer.from(key), 0);
  }
}

/** The keyspace id of an API v2 key (client-go ParseKeyspaceID); throws KeyDecodeError otherwise. */
export function parseKeyspaceId(key: Uint8Array): number {
  checkApiV2Key(key);
  return (key[1]! << 16) | (key[2]! << 8) | key[3]!;
}

/** Splits an API v2 key into its 4-byte prefix and the user key (client-go apicodec.DecodeKey). */
export function splitApiV2Key(key: Uint8Array): { prefix: Buffer; key: Buffer } {
  checkApiV2Key(key);
  const b = asBuffer(key);
  return { prefix: b.subarray(0, KEYSPACE_PREFIX_LENGTH), key: b.subarray(KEYSPACE_PREFIX_LENGTH) };
}

function checkKeyspaceId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_KEYSPACE_ID) {
    throw new InvalidArgumentError(`must be an integer in [0, ${MAX_KEYSPACE_ID}], got ${id}`, "keyspaceId");
  }
}

function modeByte(mode: KeyMode): number {
  if (mode === "raw") return RAW_MODE_PREFIX;
  if (mode === "txn") return TXN_MODE_PREFIX;
  throw new InvalidArgumentError(`must be "raw" or "txn", got ${String(mode)}`, "mode");
}

/** The 4-byte prefix of a keyspace: mode byte + big-endian 24-bit id. */
export function keyspacePrefix(mode: KeyMode, keyspaceId: number): Buffer {
  checkKeyspaceId(keyspaceId);
  return Buffer.from([
    modeByte(mode),
    (keyspaceId >> 16) & 0xff,
    (keyspaceId >> 8) & 0xff,
    keyspaceId & 0xff,
  ]);
}

/**
 * The exclusive end of a keyspace: its prefix read as a 32-bit big-endian number, plus one.
 * The carry may reach the mode byte ('r' 0xff 0xff 0xff -> 's' 0 0 0), as in client-go.
 */
export function keyspaceEndKey(mode: KeyMode, keyspaceId: number): Buffer {
  const p = keyspacePrefix(mode, keyspaceId);
  const end = Buffer.alloc(KEYSPACE_PREFIX_LENGTH);
  end.writeUInt32BE(p.readUInt32BE(0) + 1, 0);
  return end;
}

/** Options of {@link KeyspaceCodec}. */
export interface KeyspaceCodecOptions {
  /** Raw or transactional keys. */
  mode: KeyMode;
  /** Keyspace id, 0..MAX_KEYSPACE_ID. */
  keyspaceId: number;
  /** Keyspace name (sent in request contexts), when known. */
  keyspaceName?: string;
}

/** API v2 codec for one keyspace and mode (client-go codecV2). */
export class KeyspaceCodec implements ApiCodec {
  readonly apiVersion = APIVersion.V2;
  readonly encodesKeys = true;
  readonly mode: KeyMode;
  readonly keyspaceId: number;
  readonly keyspaceName: string | undefined;
  /** First key of the keyspace (mode byte + id). */
  readonly keyspacePrefix: Buffer;
  /** Exclusive end of the keyspace. */
  readonly keyspaceEnd: Buffer;
  private readonly p0: number;
  private readonly p1: number;
  private readonly p2: number;
  private readonly p3: number;

  /** Throws InvalidArgumentError for a bad mode or a keyspace id outside 0..0xFFFFFF. */
  constructor(options: KeyspaceCodecOptions) {
    this.mode = options.mode;
    this.keyspaceId = options.keyspaceId;
    this.keyspaceName = options.keyspaceName;
    this.keyspacePrefix = keyspacePrefix(options.mode, options.keyspaceId);
    this.keyspaceEnd = keyspaceEndKey(options.mode, options.keyspaceId);
    this.p0 = this.keyspacePrefix[0]!;
    this.p1 = this.keyspacePrefix[1]!;
    this.p2 = this.keyspacePrefix[2]!;
    this.p3 = this.keyspacePrefix[3]!;
  }

  /**
   * Builds a codec from PD keyspace metadata (client-go NewCodecV2). Rejects missing metadata and
   * the API v3 keyspace identity form, which this codec cannot represent.
   */
  static fromMeta(mode: KeyMode, meta: KeyspaceMeta | undefined): KeyspaceCodec {
    if (!meta) throw new InvalidArgumentError("keyspace metadata is missing", "keyspaceMeta");
    const ks = meta.keyspace;
    if (ks?.$case === "keyspaceIdentity") {
      throw new InvalidArgumentError(
        "API v3 keyspace identity is not supported: the v2 codec needs a numeric keyspace id",
        "keyspaceMeta",
      );
    }
    return new KeyspaceCodec({ mode, keyspaceId: ks?.id ?? 0, keyspaceName: meta.name || undefined });
  }

  encodeKey(key: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(KEYSPACE_PREFIX_LENGTH + key.length);
    out[0] = this.p0;
    out[1] = this.p1;
    out[2] = this.p2;
    out[3] = this.p3;
    out.set(key, KEYSPACE_PREFIX_LENGTH);
    return out;
  }

  encodeKeys(keys: readonly Uint8Array[]): Buffer[] {
    const out = new Array<Buffer>(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.encodeKey(keys[i]!);
    return out;
  }

  /** True when `key` starts with this keyspace's prefix. */
  hasPrefix(key: Uint8Array): boolean {
    return (
      key.length >= KEYSPACE_PREFIX_LENGTH &&
      key[0] === this.p0 &&
      key[1] === this.p1 &&
      key[2] === this.p2 &&
      key[3] === this.p3
    );
  }

  /** Strips the prefix (a view, no copy). Empty stays empty; other keyspaces throw KeyOutOfKeyspaceError. */
  decodeKey(encoded: Uint8Array): Buffer {
    if (encoded.length === 0) return asBuffer(encoded);
    if (!this.hasPrefix(encoded)) throw new KeyOutOfKeyspaceError(Buffer.from(encoded), this.keyspacePrefix);
    return asBuffer(encoded).subarray(KEYSPACE_PREFIX_LENGTH);
  }

  encodeRange(start: Uint8Array, end: Uint8Array, reverse = false): KeyRange {
    if (reverse) {
      // Reverse scans: `start` is the upper bound, `end` the lower one.
      const r = this.encodeRange(end, start, false);
      return { start: r.end, end: r.start };
    }
    return { start: this.encodeKey(start), end: end.length > 0 ? this.encodeKey(end) : this.keyspaceEnd };
  }

  /**
   * Maps a wire range back to user keys, clamped to the keyspace (client-go DecodeRange): a start
   * before the keyspace becomes "", an end at or after the keyspace end becomes "" (+inf).
   * Throws KeyOutOfKeyspaceError when the range does not overlap the keyspace.
   */
  decodeRange(start: Uint8Array, end: Uint8Array): KeyRange {
    if (
      Buffer.compare(start, this.keyspaceEnd) >= 0 ||
      (end.length > 0 && Buffer.compare(end, this.keyspacePrefix) <= 0)
    ) {
      throw new KeyOutOfKeyspaceError(Buffer.from(start), this.keyspacePrefix);
    }
    let s: Buffer;
    if (this.hasPrefix(start)) s = asBuffer(start).subarray(KEYSPACE_PREFIX_LENGTH);
    else if (Buffer.compare(start, this.keyspacePrefix) < 0) s = Buffer.alloc(0);
    // A start inside [prefix, end) without the prefix (shorter than 4 bytes) lies after every key
    // of the keyspace; client-go would clamp it to "", which would claim the whole keyspace.
    else throw new KeyOutOfKeyspaceError(Buffer.from(start), this.keyspacePrefix);
    // Any end without the prefix lies past every key of the keyspace: unbounded.
    const e = this.hasPrefix(end) ? asBuffer(end).subarray(KEYSPACE_PREFIX_LENGTH) : Buffer.alloc(0);
    return { start: s, end: e };
  }

  encodeRegionKey(key: Uint8Array): Buffer {
    return encodeBytes(this.encodeKey(key));
  }

  decodeRegionKey(encoded: Uint8Array): Buffer {
    return this.decodeKey(decodeBytes(encoded).key);
  }

  encodeRegionRange(start: Uint8Array, end: Uint8Array): KeyRange {
    const r = this.encodeRange(start, end);
    return { start: encodeBytes(r.start), end: encodeBytes(r.end) };
  }

  decodeRegionRange(encodedStart: Uint8Array, encodedEnd: Uint8Array): KeyRange {
    const start = encodedStart.length > 0 ? decodeBytes(encodedStart).key : asBuffer(encodedStart);
    const end = encodedEnd.length > 0 ? decodeBytes(encodedEnd).key : asBuffer(encodedEnd);
    return this.decodeRange(start, end);
  }

  /**
   * Decodes region bucket keys, clamped to the keyspace (client-go codecV2.DecodeBucketKeys):
   * a first key before the keyspace and a last key at/after its end (or empty) become "", keys of
   * other keyspaces in between are dropped, and a repeated "" start is not duplicated.
   */
  decodeBucketKeys(keys: readonly Uint8Array[]): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < keys.length; i++) {
      const raw = keys[i]!;
      const k = raw.length > 0 ? decodeBytes(raw).key : Buffer.alloc(0);
      if (i === 0 && Buffer.compare(k, this.keyspacePrefix) < 0) {
        out.push(Buffer.alloc(0));
      } else if (i === keys.length - 1 && (k.length === 0 || Buffer.compare(k, this.keyspaceEnd) >= 0)) {
        out.push(Buffer.alloc(0));
      } else if (this.hasPrefix(k)) {
        const user = k.subarray(KEYSPACE_PREFIX_LENGTH);
        if (user.length === 0 && out.length > 0 && out[0]!.length === 0) continue;
        out.push(user);
      }
    }
    return out;
  }

  applyToContext(ctx: Context): void {
    ctx.apiVersion = APIVersion.V2;
    ctx.keyspace = { $case: "keyspaceId", keyspaceId: this.keyspaceId };
    if (this.keyspaceName !== undefined) ctx.keyspaceName = this.keyspaceName;
  }
}

/** Options of {@link createApiCodec}. */
export interface ApiCodecOptions {
  /** API version the cluster runs (V1, V1TTL or V2). */
  apiVersion: APIVersion;
  /** Raw or transactional. */
  mode: KeyMode;
  /** API v2 only: keyspace metadata loaded from PD (takes precedence over keyspaceId). */
  keyspaceMeta?: KeyspaceMeta;
  /** API v2 only: keyspace id when no metadata is given (default 0, the DEFAULT keyspace). */
  keyspaceId?: number;
}

/** Picks the codec for an API version (client-go NewCodecV1 / NewCodecV2); V3 and unknown versions are rejected. */
export function createApiCodec(options: ApiCodecOptions): ApiCodec {
  switch (options.apiVersion) {
    case APIVersion.V1:
    case APIVersion.V1TTL:
      modeByte(options.mode);
      return new ApiV1Codec(options.mode, options.apiVersion);
    case APIVersion.V2:
      if (options.keyspaceMeta) return KeyspaceCodec.fromMeta(options.mode, options.keyspaceMeta);
      return new KeyspaceCodec({ mode: options.mode, keyspaceId: options.keyspaceId ?? DEFAULT_KEYSPACE_ID });
    default:
      throw new InvalidArgumentError(`unsupported API version ${String(options.apiVersion)}`, "apiVersion");
  }
}
