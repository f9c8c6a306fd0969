// Per-RPC key encoding of TiKV requests and decoding of responses, so the request layer can
// apply a codec without knowing message layouts. Follows client-go internal/apicodec/codec_v2.go
// (EncodeRequest / DecodeResponse) and codec_v1.go (which only decodes region errors).
// Commands are named after the tikvpb.Tikv RPC methods.

import type * as kv from "../proto/kvrpcpb.js";
import type { ApiCodec } from "./api-codec.js";
import {
  decodeKeyError,
  decodeKeyErrors,
  decodeLockInfo,
  decodeLockInfos,
  decodeMvccInfo,
  decodePairs,
  decodeRegionError,
  decodeRegions,
  decodeWaitForEntries,
  encodeKeyRanges,
  encodeMutations,
  encodePairs,
} from "./message-codec.js";

/** Request and response message types of each tikvpb.Tikv RPC whose messages carry keys or region errors. */
export interface TikvCommandMessages {
  KvGet: [kv.GetRequest, kv.GetResponse];
  KvScan: [kv.ScanRequest, kv.ScanResponse];
  KvPrewrite: [kv.PrewriteRequest, kv.PrewriteResponse];
  KvCommit: [kv.CommitRequest, kv.CommitResponse];
  KvCleanup: [kv.CleanupRequest, kv.CleanupResponse];
  KvBatchGet: [kv.BatchGetRequest, kv.BatchGetResponse];
  KvBatchRollback: [kv.BatchRollbackRequest, kv.BatchRollbackResponse];
  KvScanLock: [kv.ScanLockRequest, kv.ScanLockResponse];
  KvResolveLock: [kv.ResolveLockRequest, kv.ResolveLockResponse];
  KvGC: [kv.GCRequest, kv.GCResponse];
  KvDeleteRange: [kv.DeleteRangeRequest, kv.DeleteRangeResponse];
  KvPessimisticLock: [kv.PessimisticLockRequest, kv.PessimisticLockResponse];
  KVPessimisticRollback: [kv.PessimisticRollbackRequest, kv.PessimisticRollbackResponse];
  KvTxnHeartBeat: [kv.TxnHeartBeatRequest, kv.TxnHeartBeatResponse];
  KvCheckTxnStatus: [kv.CheckTxnStatusRequest, kv.CheckTxnStatusResponse];
  KvCheckSecondaryLocks: [kv.CheckSecondaryLocksRequest, kv.CheckSecondaryLocksResponse];
  KvFlush: [kv.FlushRequest, kv.FlushResponse];
  KvBufferBatchGet: [kv.BufferBatchGetRequest, kv.BufferBatchGetResponse];
  KvFlashbackToVersion: [kv.FlashbackToVersionRequest, kv.FlashbackToVersionResponse];
  KvPrepareFlashbackToVersion: [kv.PrepareFlashbackToVersionRequest, kv.PrepareFlashbackToVersionResponse];
  RawGet: [kv.RawGetRequest, kv.RawGetResponse];
  RawBatchGet: [kv.RawBatchGetRequest, kv.RawBatchGetResponse];
  RawPut: [kv.RawPutRequest, kv.RawPutResponse];
  RawBatchPut: [kv.RawBatchPutRequest, kv.RawBatchPutResponse];
  RawDelete: [kv.RawDeleteRequest, kv.RawDeleteResponse];
  RawBatchDelete: [kv.RawBatchDeleteRequest, kv.RawBatchDeleteResponse];
  RawDeleteRange: [kv.RawDeleteRangeRequest, kv.RawDeleteRangeResponse];
  RawScan: [kv.RawScanRequest, kv.RawScanResponse];
  RawBatchScan: [kv.RawBatchScanRequest, kv.RawBatchScanResponse];
  RawGetKeyTTL: [kv.RawGetKeyTTLRequest, kv.RawGetKeyTTLResponse];
  RawCompareAndSwap: [kv.RawCASRequest, kv.RawCASResponse];
  RawChecksum: [kv.RawChecksumRequest, kv.RawChecksumResponse];
  UnsafeDestroyRange: [kv.UnsafeDestroyRangeRequest, kv.UnsafeDestroyRangeResponse];
  SplitRegion: [kv.SplitRegionRequest, kv.SplitRegionResponse];
  GetStoreSafeTS: [kv.StoreSafeTSRequest, kv.StoreSafeTSResponse];
  MvccGetByKey: [kv.MvccGetByKeyRequest, kv.MvccGetByKeyResponse];
  MvccGetByStartTs: [kv.MvccGetByStartTsRequest, kv.MvccGetByStartTsResponse];
  GetLockWaitInfo: [kv.GetLockWaitInfoRequest, kv.GetLockWaitInfoResponse];
}

