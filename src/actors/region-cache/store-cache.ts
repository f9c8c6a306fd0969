// Stores as the routing layer sees them: address, labels, resolve state, liveness, epoch and slow
// score. Follows client-go internal/locate/store_cache.go (Store, resolveState, livenessState)
// and slow_score.go (threshold 80, max 100).

import { type StoreLabel, StoreState } from "../../proto/metapb.js";
import type { RegionSource } from "./region-source.js";
import type { Liveness, StoreEntry } from "./store-entry.js";
import { StoreHealthLoop } from "./store-health-loop.js";
import { type RequestHealthFeedback, TikvSlowScores } from "./tikv-slow-score.js";

export type { Liveness, StoreEntry };

/** Slow score at or above which a store counts as slow (client-go slowScoreThreshold). */
export const SLOW_SCORE_THRESHOLD = 80;
/** Largest slow score (client-go slowScoreMax). */
export const SLOW_SCORE_MAX = 100;

/** Options of a {@link StoreCache}. */
export interface StoreCacheOptions {
  /** Clock (ms). */
  now?: () => number;
  /**
   * Health probe used after a send failure (client-go's liveness request). Resolves with the
   * store's liveness; when absent the store counts as unreachable until {@link StoreCache.setLiveness}.
   */
  probe?: (store: StoreEntry) => Promise<Liveness>;
  /** How long an unreachable mark lasts without a probe before the store is tried again (default 10 s). */
  unreachableTtlMs?: number;
  /** Time between background probes of an unreachable store in ms (default 1 s; see StoreHealthLoop). */
  healthCheckIntervalMs?: number;
  /** Asks a store for its health feedback when its TiKV slow score went stale (see TikvSlowScores). */
  requestHealthFeedback?: RequestHealthFeedback;
}

/** The client's store table (plain Map; no actor). */
export class StoreCache {
  private readonly stores = new Map<bigint, StoreEntry>();
  private readonly inflight = new Map<bigint, Promise<StoreEntry>>();
  private readonly unreachableAt = new Map<bigint, number>();
  private readonly now: () => number;
  /** Background probes of unreachable stores (present when a probe is configured). */
  readonly healthLoop: StoreHealthLoop | undefined;
  /** TiKV-side slow scores: throttled updates, active refresh and decay. */
  readonly tikvScores: TikvSlowScores;

  constructor(
    private readonly source: Pick<RegionSource, "getStore">,
    private readonly opts: StoreCacheOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    const probe = opts.probe;
    this.healthLoop =
      probe === undefined
        ? undefined
        : new StoreHealthLoop(this, { probe, intervalMs: opts.healthCheckIntervalMs, now: this.now });
    this.tikvScores = new TikvSlowScores(this, this.now, opts.requestHealthFeedback);
  }

  /** Stops the background health checks (the client is closing). */
  close(): void {
    this.healthLoop?.close();
    this.tikvScores.close();
  }

  /** The entry of `id` if known (synchronous). */
  peek(id: bigint): StoreEntry | undefined {
    return this.stores.get(id);
  }

