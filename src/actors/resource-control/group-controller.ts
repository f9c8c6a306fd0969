// One resource group's cost controller in the client, after PD's groupCostController
// (client/resource_group/controller/group_controller.go): RU accounting per request, the local
// bucket that requests wait on (groups with a burst limit >= 0; burstable groups only account),
// what to ask PD for at the next report, and how PD's grants reconfigure the bucket (at once, or
// trickled over the time PD gives).

import { ResourceGroupThrottledError } from "../../errors/resource-control.js";
import { AbortedError } from "../../errors/server.js";
import { Consumption, type ResourceGroup, type TokenBucket } from "../../proto/resource_manager.js";
import { defaultSleep } from "../backoff/backoffer.js";
import { type BucketSettings, LocalBucket } from "./local-bucket.js";
import {
  costAfter,
  costBefore,
  type KvRequestInfo,
  type KvResponseInfo,
  type RequestUnitConfig,
  ruOf,
} from "./ru-model.js";

/** The controller's timing and waiting rules (PD client config defaults in brackets). */
export interface GroupControllerConfig {
  ru: RequestUnitConfig;
  /** How long one reservation may wait for its tokens [30 000 ms] (LTBMaxWaitDuration). */
  maxWaitMs: number;
  /** Pause between reservation attempts of a throttled request [50 ms]. */
  waitRetryIntervalMs: number;
  /** Reservation attempts before a request fails throttled [20]. */
  waitRetryTimes: number;
  /** The report period PD's grants are sized for [5 000 ms]. */
  targetPeriodMs: number;
  /** How often the controller updates and reports [1 000 ms]. */
  updateIntervalMs: number;
}

/** What one group did, for tests and diagnostics. */
export interface ResourceGroupStats {
  /** Requests accounted to the group. */
  requests: number;
  /** Requests that waited for tokens before being sent. */
  delayed: number;
  /** Reservation attempts refused (each retried after waitRetryIntervalMs or a grant). */
  retries: number;
  /** Requests waiting for tokens right now (an aborted request stops waiting at once). */
  waiting: number;
  /** Requests failed with ResourceGroupThrottledError. */
  throttled: number;
  /** Token grants applied, and the RU they brought. */
  grants: number;
  grantedRU: number;
  /** Grants PD trickled over a period (its bucket could not cover them at once). */
  trickledGrants: number;
  /** RU consumed so far (read + write). */
  consumedRU: number;
}

const MOVING_AVG_FACTOR = 0.5;
const NOTIFY_FRACTION = 0.1;
const TOKEN_RESERVE_FRACTION = 0.8;
const REPORT_THRESHOLD_RU = 100;
const EXTENDED_REPORT_FACTOR = 4;
const NEED_TOKENS_AMPLIFICATION = 1.1;

function add(a: Consumption, b: Consumption): void {
  a.rRU += b.rRU;
  a.wRU += b.wRU;
  a.readBytes += b.readBytes;
  a.writeBytes += b.writeBytes;
  a.totalCpuTimeMs += b.totalCpuTimeMs;
  a.kvReadRpcCount += b.kvReadRpcCount;
  a.kvWriteRpcCount += b.kvWriteRpcCount;
}
function diff(a: Consumption, b: Consumption): Consumption {
  return Consumption.fromPartial({
    rRU: a.rRU - b.rRU,
    wRU: a.wRU - b.wRU,
    readBytes: a.readBytes - b.readBytes,
    writeBytes: a.writeBytes - b.writeBytes,
    totalCpuTimeMs: a.totalCpuTimeMs - b.totalCpuTimeMs,
    kvReadRpcCount: a.kvReadRpcCount - b.kvReadRpcCount,
    kvWriteRpcCount: a.kvWriteRpcCount - b.kvWriteRpcCount,
  });
}

/** What the interceptor puts in the request once its tokens are there. */
export interface Admission {
  /** RU spent by this group on other stores since its last request to this one (TiKV's fairness input). */
  penalty: Consumption;
  /** The group's priority (ResourceControlContext.override_priority when the request sets none). */
  priority: number;
}

export class GroupController {
  readonly stats: ResourceGroupStats = {
    requests: 0,
    delayed: 0,
    retries: 0,
    waiting: 0,
    throttled: 0,
    grants: 0,
    grantedRU: 0,
    trickledGrants: 0,
    consumedRU: 0,
  };
  /** Burstable groups (burst limit < 0) never wait. */
  private burstable: boolean;
  private readonly bucket: LocalBucket;
  private readonly consumption = Consumption.fromPartial({});
  private lastReported = Consumption.fromPartial({});
  private lastReportMs: number;
  private initialDone = false;
  /** True while a token request for this group is in flight. */
  private requestInProgress = false;
  private avgRuPerSec = 0;
  private avgLastMs: number;
  private avgLastRu = 0;
  private trickleDeadline = 0;
  private trickleRate = 0;
  private readonly global = Consumption.fromPartial({});
  private readonly perStore = new Map<bigint, Consumption>();
  private waiters: (() => void)[] = [];
  // RU the requests waiting right now lack (asked for at the next report)
  private shortfall = 0;