/** A tikvpb.Tikv RPC name known to the codec. */
export type TikvCommand = keyof TikvCommandMessages;
/** Request message type of a command. */
export type RequestOf<C extends TikvCommand> = TikvCommandMessages[C][0];
/** Response message type of a command. */
export type ResponseOf<C extends TikvCommand> = TikvCommandMessages[C][1];

/**
 * The codec's name of a transport command (src/rpc names transactional commands after the
 * BatchCommands cases, "Get", "Prewrite"...; the codec after the tikvpb RPCs, "KvGet"...).
 * Names that are the same in both (raw commands, SplitRegion...) map to themselves.
 */
const CODEC_NAMES: Readonly<Record<string, TikvCommand>> = {
  Get: "KvGet",
  Scan: "KvScan",
  Prewrite: "KvPrewrite",
  Commit: "KvCommit",
  Cleanup: "KvCleanup",
  BatchGet: "KvBatchGet",
  BatchRollback: "KvBatchRollback",
  ScanLock: "KvScanLock",
  ResolveLock: "KvResolveLock",
  GC: "KvGC",
  DeleteRange: "KvDeleteRange",
  PessimisticLock: "KvPessimisticLock",
  PessimisticRollback: "KVPessimisticRollback",
  TxnHeartBeat: "KvTxnHeartBeat",
  CheckTxnStatus: "KvCheckTxnStatus",
  CheckSecondaryLocks: "KvCheckSecondaryLocks",
  Flush: "KvFlush",
  BufferBatchGet: "KvBufferBatchGet",
  FlashbackToVersion: "KvFlashbackToVersion",
  PrepareFlashbackToVersion: "KvPrepareFlashbackToVersion",
};

/** Maps a transport command name (src/rpc) to the codec's command name. */
export function codecCommand(transportName: string): TikvCommand {
  return CODEC_NAMES[transportName] ?? (transportName as TikvCommand);
}

type Encoders = { [C in TikvCommand]?: (c: ApiCodec, r: RequestOf<C>) => RequestOf<C> };

// Encoders copy the request (it is reused on retries) and replace key fields only.
const ENCODERS: Encoders = {
  KvGet: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  KvScan: (c, r) => withRange(c, r, r.reverse),
  KvPrewrite: (c, r) => ({
    ...r,
    mutations: encodeMutations(c, r.mutations),
    primaryLock: c.encodeKey(r.primaryLock),
    secondaries: c.encodeKeys(r.secondaries),
  }),
  // An empty primary key means "not set" and must stay empty.
  KvCommit: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys), primaryKey: optKey(c, r.primaryKey) }),
  KvCleanup: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  KvBatchGet: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvBatchRollback: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvScanLock: (c, r) => withRange(c, r, false),
  KvResolveLock: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvDeleteRange: (c, r) => withRange(c, r, false),
  KvPessimisticLock: (c, r) => ({
    ...r,
    mutations: encodeMutations(c, r.mutations),
    primaryLock: c.encodeKey(r.primaryLock),
  }),
  KVPessimisticRollback: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvTxnHeartBeat: (c, r) => ({ ...r, primaryLock: c.encodeKey(r.primaryLock) }),
  KvCheckTxnStatus: (c, r) => ({ ...r, primaryKey: c.encodeKey(r.primaryKey) }),
  KvCheckSecondaryLocks: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvFlush: (c, r) => ({
    ...r,
    mutations: encodeMutations(c, r.mutations),
    primaryKey: optKey(c, r.primaryKey),
  }),
  KvBufferBatchGet: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  KvFlashbackToVersion: (c, r) => withRange(c, r, false),
  KvPrepareFlashbackToVersion: (c, r) => withRange(c, r, false),
  RawGet: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  RawBatchGet: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  RawPut: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  RawBatchPut: (c, r) => ({ ...r, pairs: encodePairs(c, r.pairs) }),
  RawDelete: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  RawBatchDelete: (c, r) => ({ ...r, keys: c.encodeKeys(r.keys) }),
  RawDeleteRange: (c, r) => withRange(c, r, false),
  RawScan: (c, r) => withRange(c, r, r.reverse),
  // client-go does not list RawBatchScan; its ranges are encoded like RawChecksum's.
  RawBatchScan: (c, r) => ({ ...r, ranges: encodeKeyRanges(c, r.ranges) }),
  RawGetKeyTTL: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  RawCompareAndSwap: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
  RawChecksum: (c, r) => ({ ...r, ranges: encodeKeyRanges(c, r.ranges) }),
  UnsafeDestroyRange: (c, r) => withRange(c, r, false),
  SplitRegion: (c, r) => ({ ...r, splitKey: optKey(c, r.splitKey), splitKeys: c.encodeKeys(r.splitKeys) }),
  GetStoreSafeTS: (c, r) => (r.keyRange ? { ...r, keyRange: encodeKeyRanges(c, [r.keyRange])[0] } : r),
  MvccGetByKey: (c, r) => ({ ...r, key: c.encodeKey(r.key) }),
};

