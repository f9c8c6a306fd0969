// RawClient: the raw KV API (client-go rawkv.Client, groups G1-G4). Thin: validates input,
// converts keys, and drives the region sender; every loop that crosses regions lives here, as in
// client-go rawkv/rawkv.go.

import { placePairs } from "../actors/runtime/place-pairs.js";
import type { RawRequestSender, RequestControl } from "../actors/runtime/raw-sender.js";
import { writeFailure } from "../actors/runtime/undetermined.js";
import { InvalidArgumentError, type TikvError } from "../errors/base.js";
import { extractKeyError } from "../errors/extract.js";
import { BodyMissingError, MaxScanLimitExceededError, UnknownError } from "../errors/server.js";
import { errorFromServerMessage } from "../errors/server-message.js";
import { type KeyInput, nextKey, toKey, toKeys } from "../kv/key.js";
import { ChecksumAlgorithm, type KeyError, type KvPair as KvPairProto } from "../proto/kvrpcpb.js";
import {
  MAX_RAW_KV_SCAN_LIMIT,
  RAW_BATCH_PAIR_COUNT,
  RAW_BATCH_PUT_SIZE,
  splitByCount,
  splitBySize,
} from "./internal/batch.js";
import type { ClientRuntime } from "./internal/client-runtime.js";
import { newControl } from "./internal/control.js";
import { runRegionBatches } from "./internal/region-batches.js";
import { type CallOptions, checkColumnFamily, type RawCallOptions, type RawScanOptions } from "./options.js";
import { resourceContextFields } from "./resource-control-options.js";

/** A key-value pair returned by scans. */
export interface KvPair {
  key: Buffer;
  value: Buffer;
}

/** Result of {@link RawClient.checksum} (client-go rawkv.RawChecksum). */
export interface RawChecksum {
  /** XOR of the CRC64 of every pair. */
  crc64Xor: bigint;
  /** Number of pairs. */
  totalKvs: bigint;
  /** Bytes of keys and values (keys include the keyspace prefix in API v2). */
  totalBytes: bigint;
}

/** Result of {@link RawClient.compareAndSwap}. */
export interface CasResult {
  /** The value before the call; undefined when the key did not exist. */
  previousValue: Buffer | undefined;
  /** True when the new value was written. */
  swapped: boolean;
}

/** Options of puts. */
export interface RawPutOptions extends RawCallOptions {
  /** Time to live in seconds (0 = forever). Needs API v1ttl or v2. */
  ttl?: number;
}

/** Options of batch puts. */
export interface RawBatchPutOptions extends RawCallOptions {
  /** One TTL for every pair, or one per pair (seconds; 0 = forever). Needs API v1ttl or v2. */
  ttl?: number | readonly number[];
}

/** Options of {@link RawClient.iterate}. */
export interface RawIterateOptions extends RawScanOptions {
  /** Iterate from the upper bound down (start is then the exclusive upper bound). */
  reverse?: boolean;
  /** Pairs fetched per round trip (default 256, at most 10240). */
  pageSize?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The raw (non-transactional) KV API. Get one from {@link TikvClient.raw}. Keys and values may be
 * Buffers, Uint8Arrays or strings (UTF-8); results are Buffers. Every call accepts an AbortSignal
 * and a timeout, and fails with typed errors (InvalidArgumentError, TimeoutError, AbortedError,
 * BackoffExhaustedError, RegionError, ...).
 */
export class RawClient {
  private readonly sender: RawRequestSender;

  /** @internal use {@link TikvClient.raw} */
  constructor(
    private readonly rt: ClientRuntime,
    private readonly opts: { columnFamily: string; atomic: boolean },
  ) {
    this.sender = rt.sender;
  }

  /** The column family used when a call names none ("" = TiKV's default). */
  get columnFamily(): string {
    return this.opts.columnFamily;
  }

  /** True in atomic (CAS) mode. */
  get atomic(): boolean {
    return this.opts.atomic;
  }

  /**
   * A view of this client with another default column family (client-go SetColumnFamily).
   *
   * @example
   * ```ts
   * const lockCf = raw.withColumnFamily("lock");
   * ```
   */
  withColumnFamily(columnFamily: string): RawClient {
    checkColumnFamily(columnFamily);
    return new RawClient(this.rt, { ...this.opts, columnFamily });
  }

