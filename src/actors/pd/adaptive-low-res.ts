// The adaptive refresh period of the low-resolution timestamp (client-go pdOracle
// nextUpdateInterval / adjustUpdateLowResolutionTSIntervalWithRequestedStaleness). A stale read
// asking for data fresher than the refresh period would otherwise read at a ts the low-resolution
// clock has not reached, so the period shrinks to just under the staleness asked for; once no such
// read has come for a while, it grows back to the configured value a little each second.
// Pure and clock-injected: the PD actor owns the timer and passes `nowMs` in, tests pass their own.

import { physicalOf } from "../../kv/timestamp.js";

/** Lower bound of the adaptive period: refreshing faster than this costs PD too much. */
export const MIN_ALLOWED_ADAPTIVE_INTERVAL_MS = 500;
/** How far below the staleness asked for the period shrinks, so one read does not shrink it again. */
export const SHRINKING_PRESERVE_MS = 100;
/** A stale read within this much of the current period holds the period from growing back. */
export const BLOCK_RECOVER_THRESHOLD_MS = 200;
/** How much the period grows back per second once recovering. */
export const RECOVER_PER_SECOND_MS = 20;
/** How long after the last short-staleness read the period starts growing back. */
export const DELAY_BEFORE_RECOVERING_MS = 5 * 60_000;

/** Where the adaptive period stands (client-go adaptiveUpdateTSIntervalState). */
export type AdaptiveIntervalState = "none" | "normal" | "adapting" | "recovering" | "unadjustable";

type Verdict = readonly [AdaptiveIntervalState, number] | undefined;

/** The adaptive low-resolution refresh period; see the file comment. */
export class AdaptiveLowResInterval {
  /** The period the user configured (ms). */
  configuredMs: number;
  /** The period in use (ms); at most {@link configuredMs}. */
  adaptiveMs: number;
  state: AdaptiveIntervalState = "none";
  /** When a stale read last asked for a staleness close to the period (ms since epoch). */
  lastShortStalenessReadMs = 0;
  /** When the refresh loop last fetched a timestamp (ms since epoch). */
  lastTickMs: number;

  constructor(configuredMs: number, nowMs: number) {
    this.configuredMs = configuredMs;
    this.adaptiveMs = configuredMs;
    this.lastTickMs = nowMs;
  }

  /**
   * The period to use from `nowMs` on, moving the state along. `requiredStalenessMs` > 0 when a
   * stale read asked for a shrink (then only "unadjustable" or "adapting" are considered).
   */
  next(nowMs: number, requiredStalenessMs = 0): number {
    const configured = this.configuredMs;
    const sinceShortRead = nowMs - this.lastShortStalenessReadMs;
    let current = this.adaptiveMs;

    const unadjustable = (): Verdict =>
      configured <= MIN_ALLOWED_ADAPTIVE_INTERVAL_MS ? ["unadjustable", configured] : undefined;
    const normal = (): Verdict =>
      configured > MIN_ALLOWED_ADAPTIVE_INTERVAL_MS && current === configured
        ? ["normal", current]
        : undefined;
    const adapting = (): Verdict => {
      if (
        requiredStalenessMs !== 0 &&
        requiredStalenessMs < current &&
        current > MIN_ALLOWED_ADAPTIVE_INTERVAL_MS
      ) {
        const shrunk = Math.max(
          requiredStalenessMs - SHRINKING_PRESERVE_MS,
          MIN_ALLOWED_ADAPTIVE_INTERVAL_MS,
        );
        return ["adapting", shrunk];
      }
      // a recent short-staleness read holds the shrunk period (and stops a recovery under way)
      if (current !== configured && sinceShortRead < DELAY_BEFORE_RECOVERING_MS) return ["adapting", current];
      return undefined;
    };
    const recovering = (): Verdict => {
      if (current === configured || sinceShortRead < DELAY_BEFORE_RECOVERING_MS) return undefined;
      const grown = current + ((nowMs - this.lastTickMs) / 1000) * RECOVER_PER_SECOND_MS;
      return ["recovering", Math.min(grown, configured)];
    };

    const checks =
      requiredStalenessMs !== 0 ? [unadjustable, adapting] : [unadjustable, adapting, normal, recovering];
    for (const check of checks) {
      const verdict = check();
      if (!verdict) continue;
      let [state, interval] = verdict;
      current = interval;
      // a recovery that reached the configured period is back to normal at once
      if (state === "recovering") {
        const back = normal();
        if (back) [state, interval] = back;
        current = interval;
      }
      this.adaptiveMs = current;
      this.state = state;
      return current;
    }
    return current;
  }

  /**
   * Notes a stale read at `readTs` while the current ts is about `currentTs`. Returns the staleness
   * (ms, > 0) the refresh loop should shrink to now, or undefined when the period already fits.
   * A few arithmetic steps: it runs on every validated stale read.
   */
  noteStaleRead(readTs: bigint, currentTs: bigint, nowMs: number): number | undefined {
    const required = Number(physicalOf(currentTs) - physicalOf(readTs));
    const current = this.adaptiveMs;
    if (required <= current + BLOCK_RECOVER_THRESHOLD_MS && this.lastShortStalenessReadMs < nowMs) {
      this.lastShortStalenessReadMs = nowMs;
    }
    if (required <= current && current > MIN_ALLOWED_ADAPTIVE_INTERVAL_MS) {
      // clock drift between PD and here can make it non-positive; `next` needs it non-zero
      return Math.max(required, 1);
    }
    return undefined;
  }

  /**
   * Changes the configured period (client-go SetLowResolutionTimestampUpdateInterval). The period
   * in use follows at once unless it was shrunk for stale reads and the new value is longer.
   */
  setConfigured(ms: number): void {
    const prev = this.configuredMs;
    this.configuredMs = ms;
    if (ms === prev) return;
    if (this.adaptiveMs === prev || ms < this.adaptiveMs) this.adaptiveMs = ms;
  }
}
