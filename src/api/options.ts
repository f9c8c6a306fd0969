// Public options of TikvClient.connect() and client.raw(), and their validation.
// Option names follow client-go's rawkv.NewClientWithOpts / tikv.NewKVStore options
// (WithAPIVersion, WithKeyspace, WithSecurity, SetColumnFamily, SetAtomicForCAS).

import { isIP } from "node:net";
import type { ChannelOptions } from "@grpc/grpc-js";
import { checkInspectOptions, type InspectOptions } from "../actors/inspect/server.js";
import type { GroupControllerConfig } from "../actors/resource-control/group-controller.js";
import type { ExecDetails } from "../actors/runtime/exec-details.js";
import { MAX_LATCH_CAPACITY } from "../actors/txn/latches/latch-table.js";
import { DEFAULT_SLOW_TXN_THRESHOLD_MS } from "../actors/txn/slow-txn-log.js";
import { InvalidArgumentError } from "../errors/base.js";
import type { Context } from "../proto/kvrpcpb.js";
import { checkTlsOptions, type TlsOptions } from "../rpc/channel.js";
import {
  checkFlag,
  checkGrpcKeepalive,
  type ResolvedTuning,
  resolveTuning,
  type TuningOptions,
} from "./client-config.js";
import { chainRpcInterceptors, checkInterceptor, type RpcInterceptor } from "./interceptor.js";
import { checkLogger, type Logger, safeLogger, slowRequestInterceptor } from "./logger.js";
import { checkMetricsOptions, type MetricsOptions, type ResolvedMetricsOptions } from "./metrics-options.js";
import {
  type ResourceCallOptions,
  type ResourceControlOptions,
  resolveResourceControl,
  resourceContextFields,
} from "./resource-control-options.js";
import { checkTracingOptions, type ResolvedTracingOptions, type TracingOptions } from "./tracing-options.js";

/** The TiKV API version a client speaks (client-go kvrpcpb.APIVersion). */
export type ApiVersionName = "v1" | "v1ttl" | "v2";

/**
 * Options of {@link TikvClient.connect}. Every option is validated at connect (InvalidArgumentError
 * naming it); the tuning knobs (PD timeouts, TSO refresh, region-cache TTL, budgets) are in
 * {@link TuningOptions}; `client.config` shows the resolved values.
 */
