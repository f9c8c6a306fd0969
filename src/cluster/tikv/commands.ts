// One entry per TiKV RPC the mock store serves: how to find its keys and read timestamp, which
// region checks apply, how to run it on the engines and where its errors go in the response.
// Error placement follows tikv src/server/service/kv.rs (future_* functions and
// txn_command_future!); which checks apply follows raftstore's read/write paths.
import type { WaitForEntry } from "../../proto/deadlock.js";
import type { Error as RegionError } from "../../proto/errorpb.js";
import * as kv from "../../proto/kvrpcpb.js";
import type { Region } from "../../proto/metapb.js";
import type { TikvRpcName } from "../faults/rpc-names.js";
import { checkDeleteRange } from "./apply-checks.js";
import { batchGetCounts, getCounts, type ReadCounts } from "./exec-details.js";
import type { KeyRangeArg, RawEnginePort, TopologyPort, TxnEnginePort } from "./ports.js";
import type { Access, Bound, RegionKeyForm } from "./region-check.js";

export type { Access, Bound };

/** The key forms of a store: one for transactional keys, one for raw keys. */
export interface RegionKeyForms {
  txn: RegionKeyForm;
  raw: RegionKeyForm;
}

/** A transactional command's API-version check input (TiKV's CommandKind name + keys or ranges). */
export type TxnApiInput =
  | { cmd: string; keys: readonly Buffer[] }
  | { cmd: string; ranges: readonly (readonly [Buffer, Buffer])[] };

/** Where an API-version failure is reported in the response. */
export type ApiErrorPlace = "error" | "errors" | "pairs" | "string";

/** What a command needs to run. */
export interface ExecEnv {
  txn: TxnEnginePort;
  raw: RawEnginePort;
  topology: TopologyPort;
  storeId: bigint;
  /** The cluster's storage API version. */
  apiVersion: kv.APIVersion;
  /** A fresh health feedback of this store. */
  healthFeedback(): kv.HealthFeedback;
  /** The lock manager's wait-for table (GetLockWaitInfo). */
  lockWaitInfo(): WaitForEntry[];
  /** How transactional and raw keys meet the stored region boundaries (and errors render them). */
  regionKeys: RegionKeyForms;
}

/** Static description of one RPC. */
// biome-ignore lint/suspicious/noExplicitAny: the table mixes request/response types per entry.
export interface CommandSpec<Req = any, Resp = any> {
  rpc: TikvRpcName;
  access: Access;
  /** Keys that must lie in the region (and that `key`-scoped faults match). */
  keys(req: Req): readonly Buffer[];
  /** A scan's start bound, checked against the region. */
  bound?(req: Req): Bound | undefined;
  /** Read timestamp for stale reads. */
  readTs?(req: Req): bigint;
  /**
   * True when the command needs the region's max_ts to be synced (async-commit / 1PC
   * prewrite, tikv src/storage/txn/commands/prewrite.rs).
   */
  needsMaxTsSync?(req: Req): boolean;
  /**
   * A raw write that needs a flushed causal timestamp under API V2 (tikv src/storage/mod.rs
   * check_causal_ts_flushed).
   */
  rawCausalTs?: true;
  /**
   * Runs on TiKV's read pool with the busy check (context.busy_threshold_ms against the
   * estimated queue wait, tikv src/read_pool.rs check_busy_threshold).
   */
  readPool?: true;
  /** Transactional API-version check input. */
  txnApi?(req: Req): TxnApiInput;
  apiErrorPlace?: ApiErrorPlace;
  /**
   * Keys checked against the region before the command runs, when they differ from `keys`
   * (delete ranges check their bounds at apply instead, see `applyCheck`).
   */
  checkedKeys?(req: Req): readonly Buffer[];
  /**
   * Estimated size in bytes of the raft entry the write proposes, compared with the store's
   * raft-entry-max-size (see `entryBytes`).
   */
  entrySize?(req: Req): number;
  /**
   * Checks made when the write is applied (after the region checks); a response here ends
   * the command without running it.
   */
  applyCheck?(env: ExecEnv, req: Req, region: Region, form: RegionKeyForm): Resp | undefined;
  /**
   * Whether the request's keys are raw keys (compared with the boundaries as sent under API
   * V1). Default: true for the Raw* RPCs, false for the rest.
   */
  rawKeys?(req: Req): boolean;
  /**
   * The response carries exec_details_v2 (tikv's request tracker): time detail, and the scan
   * detail of what a read returned when `count` is given.
   */
  execDetails?: { count?(req: Req, resp: Resp): ReadCounts };
  exec(env: ExecEnv, req: Req, range: KeyRangeArg | undefined): Resp | Promise<Resp>;
  withRegionError(e: RegionError): Resp;
  withKeyError(e: kv.KeyError): Resp;
}

