// The public timestamp oracle of a client (client-go oracle.Oracle over PD, oracle/oracles/pd.go):
// fresh and low-resolution timestamps, stale timestamps estimated locally, read-ts validation,
// lock expiry against the newest timestamp seen, PD's external timestamp and the min ts over
// TSO keyspace groups. Thin: validates input and calls the PD actor, which owns the TSO stream,
// lastTS and its refresh loop.

import type { PdActor } from "../actors/pd/pd-actor.js";
import { InvalidArgumentError } from "../errors/base.js";
import { FutureTsReadError, LatestStaleReadError } from "../errors/server.js";
import { checkPositiveTs, MAX_TS } from "../kv/timestamp.js";
import { GetExternalTimestampRequest, SetExternalTimestampRequest } from "../proto/pdpb.js";
import type { CallOptions } from "./options.js";

/** Options of {@link Oracle.validateReadTs}. */
export interface ValidateReadTsOptions extends Pick<CallOptions, "signal"> {
  /** The read is a stale read: reading at "latest" (max ts) is then refused. */
  isStaleRead?: boolean;
}

/** What the oracle reads through. */
export interface OracleHost {
  /** @internal */
  readonly pd: PdActor;
  checkOpen(): void;
}

// setInterval takes at most 2^31 - 1 ms (longer delays fire at once)
const MAX_INTERVAL_MS = 2 ** 31 - 1;
// ReadTS in [MaxInt64, MaxUint64) is refused (client-go ValidateReadTS)
const MAX_INT64 = (1n << 63n) - 1n;

/**
 * The client's timestamp oracle (client-go oracle.Oracle). Get it from {@link TikvClient.oracle}.
 *
 * @example
 * ```ts
 * const ts = await client.oracle.getTimestamp();
 * const tenSecondsAgo = await client.oracle.getStaleTimestamp(10);
 * await client.oracle.validateReadTs(tenSecondsAgo, { isStaleRead: true });
 * ```
 */
export class Oracle {
  /** @internal use TikvClient.oracle */
  constructor(private readonly host: OracleHost) {}

  /**
   * A fresh timestamp from PD (client-go GetTimestamp); calls in one event-loop turn share
   * one TSO request.
   */
  async getTimestamp(options?: Pick<CallOptions, "signal" | "timeoutMs">): Promise<bigint> {
    this.host.checkOpen();
    return this.host.pd.getTimestamp(options);
  }

  /**
   * The newest timestamp this client has seen (client-go GetLowResolutionTimestamp): no round
   * trip, at most the refresh interval old. Before the first one arrived, one is fetched.
   *
   * @example
   * ```ts
   * const rough = await client.oracle.getLowResolutionTimestamp();
   * ```
   */
  async getLowResolutionTimestamp(): Promise<bigint> {
    await ensureLastTs(this.host);
    return this.host.pd.getLowResolutionTimestamp();
  }