export interface ConnectOptions extends TuningOptions {
  /** PD endpoints, "host:port" or "http://host:port"; any member will do. */
  pdEndpoints: string[];
  /** TLS material; omitted = plaintext. */
  tls?: TlsOptions;
  /**
   * PD's HTTP API, "host:port" or "http(s)://host:port" (client-go: a PD HTTP client set on the
   * KVStore). When set, the min safe ts (`client.txn().getMinSafeTs()`) is taken from PD's min
   * resolved ts (GET /pd/api/v1/min-resolved-ts) and the stores are asked GetStoreSafeTS only
   * when PD answers 0, has the feature off or fails. Real PD serves it on its client URL (the
   * pdEndpoints); the embedded cluster on `cluster.pdHttpEndpoints`. With `tls`, https with the
   * same CA and client certificate. Unset = the stores are asked.
   *
   * @example
   * const client = await TikvClient.connect({ pdEndpoints: ["pd:2379"], pdHttpEndpoints: ["pd:2379"] });
   */
  pdHttpEndpoints?: string[];
  /** Extra grpc-js channel options for PD and TiKV channels (client-go WithGRPCDialOptions). */
  grpcOptions?: ChannelOptions;
  /** API version of the cluster (default "v1"). "v1ttl" enables TTLs on raw keys in API v1. */
  apiVersion?: ApiVersionName;
  /** API v2 only: keyspace name (default: the "DEFAULT" keyspace, id 0). */
  keyspace?: string;
  /** Default deadline of every call in ms (default 20 000; 0 = none). */
  timeoutMs?: number;
  /** How long connect() waits for PD (default 20 000 ms). */
  connectTimeoutMs?: number;
  /** Cancels connect(): it rejects with AbortedError (the reason as cause) and stops everything it started. */
  signal?: AbortSignal;
  /** Retry budget of one raw request in ms (client-go rawkvMaxBackoff, default 20 000). */
  maxBackoffMs?: number;
  /** Largest number of requests a store packs into one BatchCommands message (default 128). */
  maxBatchSize?: number;
  /**
   * Live view of the client's statecharts: serves a local page (127.0.0.1, `port` 0 = any)
   * showing each actor's state as it changes (`client.inspection.url`). Off by default; when
   * off no inspection callback is attached to any actor.
   */
  inspect?: InspectOptions;
  /**
   * Attach inspection to every actor (PD, stores, regions, retries, lock resolver) so that
   * `client.observe().transitions` carries their state changes without the live view. Off by
   * default: it costs work on every actor transition while someone subscribes.
   *
   * @example
   * ```ts
   * const client = await TikvClient.connect({ pdEndpoints, observeActors: true });
   * client.observe().transitions.subscribe((t) => console.log(t.kind, t.from, "->", t.to));
   * ```
   */
  observeActors?: boolean;
  /**
   * Local latches for optimistic commits (client-go TxnLocalLatches / EnableTxnLocalLatches):
   * commits of this client that share keys wait for each other in the client, before any RPC,
   * and one whose start ts is older than a commit already made here on one of its keys fails at
   * once with the retryable WriteConflictInLatchError instead of a prewrite that would conflict
   * on TiKV. Off by default; pessimistic transactions never use them.
   */
  txnLocalLatches?: TxnLocalLatchesOptions;
  /**
   * Prometheus export through prom-client (an optional peer dependency, imported only when this
   * is set): `true` registers the client's metric families in prom-client's global registry,
   * `{ registry, prefix }` in your own. Off by default, at no cost.
   */
  metrics?: boolean | MetricsOptions;
  /**
   * OpenTelemetry spans of commits, lock resolutions, region loads and every TiKV RPC (needs the
   * optional peer dependency @opentelemetry/api, imported only when this is set; without it the
   * client runs untraced): `true` uses the global tracer provider, `{ tracerProvider }` yours.
   * Off by default, at no cost.
   */
  tracing?: boolean | TracingOptions;
  /**
   * RPC interceptors run around every TiKV RPC of this client, in order (client-go
   * tikvrpc/interceptor); a transaction's or snapshot's own run inside them. Unset = none.
   */
  interceptors?: RpcInterceptor | readonly RpcInterceptor[];
  /** Where the client logs (pino-compatible); unset = silent. Each call is guarded by try/catch. */
  logger?: Logger;
  /**
   * With a logger: RPC attempts slower than this (ms) are logged at warn as "slow request"
   * (client-go slowLogSendReqTime, default 100).
   */
  slowRequestThresholdMs?: number;
  /**
   * With a logger: a transaction whose commit ends more than this (ms) after it began is logged
   * at warn as "slow transaction" (default 60 000, client-go slowRequestThreshold).
   */
  slowTxnThresholdMs?: number;
  /**
   * Resource group of every request that names none (per call, snapshot or transaction option
   * `resourceGroupName`); unset = requests carry no group (TiKV counts them in "default").
   */
  resourceGroupName?: string;
  /** Request source of every request that names none (see `buildRequestSource`). */
  requestSource?: string;
  /**
   * Throttling by PD's resource manager (client-go's resource control interceptor): requests of
   * a named group wait for its RU tokens (ResourceGroupThrottledError past the wait allowed; a
   * group PD does not have: ResourceGroupNotFoundError). Off by default, at no cost.
   *
   * @example
   * const client = await TikvClient.connect({ pdEndpoints, resourceGroupName: "batch", resourceControl: true });
   */
  resourceControl?: boolean | ResourceControlOptions;
}

/** Options of {@link ConnectOptions.txnLocalLatches} (client-go config.TxnLocalLatches). */
export interface TxnLocalLatchesOptions {
  /** Number of latch slots, rounded up to a power of two (an integer in [1, 2^31]). */
  capacity: number;
}

/** Options of {@link TikvClient.raw}. */
export interface RawClientOptions {
  /** Column family used by every call unless a call names its own (default: TiKV's "default"). */
  columnFamily?: string;
  /**
   * Atomic mode (client-go SetAtomicForCAS): writes go through TiKV's single-row transaction
   * path so that compareAndSwap is linearizable with them. Required by compareAndSwap.
   */
  atomic?: boolean;
}