const NONE: readonly Buffer[] = [];
const one = (k: Buffer): readonly Buffer[] => [k];

interface Builder<T> {
  // biome-ignore lint/suspicious/noExplicitAny: ts-proto's DeepPartial differs per message.
  fromPartial(o: any): T;
}

/** Responses with `region_error` and a single `error: KeyError`. */
function keyErrorSingle<T>(b: Builder<T>) {
  return {
    withRegionError: (e: RegionError) => b.fromPartial({ regionError: e }),
    withKeyError: (e: kv.KeyError) => b.fromPartial({ error: e }),
  };
}
/** Responses with `region_error` and `errors: KeyError[]`. */
function keyErrorList<T>(b: Builder<T>) {
  return {
    withRegionError: (e: RegionError) => b.fromPartial({ regionError: e }),
    withKeyError: (e: kv.KeyError) => b.fromPartial({ errors: [e] }),
  };
}
/** Responses with `region_error` and a string `error`. */
function stringError<T>(b: Builder<T>) {
  return {
    withRegionError: (e: RegionError) => b.fromPartial({ regionError: e }),
    withKeyError: (e: kv.KeyError) => b.fromPartial({ error: keyErrorText(e) }),
  };
}
/** Responses whose failures are reported as one errored pair (`field` is the pairs list). */
function pairError<T>(b: Builder<T>, field: "pairs" | "kvs") {
  return {
    withRegionError: (e: RegionError) => b.fromPartial({ regionError: e }),
    withKeyError: (e: kv.KeyError) => b.fromPartial({ [field]: [{ error: e }] }),
  };
}

/** Text for a KeyError where the response only has a string. */
export function keyErrorText(e: kv.KeyError): string {
  return e.abort || e.retryable || "injected key error";
}

function scanBound(req: { startKey: Buffer; reverse: boolean }): Bound {
  return { key: req.startKey, upper: req.reverse };
}

function scanRange(req: { startKey: Buffer; endKey: Buffer; reverse: boolean }): [Buffer, Buffer] {
  return req.reverse ? [req.endKey, req.startKey] : [req.startKey, req.endKey];
}

const mutationKeys = (ms: kv.Mutation[]): Buffer[] => ms.map((m) => m.key);

/**
 * Estimated raft entry size of a write: the sum of the bytes of the keys and values it
 * writes, plus `perKey` bytes for each key (a lock's copy of the primary key). TiKV measures
 * the serialized RaftCmdRequest (tikv components/raftstore/src/store/peer.rs propose_normal);
 * headers, column-family names, key encoding and lock fields are left out, so this slightly
 * underestimates it.
 */
function entryBytes(keys: readonly Buffer[], values: readonly Buffer[] = [], perKey = 0): number {
  let n = 0;
  for (const k of keys) n += k.length + perKey;
  for (const v of values) n += v.length;
  return n;
}

/** A prewrite-like request writes each key's lock (holding the primary) and its value. */
function mutationEntryBytes(ms: kv.Mutation[], primary: Buffer): number {
  return entryBytes(
    mutationKeys(ms),
    ms.map((m) => m.value),
    primary.length,
  );
}

