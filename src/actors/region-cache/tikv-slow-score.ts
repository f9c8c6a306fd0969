// TiKV's own slow score of each store, from the health feedback of BatchCommands responses
// (client-go internal/locate/store_cache.go StoreHealthStatus.tikvSideSlowScore):
// - an update is applied at most once per 100 ms (a repeated score only refreshes its time);
// - a score above 1 not refreshed for 15 s is asked for (a GetHealthFeedback request to the
//   store, if reachable) and, if still not refreshed, decays linearly by 20 points a minute
//   towards 1 — a store that replica reads avoid sends no feedback of its own.
// The tick runs once a second on an unref'd timer, only while some store has a score above 1.

import type { HealthFeedback } from "../../proto/kvrpcpb.js";
import type { Liveness, StoreEntry } from "./store-entry.js";

/** client-go tikvSlowScoreUpdateInterval. */
export const TIKV_SLOW_SCORE_UPDATE_INTERVAL_MS = 100;
/** client-go tikvSlowScoreActiveUpdateInterval. */
export const TIKV_SLOW_SCORE_ACTIVE_UPDATE_INTERVAL_MS = 15_000;
/** client-go tikvSlowScoreDecayRate (per second). */
export const TIKV_SLOW_SCORE_DECAY_PER_SEC = 20 / 60;
const TICK_MS = 1_000;
const MAX = 100;

/** Asks a store for its health feedback (GetHealthFeedback); resolves with it, or undefined. */
export type RequestHealthFeedback = (store: StoreEntry) => Promise<HealthFeedback | undefined>;

/** The TiKV-side slow scores of one store table. */
export class TikvSlowScores {
  private readonly updatedAt = new Map<bigint, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly host: {
      all(): StoreEntry[];
      peek(id: bigint): StoreEntry | undefined;
      liveness(id: bigint): Liveness;
    },
    private readonly now: () => number,
    private readonly request: RequestHealthFeedback | undefined,
  ) {}

  /** Applies one feedback score (client-go updateTiKVServerSideSlowScore). */
  update(s: StoreEntry, score: number): void {
    const clamped = Math.max(1, Math.min(MAX, Math.round(score)));
    const t = this.now();
    const last = this.updatedAt.get(s.id);
    if (clamped === s.tikvSlowScore) {
      if (clamped > 1) this.updatedAt.set(s.id, t);
      return;
    }
    if (last !== undefined && t - last < TIKV_SLOW_SCORE_UPDATE_INTERVAL_MS) return;
    s.tikvSlowScore = clamped;
    this.updatedAt.set(s.id, t);
    if (clamped > 1) this.startTicking();
  }

  /** One health tick over every store (client-go updateTiKVServerSideSlowScoreOnTick). */
  async tick(): Promise<void> {
    const stale = (s: StoreEntry) => {
      const at = this.updatedAt.get(s.id);
      return (
        s.tikvSlowScore > 1 &&
        at !== undefined &&
        this.now() - at >= TIKV_SLOW_SCORE_ACTIVE_UPDATE_INTERVAL_MS
      );
    };
    const due = this.host.all().filter(stale);
    await Promise.all(
      due.map(async (s) => {
        if (this.request !== undefined && s.address !== "" && this.host.liveness(s.id) === "reachable") {
          try {
            const fb = await this.request(s);
            if (fb !== undefined) this.update(s, fb.slowScore);
          } catch {
            // no answer: decay below
          }
        }
        if (!stale(s)) return;
        const at = this.updatedAt.get(s.id) ?? this.now();
        const elapsedSec = (this.now() - at) / 1000;
        s.tikvSlowScore = Math.max(
          1,
          Math.round(s.tikvSlowScore - TIKV_SLOW_SCORE_DECAY_PER_SEC * elapsedSec),
        );
        this.updatedAt.set(s.id, this.now());
      }),
    );
    if (!this.host.all().some((s) => s.tikvSlowScore > 1)) this.stopTicking();
  }

  /** Stops the tick for good. */
  close(): void {
    this.closed = true;
    this.stopTicking();
  }

  private startTicking(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref?.();
  }

  private stopTicking(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