/** Options every raw call accepts. */
export interface CallOptions {
  /** Cancels the call; it fails with AbortedError. */
  signal?: AbortSignal;
  /** Deadline of this call in ms (overrides the client's `timeoutMs`; 0 = none). */
  timeoutMs?: number;
  /**
   * Collects the call's execution details into this object (client-go exec details): RPCs and
   * their wait, backoffs by kind, and the time / scan detail TiKV reports for transactional reads.
   * See the README's "Execution details".
   */
  execDetails?: ExecDetails;
}

/** Options of raw calls that read or write one column family. */
export interface RawCallOptions extends CallOptions, ResourceCallOptions {
  /** Column family of this call (overrides the client's). */
  columnFamily?: string;
}

/** Options of raw scans. */
export interface RawScanOptions extends RawCallOptions {
  /** Return keys only; values are empty Buffers. */
  keyOnly?: boolean;
}

/** The resolved form of {@link ConnectOptions}. */
export interface ResolvedConnectOptions extends ResolvedTuning {
  pdEndpoints: string[];
  tls: TlsOptions | undefined;
  pdHttpEndpoints: string[] | undefined;
  grpcOptions: ChannelOptions | undefined;
  apiVersion: ApiVersionName;
  keyspace: string | undefined;
  timeoutMs: number;
  connectTimeoutMs: number;
  maxBackoffMs: number;
  maxBatchSize: number;
  inspect: InspectOptions | undefined;
  observeActors: boolean;
  txnLocalLatches: TxnLocalLatchesOptions | undefined;
  /** Prometheus export; undefined = off. */
  metrics: ResolvedMetricsOptions | undefined;
  /** OpenTelemetry tracing; undefined = off. */
  tracing: ResolvedTracingOptions | undefined;
  /** The client's interceptor chain (user interceptors, then the slow-request log); undefined = none. */
  interceptor: RpcInterceptor | undefined;
  /** The guarded logger; undefined = silent. */
  logger: Logger | undefined;
  slowTxnThresholdMs: number;
  /** The client's resource group / request source, set on every request context; undefined = none. */
  contextDefaults: Partial<Context> | undefined;
  /** Throttling settings; undefined = off. */
  resourceControl: GroupControllerConfig | undefined;
}

const API_VERSIONS: readonly ApiVersionName[] = ["v1", "v1ttl", "v2"];
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const SCHEMES = new Set(["http", "https", "grpc", "grpcs"]);
const HOST_LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i;

/**
 * Why a PD endpoint is unusable, or undefined when it is a valid "host:port" (optionally with an
 * http(s):// or grpc(s):// scheme and a trailing "/"): the host is a DNS name, an IPv4 address or
 * a bracketed IPv6 address, the port a decimal in 1-65535.
 */
export function endpointProblem(endpoint: string): string | undefined {
  let rest = endpoint;
  const scheme = SCHEME.exec(rest);
  if (scheme) {
    if (!SCHEMES.has((scheme[1] as string).toLowerCase())) return `scheme "${scheme[1]}" is not supported`;
    rest = rest.slice(scheme[0].length);
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (rest.includes("/")) return "it has a path (expected host:port)";
  let host: string;
  let port: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return "the IPv6 address has no closing bracket";
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return "unexpected text after the IPv6 address";
    port = after === "" ? undefined : after.slice(1);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = rest.lastIndexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    port = colon < 0 ? undefined : rest.slice(colon + 1);
    if (host.includes(":")) return "an IPv6 address must be in brackets: [addr]:port";
    if (host === "") return "the host is empty";
    if (/^[0-9.]+$/.test(host)) {
      if (isIP(host) !== 4) return `"${host}" is not an IPv4 address`;
    } else if (host.length > 253 || !host.split(".").every((l) => HOST_LABEL.test(l))) {
      return `"${host}" is not a valid host name`;
    }
  }
  if (port === undefined || port === "") return "it has no port (expected host:port)";
  if (!/^[0-9]+$/.test(port)) return `port "${port}" is not a number`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `port ${port} is out of range 1-65535`;
  return undefined;
}