  /**
   * A view of this client in or out of atomic mode (client-go SetAtomicForCAS).
   *
   * @example
   * ```ts
   * const cas = raw.withAtomic(true);
   * ```
   */
  withAtomic(atomic: boolean): RawClient {
    if (typeof atomic !== "boolean") throw new InvalidArgumentError("must be a boolean", "atomic");
    return new RawClient(this.rt, { ...this.opts, atomic });
  }

  // ---- G2: point and batch operations ----

  /**
   * Reads one key. Resolves with its value, or undefined when the key does not exist (an
   * existing empty value is an empty Buffer).
   *
   * @example
   * ```ts
   * const v = await raw.get("user:1");
   * if (v) console.log(v.toString());
   * ```
   */
  async get(key: KeyInput, options?: RawCallOptions): Promise<Buffer | undefined> {
    const k = toKey(key);
    const cf = this.cf(options);
    const ctl = this.control(options);
    for (;;) {
      // a cached region comes back synchronously: awaiting it would cost a microtask turn
      let region = this.sender.locate(k, ctl);
      if (region instanceof Promise) region = await region;
      const { resp } = await this.sender.sendOnce(region, "RawGet", { context: undefined, key: k, cf }, ctl);
      if (!resp) continue;
      if (resp.error) throw rawError(resp.error);
      return resp.notFound ? undefined : resp.value;
    }
  }

  /**
   * Reads many keys. Keys are grouped per region and sent in parallel batches of at most 512;
   * the result is positional (undefined where a key does not exist).
   *
   * @example
   * ```ts
   * const [a, b] = await raw.batchGet(["a", "b"]);
   * ```
   */
  async batchGet(keys: readonly KeyInput[], options?: RawCallOptions): Promise<Array<Buffer | undefined>> {
    const ks = toKeys(keys);
    const cf = this.cf(options);
    const ctl = this.control(options);
    const out = new Array<Buffer | undefined>(ks.length).fill(undefined);
    await runRegionBatches(this.sender, ctl, ks, positions(ks.length), byCount, async (region, batch) => {
      const keysOfBatch = batch.map((i) => ks[i] as Buffer);
      const { resp } = await this.sender.sendOnce(
        region,
        "RawBatchGet",
        { context: undefined, keys: keysOfBatch, cf },
        ctl,
      );
      if (!resp) return false;
      placePairs(resp.pairs, batch, ks, out, (p) => {
        throw pairError(p.error as KeyError);
      });
      return true;
    });
    return out;
  }

  /**
   * Writes one pair, optionally with a TTL in seconds.
   *
   * @example
   * ```ts
   * await raw.put("session:9", token, { ttl: 60 });
   * ```
   */
  async put(key: KeyInput, value: KeyInput, options?: RawPutOptions): Promise<void> {
    const k = toKey(key);
    const v = toKey(value, "value");
    const ttl = checkTtl(options?.ttl, "ttl");
    const cf = this.cf(options);
    const ctl = this.control(options);
    const forCas = this.opts.atomic;
    try {
      for (;;) {
        const region = await this.sender.locate(k, ctl);
        const { resp } = await this.sender.sendOnce(
          region,
          "RawPut",
          { context: undefined, key: k, value: v, cf, ttl, forCas },
          ctl,
        );
        if (!resp) continue;
        if (resp.error) throw rawError(resp.error);
        return;
      }
    } catch (e) {
      throw writeFailure(e, ctl);
    }
  }

