// A small grpc-js TiKV server for transport tests: answers Get/RawGet/Empty over BatchCommands
// (value = "v:" + key), records every BatchCommands message it receives, and can hold replies,
// attach health feedback, or be stopped and restarted on the same port.

import * as grpc from "@grpc/grpc-js";
import { GetResponse, RawBatchScanResponse, RawGetResponse } from "../../../src/proto/kvrpcpb.js";
import {
  type BatchCommandsRequest,
  type BatchCommandsRequest_Request,
  BatchCommandsResponse,
  type BatchCommandsResponse_Response,
  TikvService,
} from "../../../src/proto/tikvpb.js";

export interface FakeTikvOptions {
  /** Attach HealthFeedback(slowScore) to every response message. */
  slowScore?: number;
  storeId?: number;
}

export class FakeTikv {
  server: grpc.Server | undefined;
  port = 0;
  /** Sizes (number of requests) of every BatchCommands message received. */
  readonly batches: number[] = [];
  /** Keys of every unary KvGet / RawBatchScan received. */
  readonly unaryCalls: string[] = [];
  /** When true, responses carry no command (an empty oneof). */
  emptyReplies = false;
  /** When true, requests are recorded but not answered. */
  hold = false;
  /** Requests received while holding: [stream, id, request]. */
  readonly held: Array<
    [
      grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>,
      bigint,
      BatchCommandsRequest_Request,
    ]
  > = [];
  private readonly streams = new Set<grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>>();
  private feedbackSeq = 0n;

  constructor(private readonly opts: FakeTikvOptions = {}) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    const server = new grpc.Server();
    server.addService(TikvService, {
      batchCommands: (call: grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>) => {
        this.streams.add(call);
        call.on("data", (msg: BatchCommandsRequest) => {
          this.batches.push(msg.requests.length);
          if (this.hold) {
            msg.requests.forEach((r, i) => {
              this.held.push([call, msg.requestIds[i] as bigint, r]);
            });
            return;
          }
          this.reply(call, msg.requestIds, msg.requests);
        });
        call.on("end", () => call.end());
        call.on("error", () => {});
        call.on("close", () => this.streams.delete(call));
      },
      kvGet: (
        call: grpc.ServerUnaryCall<{ key: Buffer }, GetResponse>,
        cb: grpc.sendUnaryData<GetResponse>,
      ) => {
        this.unaryCalls.push(`KvGet:${call.request.key.toString()}`);
        cb(null, GetResponse.fromPartial({ value: Buffer.from(`v:${call.request.key.toString()}`) }));
      },
      rawBatchScan: (
        _call: grpc.ServerUnaryCall<unknown, RawBatchScanResponse>,
        cb: grpc.sendUnaryData<RawBatchScanResponse>,
      ) => {
        this.unaryCalls.push("RawBatchScan");
        cb(
          null,
          RawBatchScanResponse.fromPartial({ kvs: [{ key: Buffer.from("a"), value: Buffer.from("b") }] }),
        );
      },
      rawGet: (
        call: grpc.ServerUnaryCall<{ key: Buffer }, RawGetResponse>,
        cb: grpc.sendUnaryData<RawGetResponse>,
      ) => {
        this.unaryCalls.push(`RawGet:${call.request.key.toString()}`);
        cb(null, RawGetResponse.fromPartial({ value: Buffer.from(`v:${call.request.key.toString()}`) }));
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
  }

  /** Answers everything held so far. */
  releaseHeld(): void {
    const held = this.held.splice(0);
    for (const [call, id, r] of held) this.reply(call, [id], [r]);
  }

  /** Sends a response for an id nobody asked for (routing must ignore it). */
  sendStray(id: bigint): void {
    for (const s of this.streams) {
      s.write(
        BatchCommandsResponse.fromPartial({
          requestIds: [id],
          responses: [{ cmd: { $case: "Empty", Empty: { testId: 0n } } }],
        }),
      );
    }
  }

  /** Ends every open BatchCommands stream with an error status, keeping the server up. */
  breakStreams(): void {
    // grpc-js sends an error status on a server stream when the handler emits 'error'
    for (const s of this.streams)
      s.emit("error", { code: grpc.status.UNAVAILABLE, details: "injected stream failure" });
    this.streams.clear();
  }

  /** Stops the server immediately (connections reset). */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    this.streams.clear();
  }

  private reply(
    call: grpc.ServerDuplexStream<BatchCommandsRequest, BatchCommandsResponse>,
    ids: bigint[],
    reqs: BatchCommandsRequest_Request[],
  ): void {
    const responses: BatchCommandsResponse_Response[] = reqs.map((r) => (this.emptyReplies ? {} : answer(r)));
    const healthFeedback =
      this.opts.slowScore !== undefined
        ? {
            storeId: BigInt(this.opts.storeId ?? 1),
            feedbackSeqNo: ++this.feedbackSeq,
            slowScore: this.opts.slowScore,
          }
        : undefined;
    call.write(BatchCommandsResponse.fromPartial({ requestIds: ids, responses, healthFeedback }));
  }
}

function answer(r: BatchCommandsRequest_Request): BatchCommandsResponse_Response {
  const cmd = r.cmd;
  switch (cmd?.$case) {
    case "Get":
      return {
        cmd: {
          $case: "Get",
          Get: GetResponse.fromPartial({ value: Buffer.from(`v:${cmd.Get.key.toString()}`) }),
        },
      };
    case "RawGet":
      return {
        cmd: {
          $case: "RawGet",
          RawGet: RawGetResponse.fromPartial({ value: Buffer.from(`v:${cmd.RawGet.key.toString()}`) }),
        },
      };
    default:
      return { cmd: { $case: "Empty", Empty: { testId: 0n } } };
  }
}
