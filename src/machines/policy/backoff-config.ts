// Backoff kinds and their exponential parameters. Values follow client-go
// config/retry/config.go (Bo* configs, newBackoffFn, expo); TiFlash kinds are left out.

import type { TikvError } from "../../errors/base.js";
import {
  DiskFullError,
  IsWitnessError,
  MaxTimestampNotSyncedError,
  PdServerTimeoutError,
  RegionNotInitializedError,
  RegionRecoveryInProgressError,
  RegionUnavailableError,
  ServerBusyError,
  StaleCommandError,
  TikvServerTimeoutError,
} from "../../errors/server.js";
import { CommitTsLagError, ResolveLockTimeoutError } from "../../errors/txn.js";

/** How a sleep is randomised (the AWS "exponential backoff and jitter" variants client-go uses). */
export type JitterKind = "none" | "full" | "equal" | "decorr";

/** One backoff kind: exponential from `baseMs` up to `capMs`, with a jitter, and the error it stands for. */
export interface BackoffConfig {
  /** client-go's name of the kind (used in counters and errors), e.g. "regionMiss". */
  readonly name: string;
  /** First sleep before jitter, in ms. */
  readonly baseMs: number;
  /** Largest sleep before jitter, in ms. */
  readonly capMs: number;
  /** Jitter variant. */
  readonly jitter: JitterKind;
  /** The typed error reported when a budget runs out and this kind slept the longest. */
  readonly makeError: () => TikvError;
}

function cfg(name: string, baseMs: number, capMs: number, jitter: JitterKind, makeError: () => TikvError) {
  return Object.freeze({ name, baseMs, capMs, jitter, makeError }) as BackoffConfig;
}

/** Every backoff kind of client-go's TiKV path, keyed like client-go's Bo* variables (without "Bo"). */
export const Bo = Object.freeze({
  /** Send failure to a TiKV store (client-go BoTiKVRPC). */
  TiKVRPC: cfg("tikvRPC", 100, 2000, "equal", () => new TikvServerTimeoutError()),
  /** Waiting for a lock to be resolved (client-go BoTxnLock). */
  TxnLock: cfg("txnLock", 100, 3000, "equal", () => new ResolveLockTimeoutError()),
  /**
   * Fast lock backoff (client-go BoTxnLockFast). Its base comes from the backoffer's
   * `lockFastBaseMs` (client-go kv.Variables.BackoffLockFast, default 10).
   */
  TxnLockFast: cfg("txnLockFast", 2, 3000, "equal", () => new ResolveLockTimeoutError()),
  /** PD call failed (client-go BoPDRPC). */
  PDRPC: cfg("pdRPC", 500, 3000, "equal", () => new PdServerTimeoutError()),
  /** Region cache miss / stale region (client-go BoRegionMiss). */
  RegionMiss: cfg("regionMiss", 2, 500, "none", () => new RegionUnavailableError()),
  /** Region is being scheduled: no leader, merging, read index not ready (client-go BoRegionScheduling). */
  RegionScheduling: cfg("regionScheduling", 2, 500, "none", () => new RegionUnavailableError()),
  /** ServerIsBusy (client-go BoTiKVServerBusy; excluded from the budget up to 10 min). */
  TiKVServerBusy: cfg("tikvServerBusy", 2000, 10000, "equal", () => new ServerBusyError()),
  /** DiskFull (client-go BoTiKVDiskFull). */
  TiKVDiskFull: cfg("tikvDiskFull", 500, 5000, "none", () => new DiskFullError()),
  /** RecoveryInProgress (client-go BoRegionRecoveryInProgress). */
  RegionRecoveryInProgress: cfg(
    "regionRecoveryInProgress",
    100,
    10000,
    "equal",
    () => new RegionRecoveryInProgressError(),
  ),
  /** Transaction status not found yet (client-go BoTxnNotFound). */
  TxnNotFound: cfg("txnNotFound", 2, 500, "none", () => new ResolveLockTimeoutError()),
  /** StaleCommand (client-go BoStaleCmd). */
  StaleCmd: cfg("staleCommand", 2, 1000, "none", () => new StaleCommandError()),
  /** MaxTimestampNotSynced (client-go BoMaxTsNotSynced). */
  MaxTsNotSynced: cfg("maxTsNotSynced", 2, 500, "none", () => new MaxTimestampNotSyncedError()),
  /** Commit ts from PD lags (client-go BoCommitTSLag). */
  CommitTSLag: cfg("commitTSLag", 2, 500, "none", () => new CommitTsLagError()),
  /** RegionNotInitialized (client-go BoMaxRegionNotInitialized). */
  MaxRegionNotInitialized: cfg(
    "regionNotInitialized",
    2,
    1000,
    "none",
    () => new RegionNotInitializedError(),
  ),
  /** IsWitness (client-go BoIsWitness). */
  IsWitness: cfg("isWitness", 1000, 10000, "equal", () => new IsWitnessError()),
});