/** Checks `pdHttpEndpoints`: undefined, or a non-empty list of host:port with an optional http(s) scheme. */
function checkPdHttpEndpoints(eps: unknown): string[] | undefined {
  if (eps === undefined) return undefined;
  if (!Array.isArray(eps) || eps.length === 0) {
    throw new InvalidArgumentError("must be a non-empty array of endpoints", "pdHttpEndpoints");
  }
  return eps.map((e, i) => {
    const name = `pdHttpEndpoints[${i}]`;
    if (typeof e !== "string")
      throw new InvalidArgumentError(`must be a "host:port" string, got ${typeof e}`, name);
    const t = e.trim();
    const problem = /^grpcs?:\/\//i.test(t) ? "only http:// or https:// is served" : endpointProblem(t);
    if (problem !== undefined)
      throw new InvalidArgumentError(`"${e}" is not a valid PD HTTP endpoint: ${problem}`, name);
    return t;
  });
}

import { checkNonNegativeInt } from "./internal/validate.js";

export { checkNonNegativeInt };

/**
 * The longest timeout accepted, in ms (about 24.8 days): Node's timers cannot wait longer (a
 * longer delay fires after 1 ms), and calls arm timers with their remaining time.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Checks a timeout option in ms: a finite number in [0, {@link MAX_TIMEOUT_MS}] (0 = none). */
export function checkTimeoutMs(v: unknown, name: string, integer = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new InvalidArgumentError(
      `must be a non-negative ${integer ? "integer" : "number"} of milliseconds, got ${String(v)}`,
      name,
    );
  }
  if (v > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`must be at most ${MAX_TIMEOUT_MS} ms (0 = no timeout), got ${v}`, name);
  }
  return v;
}

/** Validates and fills in defaults; throws InvalidArgumentError on bad input. */
export function resolveConnectOptions(opts: ConnectOptions): ResolvedConnectOptions {
  if (opts === null || typeof opts !== "object") {
    throw new InvalidArgumentError("connect options must be an object", "options");
  }
  const eps = opts.pdEndpoints;
  if (!Array.isArray(eps) || eps.length === 0) {
    throw new InvalidArgumentError("at least one PD endpoint is required", "pdEndpoints");
  }
  eps.forEach((e, i) => {
    if (typeof e !== "string") {
      throw new InvalidArgumentError(`must be a "host:port" string, got ${typeof e}`, `pdEndpoints[${i}]`);
    }
    const problem = endpointProblem(e.trim());
    if (problem !== undefined) {
      throw new InvalidArgumentError(`"${e}" is not a valid PD endpoint: ${problem}`, `pdEndpoints[${i}]`);
    }
  });
  const apiVersion = opts.apiVersion ?? "v1";
  if (!API_VERSIONS.includes(apiVersion)) {
    throw new InvalidArgumentError(
      `must be one of ${API_VERSIONS.join(", ")}, got ${String(apiVersion)}`,
      "apiVersion",
    );
  }
  if (opts.keyspace !== undefined) {
    if (typeof opts.keyspace !== "string" || opts.keyspace === "") {
      throw new InvalidArgumentError("must be a non-empty string", "keyspace");
    }
    // client-go: a keyspace only exists in API v2 (WithKeyspace with V1 is an error).
    if (apiVersion !== "v2") {
      throw new InvalidArgumentError("keyspaces need apiVersion 'v2'", "keyspace");
    }
  }
  if (opts.grpcOptions !== undefined && (opts.grpcOptions === null || typeof opts.grpcOptions !== "object")) {
    throw new InvalidArgumentError("must be an object", "grpcOptions");
  }
  checkGrpcKeepalive(opts.grpcOptions as Record<string, unknown> | undefined);
  if (opts.tls !== undefined) checkTlsOptions(opts.tls);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError("must be an AbortSignal", "signal");
  }
  const maxBatchSize =
    opts.maxBatchSize === undefined ? 128 : checkNonNegativeInt(opts.maxBatchSize, "maxBatchSize");
  if (maxBatchSize === 0) throw new InvalidArgumentError("must be at least 1, got 0", "maxBatchSize");
  const logger = opts.logger === undefined ? undefined : safeLogger(checkLogger(opts.logger, "logger"));
  const tuning = resolveTuning(opts);
  return {
    ...tuning,
    pdEndpoints: eps.map((e) => e.trim()),
    tls: opts.tls,
    pdHttpEndpoints: checkPdHttpEndpoints(opts.pdHttpEndpoints),
    grpcOptions: opts.grpcOptions,
    apiVersion,
    keyspace: opts.keyspace,
    timeoutMs: opts.timeoutMs === undefined ? 20_000 : checkTimeoutMs(opts.timeoutMs, "timeoutMs", true),
    connectTimeoutMs:
      opts.connectTimeoutMs === undefined
        ? 20_000
        : checkTimeoutMs(opts.connectTimeoutMs, "connectTimeoutMs", true),
    maxBackoffMs:
      opts.maxBackoffMs === undefined ? 20_000 : checkNonNegativeInt(opts.maxBackoffMs, "maxBackoffMs"),
    maxBatchSize,
    inspect: opts.inspect === undefined ? undefined : checkInspectOptions(opts.inspect),
    observeActors: checkFlag(opts.observeActors, "observeActors", false),
    metrics: checkMetricsOptions(opts.metrics),
    tracing: checkTracingOptions(opts.tracing),
    txnLocalLatches:
      opts.txnLocalLatches === undefined ? undefined : checkTxnLocalLatches(opts.txnLocalLatches),
    interceptor: clientInterceptor(opts, logger),
    logger,
    slowTxnThresholdMs:
      opts.slowTxnThresholdMs === undefined
        ? DEFAULT_SLOW_TXN_THRESHOLD_MS
        : checkTimeoutMs(opts.slowTxnThresholdMs, "slowTxnThresholdMs"),
    contextDefaults: resourceContextFields(opts),
    resourceControl: resolveResourceControl(opts.resourceControl),
  };
}

