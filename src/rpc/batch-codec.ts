// Wire encoding of the client's BatchCommands stream, written by hand for the hot path.
// Requests: one buffer per message (no writer fork/join, no bigint request ids, no extra copy);
// a kvrpcpb.Context that the request sender shares per region (and freezes) is encoded once per
// context object; RawGet is written by hand, other commands by the generated encoder. The bytes
// are exactly what tikvpb.BatchCommandsRequest.encode produces (field order and default
// omission follow the generated code); RawBatchGet, RawBatchPut and BatchGet bodies are written
// by hand too (see encodeRawBatchNoContext). Responses: RawGet, RawBatchGet, BatchGet, RawScan
// and Scan are decoded by hand into the same objects the generated decoder builds (pairs are
// built once their request is known: a key asked is shared, keys and values are views of the
// response's bytes); every other response uses the generated decoder.

import { Error as RegionErrorProto } from "../proto/errorpb.js";
import {
  type BatchGetResponse,
  type CommitRequest,
  Context,
  ExecDetailsV2,
  HealthFeedback,
  KeyError,
  type KvPair,
  type PrewriteRequest,
  type RawBatchGetResponse,
  type RawGetResponse,
  type RawPutResponse,
  type RawScanResponse,
  type ScanResponse,
} from "../proto/kvrpcpb.js";
import { BatchCommandsRequest_Request, BatchCommandsResponse_Response } from "../proto/tikvpb.js";
import type { TikvCommand } from "./tikv-commands.js";
import { encodeCommitNoContext, encodePrewriteNoContext } from "./txn-write-codec.js";
import { isUint64, varint64Size, writeVarint64 } from "./wire-varint.js";

/** One message's worth of queued requests (parallel arrays), as written to the stream. */
export interface OutgoingBatch {
  cmds: TikvCommand[];
  reqs: unknown[];
  ids: number[];
}

// tikvpb.BatchCommandsRequest.Request fields 13 (raw_get) and 15 (raw_put), wire type 2
const RAW_GET_TAG = 106;
const RAW_PUT_TAG = 122;
// fields 14 (raw_batch_get) and 7 (batch_get) of tikvpb.BatchCommandsResponse.Response, wire type 2
const RAW_BATCH_GET_TAG = 114;
const BATCH_GET_TAG = 58;
// fields 19 (raw_scan, a two-byte tag: 154, 1) and 2 (scan) of the Response, wire type 2
const RAW_SCAN_TAG = 154;
const SCAN_TAG = 18;

// The fields of RawGetRequest (context 1, key 2, cf 3) and RawPutRequest (context 1, key 2,
// value 3, cf 4, ttl 5, for_cas 6), kvrpcpb.proto.
interface RawGetOrPut {
  context?: Context | undefined;
  key: Uint8Array;
  value?: Uint8Array;
  cf: string;
  ttl?: bigint;
  forCas?: boolean;
}

// Encoded bytes of frozen (hence immutable) contexts.
const contextBytes = new WeakMap<Context, Uint8Array>();

