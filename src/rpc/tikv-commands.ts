// The TiKV commands the client sends, and which of them travel over BatchCommands.
// The batched set is the one client-go puts on the stream (tikvrpc Request.ToBatchCommandsRequest);
// every other command is a unary call.

import type {
  BatchGetRequest,
  BatchGetResponse,
  BatchRollbackRequest,
  BatchRollbackResponse,
  BroadcastTxnStatusRequest,
  BroadcastTxnStatusResponse,
  BufferBatchGetRequest,
  BufferBatchGetResponse,
  CheckSecondaryLocksRequest,
  CheckSecondaryLocksResponse,
  CheckTxnStatusRequest,
  CheckTxnStatusResponse,
  CleanupRequest,
  CleanupResponse,
  CommitRequest,
  CommitResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  FlashbackToVersionRequest,
  FlashbackToVersionResponse,
  FlushRequest,
  FlushResponse,
  GCRequest,
  GCResponse,
  GetHealthFeedbackRequest,
  GetHealthFeedbackResponse,
  GetLockWaitInfoRequest,
  GetLockWaitInfoResponse,
  GetRequest,
  GetResponse,
  MvccGetByKeyRequest,
  MvccGetByKeyResponse,
  MvccGetByStartTsRequest,
  MvccGetByStartTsResponse,
  PessimisticLockRequest,
  PessimisticLockResponse,
  PessimisticRollbackRequest,
  PessimisticRollbackResponse,
  PrepareFlashbackToVersionRequest,
  PrepareFlashbackToVersionResponse,
  PrewriteRequest,
  PrewriteResponse,
  RawBatchDeleteRequest,
  RawBatchDeleteResponse,
  RawBatchGetRequest,
  RawBatchGetResponse,
  RawBatchPutRequest,
  RawBatchPutResponse,
  RawBatchScanRequest,
  RawBatchScanResponse,
  RawCASRequest,
  RawCASResponse,
  RawChecksumRequest,
  RawChecksumResponse,
  RawDeleteRangeRequest,
  RawDeleteRangeResponse,
  RawDeleteRequest,
  RawDeleteResponse,
  RawGetKeyTTLRequest,
  RawGetKeyTTLResponse,
  RawGetRequest,
  RawGetResponse,
  RawPutRequest,
  RawPutResponse,
  RawScanRequest,
  RawScanResponse,
  ResolveLockRequest,
  ResolveLockResponse,
  ScanLockRequest,
  ScanLockResponse,
  ScanRequest,
  ScanResponse,
  SplitRegionRequest,
  SplitRegionResponse,
  StoreSafeTSRequest,
  StoreSafeTSResponse,
  TxnHeartBeatRequest,
  TxnHeartBeatResponse,
  UnsafeDestroyRangeRequest,
  UnsafeDestroyRangeResponse,
} from "../proto/kvrpcpb.js";
import type { BatchCommandsEmptyRequest, BatchCommandsEmptyResponse } from "../proto/tikvpb.js";
import { TikvService } from "../proto/tikvpb.js";
import type { UnaryMethod } from "./call.js";

/** Request and response type of each TiKV command, keyed by its BatchCommands name. */
export interface TikvCommandTypes {
  Get: { req: GetRequest; resp: GetResponse };
  BatchGet: { req: BatchGetRequest; resp: BatchGetResponse };
  Scan: { req: ScanRequest; resp: ScanResponse };
  BufferBatchGet: { req: BufferBatchGetRequest; resp: BufferBatchGetResponse };
  Prewrite: { req: PrewriteRequest; resp: PrewriteResponse };
  Commit: { req: CommitRequest; resp: CommitResponse };
  BatchRollback: { req: BatchRollbackRequest; resp: BatchRollbackResponse };
  PessimisticLock: { req: PessimisticLockRequest; resp: PessimisticLockResponse };
  PessimisticRollback: { req: PessimisticRollbackRequest; resp: PessimisticRollbackResponse };
  TxnHeartBeat: { req: TxnHeartBeatRequest; resp: TxnHeartBeatResponse };
  CheckTxnStatus: { req: CheckTxnStatusRequest; resp: CheckTxnStatusResponse };
  CheckSecondaryLocks: { req: CheckSecondaryLocksRequest; resp: CheckSecondaryLocksResponse };
  ResolveLock: { req: ResolveLockRequest; resp: ResolveLockResponse };
  ScanLock: { req: ScanLockRequest; resp: ScanLockResponse };
  Flush: { req: FlushRequest; resp: FlushResponse };
  BroadcastTxnStatus: { req: BroadcastTxnStatusRequest; resp: BroadcastTxnStatusResponse };
  DeleteRange: { req: DeleteRangeRequest; resp: DeleteRangeResponse };
  UnsafeDestroyRange: { req: UnsafeDestroyRangeRequest; resp: UnsafeDestroyRangeResponse };
  SplitRegion: { req: SplitRegionRequest; resp: SplitRegionResponse };
  GetStoreSafeTS: { req: StoreSafeTSRequest; resp: StoreSafeTSResponse };
  GetHealthFeedback: { req: GetHealthFeedbackRequest; resp: GetHealthFeedbackResponse };
  RawGet: { req: RawGetRequest; resp: RawGetResponse };
  RawBatchGet: { req: RawBatchGetRequest; resp: RawBatchGetResponse };
  RawPut: { req: RawPutRequest; resp: RawPutResponse };
  RawBatchPut: { req: RawBatchPutRequest; resp: RawBatchPutResponse };
  RawDelete: { req: RawDeleteRequest; resp: RawDeleteResponse };
  RawBatchDelete: { req: RawBatchDeleteRequest; resp: RawBatchDeleteResponse };
  RawDeleteRange: { req: RawDeleteRangeRequest; resp: RawDeleteRangeResponse };
  RawScan: { req: RawScanRequest; resp: RawScanResponse };
  RawBatchScan: { req: RawBatchScanRequest; resp: RawBatchScanResponse };
  RawGetKeyTTL: { req: RawGetKeyTTLRequest; resp: RawGetKeyTTLResponse };
  RawCompareAndSwap: { req: RawCASRequest; resp: RawCASResponse };
  RawChecksum: { req: RawChecksumRequest; resp: RawChecksumResponse };
  MvccGetByKey: { req: MvccGetByKeyRequest; resp: MvccGetByKeyResponse };
  MvccGetByStartTs: { req: MvccGetByStartTsRequest; resp: MvccGetByStartTsResponse };
  GetLockWaitInfo: { req: GetLockWaitInfoRequest; resp: GetLockWaitInfoResponse };
  PrepareFlashbackToVersion: {
    req: PrepareFlashbackToVersionRequest;
    resp: PrepareFlashbackToVersionResponse;
  };
  FlashbackToVersion: { req: FlashbackToVersionRequest; resp: FlashbackToVersionResponse };
  GC: { req: GCRequest; resp: GCResponse };
  Cleanup: { req: CleanupRequest; resp: CleanupResponse };
  Empty: { req: BatchCommandsEmptyRequest; resp: BatchCommandsEmptyResponse };
}