  /**
   * Writes many pairs. Pairs are grouped per region and cut into ~16 KiB batches sent in
   * parallel. `ttl` is one TTL for all pairs or one per pair.
   *
   * @example
   * ```ts
   * await raw.batchPut(["a", "b"], ["1", "2"]);
   * await raw.batchPut(["t1", "t2"], ["x", "y"], { ttl: [10, 20] });
   * ```
   */
  async batchPut(
    keys: readonly KeyInput[],
    values: readonly KeyInput[],
    options?: RawBatchPutOptions,
  ): Promise<void> {
    const ks = toKeys(keys);
    const vs = toKeys(values, "values");
    if (ks.length !== vs.length) {
      throw new InvalidArgumentError(`${ks.length} keys but ${vs.length} values`, "values");
    }
    let ttls: bigint[] | undefined;
    const t = options?.ttl;
    if (Array.isArray(t)) {
      if (t.length !== ks.length)
        throw new InvalidArgumentError(`${ks.length} keys but ${t.length} ttls`, "ttl");
      ttls = t.map((x, i) => checkTtl(x, `ttl[${i}]`));
    } else if (t !== undefined) {
      const one = checkTtl(t as number, "ttl");
      ttls = ks.map(() => one);
    }
    const cf = this.cf(options);
    const ctl = this.control(options);
    const forCas = this.opts.atomic;
    const sizeOf = (i: number) => (ks[i] as Buffer).length + (vs[i] as Buffer).length;
    try {
      await runRegionBatches(
        this.sender,
        ctl,
        ks,
        positions(ks.length),
        (p) => splitBySize(p, sizeOf, RAW_BATCH_PUT_SIZE),
        async (region, batch) => {
          const pairs: KvPairProto[] = batch.map((i) => ({
            error: undefined,
            key: ks[i] as Buffer,
            value: vs[i] as Buffer,
            commitTs: 0n,
          }));
          const bt = ttls ? batch.map((i) => ttls[i] as bigint) : [];
          const { resp } = await this.sender.sendOnce(
            region,
            "RawBatchPut",
            { context: undefined, pairs, cf, ttl: bt[0] ?? 0n, ttls: bt, forCas },
            ctl,
          );
          if (!resp) return false;
          if (resp.error) throw rawError(resp.error);
          return true;
        },
      );
    } catch (e) {
      throw writeFailure(e, ctl);
    }
  }

  /**
   * Deletes one key (no error when it does not exist).
   *
   * @example
   * ```ts
   * await raw.delete("user:1");
   * ```
   */
  async delete(key: KeyInput, options?: RawCallOptions): Promise<void> {
    const k = toKey(key);
    const cf = this.cf(options);
    const ctl = this.control(options);
    try {
      for (;;) {
        const region = await this.sender.locate(k, ctl);
        const { resp } = await this.sender.sendOnce(
          region,
          "RawDelete",
          { context: undefined, key: k, cf, forCas: this.opts.atomic },
          ctl,
        );
        if (!resp) continue;
        if (resp.error) throw rawError(resp.error);
        return;
      }
    } catch (e) {
      throw writeFailure(e, ctl);
    }
  }

  /**
   * Deletes many keys, grouped per region and sent in parallel batches of at most 512.
   *
   * @example
   * ```ts
   * await raw.batchDelete(["a", "b", "c"]);
   * ```
   */
  async batchDelete(keys: readonly KeyInput[], options?: RawCallOptions): Promise<void> {
    const ks = toKeys(keys);
    const cf = this.cf(options);
    const ctl = this.control(options);
    try {
      await runRegionBatches(this.sender, ctl, ks, positions(ks.length), byCount, async (region, batch) => {
        const { resp } = await this.sender.sendOnce(
          region,
          "RawBatchDelete",
          { context: undefined, keys: batch.map((i) => ks[i] as Buffer), cf, forCas: this.opts.atomic },
          ctl,
        );
        if (!resp) return false;
        if (resp.error) throw rawError(resp.error);
        return true;
      });
    } catch (e) {
      throw writeFailure(e, ctl);
    }
  }

  // ---- G4: ranges ----

  /**
   * Deletes every key in `[start, end)` (empty end = up to the end of the key space), one
   * request per region.
   *
   * @example
   * ```ts
   * await raw.deleteRange("user:", "user;");
   * ```
   */
  async deleteRange(start: KeyInput, end: KeyInput, options?: RawCallOptions): Promise<void> {
    let s = toKey(start, "start");
    const e = toKey(end, "end");
    const cf = this.cf(options);
    const ctl = this.control(options);
    try {
      while (e.length === 0 || Buffer.compare(s, e) < 0) {
        const region = await this.sender.locate(s, ctl);
        const regionEnd = region.endKey;
        const actualEnd =
          regionEnd.length > 0 && (e.length === 0 || Buffer.compare(regionEnd, e) < 0) ? regionEnd : e;
        const { resp } = await this.sender.sendOnce(
          region,
          "RawDeleteRange",
          { context: undefined, startKey: s, endKey: actualEnd, cf },
          ctl,
        );
        if (!resp) continue;
        if (resp.error) throw rawError(resp.error);
        if (actualEnd.length === 0) return;
        s = actualEnd;
      }
    } catch (err) {
      throw writeFailure(err, ctl);
    }
  }