function encodedContext(ctx: Context): Uint8Array {
  let b = contextBytes.get(ctx);
  if (b !== undefined) return b;
  b = Context.encode(ctx).finish();
  if (Object.isFrozen(ctx)) contextBytes.set(ctx, b);
  return b;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

// Per request of a batch: the Request body's size and what the second pass writes. `bytes`
// alone: the generated encoding. `bytes` with `ctx`: the generated encoding of the request
// without its context, whose first `headLen` bytes are the oneof tag and length; the cached
// context goes in front of the rest (context is field 1 of every kvrpcpb request and the
// generated encoders write it first, so the result is the same bytes). Neither: a RawGet.
interface Part {
  size: number;
  bytes: Uint8Array | undefined;
  headLen: number;
  ctx: Uint8Array | undefined;
  key: Uint8Array;
  cf: string;
  cfLen: number;
  innerSize: number;
  /** Hand-written parts: RAW_GET_TAG or RAW_PUT_TAG. */
  tag: number;
  value: Uint8Array | undefined;
  ttl: number;
  forCas: boolean;
}

// End offset of the varint starting at `pos` of `b`.
function varintEnd(b: Uint8Array, pos: number): number {
  while ((b[pos++] as number) >= 0x80) {}
  return pos;
}

// tikvpb.BatchCommandsRequest.Request fields 14 (raw_batch_get) and 16 (raw_batch_put), wire type 2
const RAW_BATCH_GET_REQ_TAG = [114];
const RAW_BATCH_PUT_REQ_TAG = [130, 1];
// field 7 (batch_get) of tikvpb.BatchCommandsRequest.Request, wire type 2
const BATCH_GET_REQ_TAG = 58;
const MAX_SAFE = 9007199254740991n;

/**
 * A BatchGet Request without its context (see encodeRawBatchNoContext). BatchGetRequest:
 * context 1, keys 2 (each written, even empty), version 3 (uint64, when non-zero),
 * need_commit_ts 4 (when true). Undefined for a version outside uint64 (the generated encoder
 * rejects it).
 */
function encodeBatchGetNoContext(req: unknown): Uint8Array | undefined {
  const r = req as { keys: Uint8Array[]; version: bigint; needCommitTs: boolean };
  if (!isUint64(r.version)) return undefined;
  let inner = r.version === 0n ? 0 : 1 + varint64Size(r.version);
  if (r.needCommitTs) inner += 2;
  for (const k of r.keys) inner += bytesFieldSize(k.length);
  const buf = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  buf[0] = BATCH_GET_REQ_TAG;
  let pos = writeVarint(buf, 1, inner);
  pos = writeKeysField2(buf, pos, r.keys);
  if (r.version !== 0n) {
    buf[pos++] = 24;
    pos = writeVarint64(buf, pos, r.version);
  }
  if (r.needCommitTs) {
    buf[pos++] = 32;
    buf[pos++] = 1;
  }
  return buf;
}

// the keys as repeated field 2 (tag 18), each written even when empty
function writeKeysField2(buf: Buffer, pos: number, keys: readonly Uint8Array[]): number {
  for (const k of keys) {
    buf[pos++] = 18;
    pos = writeVarint(buf, pos, k.length);
    buf.set(k, pos);
    pos += k.length;
  }
  return pos;
}

function bytesFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

/**
 * The generated encoding of a RawBatchGet, RawBatchPut or BatchGet Request without its context
 * (the caller puts the shared context in front), written in one pass; undefined for other
 * commands and for what this does not write (pair errors or commit ts in a put, TTLs beyond
 * 2^53): those take the generated encoder. RawBatchGetRequest: context 1, keys 2 (each
 * written, even empty), cf 3. RawBatchPutRequest: context 1, pairs 2 (KvPair: key 2, value 3,
 * when non-empty), cf 3, ttl 4, for_cas 5, ttls 6 (packed). BatchGet: encodeBatchGetNoContext.
 */
function encodeRawBatchNoContext(cmd: TikvCommand, req: unknown): Uint8Array | undefined {
  if (cmd === "BatchGet") return encodeBatchGetNoContext(req);
  // transaction writes: src/rpc/txn-write-codec.ts
  if (cmd === "Prewrite") return encodePrewriteNoContext(req as PrewriteRequest);
  if (cmd === "Commit") return encodeCommitNoContext(req as CommitRequest);
  if (cmd === "RawBatchGet") {
    const r = req as { keys: Uint8Array[]; cf: string };
    const cfLen = r.cf === "" ? 0 : Buffer.byteLength(r.cf);
    let inner = cfLen === 0 ? 0 : bytesFieldSize(cfLen);
    for (const k of r.keys) inner += bytesFieldSize(k.length);
    const buf = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
    buf[0] = RAW_BATCH_GET_REQ_TAG[0] as number;
    let pos = writeVarint(buf, 1, inner);
    pos = writeKeysField2(buf, pos, r.keys);
    if (cfLen !== 0) {
      buf[pos++] = 26;
      pos = writeVarint(buf, pos, cfLen);
      buf.write(r.cf, pos, "utf8");
    }
    return buf;
  }
  if (cmd !== "RawBatchPut") return undefined;
  const r = req as {
    pairs: Array<{ error?: unknown; key: Uint8Array; value: Uint8Array; commitTs: bigint }>;
    cf: string;
    ttl: bigint;
    forCas: boolean;
    ttls: bigint[];
  };
  if (r.ttl > MAX_SAFE) return undefined;
  const cfLen = r.cf === "" ? 0 : Buffer.byteLength(r.cf);
  let inner = 0;
  for (const p of r.pairs) {
    if (p.error !== undefined || p.commitTs !== 0n) return undefined;
    const n =
      (p.key.length === 0 ? 0 : bytesFieldSize(p.key.length)) +
      (p.value.length === 0 ? 0 : bytesFieldSize(p.value.length));
    inner += bytesFieldSize(n);
  }
  if (cfLen !== 0) inner += bytesFieldSize(cfLen);
  const ttl = Number(r.ttl);
  if (ttl !== 0) inner += 1 + varintSize(ttl);
  if (r.forCas) inner += 2;
  let ttlsLen = 0;
  for (const t of r.ttls) {
    if (t > MAX_SAFE) return undefined;
    ttlsLen += varintSize(Number(t));
  }
  if (r.ttls.length !== 0) inner += bytesFieldSize(ttlsLen);
  const buf = Buffer.allocUnsafe(2 + varintSize(inner) + inner);
  buf[0] = RAW_BATCH_PUT_REQ_TAG[0] as number;
  buf[1] = RAW_BATCH_PUT_REQ_TAG[1] as number;
  let pos = writeVarint(buf, 2, inner);
  for (const p of r.pairs) {
    const kl = p.key.length;
    const vl = p.value.length;
    buf[pos++] = 18;
    pos = writeVarint(buf, pos, (kl === 0 ? 0 : bytesFieldSize(kl)) + (vl === 0 ? 0 : bytesFieldSize(vl)));
    if (kl !== 0) {
      buf[pos++] = 18;
      pos = writeVarint(buf, pos, kl);
      buf.set(p.key, pos);
      pos += kl;
    }
    if (vl !== 0) {
      buf[pos++] = 26;
      pos = writeVarint(buf, pos, vl);
      buf.set(p.value, pos);
      pos += vl;
    }
  }
  if (cfLen !== 0) {
    buf[pos++] = 26;
    pos = writeVarint(buf, pos, cfLen);
    pos += buf.write(r.cf, pos, "utf8");
  }
  if (ttl !== 0) {
    buf[pos++] = 32;
    pos = writeVarint(buf, pos, ttl);
  }
  if (r.forCas) {
    buf[pos++] = 40;
    buf[pos++] = 1;
  }
  if (r.ttls.length !== 0) {
    buf[pos++] = 50;
    pos = writeVarint(buf, pos, ttlsLen);
    for (const t of r.ttls) pos = writeVarint(buf, pos, Number(t));
  }
  return buf;
}

/** Encodes a batch as the bytes of a tikvpb.BatchCommandsRequest (client_send_time_ns = 0). */
export function encodeBatchRequest(batch: OutgoingBatch): Buffer {
  const { cmds, reqs, ids } = batch;
  const n = cmds.length;
  const parts: Part[] = new Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const cmd = cmds[i] as TikvCommand;
    let part: Part;
    const r = reqs[i] as RawGetOrPut;
    const isPut = cmd === "RawPut";
    if (
      (cmd === "RawGet" || isPut) &&
      // a TTL beyond 2^53 (never in practice) takes the generated encoder
      (!isPut || (r.ttl as bigint) <= 9007199254740991n)
    ) {
      const ctx = r.context !== undefined ? encodedContext(r.context) : undefined;
      const cfLen = r.cf === "" ? 0 : Buffer.byteLength(r.cf);
      const value = isPut ? (r.value as Uint8Array) : undefined;
      const ttl = isPut ? Number(r.ttl) : 0;
      const forCas = isPut && r.forCas === true;
      let inner = 0;
      if (ctx !== undefined) inner += 1 + varintSize(ctx.length) + ctx.length;
      if (r.key.length !== 0) inner += 1 + varintSize(r.key.length) + r.key.length;
      if (value !== undefined && value.length !== 0) inner += 1 + varintSize(value.length) + value.length;
      if (cfLen !== 0) inner += 1 + varintSize(cfLen) + cfLen;
      if (ttl !== 0) inner += 1 + varintSize(ttl);
      if (forCas) inner += 2;
      const size = 1 + varintSize(inner) + inner;
      part = {
        size,
        bytes: undefined,
        headLen: 0,
        ctx,
        key: r.key,
        cf: r.cf,
        cfLen,
        innerSize: inner,
        tag: isPut ? RAW_PUT_TAG : RAW_GET_TAG,
        value,
        ttl,
        forCas,
      };
    } else {
      const req = r as { context?: Context };
      const shared = req.context !== undefined && Object.isFrozen(req.context) ? req.context : undefined;
      const bytes =
        ((req.context === undefined || shared !== undefined) && encodeRawBatchNoContext(cmd, req)) ||
        BatchCommandsRequest_Request.encode({
          cmd: {
            $case: cmd,
            [cmd]: shared === undefined ? req : { ...req, context: undefined },
          } as BatchCommandsRequest_Request["cmd"],
        }).finish();
      if (shared === undefined) {
        part = {
          size: bytes.length,
          bytes,
          headLen: 0,
          ctx: undefined,
          key: bytes,
          cf: "",
          cfLen: 0,
          innerSize: 0,
          tag: 0,
          value: undefined,
          ttl: 0,
          forCas: false,
        };
      } else {
        const ctx = encodedContext(shared);
        const headLen = varintEnd(bytes, varintEnd(bytes, 0));
        const tagLen = varintEnd(bytes, 0);
        const inner = 1 + varintSize(ctx.length) + ctx.length + (bytes.length - headLen);
        const size = tagLen + varintSize(inner) + inner;
        part = {
          size,
          bytes,
          headLen,
          ctx,
          key: bytes,
          cf: "",
          cfLen: 0,
          innerSize: inner,
          tag: 0,
          value: undefined,
          ttl: 0,
          forCas: false,
        };
      }
    }
    parts[i] = part;
    total += 1 + varintSize(part.size) + part.size;
  }
  let idsSize = 0;
  for (let i = 0; i < ids.length; i++) idsSize += varintSize(ids[i] as number);
  if (ids.length !== 0) total += 1 + varintSize(idsSize) + idsSize;

  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const p = parts[i] as Part;
    buf[pos++] = 10; // requests, field 1
    pos = writeVarint(buf, pos, p.size);
    if (p.bytes !== undefined) {
      if (p.ctx === undefined) {
        buf.set(p.bytes, pos);
        pos += p.bytes.length;
        continue;
      }
      const tagLen = varintEnd(p.bytes, 0);
      buf.set(p.bytes.subarray(0, tagLen), pos);
      pos += tagLen;
      pos = writeVarint(buf, pos, p.innerSize);
      buf[pos++] = 10; // context, field 1
      pos = writeVarint(buf, pos, p.ctx.length);
      buf.set(p.ctx, pos);
      pos += p.ctx.length;
      buf.set(p.bytes.subarray(p.headLen), pos);
      pos += p.bytes.length - p.headLen;
      continue;
    }
    buf[pos++] = p.tag;
    pos = writeVarint(buf, pos, p.innerSize);
    if (p.ctx !== undefined) {
      buf[pos++] = 10; // context, field 1
      pos = writeVarint(buf, pos, p.ctx.length);
      buf.set(p.ctx, pos);
      pos += p.ctx.length;
    }
    if (p.key.length !== 0) {
      buf[pos++] = 18; // key, field 2
      pos = writeVarint(buf, pos, p.key.length);
      buf.set(p.key, pos);
      pos += p.key.length;
    }
    const value = p.value;
    if (value !== undefined && value.length !== 0) {
      buf[pos++] = 26; // value, field 3 (RawPut)
      pos = writeVarint(buf, pos, value.length);
      buf.set(value, pos);
      pos += value.length;
    }
    if (p.cfLen !== 0) {
      buf[pos++] = p.tag === RAW_PUT_TAG ? 34 : 26; // cf, field 4 (RawPut) or 3 (RawGet)
      pos = writeVarint(buf, pos, p.cfLen);
      pos += buf.write(p.cf, pos, "utf8");
    }
    if (p.ttl !== 0) {
      buf[pos++] = 40; // ttl, field 5
      pos = writeVarint(buf, pos, p.ttl);
    }
    if (p.forCas) {
      buf[pos++] = 48; // for_cas, field 6
      buf[pos++] = 1;
    }
  }
  if (ids.length !== 0) {
    buf[pos++] = 18; // request_ids, field 2, packed
    pos = writeVarint(buf, pos, idsSize);
    for (let i = 0; i < ids.length; i++) pos = writeVarint(buf, pos, ids[i] as number);
  }
  return buf;
}

