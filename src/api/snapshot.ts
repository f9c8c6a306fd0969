// Snapshot: consistent reads at one timestamp (client-go txnkv/txnsnapshot KVSnapshot). Thin:
// converts keys and options; the reads and their lock handling live in SnapshotReader.

import type { TxnRecorder } from "../actors/observe/txn-recorder.js";
import { composeInterceptors, type RpcInterceptor } from "../actors/request/interceptor.js";
import type { SnapshotReader, SnapshotReadOptions } from "../actors/txn/snapshot-reader.js";
import type { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { type KeyInput, toKey, toKeys } from "../kv/key.js";
import { newControl } from "./internal/control.js";
import type { CallOptions } from "./options.js";
import type { KvPair } from "./raw-client.js";

export type {
  IsolationLevelName,
  PriorityName,
  ReplicaReadAdjuster,
  ReplicaReadAdjustment,
  ResourceGroupTagger,
  SnapshotReadOptions,
} from "../actors/txn/snapshot-reader.js";

/** Options of scans and iterations. */
export interface TxnScanOptions extends CallOptions {
  /** Pairs per request (default: the snapshot's scan batch size, 256). */
  batchSize?: number;
}

/** The parts of a client a snapshot reads through. */
export interface SnapshotHost {
  /** @internal */
  readonly rt: TxnRuntime;
  readonly timeoutMs: number;
  readonly maxBackoffMs: number;
  checkOpen(): void;
}

/**
 * Reads at one timestamp: every read sees the data committed before it, whatever commits later.
 * Get one from {@link TxnClient.snapshot} or {@link Transaction.snapshot}.
 *
 * @example
 * ```ts
 * const snap = txnClient.snapshot();
 * const [a, b] = await snap.batchGet(["a", "b"]);
 * for await (const { key, value } of snap.iterate("user:", "user;")) console.log(key.toString());
 * ```
 */
export class Snapshot {
  // the reads' interceptors: the snapshot's, then its transaction's recorder (when observed)
  private readonly interceptor: RpcInterceptor | undefined;

  /** @internal use TxnClient.snapshot */
  constructor(
    private readonly host: SnapshotHost,
    /** @internal */
    readonly reader: SnapshotReader,
    /**
     * @internal The recorder of the transaction this snapshot reads for, when it is observed or
     * traced: each read's RPCs and backoffs are recorded (its lock resolutions by the reader's
     * resolver, which the recorder taps too).
     */
    private readonly recorder?: TxnRecorder,
  ) {
    this.interceptor = recorder
      ? composeInterceptors(reader.options.interceptor, recorder.interceptor)
      : reader.options.interceptor;
  }

  /** The read timestamp. */
  get ts(): bigint {
    return this.reader.ts;
  }

  /**
   * The value of `key`, or undefined.
   *
   * @example
   * ```ts
   * const v = await snap.get("k");
   * ```
   */
  async get(key: KeyInput, options?: CallOptions): Promise<Buffer | undefined> {
    const k = toKey(key);
    return this.reader.get(k, this.control(options));
  }

  /** The values of `keys`, positional (undefined where absent). */
  async batchGet(keys: readonly KeyInput[], options?: CallOptions): Promise<Array<Buffer | undefined>> {
    const ks = toKeys(keys);
    if (ks.length === 0) return [];
    return this.reader.batchGet(ks, this.control(options));
  }

  /** Up to `limit` pairs of `[start, end)` in key order (empty end = unbounded). */
  async scan(start: KeyInput, end: KeyInput, limit: number, options?: TxnScanOptions): Promise<KvPair[]> {
    checkLimit(limit);
    const out: KvPair[] = [];
    if (limit === 0) return out;
    for await (const p of this.pairs(start, end, limit, false, options)) out.push(p);
    return out;
  }

  /** Every pair of `[start, end)` in key order, fetched in batches across regions. */
  iterate(start: KeyInput, end: KeyInput, options?: TxnScanOptions): AsyncGenerator<KvPair, void, undefined> {
    return this.pairs(start, end, 0, false, options);
  }

  /** Every pair of `[start, end)` in descending key order. */
  iterateReverse(
    start: KeyInput,
    end: KeyInput,
    options?: TxnScanOptions,
  ): AsyncGenerator<KvPair, void, undefined> {
    return this.pairs(start, end, 0, true, options);
  }

  /** @internal the snapshot's pairs of [start, end) in either direction */
  pairs(
    start: KeyInput,
    end: KeyInput,
    limit: number,
    reverse: boolean,
    options?: TxnScanOptions,
  ): AsyncGenerator<KvPair, void, undefined> {
    const s = toKey(start, "start");
    const e = toKey(end, "end");
    if (e.length > 0 && Buffer.compare(s, e) > 0) {
      throw new InvalidArgumentError("start must not be after end", "start");
    }
    if (reverse && e.length === 0) {
      // the last region cannot be located from an empty key (as raw reverse scans)
      throw new InvalidArgumentError("a reverse iteration needs a non-empty end key", "end");
    }
    const batch = options?.batchSize;
    if (batch !== undefined && (!Number.isInteger(batch) || batch < 1)) {
      throw new InvalidArgumentError(`must be a positive integer, got ${String(batch)}`, "batchSize");
    }
    this.host.checkOpen();
    return this.reader.scan(s, e, limit, reverse, () => this.control(options), batch);
  }

  private control(options: CallOptions | undefined) {
    this.host.checkOpen();
    const ctl = newControl(options, this.host.timeoutMs, this.host.maxBackoffMs, this.host.rt.deps.metrics);
    ctl.interceptor = this.interceptor;
    return this.recorder ? this.recorder.control(ctl) : ctl;
  }
}

/** Validates scan limits. */
export function checkLimit(limit: unknown): void {
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer, got ${String(limit)}`, "limit");
  }
}

export type { SnapshotReadOptions as SnapshotOptions };
