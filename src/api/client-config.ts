// The tuning knobs of TikvClient.connect beyond addressing and security (client-go config.Config
// / config.TiKVClient / PDClient): PD timeouts, TSO refresh, region-cache TTL, store refresh,
// transaction backoff budgets and max TTL. Each is validated here (InvalidArgumentError naming the
// option and the bad value) and resolved to its default; `client.config` shows the result.

import { InvalidArgumentError } from "../errors/base.js";
import { TXN_BUDGETS_MS } from "../machines/policy/txn-budgets.js";

/** A transaction phase with its own retry budget (client-go's per-phase MaxBackoff). */
export type TxnPhase = keyof typeof TXN_BUDGETS_MS;

/** Per-phase retry budgets of transactions in ms (0 = no limit). */
export type TxnBackoffBudgets = { readonly [P in TxnPhase]: number };

/** The tuning options of {@link ConnectOptions} (defaults in each comment). */
export interface TuningOptions {
  /**
   * Timeout of one PD RPC attempt in ms (client-go PDClient.PDServerTimeout, default 3 000;
   * integer ≥ 1). A call that times out is retried (as after a leader change) within
   * `pdRequestTimeoutMs`.
   */
  pdTimeoutMs?: number;
  /** Total time one PD call may take, retries included, in ms (default 20 000; integer ≥ 1). */
  pdRequestTimeoutMs?: number;
  /**
   * How often the low-resolution timestamp is refreshed from PD, in ms (client-go oracle update
   * interval, default 2 000; integer ≥ 1).
   */
  tsoUpdateIntervalMs?: number;
  /**
   * A cached region not used for this long is reloaded from PD on next use, in ms (client-go
   * TiKVClient.RegionCacheTTL, default 600 000; integer ≥ 1).
   */
  regionCacheTtlMs?: number;
  /** Random extra TTL in [0, jitter) per region, in ms (client-go regionCacheTTLJitterSec, default 60 000; integer ≥ 0). */
  regionCacheTtlJitterMs?: number;
  /** How often the store list is refreshed from PD, in ms (default 60 000; 0 = never). */
  storeRefreshIntervalMs?: number;
  /**
   * Retry budgets of transaction phases in ms, weighted ×2 like every budget (client-go
   * PrewriteMaxBackoff, CommitMaxBackoff, cleanupMaxBackoff, ...; defaults: prewrite 40 000,
   * commit 40 000, secondaries 41 000, cleanup 20 000, heartbeat 20 000, resolve 20 000,
   * tso 15 000). Give only the phases to change; 0 = no limit.
   */
  txnBackoffBudgetsMs?: Partial<Record<TxnPhase, number>>;
  /**
   * A transaction's primary lock is kept alive by heartbeats for at most this long from its start
   * ts, in ms (client-go TiKVClient MaxTxnTTL, default 3 600 000; integer ≥ 1).
   */
  maxTxnTtlMs?: number;
  /**
   * Forwarding through a follower (client-go EnableForwarding, default false): when the client
   * cannot reach a region leader's store (its liveness probe fails) but reaches a follower's,
   * leader requests go to that follower with the `tikv-forwarded-host` gRPC metadata naming the
   * leader, and its TiKV proxies them (unary calls and BatchCommands). The follower that worked
   * is kept for the region; requests go direct again once the leader's store is reachable.
   *
   * @example
   * ```ts
   * const client = await TikvClient.connect({ pdEndpoints, enableForwarding: true });
   * ```
   */
  enableForwarding?: boolean;
  /**
   * A lock whose transaction has fewer keys than this in the lock's region is resolved key by
   * key (a ResolveLock carrying the keys); a larger one region-wide (client-go
   * TiKVClient.ResolveLockLiteThreshold, default 512; integer ≥ 0, 0 = always region-wide).
   */
  resolveLockLiteThreshold?: number;
  /**
   * Requests the client may have in flight to one TiKV store at once (client-go
   * TiKVClient.StoreLimit, default 0 = unlimited; integer ≥ 0). A request over the limit fails at
   * once with TokenLimitError (code TOKEN_LIMIT), unsent and not retried.
   *
   * @example
   * ```ts
   * const client = await TikvClient.connect({ pdEndpoints, storeLimit: 512 });
   * ```
   */
  storeLimit?: number;
  /**
   * How long one RPC attempt waits for TiKV's answer, in ms (client-go ReadTimeoutShort, default
   * 30 000; integer ≥ 1). Applies to reads and to writes of a few keys — prewrite, commit,
   * pessimistic lock, raw writes. A call whose attempt times out retries it (reads, prewrites) or
   * ends undetermined (a primary commit, raw writes), so this bounds how long a lost reply can
   * hold a `commit()`. A call's own `rpcTimeoutMs`/`timeoutMs` still take precedence.
   *
   * @example
   * ```ts
   * // a lost commit reply is given up on (undetermined) after 5 s instead of 30 s
   * const client = await TikvClient.connect({ pdEndpoints, rpcTimeoutMs: 5_000 });
   * ```
   */
  rpcTimeoutMs?: number;
  /**
   * The same for requests that may scan a whole region — ResolveLock, ScanLock, DeleteRange,
   * RawDeleteRange — in ms (client-go ReadTimeoutMedium, default 60 000; integer ≥ 1).
   */
  longRpcTimeoutMs?: number;
  /**
   * The zone this client runs in (client-go's zone label): reads are then counted as local or
   * cross-zone by their store's `zone` label, in `client.metrics().zoneTraffic` and the
   * `stale_read_req_counter`, `stale_read_bytes` and `read_request_bytes` metrics. Unset =
   * unknown (stale reads count as local, as client-go's).
   *
   * @example
   * ```ts
   * const client = await TikvClient.connect({ pdEndpoints, zone: "us-east-1a", metrics: true });
   * ```
   */
  zone?: string;
}