/** A decoded BatchCommandsResponse: per response its oneof case and body, and the request ids. */
export interface IncomingBatch {
  /** The oneof case of each response (undefined when it carries none). */
  cases: Array<string | undefined>;
  /**
   * The body of each response (the message of its case); pass it through {@link finishBody}
   * with its request (batch-get bodies are built there).
   */
  bodies: unknown[];
  /** Request id of each response. */
  ids: number[];
  /** TiKV's health feedback, when piggybacked. */
  healthFeedback: HealthFeedback | undefined;
}

// Minimal protobuf reader over a Buffer (varints up to 2^53, which covers request ids).
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): number {
    const buf = this.buf;
    let b = buf[this.pos++] as number;
    if (b < 0x80) return b;
    let n = b & 0x7f;
    let mul = 0x80;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError("truncated varint");
      b = buf[this.pos++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
  }

  // a varint of up to 64 bits, as a bigint (uint64 fields)
  varintBig(): bigint {
    const buf = this.buf;
    let n = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError("truncated varint");
      const b = buf[this.pos++] as number;
      n |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, n);
      shift += 7n;
    }
  }

  // end offset of a length-delimited field whose length is next
  delimitedEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new RangeError("truncated field");
    return end;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2:
        this.pos = this.delimitedEnd();
        return;
      case 5:
        this.pos += 4;
        return;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
  }
}