  /**
   * Reads up to `limit` pairs of `[start, end)` in key order (empty end = unbounded), across
   * regions. `limit` must be at most 10240 (MaxScanLimitExceededError otherwise); use
   * {@link iterate} for larger ranges.
   *
   * @example
   * ```ts
   * for (const { key, value } of await raw.scan("a", "z", 100)) console.log(key.toString(), value.toString());
   * const keys = await raw.scan("a", "", 10, { keyOnly: true });
   * ```
   */
  async scan(start: KeyInput, end: KeyInput, limit: number, options?: RawScanOptions): Promise<KvPair[]> {
    const s = toKey(start, "start");
    const e = toKey(end, "end");
    checkLimit(limit);
    return this.scanRange(s, e, limit, !!options?.keyOnly, this.cf(options), this.control(options), false);
  }

  /**
   * Reads up to `limit` pairs of `[end, start)` from `start` (exclusive upper bound) down to
   * `end` (inclusive lower bound; empty = unbounded), in descending key order. `start` cannot be
   * empty (the last region cannot be located from it, as in client-go).
   *
   * @example
   * ```ts
   * const newest = await raw.reverseScan("log;", "log:", 10);
   * ```
   */
  async reverseScan(
    start: KeyInput,
    end: KeyInput,
    limit: number,
    options?: RawScanOptions,
  ): Promise<KvPair[]> {
    const s = toKey(start, "start");
    const e = toKey(end, "end");
    checkLimit(limit);
    if (s.length === 0)
      throw new InvalidArgumentError("a reverse scan cannot start at the empty key", "start");
    return this.scanRange(s, e, limit, !!options?.keyOnly, this.cf(options), this.control(options), true);
  }

  /**
   * Scans several ranges, up to `eachLimit` pairs from each, in parallel. Result `i` holds the
   * pairs of `ranges[i]` in key order.
   *
   * @example
   * ```ts
   * const [users, orders] = await raw.batchScan([["u:", "u;"], ["o:", "o;"]], 50);
   * ```
   */
  async batchScan(
    ranges: ReadonlyArray<readonly [KeyInput, KeyInput]>,
    eachLimit: number,
    options?: RawScanOptions,
  ): Promise<KvPair[][]> {
    if (!Array.isArray(ranges))
      throw new InvalidArgumentError("must be an array of [start, end] pairs", "ranges");
    const rs = ranges.map((r, i) => {
      if (!Array.isArray(r) || r.length !== 2)
        throw new InvalidArgumentError("must be [start, end]", `ranges[${i}]`);
      return [toKey(r[0], `ranges[${i}][0]`), toKey(r[1], `ranges[${i}][1]`)] as const;
    });
    checkLimit(eachLimit, "eachLimit");
    const cf = this.cf(options);
    const ctl = this.control(options);
    const keyOnly = !!options?.keyOnly;
    return Promise.all(rs.map(([s, e]) => this.scanRange(s, e, eachLimit, keyOnly, cf, ctl, false)));
  }

