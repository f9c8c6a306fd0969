// The server side of tikvpb.Tikv/BatchCommands: each incoming message carries many requests
// with ids; each is run like its unary twin and answered as soon as it completes, so replies
// can come back in any order and are grouped into messages of at most 128 responses
// (TiKV's GRPC_MSG_MAX_BATCH_SIZE). Follows tikv src/server/service/kv.rs (batch_commands,
// handle_batch_commands_request, future_handle_empty, HealthFeedbackAttacher).
import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import { GetHealthFeedbackResponse } from "../../proto/kvrpcpb.js";
import {
  BatchCommandsEmptyResponse,
  type BatchCommandsRequest,
  type BatchCommandsRequest_Request,
  BatchCommandsResponse,
  type BatchCommandsResponse_Response,
} from "../../proto/tikvpb.js";
import { COMMANDS, type CommandSpec } from "./commands.js";
import { FeedbackAttacher, type HealthSource } from "./health.js";
import {
  ClusterIdMismatchError,
  GrpcStatusError,
  HANG,
  isThenable,
  type PipelineEnv,
  runCommand,
} from "./pipeline.js";
import { STORE_COMMANDS } from "./store-commands.js";

/** TiKV's GRPC_MSG_MAX_BATCH_SIZE. */
export const MAX_RESPONSES_PER_MESSAGE = 128;

type Case = NonNullable<BatchCommandsRequest_Request["cmd"]>["$case"];

/** The unary command each batchable request case runs as. */
const BY_CASE: Partial<Record<Case, CommandSpec>> = {
  Get: COMMANDS.KvGet,
  Scan: COMMANDS.KvScan,
  Prewrite: COMMANDS.KvPrewrite,
  Commit: COMMANDS.KvCommit,
  Cleanup: COMMANDS.KvCleanup,
  BatchGet: COMMANDS.KvBatchGet,
  BatchRollback: COMMANDS.KvBatchRollback,
  ScanLock: COMMANDS.KvScanLock,
  ResolveLock: COMMANDS.KvResolveLock,
  DeleteRange: COMMANDS.KvDeleteRange,
  RawGet: COMMANDS.RawGet,
  RawBatchGet: COMMANDS.RawBatchGet,
  RawPut: COMMANDS.RawPut,
  RawBatchPut: COMMANDS.RawBatchPut,
  RawDelete: COMMANDS.RawDelete,
  RawBatchDelete: COMMANDS.RawBatchDelete,
  RawScan: COMMANDS.RawScan,
  RawDeleteRange: COMMANDS.RawDeleteRange,
  RawBatchScan: COMMANDS.RawBatchScan,
  PessimisticLock: COMMANDS.KvPessimisticLock,
  PessimisticRollback: COMMANDS.KVPessimisticRollback,
  CheckTxnStatus: COMMANDS.KvCheckTxnStatus,
  TxnHeartBeat: COMMANDS.KvTxnHeartBeat,
  CheckSecondaryLocks: COMMANDS.KvCheckSecondaryLocks,
  Flush: COMMANDS.KvFlush,
  BufferBatchGet: COMMANDS.KvBufferBatchGet,
  BroadcastTxnStatus: COMMANDS.BroadcastTxnStatus,
  GetHealthFeedback: STORE_COMMANDS.GetHealthFeedback,
};

type Stream = ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>;

/** Serves one BatchCommands stream until either side closes it. */
export class BatchCommandsSession {
  private readonly outbox: { id: bigint; resp: BatchCommandsResponse_Response }[] = [];
  private flushScheduled = false;
  private outstanding = 0;
  private inputEnded = false;
  private closed = false;
  private readonly feedback: FeedbackAttacher;

  constructor(
    private readonly call: Stream,
    private readonly env: PipelineEnv,
    health: HealthSource,
    private readonly onClose: (s: BatchCommandsSession) => void,
  ) {
    this.feedback = new FeedbackAttacher(health);
    // A fault on "BatchCommands" itself fails the stream as it opens.
    const d = env.faults.decide({ rpc: "BatchCommands", storeId: env.storeId });
    if (d?.error) {
      const e = d.error;
      const failure =
        "grpcStatus" in e
          ? new GrpcStatusError(e.grpcStatus, e.message ?? `injected ${status[e.grpcStatus]}`)
          : new GrpcStatusError(status.UNAVAILABLE, "injected BatchCommands failure");
      setImmediate(() => this.fail(failure));
    }
    call.on("data", (msg: BatchCommandsRequest) => {
      if (!this.closed) this.onMessage(msg);
    });
    call.on("end", () => {
      this.inputEnded = true;
      this.maybeEnd();
    });
    call.on("cancelled", () => this.close());
    call.on("error", () => this.close());
    call.on("close", () => this.close());
  }

