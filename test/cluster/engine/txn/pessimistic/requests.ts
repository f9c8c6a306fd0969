// Request builders for driving TxnEngine in tests (defaults as client-go sends them).
import {
  BatchRollbackRequest,
  CheckSecondaryLocksRequest,
  CheckTxnStatusRequest,
  CleanupRequest,
  CommitRequest,
  GetRequest,
  Mutation,
  Op,
  PessimisticLockRequest,
  PessimisticLockWakeUpMode,
  PessimisticRollbackRequest,
  PrewriteRequest,
  PrewriteRequest_PessimisticAction,
  ResolveLockRequest,
  ScanLockRequest,
  TxnHeartBeatRequest,
} from "../../../../../src/proto/kvrpcpb.js";

const buf = (k: string | Buffer): Buffer => (typeof k === "string" ? Buffer.from(k) : k);

/** KvPrewrite of puts; pessimistic when forUpdateTs > 0 (every key pessimistically locked). */
export function prewriteReq(
  puts: [key: string | Buffer, value: string | Buffer][],
  startTs: bigint,
  o: {
    primary?: string | Buffer;
    forUpdateTs?: bigint;
    ttl?: bigint;
    useAsyncCommit?: boolean;
    secondaries?: Buffer[];
    tryOnePc?: boolean;
    minCommitTs?: bigint;
  } = {},
): PrewriteRequest {
  const forUpdateTs = o.forUpdateTs ?? 0n;
  return PrewriteRequest.fromPartial({
    useAsyncCommit: o.useAsyncCommit ?? false,
    secondaries: o.secondaries ?? [],
    tryOnePc: o.tryOnePc ?? false,
    minCommitTs: o.minCommitTs ?? 0n,
    mutations: puts.map(([k, v]) => Mutation.fromPartial({ op: Op.Put, key: buf(k), value: buf(v) })),
    primaryLock: buf(o.primary ?? (puts[0] as [string, string])[0]),
    startVersion: startTs,
    lockTtl: o.ttl ?? 3000n,
    txnSize: BigInt(puts.length),
    forUpdateTs,
    pessimisticActions:
      forUpdateTs > 0n ? puts.map(() => PrewriteRequest_PessimisticAction.DO_PESSIMISTIC_CHECK) : [],
  });
}

export function commitReq(keys: (string | Buffer)[], startTs: bigint, commitTs: bigint): CommitRequest {
  return CommitRequest.fromPartial({ keys: keys.map(buf), startVersion: startTs, commitVersion: commitTs });
}

export function lockReq(
  keys: (string | Buffer)[],
  startTs: bigint,
  forUpdateTs: bigint,
  o: {
    primary?: string | Buffer;
    waitTimeout?: bigint;
    returnValues?: boolean;
    ttl?: bigint;
    force?: boolean;
    isFirstLock?: boolean;
  } = {},
): PessimisticLockRequest {
  return PessimisticLockRequest.fromPartial({
    mutations: keys.map((k) => Mutation.fromPartial({ op: Op.PessimisticLock, key: buf(k) })),
    primaryLock: buf(o.primary ?? (keys[0] as string)),
    startVersion: startTs,
    forUpdateTs,
    lockTtl: o.ttl ?? 3000n,
    waitTimeout: o.waitTimeout ?? -1n,
    returnValues: o.returnValues ?? false,
    isFirstLock: o.isFirstLock ?? false,
    wakeUpMode: o.force
      ? PessimisticLockWakeUpMode.WakeUpModeForceLock
      : PessimisticLockWakeUpMode.WakeUpModeNormal,
  });
}

export function pessimisticRollbackReq(
  keys: (string | Buffer)[],
  startTs: bigint,
  forUpdateTs: bigint,
): PessimisticRollbackRequest {
  return PessimisticRollbackRequest.fromPartial({ keys: keys.map(buf), startVersion: startTs, forUpdateTs });
}

export function batchRollbackReq(keys: (string | Buffer)[], startTs: bigint): BatchRollbackRequest {
  return BatchRollbackRequest.fromPartial({ keys: keys.map(buf), startVersion: startTs });
}

export function cleanupReq(key: string | Buffer, startTs: bigint, currentTs: bigint): CleanupRequest {
  return CleanupRequest.fromPartial({ key: buf(key), startVersion: startTs, currentTs });
}

export function resolveLockReq(
  startTs: bigint,
  commitTs: bigint,
  keys: (string | Buffer)[] = [],
): ResolveLockRequest {
  return ResolveLockRequest.fromPartial({
    startVersion: startTs,
    commitVersion: commitTs,
    keys: keys.map(buf),
  });
}

export function checkTxnStatusReq(
  primary: string | Buffer,
  lockTs: bigint,
  callerStartTs: bigint,
  currentTs: bigint,
  rollbackIfNotExist = true,
): CheckTxnStatusRequest {
  return CheckTxnStatusRequest.fromPartial({
    primaryKey: buf(primary),
    lockTs,
    callerStartTs,
    currentTs,
    rollbackIfNotExist,
  });
}

export function heartBeatReq(primary: string | Buffer, startTs: bigint, ttl: bigint): TxnHeartBeatRequest {
  return TxnHeartBeatRequest.fromPartial({
    primaryLock: buf(primary),
    startVersion: startTs,
    adviseLockTtl: ttl,
  });
}

export function checkSecondaryLocksReq(keys: Buffer[], startTs: bigint): CheckSecondaryLocksRequest {
  return CheckSecondaryLocksRequest.fromPartial({ keys, startVersion: startTs });
}

export function getReq(key: string | Buffer, ts: bigint): GetRequest {
  return GetRequest.fromPartial({ key: buf(key), version: ts });
}

export function scanLockReq(maxVersion: bigint): ScanLockRequest {
  return ScanLockRequest.fromPartial({ maxVersion, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) });
}