/** The resolved tuning options (every default filled in; each field is documented on {@link TuningOptions}). */
export interface ResolvedTuning {
  pdTimeoutMs: number;
  pdRequestTimeoutMs: number;
  tsoUpdateIntervalMs: number;
  regionCacheTtlMs: number;
  regionCacheTtlJitterMs: number;
  storeRefreshIntervalMs: number;
  txnBackoffBudgetsMs: TxnBackoffBudgets;
  maxTxnTtlMs: number;
  enableForwarding: boolean;
  resolveLockLiteThreshold: number;
  storeLimit: number;
  rpcTimeoutMs: number;
  longRpcTimeoutMs: number;
  zone: string | undefined;
}

/** Defaults of the tuning options. */
export const TUNING_DEFAULTS: Readonly<ResolvedTuning> = Object.freeze({
  pdTimeoutMs: 3_000,
  pdRequestTimeoutMs: 20_000,
  tsoUpdateIntervalMs: 2_000,
  regionCacheTtlMs: 600_000,
  regionCacheTtlJitterMs: 60_000,
  storeRefreshIntervalMs: 60_000,
  txnBackoffBudgetsMs: Object.freeze({ ...TXN_BUDGETS_MS }),
  maxTxnTtlMs: 60 * 60 * 1000,
  enableForwarding: false,
  resolveLockLiteThreshold: 512,
  storeLimit: 0,
  rpcTimeoutMs: 30_000,
  longRpcTimeoutMs: 60_000,
  zone: undefined,
});

// Node's timers cannot wait longer (a longer delay fires after 1 ms)
const MAX_MS = 2_147_483_647;

/** Checks an integer option in [min, MAX_MS] ms; undefined gives `def`. */
export function checkMs(v: unknown, name: string, min: number, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > MAX_MS) {
    throw new InvalidArgumentError(
      `must be an integer number of milliseconds in [${min}, ${MAX_MS}], got ${String(v)}`,
      name,
    );
  }
  return v;
}

