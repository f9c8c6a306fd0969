// A per-request retry budget: total sleep, per-kind counters, excluded kinds, the last errors.
// Semantics follow client-go config/retry/backoff.go (Backoffer). Sleeping is separate from
// accounting so statecharts can sleep with `after` while the budget stays here.

import { AbortedError, BackoffExhaustedError } from "../../errors/server.js";
import {
  type BackoffConfig,
  BackoffSequence,
  Bo,
  DEFAULT_BACKOFF_WEIGHT,
  DEFAULT_EXCLUDED_LIMITS,
  DEFAULT_LOCK_FAST_BASE_MS,
} from "./backoff-config.js";

/** How many of the latest errors a backoffer keeps (client-go MaxRecordBackoffErrCount). */
export const MAX_RECORDED_BACKOFF_ERRORS = 3;

/** One recorded backoff reason. */
export interface BackoffRecord {
  /** The error's message. */
  reason: string;
  /** The error itself. */
  error: unknown;
  /** When it was recorded (ms since epoch, from the injected clock). */
  at: number;
}

/** Sleeps `ms`; resolves early (or rejects) when `signal` aborts. */
export type Sleeper = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Options of a {@link Backoffer}. */
export interface BackofferOptions {
  /** Budget in ms before the weight is applied; 0 = unlimited (client-go maxSleep). */
  maxSleepMs: number;
  /** Multiplier of the budget (client-go kv.Variables.BackOffWeight, default 2). */
  weight?: number;
  /** Base of TxnLockFast in ms (client-go kv.Variables.BackoffLockFast, default 10). */
  lockFastBaseMs?: number;
  /** Random source in [0, 1) for jitter (default Math.random). */
  random?: () => number;
  /** Timer used by {@link Backoffer.backoff} (default setTimeout honouring the signal). */
  sleep?: Sleeper;
  /** Clock for error records (default Date.now). */
  now?: () => number;
  /** Cancels the whole request: backoffs fail with AbortedError once it fires. */
  signal?: AbortSignal;
  /** Kinds excluded from the budget with their own caps (default: tikvServerBusy up to 10 min). */
  excludedLimits?: Readonly<Record<string, number>>;
}

/** Default {@link Sleeper}: a timer that stops early when the signal aborts. */
export const defaultSleep: Sleeper = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError(signal?.reason));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * The retry budget of one request. `next()` accounts one backoff and returns how long to sleep
 * (or throws {@link BackoffExhaustedError}); `backoff()` does the same and sleeps.
 */
export class Backoffer {
  /** The effective budget in ms (maxSleep × weight; 0 = unlimited). */
  maxSleepMs: number;
  /** Total ms slept (or accounted) so far, excluded kinds included. */
  totalSleepMs = 0;
  /** Ms accounted to excluded kinds. */
  excludedSleepMs = 0;
  private seqs = new Map<string, BackoffSequence>();
  private sleepByKind = new Map<string, number>();
  private timesByKind = new Map<string, number>();
  private configs: BackoffConfig[] = [];
  private records: BackoffRecord[] = [];
  private recordCount = 0;
  private parent: Backoffer | undefined;
  private readonly opts: Required<Omit<BackofferOptions, "signal" | "maxSleepMs">> & { signal?: AbortSignal };

  constructor(options: BackofferOptions) {
    this.opts = {
      weight: options.weight ?? DEFAULT_BACKOFF_WEIGHT,
      lockFastBaseMs: options.lockFastBaseMs ?? DEFAULT_LOCK_FAST_BASE_MS,
      random: options.random ?? Math.random,
      sleep: options.sleep ?? defaultSleep,
      now: options.now ?? Date.now,
      excludedLimits: options.excludedLimits ?? DEFAULT_EXCLUDED_LIMITS,
      signal: options.signal,
    };
    this.maxSleepMs = weighted(options.maxSleepMs, this.opts.weight);
  }

  /** The request's abort signal, if any. */
  get signal(): AbortSignal | undefined {
    return this.opts.signal;
  }

  /**
   * Accounts one backoff of kind `cfg` caused by `err` and returns the ms to sleep.
   * `maxSleepMs >= 0` caps this one sleep. Throws BackoffExhaustedError when the budget is
   * spent (its cause is the typed error of the kind that slept longest), AbortedError when the
   * request was aborted.
   */
  next(cfg: BackoffConfig, err: unknown, maxSleepMs = -1): number {
    const signal = this.opts.signal;
    if (signal?.aborted) throw new AbortedError(signal.reason, undefined, { cause: err });
    const budgetSpent = this.totalSleepMs - this.excludedSleepMs >= this.maxSleepMs;
    const limit = this.opts.excludedLimits[cfg.name];
    const excludedSpent =
      limit !== undefined && this.excludedSleepMs >= limit && this.excludedSleepMs >= this.maxSleepMs;
    if (this.maxSleepMs > 0 && (budgetSpent || excludedSpent)) {
      const longest = this.longestSleepKind();
      const cause = longest ? longest.makeError() : err;
      throw new BackoffExhaustedError(
        longest?.name ?? cfg.name,
        this.totalSleepMs,
        this.maxSleepMs,
        [...this.latestErrors().map((r) => r.error), err],
        { cause },
      );
    }
    this.record(err);
    this.configs.push(cfg);
    let seq = this.seqs.get(cfg.name);
    if (!seq) {
      const base = cfg === Bo.TxnLockFast ? this.opts.lockFastBaseMs : cfg.baseMs;
      seq = new BackoffSequence(cfg, base, this.opts.random);
      this.seqs.set(cfg.name, seq);
    }
    const ms = seq.next(maxSleepMs);
    this.totalSleepMs += ms;
    if (limit !== undefined) this.excludedSleepMs += ms;
    this.sleepByKind.set(cfg.name, (this.sleepByKind.get(cfg.name) ?? 0) + ms);
    this.timesByKind.set(cfg.name, (this.timesByKind.get(cfg.name) ?? 0) + 1);
    return ms;
  }

