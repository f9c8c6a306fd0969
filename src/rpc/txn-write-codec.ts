// Hand-written encoders of the transaction write requests on the BatchCommands hot path: a
// Prewrite or Commit Request of tikvpb.BatchCommandsRequest without its context (the batch
// codec puts the shared, pre-encoded context in front), written in one pass. The bytes are
// exactly what the generated encoder writes (field order and default omission follow it);
// what this does not write (negative enums, values outside uint64, for_update_ts constraints,
// txn file chunks) returns undefined and takes the generated encoder.

import type { CommitRequest, Mutation, PrewriteRequest } from "../proto/kvrpcpb.js";
import {
  bytesFieldSize,
  isUint64,
  varint64Size,
  varintSize,
  writeVarint,
  writeVarint64,
} from "./wire-varint.js";

// fields 3 (prewrite) and 4 (commit) of tikvpb.BatchCommandsRequest.Request, wire type 2
const PREWRITE_TAG = 26;
const COMMIT_TAG = 34;
// kvrpcpb.CommitRequest is_txn_file, field 100, wire type 0
const IS_TXN_FILE_TAG = [0xa0, 0x06];

// a uint64 field with a one-byte tag, written when non-zero
const u64Size = (v: bigint) => (v === 0n ? 0 : 1 + varint64Size(v));
// an enum (int32) field with a one-byte tag, written when non-zero (negatives are refused before)
const enumSize = (v: number) => (v === 0 ? 0 : 1 + varintSize(v));
const bytesSize = (b: Uint8Array) => (b.length === 0 ? 0 : bytesFieldSize(b.length));

// Mutation: op 1, key 2, value 3, assertion 4.
function mutationSize(m: Mutation): number {
  return enumSize(m.op) + bytesSize(m.key) + bytesSize(m.value) + enumSize(m.assertion);
}

function writeU64(buf: Buffer, pos: number, tag: number, v: bigint): number {
  if (v === 0n) return pos;
  buf[pos++] = tag;
  return writeVarint64(buf, pos, v);
}

function writeEnum(buf: Buffer, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = tag;
  return writeVarint(buf, pos, v);
}

function writeBytes(buf: Buffer, pos: number, tag: number, b: Uint8Array, always = false): number {
  if (b.length === 0 && !always) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

function writeBool(buf: Buffer, pos: number, tag: number, v: boolean): number {
  if (!v) return pos;
  buf[pos++] = tag;
  buf[pos++] = 1;
  return pos;
}

// a buffer for the oneof tag, the body's length and the body; `pos` is where the body starts
function frame(tag: number, inner: number): { buf: Buffer; pos: number } {
  const buf = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  buf[0] = tag;
  return { buf, pos: writeVarint(buf, 1, inner) };
}

/**
 * PrewriteRequest without context: mutations 2, primary_lock 3, start_version 4, lock_ttl 5,
 * skip_constraint_check 6, pessimistic_actions 7 (packed), txn_size 8, for_update_ts 9,
 * min_commit_ts 10, use_async_commit 11, secondaries 12 (each written, even empty),
 * try_one_pc 13, max_commit_ts 14, assertion_level 15.
 */
export function encodePrewriteNoContext(r: PrewriteRequest): Buffer | undefined {
  if (r.forUpdateTsConstraints.length !== 0 || r.txnFileChunks.length !== 0) return undefined;
  const u64s = [r.startVersion, r.lockTtl, r.txnSize, r.forUpdateTs, r.minCommitTs, r.maxCommitTs];
  for (const v of u64s) if (!isUint64(v)) return undefined;
  if (r.assertionLevel < 0) return undefined;
  let inner = 0;
  for (const m of r.mutations) {
    if (m.op < 0 || m.assertion < 0) return undefined;
    inner += bytesFieldSize(mutationSize(m));
  }
  inner += bytesSize(r.primaryLock);
  for (const v of u64s) inner += u64Size(v);
  if (r.skipConstraintCheck) inner += 2;
  let actionsLen = 0;
  for (const a of r.pessimisticActions) {
    if (a < 0) return undefined;
    actionsLen += varintSize(a);
  }
  if (r.pessimisticActions.length !== 0) inner += bytesFieldSize(actionsLen);
  if (r.useAsyncCommit) inner += 2;
  for (const s of r.secondaries) inner += bytesFieldSize(s.length);
  if (r.tryOnePc) inner += 2;
  inner += enumSize(r.assertionLevel);

  const f = frame(PREWRITE_TAG, inner);
  const buf = f.buf;
  let pos = f.pos;
  for (const m of r.mutations) {
    buf[pos++] = 18;
    pos = writeVarint(buf, pos, mutationSize(m));
    pos = writeEnum(buf, pos, 8, m.op);
    pos = writeBytes(buf, pos, 18, m.key);
    pos = writeBytes(buf, pos, 26, m.value);
    pos = writeEnum(buf, pos, 32, m.assertion);
  }
  pos = writeBytes(buf, pos, 26, r.primaryLock);
  pos = writeU64(buf, pos, 32, r.startVersion);
  pos = writeU64(buf, pos, 40, r.lockTtl);
  pos = writeBool(buf, pos, 48, r.skipConstraintCheck);
  if (r.pessimisticActions.length !== 0) {
    buf[pos++] = 58;
    pos = writeVarint(buf, pos, actionsLen);
    for (const a of r.pessimisticActions) pos = writeVarint(buf, pos, a);
  }
  pos = writeU64(buf, pos, 64, r.txnSize);
  pos = writeU64(buf, pos, 72, r.forUpdateTs);
  pos = writeU64(buf, pos, 80, r.minCommitTs);
  pos = writeBool(buf, pos, 88, r.useAsyncCommit);
  for (const s of r.secondaries) pos = writeBytes(buf, pos, 98, s, true);
  pos = writeBool(buf, pos, 104, r.tryOnePc);
  pos = writeU64(buf, pos, 112, r.maxCommitTs);
  writeEnum(buf, pos, 120, r.assertionLevel);
  return buf;
}

/**
 * CommitRequest without context: start_version 2, keys 3 (each written, even empty),
 * commit_version 4, commit_role 6, primary_key 7, use_async_commit 8, is_txn_file 100.
 */
export function encodeCommitNoContext(r: CommitRequest): Buffer | undefined {
  if (!isUint64(r.startVersion) || !isUint64(r.commitVersion) || r.commitRole < 0) return undefined;
  let inner = u64Size(r.startVersion) + u64Size(r.commitVersion) + enumSize(r.commitRole);
  for (const k of r.keys) inner += bytesFieldSize(k.length);
  inner += bytesSize(r.primaryKey);
  if (r.useAsyncCommit) inner += 2;
  if (r.isTxnFile) inner += 3;

  const f = frame(COMMIT_TAG, inner);
  const buf = f.buf;
  let pos = f.pos;
  pos = writeU64(buf, pos, 16, r.startVersion);
  for (const k of r.keys) pos = writeBytes(buf, pos, 26, k, true);
  pos = writeU64(buf, pos, 32, r.commitVersion);
  pos = writeEnum(buf, pos, 48, r.commitRole);
  pos = writeBytes(buf, pos, 58, r.primaryKey);
  pos = writeBool(buf, pos, 64, r.useAsyncCommit);
  if (r.isTxnFile) {
    buf[pos++] = IS_TXN_FILE_TAG[0] as number;
    buf[pos++] = IS_TXN_FILE_TAG[1] as number;
    buf[pos++] = 1;
  }
  return buf;
}
