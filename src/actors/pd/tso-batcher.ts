// TSO batching: every getTimestamp() of one event-loop turn becomes one TsoRequest with
// count = N; PD answers with the LAST timestamp of the range, so the batch gets the logicals
// (last - N + 1) .. last in request order. Follows pd client/clients/tso (dispatcher.go,
// stream.go): requests are FIFO on the stream, a count mismatch is a stream error.

import { status as GrpcStatus } from "@grpc/grpc-js";
import { ErrorType, type RequestHeader, type TsoRequest, type TsoResponse } from "../../proto/pdpb.js";
import type { CallOptions, Reply } from "../../rpc/call.js";
import { DeadlineTimer } from "../../rpc/deadline-timer.js";
import { AbortedError, GrpcError, PdError, ShuttingDownError, TimeoutError } from "../../rpc/errors.js";
import { PacedDelivery } from "../../rpc/paced-delivery.js";

/** Bits of the logical part of a TSO (PD's tsoutil). */
export const TSO_LOGICAL_BITS = 18n;

/** Default timeout of one getTimestamp() (client-go waits at most this long for PD). */
export const DEFAULT_TSO_TIMEOUT_MS = 10_000;

/** The writable half of a TSO stream, as far as the batcher cares. */
export interface TsoSink {
  write(req: TsoRequest): void;
}

interface Waiter {
  readonly reply: Reply<bigint>;
  readonly deadline: number;
  readonly timeoutMs: number;
  done: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Counters for tests and metrics. */
export interface TsoStats {
  /** TsoRequest messages written. */
  requests: number;
  /** Timestamps handed out. */
  timestamps: number;
}

/** Queues timestamp requests, batches them per turn, and hands out consecutive timestamps. */
export class TsoBatcher {
  /** Counters. */
  readonly stats: TsoStats = { requests: 0, timestamps: 0 };
  private queue: Waiter[] = [];
  private readonly inflight: Waiter[][] = [];
  private sink: TsoSink | undefined;
  private header: RequestHeader = {
    clusterId: 0n,
    senderId: 0n,
    callerId: "tikv-ts",
    callerComponent: "tikv-ts",
  };
  private scheduled = false;
  private closedWith: Error | undefined;
  private readonly replies = new PacedDelivery();
  private readonly deadlines = new DeadlineTimer((now) => this.sweep(now));

  /**
   * @param onBatchTs called once per answered batch with its largest timestamp (lastTS tracking).
   * @param onStreamError called when a response is malformed (the stream must be replaced).
   */
  constructor(
    private readonly onBatchTs: (ts: bigint) => void = () => {},
    private readonly onStreamError: (err: Error) => void = () => {},
    private readonly defaultTimeoutMs = DEFAULT_TSO_TIMEOUT_MS,
  ) {}

  /** Asks for one timestamp; `reply` gets it, or a TimeoutError / AbortedError / ShuttingDownError. */
  request(opts: CallOptions | undefined, reply: Reply<bigint>): void {
    if (this.closedWith) {
      const err = this.closedWith;
      queueMicrotask(() => reply(err));
      return;
    }
    const signal = opts?.signal;
    if (signal?.aborted) {
      queueMicrotask(() => reply(new AbortedError(signal.reason)));
      return;
    }
    const timeoutMs = opts?.timeoutMs ?? this.defaultTimeoutMs;
    const w: Waiter = {
      reply,
      deadline: Date.now() + timeoutMs,
      timeoutMs,
      done: false,
      signal: undefined,
      onAbort: undefined,
    };
    if (signal) {
      w.signal = signal;
      w.onAbort = () => this.finish(w, new AbortedError(signal.reason));
      signal.addEventListener("abort", w.onAbort, { once: true });
    }
    this.deadlines.ensure(w.deadline);
    this.queue.push(w);
    this.schedule();
  }

  /** Promise form of {@link request}. */
  getTimestamp(opts?: CallOptions): Promise<bigint> {
    return new Promise((resolve, reject) =>
      this.request(opts, (err, ts) => (err ? reject(err) : resolve(ts as bigint))),
    );
  }