  /** {@link next}, then sleeps for the returned time through the injected timer. Resolves with the ms slept. */
  async backoff(cfg: BackoffConfig, err: unknown, maxSleepMs = -1): Promise<number> {
    const ms = this.next(cfg, err, maxSleepMs);
    if (ms > 0) await this.opts.sleep(ms, this.opts.signal);
    return ms;
  }

  /** Sleeps `ms` through the injected timer (used by callers that accounted with {@link next}). */
  sleep(ms: number): Promise<void> {
    return ms > 0 ? this.opts.sleep(ms, this.opts.signal) : Promise.resolve();
  }

  /** How many times each kind backed off, by kind name. */
  backoffTimes(): Record<string, number> {
    return Object.fromEntries(this.timesByKind);
  }

  /** Ms slept per kind name. */
  backoffSleepMs(): Record<string, number> {
    return Object.fromEntries(this.sleepByKind);
  }

  /** Total number of backoffs. */
  totalBackoffTimes(): number {
    let n = 0;
    for (const v of this.timesByKind.values()) n += v;
    return n;
  }

  /** Kind names in the order they backed off, this backoffer's ancestors' last. */
  types(): string[] {
    const out: string[] = [];
    for (let b: Backoffer | undefined = this; b; b = b.parent) for (const c of b.configs) out.push(c.name);
    return out;
  }

  /** Number of errors recorded so far. */
  errorsNum(): number {
    return this.recordCount;
  }

  /** The latest (at most {@link MAX_RECORDED_BACKOFF_ERRORS}) errors, oldest first. */
  latestErrors(): BackoffRecord[] {
    return [...this.records];
  }

  /** An independent copy with the same counters (client-go Clone). */
  clone(): Backoffer {
    return this.copy(this.parent);
  }

  /** A child copy whose progress can be merged back with {@link updateUsingForked} (client-go Fork). */
  fork(): Backoffer {
    return this.copy(this);
  }

  /** Takes over the counters of a backoffer forked (directly or not) from this one. */
  updateUsingForked(forked: Backoffer | undefined): void {
    if (!forked) return;
    for (let b = forked.parent; b; b = b.parent) {
      if (b !== this) continue;
      this.totalSleepMs = forked.totalSleepMs;
      this.excludedSleepMs = forked.excludedSleepMs;
      this.records = [...forked.records];
      this.recordCount = forked.recordCount;
      this.sleepByKind = new Map(forked.sleepByKind);
      this.timesByKind = new Map(forked.timesByKind);
      return;
    }
  }

  /** Forgets sleeps and sequences (client-go Reset). */
  reset(): void {
    this.seqs.clear();
    this.totalSleepMs = 0;
    this.excludedSleepMs = 0;
  }

  /** Resets and sets a new budget (weight applied again). */
  resetMaxSleep(maxSleepMs: number): void {
    this.reset();
    this.maxSleepMs = weighted(maxSleepMs, this.opts.weight);
  }

  private copy(parent: Backoffer | undefined): Backoffer {
    const b = Object.create(Backoffer.prototype) as Backoffer;
    Object.assign(b, this);
    b.seqs = new Map();
    b.sleepByKind = new Map(this.sleepByKind);
    b.timesByKind = new Map(this.timesByKind);
    b.configs = [...this.configs];
    b.records = [...this.records];
    b.parent = parent;
    return b;
  }

  private record(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.records.push({ reason, error: err, at: this.opts.now() });
    if (this.records.length > MAX_RECORDED_BACKOFF_ERRORS) this.records.shift();
    this.recordCount++;
  }

  /** The non-excluded kind with the most sleep (client-go longestSleepCfg). */
  private longestSleepKind(): BackoffConfig | undefined {
    let best: string | undefined;
    let bestMs = 0;
    for (const [name, ms] of this.sleepByKind) {
      if (ms > bestMs && this.opts.excludedLimits[name] === undefined) {
        bestMs = ms;
        best = name;
      }
    }
    return best === undefined ? undefined : this.configs.find((c) => c.name === best);
  }
}

function weighted(maxSleepMs: number, weight: number): number {
  return maxSleepMs > 0 && Math.floor(0x7fffffff / weight) >= maxSleepMs ? maxSleepMs * weight : maxSleepMs;
}

// The pure region-error helpers live beside the machines; re-exported for the actors.
export {
  describeRegionError,
  isFakeRegionError,
  mayBackoffForRegionError,
} from "../../machines/policy/region-error.js";