// The client's chain: the user's interceptors, then (innermost, timing the RPC itself) the
// slow-request log when there is a logger.
function clientInterceptor(opts: ConnectOptions, logger: Logger | undefined): RpcInterceptor | undefined {
  const given = opts.interceptors;
  const list: RpcInterceptor[] =
    given === undefined
      ? []
      : Array.isArray(given)
        ? given.map((it, i) => checkInterceptor(it, `interceptors[${i}]`))
        : [checkInterceptor(given, "interceptors")];
  const threshold =
    opts.slowRequestThresholdMs === undefined
      ? 100
      : checkTimeoutMs(opts.slowRequestThresholdMs, "slowRequestThresholdMs");
  if (logger !== undefined) list.push(slowRequestInterceptor(logger, threshold));
  const [first, ...rest] = list;
  return first === undefined ? undefined : chainRpcInterceptors(first, ...rest);
}

// client-go refuses an enabled latch section with capacity 0; we also bound it to 2^31 slots
function checkTxnLocalLatches(v: unknown): TxnLocalLatchesOptions {
  if (v === null || typeof v !== "object") {
    throw new InvalidArgumentError("must be an object { capacity }", "txnLocalLatches");
  }
  const capacity = (v as { capacity?: unknown }).capacity;
  if (
    typeof capacity !== "number" ||
    !Number.isInteger(capacity) ||
    capacity < 1 ||
    capacity > MAX_LATCH_CAPACITY
  ) {
    throw new InvalidArgumentError(
      `must be an integer in [1, ${MAX_LATCH_CAPACITY}], got ${String(capacity)}`,
      "txnLocalLatches.capacity",
    );
  }
  return { capacity };
}

/** Validates {@link RawClientOptions}. */
export function resolveRawOptions(opts: RawClientOptions = {}): Required<Pick<RawClientOptions, "atomic">> & {
  columnFamily: string;
} {
  if (opts === null || typeof opts !== "object")
    throw new InvalidArgumentError("must be an object", "options");
  if (opts.columnFamily !== undefined) checkColumnFamily(opts.columnFamily, "columnFamily");
  if (opts.atomic !== undefined && typeof opts.atomic !== "boolean") {
    throw new InvalidArgumentError("must be a boolean", "atomic");
  }
  return { columnFamily: opts.columnFamily ?? "", atomic: opts.atomic ?? false };
}

/** Checks a column family name (a string; TiKV rejects unknown names itself). */
export function checkColumnFamily(cf: unknown, name = "columnFamily"): string {
  if (typeof cf !== "string") throw new InvalidArgumentError("must be a string", name);
  return cf;
}