/** Name of a {@link Bo} entry. */
export type BoKey = keyof typeof Bo;

/**
 * Kinds whose sleep does not count against the normal budget, with their own cap in ms
 * (client-go isSleepExcluded: ServerIsBusy may wait up to 10 minutes in total).
 */
export const DEFAULT_EXCLUDED_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  [Bo.TiKVServerBusy.name]: 600_000,
});

/** client-go kv.DefBackOffWeight: a backoffer's budget is maxSleep × weight. */
export const DEFAULT_BACKOFF_WEIGHT = 2;
/** client-go kv.DefBackoffLockFast: base of the TxnLockFast kind in ms. */
export const DEFAULT_LOCK_FAST_BASE_MS = 10;

/** Per-request budgets in ms, as client-go's callers pass them to NewBackoffer. */
export const MaxBackoff = Object.freeze({
  /** Raw KV commands (client-go rawkvMaxBackoff). */
  rawkv: 20_000,
  /** Snapshot Get (client-go getMaxBackoff). */
  get: 20_000,
  /** Snapshot BatchGet (client-go batchGetMaxBackoff). */
  batchGet: 20_000,
  /** Scanner next (client-go scannerNextMaxBackoff). */
  scan: 20_000,
  /** Prewrite (client-go PrewriteMaxBackoff). */
  prewrite: 40_000,
  /** Commit (client-go CommitMaxBackoff). */
  commit: 40_000,
  /** Cleanup / rollback (client-go cleanupMaxBackoff). */
  cleanup: 20_000,
  /** Pessimistic lock (client-go pessimisticLockMaxBackoff). */
  pessimisticLock: 20_000,
  /** Split region (client-go splitRegionBackoff). */
  splitRegion: 20_000,
  /** Locating regions of a range task (client-go locateRegionMaxBackoff). */
  locateRegion: 20_000,
  /** GC resolve locks (client-go gcResolveLockMaxBackoff). */
  gcResolveLock: 100_000,
});

/**
 * The state of one exponential sequence of a kind inside one backoffer (client-go newBackoffFn).
 * `random` returns a float in [0, 1) like Math.random.
 */
export class BackoffSequence {
  private attempts = 0;
  private lastSleep: number;
  private readonly base: number;

  constructor(
    private readonly config: BackoffConfig,
    baseMs: number,
    private readonly random: () => number,
  ) {
    // a base below 2 would make the equal-jitter random range empty
    this.base = baseMs < 2 ? 2 : baseMs;
    this.lastSleep = this.base;
  }

  /** Next sleep in ms; `maxSleepMs >= 0` caps the returned value (client-go BackoffWithMaxSleep). */
  next(maxSleepMs = -1): number {
    const { capMs, jitter } = this.config;
    let sleep: number;
    switch (jitter) {
      case "none":
        sleep = expo(this.base, capMs, this.attempts);
        break;
      case "full":
        sleep = this.intn(expo(this.base, capMs, this.attempts));
        break;
      case "equal": {
        const v = expo(this.base, capMs, this.attempts);
        sleep = Math.floor(v / 2) + this.intn(Math.floor(v / 2));
        break;
      }
      case "decorr":
        sleep = Math.min(capMs, this.base + this.intn(this.lastSleep * 3 - this.base));
        break;
    }
    this.attempts++;
    this.lastSleep = sleep;
    return maxSleepMs >= 0 && sleep > maxSleepMs ? maxSleepMs : sleep;
  }

  private intn(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.random() * n);
  }
}

/** min(cap, base × 2^n), truncated to an integer (client-go expo). */
export function expo(base: number, cap: number, n: number): number {
  return Math.floor(Math.min(cap, base * 2 ** n));
}