  constructor(
    public meta: ResourceGroup,
    private readonly cfg: GroupControllerConfig,
    private readonly now: () => number,
    /** Asks the controller for a token request soon (low tokens, a throttled request). */
    private readonly notifyLow: () => void,
  ) {
    const t = this.now();
    const settings = meta.rUSettings?.rU?.settings;
    const fillRate = Number(settings?.fillRate ?? 0n);
    const burst = settings?.burstLimit ?? 0n;
    this.burstable = burst < 0n;
    // PD initRunState: the fill rate's worth of tokens to start with, no refill until a grant
    this.bucket = new LocalBucket(t, {
      tokens: fillRate,
      fillRate: 0,
      burst: burst >= 0n ? 0 : Number(burst),
      notifyThreshold: Math.max(fillRate * TOKEN_RESERVE_FRACTION, 1),
    });
    this.lastReportMs = t - cfg.targetPeriodMs;
    this.avgLastMs = t;
  }

  get name(): string {
    return this.meta.name;
  }

  /**
   * New settings read from PD (the PD client learns them by watching PD): priority at once; a
   * changed burst limit switches between burstable and throttled, keeping the tokens held.
   */
  updateMeta(meta: ResourceGroup): void {
    const before = this.meta.rUSettings?.rU?.settings?.burstLimit ?? 0n;
    this.meta = meta;
    const burst = meta.rUSettings?.rU?.settings?.burstLimit ?? 0n;
    if (burst === before) return;
    this.burstable = burst < 0n;
    const t = this.now();
    this.bucket.reconfigure(t, {
      tokens: 0,
      fillRate: this.bucket.fillRate,
      burst: burst >= 0n ? 0 : Number(burst),
      notifyThreshold: this.bucket.notifyThreshold,
    });
  }

  /**
   * Before a request (PD onRequestWait): accounts its known cost and, for a group that is not
   * burstable, waits for the tokens; throws ResourceGroupThrottledError when they do not come,
   * AbortedError when `signal` fires first (the request is then not sent and its cost returned).
   */
  async onRequest(info: KvRequestInfo, signal?: AbortSignal): Promise<Admission> {
    const delta = Consumption.fromPartial({});
    costBefore(this.cfg.ru, info, delta);
    add(this.consumption, delta);
    this.stats.requests++;
    if (!this.burstable) {
      try {
        await this.acquire(ruOf(delta), signal);
      } catch (e) {
        this.sub(delta);
        throw e;
      }
    }
    const penalty = Consumption.fromPartial({});
    const seen = this.perStore.get(info.storeId);
    if (seen) Object.assign(penalty, diff(this.global, seen));
    this.perStore.set(info.storeId, { ...this.global });
    return { penalty, priority: this.meta.priority };
  }

  /** After a response (PD onResponse): the read cost is taken from the bucket, into debt if need be. */
  onResponse(info: KvRequestInfo, resp: KvResponseInfo): void {
    const delta = Consumption.fromPartial({});
    costAfter(this.cfg.ru, info, resp, delta);
    const v = ruOf(delta);
    if (!this.burstable && v > 0) this.bucket.remove(this.now(), v);
    add(this.consumption, delta);
    const full = { ...delta };
    costBefore(this.cfg.ru, info, full);
    add(this.global, full);
    const store = this.perStore.get(info.storeId);
    if (store) add(store, full);
    this.stats.consumedRU = ruOf(this.consumption);
  }

  private sub(d: Consumption): void {
    this.consumption.rRU -= d.rRU;
    this.consumption.wRU -= d.wRU;
    this.consumption.writeBytes -= d.writeBytes;
    this.consumption.kvReadRpcCount -= d.kvReadRpcCount;
    this.consumption.kvWriteRpcCount -= d.kvWriteRpcCount;
  }

  // PD acquireTokens: reserve; refused → wait a retry interval or the next grant, a few times
  private async acquire(ru: number, signal: AbortSignal | undefined): Promise<void> {
    if (ru <= 0) return;
    if (signal?.aborted) throw new AbortedError(signal.reason);
    let last: { waitMs: number; fillRate: number; remaining: number } | undefined;
    for (let i = 0; i < this.cfg.waitRetryTimes; i++) {
      const r = this.bucket.reserve(this.now(), ru, this.cfg.maxWaitMs);
      if (r.ok) {
        if (this.bucket.isLow(this.now())) this.notifyLow();
        if (r.waitMs > 0) {
          this.stats.delayed++;
          try {
            await this.waiting(defaultSleep(r.waitMs, signal));
          } catch (e) {
            // aborted: the reservation is cancelled, its tokens go back (PD Reservation.CancelAt)
            this.bucket.remove(this.now(), -ru);
            throw e;
          }
        }
        return;
      }
      last = r;
      this.stats.retries++;
      this.shortfall += ru;
      this.notifyLow();
      try {
        await this.waiting(this.waitForGrant(this.cfg.waitRetryIntervalMs, signal));
      } finally {
        this.shortfall -= ru;
      }
    }
    this.stats.throttled++;
    throw new ResourceGroupThrottledError(
      this.name,
      last?.waitMs ?? Number.POSITIVE_INFINITY,
      last?.fillRate ?? 0,
      last?.remaining ?? 0,
    );
  }