  /**
   * How often (ms) the low-resolution timestamp is refreshed from PD (client-go
   * SetLowResolutionTimestampUpdateInterval; default 2000). An integer in [1, 2^31 - 1], else
   * InvalidArgumentError.
   */
  setLowResolutionTimestampUpdateInterval(ms: number): void {
    this.host.checkOpen();
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 1 || ms > MAX_INTERVAL_MS) {
      throw new InvalidArgumentError(
        `must be an integer in [1, ${MAX_INTERVAL_MS}] (ms), got ${String(ms)}`,
        "ms",
      );
    }
    this.host.pd.setLowResolutionTimestampUpdateInterval(ms);
  }

  /**
   * A timestamp about `secondsAgo` seconds before now (client-go GetStaleTimestamp), estimated
   * from the newest timestamp seen plus the local time since it arrived: no PD round trip once a
   * timestamp is known. It is not checked against the data: stale reads check it (and replicas'
   * safe ts decide who may serve it). InvalidArgumentError for a negative or fractional
   * `secondsAgo`, or one reaching back before 1970.
   *
   * @example
   * ```ts
   * const ts = await client.oracle.getStaleTimestamp(5);
   * const snap = await client.txn().snapshot(ts, { staleRead: true });
   * ```
   */
  getStaleTimestamp(secondsAgo: number): Promise<bigint> {
    return staleTimestamp(this.host, secondsAgo);
  }

  /**
   * Rejects read timestamps that PD has not handed out yet (client-go ValidateReadTS):
   * FutureTsReadError when `readTs` is newer than a fresh TSO, LatestStaleReadError for a stale
   * read at max ts, InvalidArgumentError for a ts in [2^63 - 1, 2^64 - 1).
   *
   * @example
   * ```ts
   * await client.oracle.validateReadTs(ts); // throws FutureTsReadError for a future ts
   * ```
   */
  validateReadTs(readTs: bigint, options: ValidateReadTsOptions = {}): Promise<void> {
    return validateReadTs(this.host, readTs, options);
  }

  /**
   * Whether a lock with start ts `lockTs` and TTL `ttlMs` has expired by the newest timestamp
   * seen (client-go IsExpired; true when none was seen yet).
   */
  isExpired(lockTs: bigint, ttlMs: number | bigint): boolean {
    this.host.checkOpen();
    checkLockArgs(lockTs, ttlMs);
    return this.host.pd.isExpired(lockTs, ttlMs);
  }

  /**
   * Milliseconds until a lock with start ts `lockTs` and TTL `ttlMs` expires, by the newest
   * timestamp seen (client-go UntilExpired; negative once expired, 0 when none was seen yet).
   */
  untilExpired(lockTs: bigint, ttlMs: number | bigint): number {
    this.host.checkOpen();
    checkLockArgs(lockTs, ttlMs);
    return this.host.pd.untilExpired(lockTs, ttlMs);
  }

  /** PD's external timestamp (client-go GetExternalTimestamp; 0 when never set). */
  async getExternalTimestamp(options?: Pick<CallOptions, "signal" | "timeoutMs">): Promise<bigint> {
    this.host.checkOpen();
    const r = await this.host.pd.call(
      "getExternalTimestamp",
      GetExternalTimestampRequest.fromPartial({}),
      options,
    );
    return r.timestamp;
  }

  /**
   * Sets PD's external timestamp (client-go SetExternalTimestamp). PD refuses (PdError,
   * INVALID_VALUE) a ts above its current TSO or not above the current external ts.
   *
   * @example
   * ```ts
   * await client.oracle.setExternalTimestamp(await client.oracle.getTimestamp());
   * ```
   */
  async setExternalTimestamp(ts: bigint, options?: Pick<CallOptions, "signal" | "timeoutMs">): Promise<void> {
    this.host.checkOpen();
    checkPositiveTs(ts, "ts");
    await this.host.pd.call(
      "setExternalTimestamp",
      SetExternalTimestampRequest.fromPartial({ timestamp: ts }),
      options,
    );
  }

  /** The smallest timestamp over every TSO keyspace group (client-go GetAllTSOKeyspaceGroupMinTS). */
  async getAllTsoKeyspaceGroupMinTs(options?: Pick<CallOptions, "signal" | "timeoutMs">): Promise<bigint> {
    this.host.checkOpen();
    return this.host.pd.getMinTs(options);
  }
}

// a client connects without fetching a timestamp: lastTS is empty until the first one
async function ensureLastTs(host: OracleHost, signal?: AbortSignal): Promise<void> {
  host.checkOpen();
  if (host.pd.lastTimestamp === undefined) await host.pd.getTimestamp(signal ? { signal } : undefined);
}

/** @internal the stale ts `secondsAgo` seconds back (shared by the oracle and stale reads) */
export async function staleTimestamp(
  host: OracleHost,
  secondsAgo: number,
  signal?: AbortSignal,
): Promise<bigint> {
  host.checkOpen();
  checkSecondsAgo(secondsAgo);
  await ensureLastTs(host, signal);
  return host.pd.getStaleTimestamp(secondsAgo);
}

/** @internal client-go ValidateReadTS (shared by the oracle and stale reads) */
export async function validateReadTs(
  host: OracleHost,
  readTs: bigint,
  options: ValidateReadTsOptions,
): Promise<void> {
  host.checkOpen();
  checkPositiveTs(readTs, "readTs");
  if (readTs === MAX_TS) {
    if (options.isStaleRead) throw new LatestStaleReadError();
    return;
  }
  if (readTs >= MAX_INT64) {
    throw new InvalidArgumentError(`MaxInt64 <= readTS < MaxUint64, readTS=${readTs}`, "readTs");
  }
  const opts = options.signal ? { signal: options.signal } : undefined;
  try {
    await host.pd.validateReadTs(readTs, opts, options.isStaleRead);
  } catch (e) {
    // client-go retries once: the TSO compared may have been requested before `readTs` was
    // handed out (a batch in flight); a second fresh one settles it
    if (!(e instanceof FutureTsReadError)) throw e;
    await host.pd.validateReadTs(readTs, opts);
  }
}

/** @internal validates a stale read's "seconds ago" */
export function checkSecondsAgo(v: unknown, argument = "secondsAgo"): asserts v is number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer (seconds), got ${String(v)}`, argument);
  }
}

function checkLockArgs(lockTs: unknown, ttlMs: unknown): void {
  checkPositiveTs(lockTs, "lockTs");
  const ok =
    (typeof ttlMs === "bigint" && ttlMs >= 0n) ||
    (typeof ttlMs === "number" && Number.isSafeInteger(ttlMs) && ttlMs >= 0);
  if (!ok)
    throw new InvalidArgumentError(`must be a non-negative integer (ms), got ${String(ttlMs)}`, "ttlMs");
}