/** Name of a TiKV command (the BatchCommands oneof case, or the unary RPC name). */
export type TikvCommand = keyof TikvCommandTypes;
/** Request type of command C. */
export type TikvRequest<C extends TikvCommand> = TikvCommandTypes[C]["req"];
/** Response type of command C. */
export type TikvResponse<C extends TikvCommand> = TikvCommandTypes[C]["resp"];

/** Commands client-go sends over the BatchCommands stream (when batching is on). */
export const BATCHED_COMMANDS: ReadonlySet<TikvCommand> = new Set<TikvCommand>([
  "Get",
  "BatchGet",
  "Scan",
  "BufferBatchGet",
  "Prewrite",
  "Commit",
  "BatchRollback",
  "PessimisticLock",
  "PessimisticRollback",
  "TxnHeartBeat",
  "CheckTxnStatus",
  "CheckSecondaryLocks",
  "ResolveLock",
  "ScanLock",
  "Flush",
  "BroadcastTxnStatus",
  "DeleteRange",
  "GetHealthFeedback",
  "RawGet",
  "RawBatchGet",
  "RawPut",
  "RawBatchPut",
  "RawDelete",
  "RawBatchDelete",
  "RawDeleteRange",
  "RawScan",
  "PrepareFlashbackToVersion",
  "FlashbackToVersion",
  "GC",
  "Cleanup",
  "Empty",
]);

/** Unary gRPC method of each command (Empty exists only on the stream). */
export const UNARY_METHODS: {
  readonly [C in Exclude<TikvCommand, "Empty">]: UnaryMethod<TikvRequest<C>, TikvResponse<C>>;
} = {
  Get: TikvService.kvGet,
  BatchGet: TikvService.kvBatchGet,
  Scan: TikvService.kvScan,
  BufferBatchGet: TikvService.kvBufferBatchGet,
  Prewrite: TikvService.kvPrewrite,
  Commit: TikvService.kvCommit,
  BatchRollback: TikvService.kvBatchRollback,
  PessimisticLock: TikvService.kvPessimisticLock,
  PessimisticRollback: TikvService.kvPessimisticRollback,
  TxnHeartBeat: TikvService.kvTxnHeartBeat,
  CheckTxnStatus: TikvService.kvCheckTxnStatus,
  CheckSecondaryLocks: TikvService.kvCheckSecondaryLocks,
  ResolveLock: TikvService.kvResolveLock,
  ScanLock: TikvService.kvScanLock,
  Flush: TikvService.kvFlush,
  BroadcastTxnStatus: TikvService.broadcastTxnStatus,
  DeleteRange: TikvService.kvDeleteRange,
  UnsafeDestroyRange: TikvService.unsafeDestroyRange,
  SplitRegion: TikvService.splitRegion,
  GetStoreSafeTS: TikvService.getStoreSafeTs,
  GetHealthFeedback: TikvService.getHealthFeedback,
  RawGet: TikvService.rawGet,
  RawBatchGet: TikvService.rawBatchGet,
  RawPut: TikvService.rawPut,
  RawBatchPut: TikvService.rawBatchPut,
  RawDelete: TikvService.rawDelete,
  RawBatchDelete: TikvService.rawBatchDelete,
  RawDeleteRange: TikvService.rawDeleteRange,
  RawScan: TikvService.rawScan,
  RawBatchScan: TikvService.rawBatchScan,
  RawGetKeyTTL: TikvService.rawGetKeyTtl,
  RawCompareAndSwap: TikvService.rawCompareAndSwap,
  RawChecksum: TikvService.rawChecksum,
  MvccGetByKey: TikvService.mvccGetByKey,
  MvccGetByStartTs: TikvService.mvccGetByStartTs,
  GetLockWaitInfo: TikvService.getLockWaitInfo,
  PrepareFlashbackToVersion: TikvService.kvPrepareFlashbackToVersion,
  FlashbackToVersion: TikvService.kvFlashbackToVersion,
  GC: TikvService.kvGc,
  Cleanup: TikvService.kvCleanup,
};

/** True when `cmd` travels over BatchCommands rather than as a unary call. */
export function isBatched(cmd: TikvCommand): boolean {
  return BATCHED_COMMANDS.has(cmd);
}