  /** Number of requests not answered yet (queued or in flight). */
  get waiting(): number {
    let n = 0;
    for (const w of this.queue) if (!w.done) n++;
    for (const b of this.inflight) for (const w of b) if (!w.done) n++;
    return n;
  }

  /** Starts writing to a (new) TSO stream; queued requests go out in the next microtask. */
  attach(sink: TsoSink, clusterId: bigint): void {
    this.sink = sink;
    this.header = { ...this.header, clusterId };
    if (this.queue.length) this.schedule();
  }

  /**
   * The stream is gone: requests already written are queued again (ahead of newer ones) and
   * go out on the next stream, unless their own deadline passes first. Asking PD twice for a
   * timestamp is harmless; the first answer was never seen.
   */
  detach(): void {
    this.sink = undefined;
    if (this.inflight.length === 0) return;
    const resend: Waiter[] = [];
    for (const b of this.inflight.splice(0)) for (const w of b) if (!w.done) resend.push(w);
    this.queue = resend.concat(this.queue);
  }

  /** Handles one TsoResponse from the stream. */
  onResponse(resp: TsoResponse): void {
    const batch = this.inflight.shift();
    if (!batch) {
      this.onStreamError(new PdError(ErrorType.UNKNOWN, "tso response without a request"));
      return;
    }
    const ts = resp.timestamp;
    if (resp.header?.error || !ts || resp.count !== batch.length) {
      const err = resp.header?.error
        ? new PdError(resp.header.error.type, `tso: ${resp.header.error.message}`)
        : new PdError(
            ErrorType.UNKNOWN,
            `tso length in rpc response is incorrect: want ${batch.length}, got ${resp.count}`,
          );
      // put the batch back so it is retried on the next stream
      this.inflight.unshift(batch);
      this.onStreamError(err);
      return;
    }
    const first = (ts.physical << TSO_LOGICAL_BITS) + ts.logical - BigInt(batch.length) + 1n;
    // answered now (no timeout or abort can reach them any more); the replies are paced
    // (a waiter that timed out or was aborted meanwhile was told already: it gets nothing more)
    const live: Array<Waiter | undefined> = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i] as Waiter;
      if (w.done) continue;
      w.done = true;
      if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
      live[i] = w;
    }
    this.stats.timestamps += batch.length;
    this.onBatchTs(first + BigInt(batch.length - 1));
    this.replies.push({ count: batch.length, deliver: (i) => live[i]?.reply(null, first + BigInt(i)) });
  }

  /** Fails everything with ShuttingDownError; later requests fail at once. */
  close(err: Error = new ShuttingDownError("pd client closed")): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.sink = undefined;
    this.deadlines.clear();
    const all = this.queue.splice(0);
    for (const b of this.inflight.splice(0)) all.push(...b);
    for (const w of all) this.finish(w, err);
  }

  private schedule(): void {
    if (this.scheduled || !this.sink) return;
    this.scheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const sink = this.sink;
    if (!sink || this.queue.length === 0) return;
    const batch = this.queue.filter((w) => !w.done);
    this.queue = [];
    if (batch.length === 0) return;
    this.inflight.push(batch);
    this.stats.requests++;
    try {
      sink.write({ header: this.header, count: batch.length, dcLocation: "" });
    } catch (e) {
      this.onStreamError(new GrpcError(GrpcStatus.UNAVAILABLE, `tso write failed: ${(e as Error).message}`));
    }
  };

  private finish(w: Waiter, err: Error): void {
    if (w.done) return;
    w.done = true;
    if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
    w.reply(err);
  }

  private sweep(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    const visit = (w: Waiter) => {
      if (w.done) return;
      if (w.deadline <= now) this.finish(w, new TimeoutError("get timestamp from PD", w.timeoutMs));
      else if (w.deadline < next) next = w.deadline;
    };
    for (const w of this.queue) visit(w);
    for (const b of this.inflight) for (const w of b) visit(w);
    return next;
  }
}