  /**
   * Iterates over every pair of `[start, end)` (or, with `reverse`, of `[end, start)` downwards),
   * fetching `pageSize` pairs per round trip across regions, with no limit on the total. Each
   * page gets the call's timeout afresh; the signal aborts the whole iteration.
   *
   * @example
   * ```ts
   * for await (const { key, value } of raw.iterate("user:", "user;", { pageSize: 500 })) {
   *   console.log(key.toString(), value.length);
   * }
   * ```
   */
  async *iterate(
    start: KeyInput,
    end: KeyInput,
    options: RawIterateOptions = {},
  ): AsyncGenerator<KvPair, void, undefined> {
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("must be an object", "options");
    let s = toKey(start, "start");
    const e = toKey(end, "end");
    const pageSize = options.pageSize ?? 256;
    checkLimit(pageSize, "pageSize");
    // a page of 0 pairs would never advance
    if (pageSize === 0) throw new InvalidArgumentError("must be at least 1, got 0", "pageSize");
    const reverse = !!options.reverse;
    if (reverse && s.length === 0) {
      throw new InvalidArgumentError("a reverse iteration cannot start at the empty key", "start");
    }
    const cf = this.cf(options);
    const keyOnly = !!options.keyOnly;
    for (;;) {
      const ctl = this.control(options);
      const page = await this.scanRange(s, e, pageSize, keyOnly, cf, ctl, reverse);
      for (const p of page) yield p;
      if (page.length < pageSize) return;
      const last = (page[page.length - 1] as KvPair).key;
      // forward: continue just after the last key; reverse: the last key is the new exclusive bound
      s = reverse ? last : nextKey(last);
    }
  }

  /**
   * CRC64-XOR checksum of `[start, end)` (empty end = unbounded), combined across regions.
   *
   * @example
   * ```ts
   * const { crc64Xor, totalKvs } = await raw.checksum("", "");
   * ```
   */
  async checksum(start: KeyInput, end: KeyInput, options?: CallOptions): Promise<RawChecksum> {
    let s = toKey(start, "start");
    const e = toKey(end, "end");
    const ctl = this.control(options);
    const out: RawChecksum = { crc64Xor: 0n, totalKvs: 0n, totalBytes: 0n };
    while (e.length === 0 || Buffer.compare(s, e) < 0) {
      const region = await this.sender.locate(s, ctl);
      const { resp } = await this.sender.sendOnce(
        region,
        "RawChecksum",
        { context: undefined, algorithm: ChecksumAlgorithm.Crc64_Xor, ranges: [{ startKey: s, endKey: e }] },
        ctl,
      );
      if (!resp) continue;
      if (resp.error) throw rawError(resp.error);
      out.crc64Xor ^= resp.checksum;
      out.totalKvs += resp.totalKvs;
      out.totalBytes += resp.totalBytes;
      if (region.endKey.length === 0) break;
      s = region.endKey;
    }
    return out;
  }

  // ---- G3: TTL and CAS ----

  /**
   * Remaining TTL of a key in seconds (0 = no TTL), or undefined when the key does not exist.
   *
   * @example
   * ```ts
   * const left = await raw.getKeyTTL("session:9");
   * ```
   */
  async getKeyTTL(key: KeyInput, options?: RawCallOptions): Promise<number | undefined> {
    const k = toKey(key);
    const cf = this.cf(options);
    const ctl = this.control(options);
    for (;;) {
      const region = await this.sender.locate(k, ctl);
      const { resp } = await this.sender.sendOnce(
        region,
        "RawGetKeyTTL",
        { context: undefined, key: k, cf },
        ctl,
      );
      if (!resp) continue;
      if (resp.error) throw rawError(resp.error);
      return resp.notFound ? undefined : Number(resp.ttl);
    }
  }

  /**
   * Atomically writes `newValue` if the key's current value equals `previousValue`
   * (`undefined` = "the key must not exist"). Needs atomic mode (`client.raw({ atomic: true })`)
   * on every client writing these keys.
   *
   * @example
   * ```ts
   * const cas = client.raw({ atomic: true });
   * const { swapped, previousValue } = await cas.compareAndSwap("counter", "1", "2");
   * ```
   */
  async compareAndSwap(
    key: KeyInput,
    previousValue: KeyInput | undefined | null,
    newValue: KeyInput,
    options?: RawPutOptions,
  ): Promise<CasResult> {
    if (!this.opts.atomic) {
      throw new InvalidArgumentError(
        "compareAndSwap needs atomic mode: use client.raw({ atomic: true })",
        "atomic",
      );
    }
    const k = toKey(key);
    const notExist = previousValue === undefined || previousValue === null;
    const prev = notExist ? EMPTY : toKey(previousValue, "previousValue");
    const v = toKey(newValue, "newValue");
    const ttl = checkTtl(options?.ttl, "ttl");
    const cf = this.cf(options);
    const ctl = this.control(options);
    try {
      for (;;) {
        const region = await this.sender.locate(k, ctl);
        const { resp } = await this.sender.sendOnce(
          region,
          "RawCompareAndSwap",
          {
            context: undefined,
            key: k,
            value: v,
            previousNotExist: notExist,
            previousValue: prev,
            cf,
            ttl,
            delete: false,
          },
          ctl,
        );
        if (!resp) continue;
        if (resp.error) throw rawError(resp.error);
        return {
          previousValue: resp.previousNotExist ? undefined : resp.previousValue,
          swapped: resp.succeed,
        };
      }
    } catch (e) {
      throw writeFailure(e, ctl);
    }
  }