  private async waiting(p: Promise<void>): Promise<void> {
    this.stats.waiting++;
    try {
      await p;
    } finally {
      this.stats.waiting--;
    }
  }

  // resolves at the next grant or after `ms`; rejects with AbortedError when `signal` fires
  private waitForGrant(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        this.waiters = this.waiters.filter((w) => w !== done);
      };
      const done = () => {
        settle();
        resolve();
      };
      const onAbort = () => {
        settle();
        reject(new AbortedError(signal?.reason));
      };
      const t = setTimeout(done, ms);
      this.waiters.push(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Moving average of RU/s (PD calcAvg), once per update tick. */
  updateAverage(): void {
    const t = this.now();
    const dt = (t - this.avgLastMs) / 1000;
    if (dt <= 0) return;
    const ru = ruOf(this.consumption);
    this.avgRuPerSec =
      MOVING_AVG_FACTOR * this.avgRuPerSec + (1 - MOVING_AVG_FACTOR) * ((ru - this.avgLastRu) / dt);
    this.avgLastMs = t;
    this.avgLastRu = ru;
  }

  /** Whether this group goes into the next token request (PD collectRequestAndConsumption). */
  wantsReport(lowOnly: boolean): boolean {
    if (this.requestInProgress) return false;
    const t = this.now();
    // while a grant trickles in, the next request is due at its end (the controller's timer)
    const trickling = t < this.trickleDeadline;
    if (!this.burstable && !trickling && (this.bucket.isLow(t) || this.shortfall > 0)) return true;
    if (lowOnly) return false;
    if (!this.initialDone) return true;
    const since = t - this.lastReportMs;
    if (since + this.cfg.updateIntervalMs / 2 < this.cfg.targetPeriodMs) return false;
    if (since >= EXTENDED_REPORT_FACTOR * this.cfg.targetPeriodMs) return true;
    return ruOf(this.consumption) - ruOf(this.lastReported) >= REPORT_THRESHOLD_RU;
  }

  /**
   * The RU to ask for (PD calcRequest: the average demand over a period, amplified, minus what
   * is left) and the consumption since the last report; marks the request in flight.
   * Also asks for what the requests waiting right now lack, so that a throttled group's first
   * grant does not wait for the average to catch up.
   */
  takeReport(): { requested: number; consumption: Consumption } {
    const t = this.now();
    let want = this.avgRuPerSec * (this.cfg.targetPeriodMs / 1000) * NEED_TOKENS_AMPLIFICATION;
    const left = this.bucket.available(t);
    want = Math.max(want - left, this.shortfall - left, 0);
    if (this.burstable) want = 0;
    const consumption = diff(this.consumption, this.lastReported);
    this.lastReported = { ...this.consumption };
    this.lastReportMs = t;
    this.requestInProgress = true;
    return { requested: want, consumption };
  }

  /** A token request failed: the consumption goes into the next one. */
  reportFailed(consumption: Consumption): void {
    this.requestInProgress = false;
    this.lastReported = diff(this.lastReported, consumption);
  }

  /**
   * Applies PD's grant (PD modifyTokenCounter): without a trickle time the tokens are there at
   * once; with one they arrive at granted / trickle per second, and tokens of an earlier trickle
   * not delivered yet are added. Returns the trickle time (ms) so the caller can ask again then.
   */
  applyGrant(granted: TokenBucket | undefined, trickleMs: number): number {
    this.requestInProgress = false;
    this.initialDone = true;
    if (granted === undefined) return 0;
    const t = this.now();
    let tokens = granted.tokens;
    if (this.trickleDeadline > t) tokens += (this.trickleRate * (this.trickleDeadline - t)) / 1000;
    const burst = Number(granted.settings?.burstLimit ?? 0n);
    const fill = Number(granted.settings?.fillRate ?? 0n);
    this.stats.grants++;
    this.stats.grantedRU += granted.tokens;
    let s: BucketSettings;
    if (trickleMs <= 0) {
      this.trickleDeadline = 0;
      s = {
        tokens,
        fillRate: fill,
        burst,
        notifyThreshold:
          Math.min(tokens + this.bucket.available(t), this.avgRuPerSec * (this.cfg.targetPeriodMs / 1000)) *
          NOTIFY_FRACTION,
      };
    } else {
      this.stats.trickledGrants++;
      this.trickleDeadline = t + trickleMs;
      s = { tokens: 0, fillRate: fill + tokens / (trickleMs / 1000), burst, notifyThreshold: 1 };
    }
    this.trickleRate = s.fillRate;
    this.bucket.reconfigure(t, s);
    // waiting requests try again now (PD closes reconfiguredCh)
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    return trickleMs;
  }
}