/** Checks a count option: a non-negative safe integer; undefined gives `def`. */
function checkCount(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer, got ${String(v)}`, name);
  }
  return v;
}

function checkBudgets(v: unknown): TxnBackoffBudgets {
  const def = TUNING_DEFAULTS.txnBackoffBudgetsMs;
  if (v === undefined) return def;
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new InvalidArgumentError(
      `must be an object of phase budgets, got ${String(v)}`,
      "txnBackoffBudgetsMs",
    );
  }
  const out: Record<string, number> = { ...def };
  for (const [k, ms] of Object.entries(v)) {
    if (!(k in def)) {
      throw new InvalidArgumentError(
        `unknown phase "${k}" (one of ${Object.keys(def).join(", ")})`,
        `txnBackoffBudgetsMs.${k}`,
      );
    }
    out[k] = checkMs(ms, `txnBackoffBudgetsMs.${k}`, 0, def[k as TxnPhase]);
  }
  return Object.freeze(out) as TxnBackoffBudgets;
}

/** Checks a boolean option; undefined gives `def`. */
/** A boolean option (`def` when unset); InvalidArgumentError naming it otherwise. */
export function checkFlag(v: unknown, name: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== "boolean") throw new InvalidArgumentError(`must be a boolean, got ${String(v)}`, name);
  return v;
}

/** A zone name (the `zone` option, getMinSafeTs's zone): a non-empty string, or unset. */
export function checkZone(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") {
    throw new InvalidArgumentError(`must be a non-empty string, got ${String(v)}`, "zone");
  }
  return v;
}

/** Validates the tuning options and fills in their defaults. */
export function resolveTuning(o: TuningOptions): ResolvedTuning {
  const d = TUNING_DEFAULTS;
  return {
    pdTimeoutMs: checkMs(o.pdTimeoutMs, "pdTimeoutMs", 1, d.pdTimeoutMs),
    pdRequestTimeoutMs: checkMs(o.pdRequestTimeoutMs, "pdRequestTimeoutMs", 1, d.pdRequestTimeoutMs),
    tsoUpdateIntervalMs: checkMs(o.tsoUpdateIntervalMs, "tsoUpdateIntervalMs", 1, d.tsoUpdateIntervalMs),
    regionCacheTtlMs: checkMs(o.regionCacheTtlMs, "regionCacheTtlMs", 1, d.regionCacheTtlMs),
    regionCacheTtlJitterMs: checkMs(
      o.regionCacheTtlJitterMs,
      "regionCacheTtlJitterMs",
      0,
      d.regionCacheTtlJitterMs,
    ),
    storeRefreshIntervalMs: checkMs(
      o.storeRefreshIntervalMs,
      "storeRefreshIntervalMs",
      0,
      d.storeRefreshIntervalMs,
    ),
    txnBackoffBudgetsMs: checkBudgets(o.txnBackoffBudgetsMs),
    maxTxnTtlMs: checkMs(o.maxTxnTtlMs, "maxTxnTtlMs", 1, d.maxTxnTtlMs),
    enableForwarding: checkFlag(o.enableForwarding, "enableForwarding", d.enableForwarding),
    resolveLockLiteThreshold: checkCount(
      o.resolveLockLiteThreshold,
      "resolveLockLiteThreshold",
      d.resolveLockLiteThreshold,
    ),
    storeLimit: checkCount(o.storeLimit, "storeLimit", d.storeLimit),
    rpcTimeoutMs: checkMs(o.rpcTimeoutMs, "rpcTimeoutMs", 1, d.rpcTimeoutMs),
    longRpcTimeoutMs: checkMs(o.longRpcTimeoutMs, "longRpcTimeoutMs", 1, d.longRpcTimeoutMs),
    zone: checkZone(o.zone),
  };
}

/**
 * The resolved configuration of a connected client ({@link TikvClient.config}): every numeric
 * and named setting with its default filled in. Read-only (frozen); TLS material, interceptors,
 * the logger and the abort signal are not part of it.
 */
export interface ClientConfig extends ResolvedTuning {
  readonly pdEndpoints: readonly string[];
  /** PD's HTTP API for the min safe ts, when set (ConnectOptions.pdHttpEndpoints). */
  readonly pdHttpEndpoints: readonly string[] | undefined;
  readonly apiVersion: "v1" | "v1ttl" | "v2";
  readonly keyspace: string | undefined;
  /** Default deadline of every call in ms (0 = none). */
  readonly timeoutMs: number;
  /** How long connect() waits for PD in ms. */
  readonly connectTimeoutMs: number;
  /** Retry budget of one raw request or low-level request in ms. */
  readonly maxBackoffMs: number;
  /** Requests per BatchCommands message at most. */
  readonly maxBatchSize: number;
  /** Slow-transaction log threshold in ms (with a logger). */
  readonly slowTxnThresholdMs: number;
  /** Local latch slots, when latches are on. */
  readonly txnLocalLatches: { readonly capacity: number } | undefined;
}

/** The frozen {@link ClientConfig} view of resolved options (which carry more than it shows). */
export function configView(o: ClientConfig): ClientConfig {
  return Object.freeze({
    pdEndpoints: Object.freeze([...o.pdEndpoints]),
    pdHttpEndpoints: o.pdHttpEndpoints && Object.freeze([...o.pdHttpEndpoints]),
    apiVersion: o.apiVersion,
    keyspace: o.keyspace,
    timeoutMs: o.timeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    maxBackoffMs: o.maxBackoffMs,
    maxBatchSize: o.maxBatchSize,
    slowTxnThresholdMs: o.slowTxnThresholdMs,
    txnLocalLatches: o.txnLocalLatches === undefined ? undefined : Object.freeze({ ...o.txnLocalLatches }),
    pdTimeoutMs: o.pdTimeoutMs,
    pdRequestTimeoutMs: o.pdRequestTimeoutMs,
    tsoUpdateIntervalMs: o.tsoUpdateIntervalMs,
    regionCacheTtlMs: o.regionCacheTtlMs,
    regionCacheTtlJitterMs: o.regionCacheTtlJitterMs,
    storeRefreshIntervalMs: o.storeRefreshIntervalMs,
    txnBackoffBudgetsMs: Object.freeze({ ...o.txnBackoffBudgetsMs }),
    maxTxnTtlMs: o.maxTxnTtlMs,
    enableForwarding: o.enableForwarding,
    resolveLockLiteThreshold: o.resolveLockLiteThreshold,
    storeLimit: o.storeLimit,
    rpcTimeoutMs: o.rpcTimeoutMs,
    longRpcTimeoutMs: o.longRpcTimeoutMs,
    zone: o.zone,
  });
}

/** client-go: grpc-keepalive-timeout must be at least 0.05 s. */
export const MIN_KEEPALIVE_TIMEOUT_MS = 50;

/**
 * Checks the keepalive entries of `grpcOptions` (client-go TiKVClient.Valid): the keepalive
 * timeout ("grpc.keepalive_timeout_ms", default 3 000) must be at least 50 ms and the keepalive
 * time ("grpc.keepalive_time_ms", default 10 000) a positive integer.
 */
export function checkGrpcKeepalive(grpcOptions: Record<string, unknown> | undefined): void {
  if (grpcOptions === undefined) return;
  const timeout = grpcOptions["grpc.keepalive_timeout_ms"];
  if (timeout !== undefined) {
    checkMs(timeout, 'grpcOptions["grpc.keepalive_timeout_ms"]', MIN_KEEPALIVE_TIMEOUT_MS, 0);
  }
  const time = grpcOptions["grpc.keepalive_time_ms"];
  if (time !== undefined) checkMs(time, 'grpcOptions["grpc.keepalive_time_ms"]', 1, 0);
}