  // ---- internals ----

  /**
   * Scans [start, end) forward, or (end, start] in reverse (TiKV's reverse RawScan takes the
   * upper bound as start_key), region by region until `limit` pairs or the range end.
   */
  private async scanRange(
    start: Buffer,
    end: Buffer,
    limit: number,
    keyOnly: boolean,
    cf: string,
    ctl: RequestControl,
    reverse: boolean,
  ): Promise<KvPair[]> {
    const out: KvPair[] = [];
    let s = start;
    const more = reverse
      ? () => Buffer.compare(s, end) > 0
      : () => end.length === 0 || Buffer.compare(s, end) < 0;
    while (out.length < limit && more()) {
      const region = await this.sender.locate(s, ctl, reverse);
      const { resp } = await this.sender.sendOnce(
        region,
        "RawScan",
        { context: undefined, startKey: s, endKey: end, limit: limit - out.length, keyOnly, cf, reverse },
        ctl,
      );
      if (!resp) continue;
      pushPairs(out, resp.kvs, keyOnly);
      const next = reverse ? region.startKey : region.endKey;
      if (next.length === 0) break;
      s = next;
    }
    return out;
  }

  private cf(options: RawCallOptions | undefined): string {
    const cf = options?.columnFamily;
    if (cf === undefined || cf === "") return this.opts.columnFamily;
    return checkColumnFamily(cf);
  }

  private control(options: CallOptions | undefined): RequestControl {
    this.rt.checkOpen();
    const ctl = newControl(options, this.rt.options.timeoutMs, this.rt.options.maxBackoffMs, this.rt.metrics);
    // the call's resource group / request source (client-go rawkv WithResourceGroupName...)
    const fields = resourceContextFields(options as RawCallOptions | undefined);
    if (fields !== undefined) ctl.contextFields = fields;
    return ctl;
  }
}

const byCount = (p: number[]) => splitByCount(p, RAW_BATCH_PAIR_COUNT);

function positions(n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function pushPairs(out: KvPair[], kvs: readonly KvPairProto[] | undefined, keyOnly: boolean): void {
  if (!kvs) throw new BodyMissingError();
  for (const p of kvs) {
    if (p.error) throw pairError(p.error);
    out.push({ key: p.key, value: keyOnly ? EMPTY : p.value });
  }
}

function checkLimit(limit: unknown, name = "limit"): void {
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer, got ${String(limit)}`, name);
  }
  if (limit > MAX_RAW_KV_SCAN_LIMIT) throw new MaxScanLimitExceededError(limit, MAX_RAW_KV_SCAN_LIMIT);
}

function checkTtl(ttl: unknown, name: string): bigint {
  if (ttl === undefined) return 0n;
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 0) {
    throw new InvalidArgumentError(
      `must be a non-negative integer number of seconds, got ${String(ttl)}`,
      name,
    );
  }
  return BigInt(ttl);
}

// Raw reads without an error field (RawBatchGet, RawScan) report a failure as one pair whose
// KeyError carries TiKV's Debug text in `abort`.
function pairError(ke: KeyError): TikvError {
  return ke.abort ? rawError(ke.abort) : extractKeyError(ke);
}

// TiKV reports raw command failures as a plain string (client-go returns errors.New(msg)): the
// known ones become typed errors, anything else UnknownError with TiKV's text.
function rawError(message: string): TikvError {
  return errorFromServerMessage(message) ?? new UnknownError(message);
}
