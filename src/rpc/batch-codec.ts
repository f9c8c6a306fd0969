// Wire encoding of BatchCommandsRequest for the client's stream, written by hand for the hot
// path: one buffer per message (no writer fork/join, no bigint request ids, no extra copy), and
// a RawGet's kvrpcpb.Context, which the request sender shares per region and freezes, encoded
// once per context object. Other commands go through the generated encoder. The bytes are
// exactly what tikvpb.BatchCommandsRequest.encode produces (field order and default omission
// follow the generated code), so the server sees the same message.

import { Context } from "../proto/kvrpcpb.js";
import { BatchCommandsRequest_Request } from "../proto/tikvpb.js";
import type { TikvCommand } from "./tikv-commands.js";

/** One message's worth of queued requests (parallel arrays), as written to the stream. */
export interface OutgoingBatch {
  cmds: TikvCommand[];
  reqs: unknown[];
  ids: number[];
}

// tikvpb.BatchCommandsRequest.Request field 13 (raw_get), wire type 2
const RAW_GET_TAG = 106;

interface RawGetLike {
  context?: Context | undefined;
  key: Uint8Array;
  cf: string;
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

// Per request of a batch: the Request body's size, and either pre-encoded bytes (generic) or
// the RawGet parts written in the second pass.
interface Part {
  size: number;
  bytes: Uint8Array | undefined;
  ctx: Uint8Array | undefined;
  key: Uint8Array;
  cf: string;
  cfLen: number;
  innerSize: number;
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
    if (cmd === "RawGet") {
      const r = reqs[i] as RawGetLike;
      const ctx = r.context !== undefined ? encodedContext(r.context) : undefined;
      const cfLen = r.cf === "" ? 0 : Buffer.byteLength(r.cf);
      let inner = 0;
      if (ctx !== undefined) inner += 1 + varintSize(ctx.length) + ctx.length;
      if (r.key.length !== 0) inner += 1 + varintSize(r.key.length) + r.key.length;
      if (cfLen !== 0) inner += 1 + varintSize(cfLen) + cfLen;
      const size = 1 + varintSize(inner) + inner;
      part = { size, bytes: undefined, ctx, key: r.key, cf: r.cf, cfLen, innerSize: inner };
    } else {
      const bytes = BatchCommandsRequest_Request.encode({
        cmd: { $case: cmd, [cmd]: reqs[i] } as BatchCommandsRequest_Request["cmd"],
      }).finish();
      part = { size: bytes.length, bytes, ctx: undefined, key: bytes, cf: "", cfLen: 0, innerSize: 0 };
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
      buf.set(p.bytes, pos);
      pos += p.bytes.length;
      continue;
    }
    buf[pos++] = RAW_GET_TAG;
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
    if (p.cfLen !== 0) {
      buf[pos++] = 26; // cf, field 3
      pos = writeVarint(buf, pos, p.cfLen);
      pos += buf.write(p.cf, pos, "utf8");
    }
  }
  if (ids.length !== 0) {
    buf[pos++] = 18; // request_ids, field 2, packed
    pos = writeVarint(buf, pos, idsSize);
    for (let i = 0; i < ids.length; i++) pos = writeVarint(buf, pos, ids[i] as number);
  }
  return buf;
}