  /** Resolves the store's address from PD when unresolved or marked needCheck; concurrent calls share one lookup. */
  async resolve(id: bigint): Promise<StoreEntry> {
    const s = this.stores.get(id);
    if (s && (s.resolve === "resolved" || s.resolve === "tombstone")) return s;
    let p = this.inflight.get(id);
    if (!p) {
      p = this.load(id, s).finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  private async load(id: bigint, prev: StoreEntry | undefined): Promise<StoreEntry> {
    const meta = await this.source.getStore(id);
    const entry: StoreEntry = prev ?? {
      id,
      address: "",
      labels: [],
      resolve: "unresolved",
      epoch: 0,
      liveness: "reachable",
      slowScore: 1,
      tikvSlowScore: 1,
      estimatedWaitMs: 0,
      estimatedWaitAt: 0,
    };
    if (!meta || meta.state === StoreState.Tombstone || meta.physicallyDestroyed) {
      entry.resolve = "tombstone";
      entry.address = "";
    } else {
      // an address change bumps the epoch so regions built on the old address reload
      if (prev && prev.address !== meta.address) entry.epoch++;
      entry.address = meta.address;
      entry.labels = meta.labels;
      entry.resolve = "resolved";
    }
    this.stores.set(id, entry);
    return entry;
  }

  /** Re-read the store from PD on next use (client-go markStoreNeedCheck, e.g. after StoreNotMatch). */
  markNeedCheck(id: bigint): void {
    const s = this.stores.get(id);
    if (s && s.resolve === "resolved") s.resolve = "needCheck";
  }

  /** Current liveness; an unreachable mark expires after `unreachableTtlMs`. */
  liveness(id: bigint): Liveness {
    const s = this.stores.get(id);
    if (!s) return "unknown";
    if (s.liveness === "unreachable") {
      const at = this.unreachableAt.get(id) ?? 0;
      if (this.now() - at >= (this.opts.unreachableTtlMs ?? 10_000)) {
        s.liveness = "reachable";
        this.unreachableAt.delete(id);
      }
    }
    return s.liveness;
  }

  /** Sets liveness (the transport's store actor reports reachable/unreachable here). */
  setLiveness(id: bigint, liveness: Liveness): void {
    const s = this.stores.get(id);
    if (!s) return;
    s.liveness = liveness;
    if (liveness === "unreachable") this.unreachableAt.set(id, this.now());
    else this.unreachableAt.delete(id);
  }

  /**
   * A send to the store failed: returns the liveness to act on now (unreachable unless a probe
   * says otherwise later) and starts the probe in the background.
   */
  onSendFailure(id: bigint): Liveness {
    const s = this.stores.get(id);
    if (!s) return "unknown";
    this.setLiveness(id, "unreachable");
    // probed in the background until it answers (client-go startHealthCheckLoop)
    this.healthLoop?.watch(id);
    return "unreachable";
  }

  /**
   * Marks every cached replica on the store stale if the caller saw epoch `seenEpoch`
   * (client-go invalidateReplicaStore): bumps the epoch, schedules a re-resolve, marks it slow.
   */
  invalidateStore(id: bigint, seenEpoch: number): void {
    const s = this.stores.get(id);
    if (!s || s.epoch !== seenEpoch) return;
    s.epoch++;
    this.markNeedCheck(id);
    s.slowScore = SLOW_SCORE_MAX;
  }

  /**
   * TiKV's slow score from health feedback (client-go updateTiKVServerSideSlowScore). Kept apart
   * from the client-side score, so that feedback does not clear a client-side slow mark.
   */
  setSlowScore(id: bigint, score: number): void {
    const s = this.stores.get(id);
    if (s) this.tikvScores.update(s, score);
  }

  /** Marks the store as slow at once (client-go markAlreadySlow, e.g. after ServerIsBusy). */
  markSlow(id: bigint): void {
    const s = this.stores.get(id);
    if (s) s.slowScore = SLOW_SCORE_MAX;
  }

  /** True when the store's slow score reached the threshold. */
  isSlow(id: bigint): boolean {
    const s = this.stores.get(id);
    // client-go HealthStatusDetail.IsSlow: either side's score at the threshold
    return (
      s !== undefined && (s.slowScore >= SLOW_SCORE_THRESHOLD || s.tikvSlowScore >= SLOW_SCORE_THRESHOLD)
    );
  }

  /** Records ServerIsBusy's estimated wait (client-go updateServerLoadStats). */
  setEstimatedWait(id: bigint, ms: number): void {
    const s = this.stores.get(id);
    if (!s) return;
    s.estimatedWaitMs = ms;
    s.estimatedWaitAt = this.now();
  }

  /** The remaining estimated wait in ms (client-go EstimatedWaitTime). */
  estimatedWait(id: bigint): number {
    const s = this.stores.get(id);
    if (!s || s.estimatedWaitMs === 0) return 0;
    return Math.max(0, s.estimatedWaitMs - (this.now() - s.estimatedWaitAt));
  }

  /** True when the store has every label in `labels` (client-go IsLabelsMatch). */
  labelsMatch(id: bigint, labels: readonly StoreLabel[] | undefined): boolean {
    if (!labels || labels.length === 0) return true;
    const own = this.stores.get(id)?.labels ?? [];
    return labels.every((l) => own.some((o) => o.key === l.key && o.value === l.value));
  }

  /** All known stores. */
  all(): StoreEntry[] {
    return [...this.stores.values()];
  }
}