function optKey(c: ApiCodec, key: Buffer): Buffer {
  return key.length > 0 ? c.encodeKey(key) : key;
}

function withRange<T extends { startKey: Buffer; endKey: Buffer }>(c: ApiCodec, r: T, reverse: boolean): T {
  const e = c.encodeRange(r.startKey, r.endKey, reverse);
  return { ...r, startKey: e.start, endKey: e.end };
}

/**
 * Returns the request with its keys encoded for the wire (a shallow copy when anything changes;
 * the input is never modified). Does not touch the request context: see ApiCodec.applyToContext.
 */
export function encodeRequest<C extends TikvCommand>(
  codec: ApiCodec,
  cmd: C,
  req: RequestOf<C>,
): RequestOf<C> {
  if (!codec.encodesKeys) return req;
  const enc = ENCODERS[cmd] as ((c: ApiCodec, r: RequestOf<C>) => RequestOf<C>) | undefined;
  return enc ? enc(codec, req) : req;
}

/** Fields a response may carry that hold keys. */
interface KeyedResponse {
  regionError?: kv.GetResponse["regionError"];
  error?: kv.KeyError | string;
  errors?: kv.KeyError[];
  pairs?: kv.KvPair[];
  kvs?: kv.KvPair[];
  locks?: kv.LockInfo[];
  lockInfo?: kv.LockInfo;
  info?: kv.MvccInfo;
  entries?: kv.GetLockWaitInfoResponse["entries"];
  regions?: kv.SplitRegionResponse["regions"];
  key?: Buffer;
}

/**
 * Decodes the keys of a response in place and returns it: region boundaries in region errors
 * (every API version), and in API v2 the keys of key errors, lock infos, pairs, MVCC info, wait
 * entries and split regions. EpochNotMatch regions outside the keyspace are dropped.
 * Throws KeyDecodeError / KeyOutOfKeyspaceError when TiKV returns keys the codec cannot map.
 */
export function decodeResponse<C extends TikvCommand>(
  codec: ApiCodec,
  cmd: C,
  resp: ResponseOf<C>,
): ResponseOf<C> {
  const r = resp as KeyedResponse;
  if (r.regionError) decodeRegionError(codec, r.regionError);
  if (!codec.encodesKeys) return resp;
  if (typeof r.error === "object") decodeKeyError(codec, r.error);
  if (r.errors) decodeKeyErrors(codec, r.errors);
  if (r.pairs) decodePairs(codec, r.pairs);
  if (r.kvs) decodePairs(codec, r.kvs);
  if (r.locks) decodeLockInfos(codec, r.locks);
  if (r.lockInfo) decodeLockInfo(codec, r.lockInfo);
  if (r.info) decodeMvccInfo(codec, r.info);
  if (r.entries) decodeWaitForEntries(codec, r.entries);
  if (cmd === "SplitRegion" && r.regions) decodeRegions(codec, r.regions);
  if (cmd === "MvccGetByStartTs" && r.key && r.key.length > 0) r.key = codec.decodeKey(r.key);
  return resp;
}
