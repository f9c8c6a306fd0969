// Transaction: an optimistic transaction (client-go txnkv/transaction KVTxn): a buffer of writes
// over a snapshot at its start ts, committed by a committer actor. Thin: converts keys, checks
// the transaction is usable, and hands reads to the snapshot and commits to the committer.

import { unionScan } from "../actors/txn/union-scan.js";
import { type KeyInput, toKey, toKeys } from "../kv/key.js";
import { MemDb } from "../kv/memdb/memdb.js";
import { CannotSetNilValueError, InvalidTxnError } from "./errors/txn.js";
import type { CallOptions } from "./options.js";
import type { KvPair } from "./raw-client.js";
import { checkLimit, type Snapshot, type TxnScanOptions } from "./snapshot.js";

/** Where a transaction stands. */
export type TransactionState = "active" | "committing" | "committed" | "rolledBack" | "failed";

/** Size limits of a transaction's buffer (client-go TxnEntrySizeLimit / TxnTotalSizeLimit). */
export interface TxnSizeLimits {
  /** Largest key + value of one entry in bytes (default 6 MiB). */
  entrySizeLimit?: number;
  /** Largest total buffer size in bytes (default 100 MiB). */
  totalSizeLimit?: number;
}

/** How a transaction commits (client-go KVTxn SetEnableAsyncCommit / SetEnable1PC / SetCausalConsistency). */
export interface CommitProtocolOptions {
  /**
   * Try async commit: the transaction is committed once every prewrite succeeded (no separate
   * primary commit), within client-go's limits (256 keys, 4 KiB of keys); falls back to 2PC
   * when TiKV declines. Default false.
   */
  asyncCommit?: boolean;
  /** Try one-phase commit when every write fits one request to one region; falls back to 2PC. Default false. */
  onePC?: boolean;
  /**
   * With async commit / 1PC, skip the extra TSO that makes the commit ts exceed every ts handed
   * out before the commit (causal consistency instead of linearizability). Default false.
   */
  causalConsistency?: boolean;
}

/** How a commit went: the protocol used and the fallbacks taken (client-go TxnInfo). */
export interface CommitInfo {
  mode: "2pc" | "asyncCommit" | "onePC";
  asyncCommitFallback: boolean;
  onePCFallback: boolean;
}

/** What a transaction needs from its client. */
export interface TransactionHost {
  commit(txn: Transaction, buffer: MemDb): Promise<{ commitTs: bigint; info: CommitInfo | undefined }>;
}

/**
 * An optimistic transaction. Reads see its own writes over a snapshot at {@link startTs};
 * writes stay in memory until {@link commit}, which fails with a typed, retryable
 * WriteConflictError when another transaction wrote the same keys after it started.
 * Use {@link TxnClient.runTransaction} to get retries done right.
 *
 * @example
 * ```ts
 * const txn = await txnClient.begin();
 * const balance = Number((await txn.get("acct:1"))?.toString() ?? "0");
 * txn.set("acct:1", String(balance - 10));
 * await txn.commit();
 * ```
 */
export class Transaction {
  private stateValue: TransactionState = "active";
  private commitTsValue = 0n;
  private commitInfoValue: CommitInfo | undefined;
  /** @internal */
  readonly buffer: MemDb;
  /** When the transaction began (ms since the epoch). */
  readonly startedAt = Date.now();

  /** @internal use TxnClient.begin */
  constructor(
    private readonly host: TransactionHost,
    /** The snapshot the transaction reads from. */
    readonly snapshot: Snapshot,
    limits: Required<TxnSizeLimits>,
    /** How the transaction commits. */
    readonly protocol: Readonly<CommitProtocolOptions> = {},
  ) {
    this.buffer = new MemDb();
    this.buffer.setEntrySizeLimit(limits.entrySizeLimit, limits.totalSizeLimit);
  }

  /** The start ts (the snapshot's read ts). */
  get startTs(): bigint {
    return this.snapshot.ts;
  }

  /** The commit ts once committed, 0 before. */
  get commitTs(): bigint {
    return this.commitTsValue;
  }

  /** The protocol the commit used and its fallbacks (undefined before commit, or for a read-only one). */
  get commitInfo(): CommitInfo | undefined {
    return this.commitInfoValue;
  }

  /** Where the transaction stands. */
  get state(): TransactionState {
    return this.stateValue;
  }

  /** True while no write was buffered (client-go IsReadOnly). */
  get isReadOnly(): boolean {
    return !this.buffer.dirty;
  }

  /** Number of buffered keys (client-go Len). */
  get len(): number {
    return this.buffer.len;
  }

  /** Bytes of buffered keys and values (client-go Size). */
  get size(): number {
    return this.buffer.size;
  }