const EMPTY_VALUE = Buffer.alloc(0);

// RawGetResponse fields: region_error 1, error 2, value 3, not_found 4; RawPutResponse has the
// first two (kvrpcpb.proto). A RawPut body is decoded as a RawGet one, then reshaped.
function decodeRawPut(r: Reader, end: number): RawPutResponse {
  const g = decodeRawGet(r, end);
  return { regionError: g.regionError, error: g.error };
}

function decodeRawGet(r: Reader, end: number): RawGetResponse {
  const out: RawGetResponse = { regionError: undefined, error: "", value: EMPTY_VALUE, notFound: false };
  const buf = r.buf;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        const e = r.delimitedEnd();
        out.regionError = RegionErrorProto.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 18: {
        const e = r.delimitedEnd();
        out.error = buf.toString("utf8", r.pos, e);
        r.pos = e;
        break;
      }
      case 26: {
        const e = r.delimitedEnd();
        // a copy, as the generated decoder makes: a value must not pin the whole message
        out.value = e > r.pos ? Buffer.from(buf.subarray(r.pos, e)) : EMPTY_VALUE;
        r.pos = e;
        break;
      }
      case 32:
        out.notFound = r.varint() !== 0;
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("RawGetResponse overruns its field");
  return out;
}

// KvPair fields: error 1, key 2, value 3, commit_ts 4 (kvrpcpb.proto).
// `asked`: the key asked at this pair's position, shared as the pair's key when equal.
function decodeKvPair(r: Reader, end: number, asked: Buffer | undefined): KvPair {
  const out: KvPair = { error: undefined, key: EMPTY_VALUE, value: EMPTY_VALUE, commitTs: 0n };
  const buf = r.buf;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        const e = r.delimitedEnd();
        out.error = KeyError.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 18: {
        const e = r.delimitedEnd();
        // the key asked when it is the same bytes (no allocation), else a view of the
        // response's bytes (see pairSource), as the value is
        if (e > r.pos)
          out.key = asked !== undefined && holds(buf, r.pos, e, asked) ? asked : buf.subarray(r.pos, e);
        r.pos = e;
        break;
      }
      case 26: {
        const e = r.delimitedEnd();
        // a view too: `buf` is this response's own bytes (see pairSource), so a value kept
        // pins no more than the response it came in
        if (e > r.pos) out.value = buf.subarray(r.pos, e);
        r.pos = e;
        break;
      }
      case 32:
        out.commitTs = r.varintBig();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("KvPair overruns its field");
  return out;
}

