// One BatchCommands bidi stream to a TiKV store: request ids, a per-turn microtask batcher,
// reply routing by id, per-request timeouts and failing everything in flight on stream loss.
// Behaviour follows client-go internal/client/client_batch.go (batchCommandsClient /
// batchCommandsBuilder), restated for a single-threaded event loop.

import { type ClientDuplexStream, status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import { TlsError } from "../errors/tls.js";
import type { HealthFeedback } from "../proto/kvrpcpb.js";
import { type TikvClient, TikvService } from "../proto/tikvpb.js";
import {
  decodeBatchResponse,
  encodeBatchRequest,
  finishBody,
  type IncomingBatch,
  type OutgoingBatch,
} from "./batch-codec.js";
import type { CallOptions, Reply } from "./call.js";
import { DeadlineTimer } from "./deadline-timer.js";
import {
  AbortedError,
  GrpcError,
  notSent,
  notSentBecause,
  ShuttingDownError,
  storeCallError,
  TimeoutError,
  toGrpcError,
} from "./errors.js";
import { PacedDelivery } from "./paced-delivery.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "./tikv-commands.js";

/** client-go's default MaxBatchSize. */
export const DEFAULT_MAX_BATCH_SIZE = 128;
/** Timeout applied when a request gives none (client-go ReadTimeoutMedium is 60s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Options of a {@link BatchCommandsStream}. */
export interface BatchStreamOptions {
  /** At most this many requests per BatchCommandsRequest message (default 128). */
  maxBatchSize?: number;
  /** Store address, used in error messages. */
  address?: string;
  /** Timeout for requests that carry none (default 60s). */
  defaultTimeoutMs?: number;
  /**
   * Called for each message written, with its request count and the requests queued in that
   * turn (client-go batch_requests / batch_pending_requests); for the metrics export only.
   */
  onBatch?: (address: string, requests: number, queued: number) => void;
  /** Metadata of the stream's call (tikv-forwarded-host for a stream a follower forwards). */
  metadata?: Metadata;
}

/** Counters of one stream, for tests and metrics. */
export interface BatchStreamStats {
  /** BatchCommandsRequest messages written. */
  writes: number;
  /** Requests written. */
  requests: number;
  /** Responses routed to a waiting request. */
  responses: number;
  /** Responses whose request had already timed out or been aborted. */
  outdated: number;
}

interface Entry {
  readonly id: number;
  readonly cmd: TikvCommand;
  /** The request (its response is built against it: see finishBody). */
  readonly req: unknown;
  readonly reply: Reply<unknown>;
  readonly deadline: number;
  readonly timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Set once the request was handed to the stream: a failure after that may follow its execution. */
  written: boolean;
}

/**
 * A multiplexed BatchCommands stream. `send` never blocks: requests queued in one event-loop
 * turn go out together in the next microtask, split into messages of at most maxBatchSize.
 */
export class BatchCommandsStream {
  /** Counters (writes, requests, responses, outdated). */
  readonly stats: BatchStreamStats = { writes: 0, requests: 0, responses: 0, outdated: 0 };
  private readonly call: ClientDuplexStream<OutgoingBatch, IncomingBatch>;
  private readonly maxBatch: number;
  private readonly address: string | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly pending = new Map<number, Entry>();
  private queueIds: number[] = [];
  private queueCmds: TikvCommand[] = [];
  private queueReqs: unknown[] = [];
  private scheduled = false;
  private nextId = 1;
  private closedWith: Error | undefined;
  private readonly deadlines = new DeadlineTimer((now) => this.sweep(now));
  private closeListener: ((err: Error) => void) | undefined;
  private healthListener: ((fb: HealthFeedback) => void) | undefined;
  private readonly onBatch: BatchStreamOptions["onBatch"];
  private readonly replies = new PacedDelivery();

  /** Opens the stream on `client` (a TikvClient whose channel may still be connecting). */
  constructor(client: TikvClient, opts: BatchStreamOptions = {}) {
    this.maxBatch = Math.max(1, opts.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
    this.address = opts.address;
    this.onBatch = opts.onBatch;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    // our own wire codec for the stream (batch-codec.ts)
    this.call = client.makeBidiStreamRequest(
      TikvService.batchCommands.path,
      encodeBatchRequest,
      decodeBatchResponse,
      opts.metadata ?? new Metadata(),
    );
    this.call.on("data", (resp: IncomingBatch) => this.onResponse(resp));
    this.call.on("error", (err: Error) => {
      // Whatever status ended the stream, for the requests on it this is a lost connection;
      // unless our handshake or certificate was refused: then none was sent, and it is typed
      const refused = storeCallError(err, this.address);
      if (refused instanceof TlsError) return this.onLost(refused);
      const e = toGrpcError(err, this.address);
      this.onLost(
        new GrpcError(GrpcStatus.UNAVAILABLE, `batch commands stream lost: ${e.message}`, this.address, {
          cause: e,
        }),
      );
    });
    this.call.on("end", () =>
      this.onLost(
        new GrpcError(GrpcStatus.UNAVAILABLE, "batch commands stream ended by server", this.address),
      ),
    );
  }

  /** True once the stream failed or was closed; every later send fails at once. */
  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Number of requests waiting for a reply (queued or written). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Registers the (single) listener told when the stream is lost. */
  onClose(listener: ((err: Error) => void) | undefined): void {
    this.closeListener = listener;
    const err = this.closedWith;
    // A stream lost before anyone listened still reports it (asynchronously, like a live loss).
    if (listener && err && !(err instanceof ShuttingDownError)) queueMicrotask(() => listener(err));
  }

  /** Registers the (single) listener for health feedback piggybacked on responses. */
  onHealthFeedback(listener: ((fb: HealthFeedback) => void) | undefined): void {
    this.healthListener = listener;
  }

  /**
   * Queues one request; `reply` is called exactly once with the response or a typed error
   * (TimeoutError, AbortedError, GrpcError on stream loss, ShuttingDownError after close()).
   * Errors for a request that was never written are marked {@link notSent}.
   */
  send<C extends TikvCommand>(
    cmd: C,
    req: TikvRequest<C>,
    opts: CallOptions | undefined,
    reply: Reply<TikvResponse<C>>,
  ): void {
    if (this.closedWith) {
      const err = notSentBecause(this.closedWith);
      queueMicrotask(() => reply(err));
      return;
    }
    const signal = opts?.signal;
    if (signal?.aborted) {
      queueMicrotask(() => reply(notSent(new AbortedError(signal.reason))));
      return;
    }
    const timeoutMs = opts?.timeoutMs ?? this.defaultTimeoutMs;
    const id = this.nextId++;
    const entry: Entry = {
      id,
      cmd,
      req,
      reply: reply as Reply<unknown>,
      deadline: Date.now() + timeoutMs,
      timeoutMs,
      signal: undefined,
      onAbort: undefined,
      written: false,
    };
    this.pending.set(id, entry);
    if (signal) {
      entry.signal = signal;
      entry.onAbort = () => this.fail(entry, new AbortedError(signal.reason));
      signal.addEventListener("abort", entry.onAbort, { once: true });
    }
    this.deadlines.ensure(entry.deadline);
    this.queueIds.push(id);
    this.queueCmds.push(cmd);
    this.queueReqs.push(req);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Closes the stream; requests still waiting fail with ShuttingDownError. */
  close(
    err: Error = new ShuttingDownError(`batch commands stream to ${this.address ?? "store"} closed`),
  ): void {
    if (this.closedWith) return;
    this.shutdown(err);
    this.call.cancel();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.closedWith) return;
    const ids = this.queueIds;
    const cmds = this.queueCmds;
    const reqs = this.queueReqs;
    this.queueIds = [];
    this.queueCmds = [];
    this.queueReqs = [];
    const n = ids.length;
    for (let start = 0; start < n; start += this.maxBatch) {
      const end = Math.min(n, start + this.maxBatch);
      const batch: OutgoingBatch = { cmds: [], reqs: [], ids: [] };
      for (let i = start; i < end; i++) {
        const id = ids[i] as number;
        const entry = this.pending.get(id);
        if (entry === undefined) continue; // timed out or aborted before it was written
        entry.written = true;
        batch.cmds.push(cmds[i] as TikvCommand);
        batch.reqs.push(reqs[i]);
        batch.ids.push(id);
      }
      if (batch.ids.length === 0) continue;
      this.stats.writes++;
      this.stats.requests += batch.ids.length;
      this.onBatch?.(this.address ?? "", batch.ids.length, n);
      this.call.write(batch);
    }
  };

  private onResponse(resp: IncomingBatch): void {
    if (resp.healthFeedback && this.healthListener) {
      try {
        this.healthListener(resp.healthFeedback);
      } catch {
        // a listener's bug must not break reply routing
      }
    }
    // every request answered here is taken out of waiting now (no timeout or abort can reach
    // it any more); the replies themselves are paced (paced-delivery.ts)
    const ids = resp.ids;
    const entries: Array<Entry | undefined> = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const entry = this.pending.get(id);
      if (!entry) {
        this.stats.outdated++;
        continue;
      }
      this.pending.delete(id);
      this.detach(entry);
      this.stats.responses++;
      entries[i] = entry;
    }
    this.replies.push({ count: ids.length, deliver: (i) => this.deliver(resp, i, entries[i]) });
  }

  // decodes and hands out the i-th reply of `resp` (decoded late: the cost is paced too)
  private deliver(resp: IncomingBatch, i: number, entry: Entry | undefined): void {
    if (entry === undefined) return;
    const kind = resp.cases[i];
    if (kind !== entry.cmd) {
      entry.reply(
        new GrpcError(
          GrpcStatus.INTERNAL,
          `batch response for ${entry.cmd} carries ${kind ?? "nothing"}`,
          this.address,
        ),
      );
      return;
    }
    let body: unknown;
    try {
      body = finishBody(resp.bodies[i], entry.req);
    } catch (e) {
      entry.reply(
        new GrpcError(
          GrpcStatus.INTERNAL,
          `malformed ${kind} response: ${(e as Error).message}`,
          this.address,
        ),
      );
      return;
    }
    entry.reply(null, body);
  }

  private onLost(err: Error): void {
    if (this.closedWith) return;
    const lost = err instanceof GrpcError || err instanceof TlsError ? err : toGrpcError(err, this.address);
    this.shutdown(lost);
    const listener = this.closeListener;
    if (listener) listener(lost);
  }

  private shutdown(err: Error): void {
    this.closedWith = err;
    this.queueIds = [];
    this.queueCmds = [];
    this.queueReqs = [];
    this.deadlines.clear();
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const e of entries) {
      this.detach(e);
      e.reply(e.written ? err : notSentBecause(err));
    }
  }

  private fail(entry: Entry, err: Error): void {
    if (this.pending.get(entry.id) !== entry) return;
    this.pending.delete(entry.id);
    this.detach(entry);
    entry.reply(entry.written ? err : notSent(err));
  }

  private detach(entry: Entry): void {
    if (entry.onAbort) entry.signal?.removeEventListener("abort", entry.onAbort);
  }

  private sweep(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.pending.values()) {
      if (e.deadline <= now) {
        this.fail(e, new TimeoutError(`${e.cmd} to ${this.address ?? "store"}`, e.timeoutMs));
      } else if (e.deadline < next) {
        next = e.deadline;
      }
    }
    return next;
  }
}