  private onMessage(msg: BatchCommandsRequest): void {
    const n = Math.min(msg.requests.length, msg.requestIds.length);
    for (let i = 0; i < n; i++) {
      this.handle(msg.requestIds[i] as bigint, msg.requests[i] as BatchCommandsRequest_Request);
      if (this.closed) return;
    }
  }

  private handle(id: bigint, req: BatchCommandsRequest_Request): void {
    const cmd = req.cmd;
    if (cmd === undefined) {
      // TiKV answers an invalid (empty) request with an empty response.
      this.reply(id, { cmd: undefined });
      return;
    }
    if (cmd.$case === "Empty") {
      const resp = BatchCommandsEmptyResponse.fromPartial({ testId: cmd.Empty.testId });
      const out: BatchCommandsResponse_Response = { cmd: { $case: "Empty", Empty: resp } };
      // Like TiKV, only delays of 10 ms or more are honoured.
      if (cmd.Empty.delayTime >= 10n) {
        this.outstanding++;
        setTimeout(() => {
          this.outstanding--;
          this.reply(id, out);
        }, Number(cmd.Empty.delayTime));
      } else this.reply(id, out);
      return;
    }
    // TiKV answers a batched GC with an UNIMPLEMENTED error that the batch path drops: the
    // request never gets a response.
    if (cmd.$case === "GC") return;
    const spec = BY_CASE[cmd.$case];
    if (!spec) {
      this.reply(id, { cmd: undefined });
      return;
    }
    const c = cmd.$case;
    const inner = (cmd as unknown as Record<string, unknown>)[c];
    const wrap = (r: unknown): BatchCommandsResponse_Response => ({ cmd: { $case: c, [c]: r } as never });
    let res: unknown;
    try {
      res = runCommand(this.env, spec, inner);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (isThenable(res)) {
      this.outstanding++;
      res.then(
        (r) => {
          this.outstanding--;
          if (r !== HANG) this.reply(id, wrap(r));
          else this.maybeEnd();
        },
        (e) => {
          this.outstanding--;
          this.fail(e);
        },
      );
    } else if (res !== HANG) this.reply(id, wrap(res));
  }

  private reply(id: bigint, resp: BatchCommandsResponse_Response): void {
    if (this.closed) return;
    this.outbox.push({ id, resp });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    while (this.outbox.length > 0) {
      const chunk = this.outbox.splice(0, MAX_RESPONSES_PER_MESSAGE);
      let requested: ReturnType<PipelineEnv["healthFeedback"]> | undefined;
      for (const { resp } of chunk) {
        if (resp.cmd?.$case === "GetHealthFeedback") {
          requested ??= resp.cmd.GetHealthFeedback.healthFeedback ?? this.env.healthFeedback();
          resp.cmd.GetHealthFeedback = GetHealthFeedbackResponse.fromPartial({
            ...resp.cmd.GetHealthFeedback,
            healthFeedback: requested,
          });
        }
      }
      const healthFeedback = this.feedback.take(requested);
      const msg = BatchCommandsResponse.fromPartial({
        responses: chunk.map((c) => c.resp),
        requestIds: chunk.map((c) => c.id),
        tikvSendTimeNs: BigInt(Date.now()) * 1_000_000n,
      });
      if (healthFeedback) msg.healthFeedback = healthFeedback;
      this.call.write(msg);
    }
    this.maybeEnd();
  }

  /** A failure that cannot be carried in one response ends the whole stream, as in TiKV. */
  private fail(e: unknown): void {
    if (this.closed) return;
    const err =
      e instanceof ClusterIdMismatchError
        ? { code: e.code, details: e.batchDetails }
        : e instanceof GrpcStatusError
          ? { code: e.code, details: e.details }
          : { code: status.INTERNAL, details: String((e as Error)?.message ?? e) };
    this.closed = true;
    this.call.emit("error", Object.assign(new Error(err.details), err));
    this.onClose(this);
  }

  private maybeEnd(): void {
    if (this.inputEnded && this.outstanding === 0 && this.outbox.length === 0 && !this.closed) {
      this.closed = true;
      this.call.end();
      this.onClose(this);
    }
  }

  /** Ends the stream with UNAVAILABLE (the store was cut from clients: see MockTikvStore.blockClients). */
  cut(details: string): void {
    this.fail(new GrpcStatusError(status.UNAVAILABLE, details));
  }

  /** Stops serving (the stream was cancelled or the store stops). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }
}