// RawBatchGetResponse fields: region_error 1, pairs 2 (kvrpcpb.proto).
function decodeRawBatchGet(
  r: Reader,
  end: number,
  asked: readonly Buffer[] | undefined,
): RawBatchGetResponse {
  const out: RawBatchGetResponse = { regionError: undefined, pairs: [] };
  out.regionError = decodeRegionErrorAndPairs(r, end, out.pairs, asked);
  return out;
}

// RawScanResponse fields: region_error 1, kvs 2 (kvrpcpb.proto).
function decodeRawScan(r: Reader, end: number): RawScanResponse {
  const out: RawScanResponse = { regionError: undefined, kvs: [] };
  out.regionError = decodeRegionErrorAndPairs(r, end, out.kvs, undefined);
  return out;
}

// The fields region_error 1 and a repeated KvPair 2 of a message (the others are skipped):
// pushes the pairs to `pairs`, returns the region error.
function decodeRegionErrorAndPairs(
  r: Reader,
  end: number,
  pairs: KvPair[],
  asked: readonly Buffer[] | undefined,
): RegionErrorProto | undefined {
  let regionError: RegionErrorProto | undefined;
  const buf = r.buf;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        const e = r.delimitedEnd();
        regionError = RegionErrorProto.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 18: {
        const e = r.delimitedEnd();
        pairs.push(decodeKvPair(r, e, asked?.[pairs.length]));
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("response overruns its field");
  return regionError;
}

// BatchGetResponse fields: region_error 1, pairs 2, exec_details_v2 4, error 5 (kvrpcpb.proto).
function decodeBatchGet(r: Reader, end: number, asked: readonly Buffer[] | undefined): BatchGetResponse {
  const out: BatchGetResponse = {
    regionError: undefined,
    pairs: [],
    execDetailsV2: undefined,
    error: undefined,
  };
  const buf = r.buf;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        const e = r.delimitedEnd();
        out.regionError = RegionErrorProto.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 18: {
        const e = r.delimitedEnd();
        out.pairs.push(decodeKvPair(r, e, asked?.[out.pairs.length]));
        break;
      }
      case 34: {
        const e = r.delimitedEnd();
        out.execDetailsV2 = ExecDetailsV2.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 42: {
        const e = r.delimitedEnd();
        out.error = KeyError.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("BatchGetResponse overruns its field");
  return out;
}

// ScanResponse fields: region_error 1, pairs 2, error 3 (kvrpcpb.proto).
function decodeScan(r: Reader, end: number): ScanResponse {
  const out: ScanResponse = { regionError: undefined, pairs: [], error: undefined };
  const buf = r.buf;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        const e = r.delimitedEnd();
        out.regionError = RegionErrorProto.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      case 18: {
        const e = r.delimitedEnd();
        out.pairs.push(decodeKvPair(r, e, undefined));
        break;
      }
      case 26: {
        const e = r.delimitedEnd();
        out.error = KeyError.decode(buf.subarray(r.pos, e));
        r.pos = e;
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("ScanResponse overruns its field");
  return out;
}

/**
 * A reader over the bytes of a pairs body (`r.pos` to `end`), whose pairs' keys and values
 * are views of those bytes (one allocation per result, no copy per value). grpc-js hands each
 * message in a buffer of its own that it never reuses, so views stay valid; a body making up
 * most of the frame is read in place, a smaller one is copied once first, so that a value kept
 * never pins the other responses of its frame.
 */
function pairSource(r: Reader, end: number): Reader {
  const body = r.buf.subarray(r.pos, end);
  return new Reader(body.length * 2 >= r.buf.length ? body : Buffer.from(body));
}

// `b[start, end)` holds the bytes of `k`
function holds(b: Buffer, start: number, end: number, k: Buffer): boolean {
  const n = k.length;
  if (end - start !== n) return false;
  if (n > 64) return b.compare(k, 0, n, start, end) === 0;
  for (let i = 0; i < n; i++) if (b[start + i] !== k[i]) return false;
  return true;
}

/** The responses whose pairs are decoded by hand (see PendingPairs). */
type PairsCase = "RawBatchGet" | "BatchGet" | "RawScan" | "Scan";

/**
 * A RawBatchGet, BatchGet, RawScan or Scan body cut from its frame, built into its response
 * object by {@link finishBody} (so a malformed body fails its own request, not the frame): a
 * batch get's pair carrying the key asked at its position then shares the request's key, so
 * each result costs one view (its value); a scan's keys and values are views.
 */
class PendingPairs {
  constructor(
    readonly kind: PairsCase,
    readonly reader: Reader,
  ) {}
}

/**
 * The response object of a body of {@link decodeBatchResponse}, for the request `req` it answers
 * (a batch get's keys are matched against the pairs); other bodies are returned as they are.
 * Throws RangeError on a malformed body.
 */
export function finishBody(body: unknown, req: unknown): unknown {
  if (!(body instanceof PendingPairs)) return body;
  const r = body.reader;
  const end = r.buf.length;
  switch (body.kind) {
    case "RawScan":
      return decodeRawScan(r, end);
    case "Scan":
      return decodeScan(r, end);
    default: {
      const asked = (req as { keys?: readonly Buffer[] } | undefined)?.keys;
      return body.kind === "RawBatchGet" ? decodeRawBatchGet(r, end, asked) : decodeBatchGet(r, end, asked);
    }
  }
}

// The case of a Response field decoded by PendingPairs, from the first two bytes of its tag.
function pairsCase(first: number, second: number): PairsCase | undefined {
  if (first === RAW_BATCH_GET_TAG) return "RawBatchGet";
  if (first === BATCH_GET_TAG) return "BatchGet";
  if (first === SCAN_TAG) return "Scan";
  if (first === RAW_SCAN_TAG && second === 1) return "RawScan";
  return undefined;
}

/** Decodes the bytes of a tikvpb.BatchCommandsResponse. */
export function decodeBatchResponse(buf: Buffer): IncomingBatch {
  const r = new Reader(buf);
  const out: IncomingBatch = { cases: [], bodies: [], ids: [], healthFeedback: undefined };
  while (r.pos < buf.length) {
    const tag = r.varint();
    switch (tag) {
      case 10: {
        // responses: a Response whose only field is raw_get (field 13), raw_put (field 15),
        // raw_batch_get (field 14), batch_get (field 7), raw_scan (field 19) or scan (field 2)
        // is decoded by hand
        const end = r.delimitedEnd();
        const start = r.pos;
        const first = end > start ? (buf[start] as number) : 0;
        const pairs = pairsCase(first, end > start + 1 ? (buf[start + 1] as number) : 0);
        if (first === RAW_GET_TAG || first === RAW_PUT_TAG || pairs !== undefined) {
          r.pos = pairs === "RawScan" ? start + 2 : start + 1;
          const inner = r.delimitedEnd();
          if (inner === end) {
            if (first === RAW_GET_TAG) {
              out.cases.push("RawGet");
              out.bodies.push(decodeRawGet(r, inner));
            } else if (first === RAW_PUT_TAG) {
              out.cases.push("RawPut");
              out.bodies.push(decodeRawPut(r, inner));
            } else {
              out.cases.push(pairs);
              out.bodies.push(new PendingPairs(pairs as PairsCase, pairSource(r, inner)));
              r.pos = inner;
            }
            break;
          }
        }
        const resp = BatchCommandsResponse_Response.decode(buf.subarray(start, end));
        const cmd = resp.cmd as { $case: string } | undefined;
        out.cases.push(cmd?.$case);
        out.bodies.push(cmd ? (cmd as unknown as Record<string, unknown>)[cmd.$case] : undefined);
        r.pos = end;
        break;
      }
      case 16: // request_ids, unpacked
        out.ids.push(r.varint());
        break;
      case 18: {
        // request_ids, packed
        const end = r.delimitedEnd();
        while (r.pos < end) out.ids.push(r.varint());
        break;
      }
      case 34: {
        const end = r.delimitedEnd();
        out.healthFeedback = HealthFeedback.decode(buf.subarray(r.pos, end));
        r.pos = end;
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}