/**
 * Apply-time checks of a delete range (raftstore handle_delete_range) on `region` (stored
 * form). Txn keys and API V2 raw keys reach raftstore memcomparable-encoded; API V1 raw keys
 * as sent.
 */
function deleteRangeApply<Resp>(
  start: Buffer,
  end: Buffer,
  region: Region,
  encoded: boolean,
  form: RegionKeyForm,
  withRegionError: (e: RegionError) => Resp,
): Resp | undefined {
  const e = checkDeleteRange(start, end, region, encoded ? "encoded" : "plain", form);
  return e ? withRegionError(e) : undefined;
}

/** The command table, keyed by RPC name. */
export const COMMANDS = {
  KvGet: {
    rpc: "KvGet",
    access: "read",
    readPool: true,
    keys: (r: kv.GetRequest) => one(r.key),
    readTs: (r: kv.GetRequest) => r.version,
    txnApi: (r: kv.GetRequest) => ({ cmd: "get", keys: [r.key] }),
    apiErrorPlace: "error",
    exec: (env, r: kv.GetRequest) => env.txn.get(r),
    execDetails: { count: getCounts },
    ...keyErrorSingle(kv.GetResponse),
  },
  KvBatchGet: {
    rpc: "KvBatchGet",
    access: "read",
    readPool: true,
    keys: (r: kv.BatchGetRequest) => r.keys,
    readTs: (r: kv.BatchGetRequest) => r.version,
    txnApi: (r: kv.BatchGetRequest) => ({ cmd: "batch_get", keys: r.keys }),
    apiErrorPlace: "pairs",
    exec: (env, r: kv.BatchGetRequest) => env.txn.batchGet(r),
    execDetails: { count: batchGetCounts },
    ...keyErrorSingle(kv.BatchGetResponse),
  },
  KvScan: {
    rpc: "KvScan",
    access: "read",
    readPool: true,
    keys: (r: kv.ScanRequest) => one(r.startKey),
    bound: scanBound,
    readTs: (r: kv.ScanRequest) => r.version,
    txnApi: (r: kv.ScanRequest) => ({ cmd: "scan", ranges: [scanRange(r)] }),
    apiErrorPlace: "pairs",
    exec: (env, r: kv.ScanRequest, range) => env.txn.scan(r, range),
    ...keyErrorSingle(kv.ScanResponse),
  },
  KvBufferBatchGet: {
    rpc: "KvBufferBatchGet",
    access: "read",
    readPool: true,
    keys: (r: kv.BufferBatchGetRequest) => r.keys,
    txnApi: (r: kv.BufferBatchGetRequest) => ({ cmd: "buffer_batch_get", keys: r.keys }),
    apiErrorPlace: "error",
    exec: (env, r: kv.BufferBatchGetRequest) => env.txn.bufferBatchGet(r),
    ...keyErrorSingle(kv.BufferBatchGetResponse),
  },
  KvPrewrite: {
    rpc: "KvPrewrite",
    access: "write",
    keys: (r: kv.PrewriteRequest) => mutationKeys(r.mutations),
    needsMaxTsSync: (r: kv.PrewriteRequest) => r.useAsyncCommit || r.tryOnePc,
    txnApi: (r: kv.PrewriteRequest) => ({ cmd: "prewrite", keys: mutationKeys(r.mutations) }),
    apiErrorPlace: "errors",
    entrySize: (r: kv.PrewriteRequest) => mutationEntryBytes(r.mutations, r.primaryLock),
    exec: (env, r: kv.PrewriteRequest) => env.txn.prewrite(r),
    execDetails: {},
    ...keyErrorList(kv.PrewriteResponse),
  },
  KvCommit: {
    rpc: "KvCommit",
    access: "write",
    keys: (r: kv.CommitRequest) => r.keys,
    entrySize: (r: kv.CommitRequest) => entryBytes(r.keys),
    exec: (env, r: kv.CommitRequest) => env.txn.commit(r),
    execDetails: {},
    ...keyErrorSingle(kv.CommitResponse),
  },
  KvBatchRollback: {
    rpc: "KvBatchRollback",
    access: "write",
    keys: (r: kv.BatchRollbackRequest) => r.keys,
    entrySize: (r: kv.BatchRollbackRequest) => entryBytes(r.keys),
    exec: (env, r: kv.BatchRollbackRequest) => env.txn.batchRollback(r),
    ...keyErrorSingle(kv.BatchRollbackResponse),
  },
  KvPessimisticLock: {
    rpc: "KvPessimisticLock",
    access: "write",
    keys: (r: kv.PessimisticLockRequest) => mutationKeys(r.mutations),
    txnApi: (r: kv.PessimisticLockRequest) => ({
      cmd: "acquire_pessimistic_lock",
      keys: mutationKeys(r.mutations),
    }),
    apiErrorPlace: "errors",
    entrySize: (r: kv.PessimisticLockRequest) =>
      entryBytes(mutationKeys(r.mutations), [], r.primaryLock.length),
    exec: (env, r: kv.PessimisticLockRequest) => env.txn.pessimisticLock(r),
    ...keyErrorList(kv.PessimisticLockResponse),
  },
  KVPessimisticRollback: {
    rpc: "KVPessimisticRollback",
    access: "write",
    keys: (r: kv.PessimisticRollbackRequest) => r.keys,
    entrySize: (r: kv.PessimisticRollbackRequest) => entryBytes(r.keys),
    exec: (env, r: kv.PessimisticRollbackRequest, range) =>
      env.txn.pessimisticRollback(r, r.keys.length === 0 ? range : undefined),
    ...keyErrorList(kv.PessimisticRollbackResponse),
  },
  KvTxnHeartBeat: {
    rpc: "KvTxnHeartBeat",
    access: "write",
    keys: (r: kv.TxnHeartBeatRequest) => one(r.primaryLock),
    exec: (env, r: kv.TxnHeartBeatRequest) => env.txn.txnHeartBeat(r),
    ...keyErrorSingle(kv.TxnHeartBeatResponse),
  },
  KvCheckTxnStatus: {
    rpc: "KvCheckTxnStatus",
    access: "write",
    keys: (r: kv.CheckTxnStatusRequest) => one(r.primaryKey),
    exec: (env, r: kv.CheckTxnStatusRequest) => env.txn.checkTxnStatus(r),
    ...keyErrorSingle(kv.CheckTxnStatusResponse),
  },
  // Still served by TiKV (future_cleanup in src/server/service/kv.rs): a committed key answers
  // commit_version, other failures a KeyError.
  KvCleanup: {
    rpc: "KvCleanup",
    access: "write",
    keys: (r: kv.CleanupRequest) => one(r.key),
    exec: (env, r: kv.CleanupRequest) => env.txn.cleanup(r),
    ...keyErrorSingle(kv.CleanupResponse),
  },
  KvCheckSecondaryLocks: {
    rpc: "KvCheckSecondaryLocks",
    access: "write",
    keys: (r: kv.CheckSecondaryLocksRequest) => r.keys,
    exec: (env, r: kv.CheckSecondaryLocksRequest) => env.txn.checkSecondaryLocks(r),
    ...keyErrorSingle(kv.CheckSecondaryLocksResponse),
  },
  KvResolveLock: {
    rpc: "KvResolveLock",
    access: "write",
    keys: (r: kv.ResolveLockRequest) => r.keys,
    exec: (env, r: kv.ResolveLockRequest, range) =>
      env.txn.resolveLock(r, r.keys.length === 0 ? range : undefined),
    ...keyErrorSingle(kv.ResolveLockResponse),
  },
  KvScanLock: {
    rpc: "KvScanLock",
    access: "read",
    keys: (r: kv.ScanLockRequest) => one(r.startKey),
    bound: (r: kv.ScanLockRequest) => ({ key: r.startKey, upper: false }),
    exec: (env, r: kv.ScanLockRequest, range) => env.txn.scanLock(r, range),
    ...keyErrorSingle(kv.ScanLockResponse),
  },
  KvFlush: {
    rpc: "KvFlush",
    access: "write",
    keys: (r: kv.FlushRequest) => mutationKeys(r.mutations),
    txnApi: (r: kv.FlushRequest) => ({ cmd: "flush", keys: mutationKeys(r.mutations) }),
    apiErrorPlace: "errors",
    entrySize: (r: kv.FlushRequest) => mutationEntryBytes(r.mutations, r.primaryKey),
    exec: (env, r: kv.FlushRequest) => env.txn.flush(r),
    ...keyErrorList(kv.FlushResponse),
  },
  BroadcastTxnStatus: {
    rpc: "BroadcastTxnStatus",
    access: "none",
    keys: () => NONE,
    exec: (env, r: kv.BroadcastTxnStatusRequest) => env.txn.broadcastTxnStatus(r),
    // The response has no error fields: TiKV always answers an empty message.
    withRegionError: () => kv.BroadcastTxnStatusResponse.fromPartial({}),
    withKeyError: () => kv.BroadcastTxnStatusResponse.fromPartial({}),
  },
  KvDeleteRange: {
    rpc: "KvDeleteRange",
    access: "write",
    keys: (r: kv.DeleteRangeRequest) => one(r.startKey),
    checkedKeys: () => NONE,
    applyCheck: (_env, r: kv.DeleteRangeRequest, region, form) =>
      deleteRangeApply(r.startKey, r.endKey, region, true, form, (e) =>
        kv.DeleteRangeResponse.fromPartial({ regionError: e }),
      ),
    txnApi: (r: kv.DeleteRangeRequest) => ({ cmd: "delete_range", ranges: [[r.startKey, r.endKey]] }),
    apiErrorPlace: "string",
    exec: (env, r: kv.DeleteRangeRequest, range) => env.txn.deleteRange(r, range),
    ...stringError(kv.DeleteRangeResponse),
  },
  MvccGetByKey: {
    rpc: "MvccGetByKey",
    access: "read",
    keys: (r: kv.MvccGetByKeyRequest) => one(r.key),
    exec: (env, r: kv.MvccGetByKeyRequest) => env.txn.mvccGetByKey(r),
    ...stringError(kv.MvccGetByKeyResponse),
  },
  MvccGetByStartTs: {
    rpc: "MvccGetByStartTs",
    access: "read",
    keys: () => NONE,
    exec: (env, r: kv.MvccGetByStartTsRequest) => env.txn.mvccGetByStartTs(r),
    ...stringError(kv.MvccGetByStartTsResponse),
  },
  RawGet: {
    rpc: "RawGet",
    access: "read",
    readPool: true,
    keys: (r: kv.RawGetRequest) => one(r.key),
    exec: (env, r: kv.RawGetRequest) => env.raw.rawGet(r),
    ...stringError(kv.RawGetResponse),
  },
  RawBatchGet: {
    rpc: "RawBatchGet",
    access: "read",
    readPool: true,
    keys: (r: kv.RawBatchGetRequest) => r.keys,
    exec: (env, r: kv.RawBatchGetRequest) => env.raw.rawBatchGet(r),
    ...pairError(kv.RawBatchGetResponse, "pairs"),
  },
  RawPut: {
    rpc: "RawPut",
    access: "write",
    rawCausalTs: true,
    keys: (r: kv.RawPutRequest) => one(r.key),
    entrySize: (r: kv.RawPutRequest) => entryBytes([r.key], [r.value]),
    exec: (env, r: kv.RawPutRequest) => env.raw.rawPut(r),
    ...stringError(kv.RawPutResponse),
  },
  RawBatchPut: {
    rpc: "RawBatchPut",
    access: "write",
    rawCausalTs: true,
    keys: (r: kv.RawBatchPutRequest) => r.pairs.map((p) => p.key),
    entrySize: (r: kv.RawBatchPutRequest) =>
      entryBytes(
        r.pairs.map((p) => p.key),
        r.pairs.map((p) => p.value),
      ),
    exec: (env, r: kv.RawBatchPutRequest) => env.raw.rawBatchPut(r),
    ...stringError(kv.RawBatchPutResponse),
  },
  RawDelete: {
    rpc: "RawDelete",
    access: "write",
    rawCausalTs: true,
    keys: (r: kv.RawDeleteRequest) => one(r.key),
    entrySize: (r: kv.RawDeleteRequest) => entryBytes([r.key]),
    exec: (env, r: kv.RawDeleteRequest) => env.raw.rawDelete(r),
    ...stringError(kv.RawDeleteResponse),
  },
  RawBatchDelete: {
    rpc: "RawBatchDelete",
    access: "write",
    rawCausalTs: true,
    keys: (r: kv.RawBatchDeleteRequest) => r.keys,
    entrySize: (r: kv.RawBatchDeleteRequest) => entryBytes(r.keys),
    exec: (env, r: kv.RawBatchDeleteRequest) => env.raw.rawBatchDelete(r),
    ...stringError(kv.RawBatchDeleteResponse),
  },
  RawDeleteRange: {
    rpc: "RawDeleteRange",
    access: "write",
    keys: (r: kv.RawDeleteRangeRequest) => one(r.startKey),
    checkedKeys: () => NONE,
    applyCheck: (env, r: kv.RawDeleteRangeRequest, region, form) => {
      // Storage validation (key size, API version, cf) comes before raft in TiKV.
      const error = env.raw.validateRawDeleteRange(r);
      if (error !== "") return kv.RawDeleteRangeResponse.fromPartial({ error });
      return deleteRangeApply(r.startKey, r.endKey, region, env.apiVersion === kv.APIVersion.V2, form, (e) =>
        kv.RawDeleteRangeResponse.fromPartial({ regionError: e }),
      );
    },
    exec: (env, r: kv.RawDeleteRangeRequest) => env.raw.rawDeleteRange(r),
    ...stringError(kv.RawDeleteRangeResponse),
  },
  RawScan: {
    rpc: "RawScan",
    access: "read",
    readPool: true,
    keys: (r: kv.RawScanRequest) => one(r.startKey),
    bound: scanBound,
    exec: (env, r: kv.RawScanRequest, range) => env.raw.rawScan(r, range),
    ...pairError(kv.RawScanResponse, "kvs"),
  },
  RawBatchScan: {
    rpc: "RawBatchScan",
    access: "read",
    readPool: true,
    // Reverse ranges start at an exclusive upper bound, which may be the region end.
    keys: (r: kv.RawBatchScanRequest) => (r.reverse ? NONE : r.ranges.map((x) => x.startKey)),
    exec: (env, r: kv.RawBatchScanRequest, range) => env.raw.rawBatchScan(r, range),
    ...pairError(kv.RawBatchScanResponse, "kvs"),
  },
  RawGetKeyTTL: {
    rpc: "RawGetKeyTTL",
    access: "read",
    readPool: true,
    keys: (r: kv.RawGetKeyTTLRequest) => one(r.key),
    exec: (env, r: kv.RawGetKeyTTLRequest) => env.raw.rawGetKeyTTL(r),
    ...stringError(kv.RawGetKeyTTLResponse),
  },
  RawCompareAndSwap: {
    rpc: "RawCompareAndSwap",
    access: "write",
    keys: (r: kv.RawCASRequest) => one(r.key),
    entrySize: (r: kv.RawCASRequest) => entryBytes([r.key], [r.value]),
    exec: (env, r: kv.RawCASRequest) => env.raw.rawCompareAndSwap(r),
    ...stringError(kv.RawCASResponse),
  },
  RawChecksum: {
    rpc: "RawChecksum",
    access: "read",
    readPool: true,
    keys: () => NONE,
    exec: (env, r: kv.RawChecksumRequest, range) => env.raw.rawChecksum(r, range),
    ...stringError(kv.RawChecksumResponse),
  },
} satisfies Record<string, CommandSpec>;

/** RPC names handled through the generic command pipeline. */
export type CommandName = keyof typeof COMMANDS;