  /**
   * The value of `key` as this transaction sees it: its own write, else the snapshot's value.
   *
   * @example
   * ```ts
   * const v = await txn.get("k"); // undefined when absent or deleted here
   * ```
   */
  async get(key: KeyInput, options?: CallOptions): Promise<Buffer | undefined> {
    this.checkActive();
    const k = toKey(key);
    const own = this.buffer.get(k);
    if (own !== undefined) return own.length === 0 ? undefined : own;
    return this.snapshot.get(k, options);
  }

  /** The values of `keys`, positional: buffered writes win, buffered deletes read as undefined. */
  async batchGet(keys: readonly KeyInput[], options?: CallOptions): Promise<Array<Buffer | undefined>> {
    this.checkActive();
    const ks = toKeys(keys);
    const out = new Array<Buffer | undefined>(ks.length).fill(undefined);
    const remote: number[] = [];
    ks.forEach((k, i) => {
      const own = this.buffer.get(k);
      if (own === undefined) remote.push(i);
      else out[i] = own.length === 0 ? undefined : own;
    });
    if (remote.length > 0) {
      const got = await this.snapshot.batchGet(
        remote.map((i) => ks[i] as Buffer),
        options,
      );
      remote.forEach((i, j) => {
        out[i] = got[j];
      });
    }
    return out;
  }

  /**
   * Buffers a write of `value` to `key`. An empty value is refused (client-go
   * ErrCannotSetNilValue): TiKV has no empty values in transactions; use {@link delete}.
   *
   * @example
   * ```ts
   * txn.set("user:1", JSON.stringify({ name: "Ada" }));
   * ```
   */
  set(key: KeyInput, value: KeyInput): void {
    this.checkActive();
    const k = toKey(key);
    const v = toKey(value, "value");
    if (v.length === 0) throw new CannotSetNilValueError();
    this.buffer.set(k, v);
  }

  /** Buffers a delete of `key`. */
  delete(key: KeyInput): void {
    this.checkActive();
    this.buffer.delete(toKey(key));
  }

  /** Up to `limit` pairs of `[start, end)` as this transaction sees them (empty end = unbounded). */
  async scan(start: KeyInput, end: KeyInput, limit: number, options?: TxnScanOptions): Promise<KvPair[]> {
    checkLimit(limit);
    const out: KvPair[] = [];
    if (limit === 0) return out;
    for await (const p of this.iterate(start, end, options)) {
      out.push(p);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Every pair of `[start, end)` as this transaction sees them, in key order: buffered writes
   * win over the snapshot and buffered deletes are hidden. Writes made while iterating are seen
   * when they are ahead of the cursor.
   *
   * @example
   * ```ts
   * for await (const { key, value } of txn.iterate("cart:", "cart;")) total += Number(value);
   * ```
   */
  iterate(start: KeyInput, end: KeyInput, options?: TxnScanOptions): AsyncGenerator<KvPair, void, undefined> {
    return this.union(start, end, false, options);
  }

  /** Every pair of `[start, end)` in descending key order (end must not be empty). */
  iterateReverse(
    start: KeyInput,
    end: KeyInput,
    options?: TxnScanOptions,
  ): AsyncGenerator<KvPair, void, undefined> {
    return this.union(start, end, true, options);
  }

  /**
   * Commits: prewrites every write, then commits the primary key; resolves with the commit ts
   * (secondary keys are committed in the background). A transaction that wrote nothing commits
   * at once without any RPC. Fails with WriteConflictError / KeyAlreadyExistsError (retryable
   * ones have `isRetryable`), or ResultUndeterminedError when the outcome is unknown.
   */
  async commit(): Promise<bigint> {
    this.checkActive();
    this.stateValue = "committing";
    try {
      const { commitTs, info } = await this.host.commit(this, this.buffer);
      this.commitTsValue = commitTs;
      this.commitInfoValue = info;
      this.stateValue = "committed";
      return commitTs;
    } catch (e) {
      this.stateValue = "failed";
      throw e;
    }
  }

  /** Discards the buffered writes (nothing was sent to TiKV for an optimistic transaction). */
  async rollback(): Promise<void> {
    if (this.stateValue !== "active") {
      if (this.stateValue === "rolledBack" || this.stateValue === "failed") return;
      throw new InvalidTxnError(`transaction ${this.startTs} is ${this.stateValue}`);
    }
    this.stateValue = "rolledBack";
    this.buffer.reset();
  }

  private union(start: KeyInput, end: KeyInput, reverse: boolean, options?: TxnScanOptions) {
    this.checkActive();
    const s = toKey(start, "start");
    const e = toKey(end, "end");
    const remote = this.snapshot.pairs(s, e, 0, reverse, options);
    return unionScan(this.buffer, remote, s, e, reverse);
  }

  private checkActive(): void {
    if (this.stateValue !== "active") {
      throw new InvalidTxnError(`transaction ${this.startTs} is ${this.stateValue}`);
    }
  }
}
