// The background health check of unreachable stores (client-go internal/locate/store_cache.go
// requestLivenessAndStartHealthCheckLoopIfNeeded / startHealthCheckLoop): once a send to a store
// failed, the store is probed every interval (gRPC health service, then our own stream) until it
// answers, and then marked reachable again, without waiting for a request to try it. Every
// reResolve interval the loop also re-reads the store from PD and stops if it became a
// tombstone. Timers are unref'd (they never keep the process alive) and stopped by close().

import type { Liveness, StoreEntry } from "./store-entry.js";

/** What the loop needs from the store table (StoreCache). */
export interface HealthLoopHost {
  peek(id: bigint): StoreEntry | undefined;
  setLiveness(id: bigint, liveness: Liveness): void;
  markNeedCheck(id: bigint): void;
  resolve(id: bigint): Promise<StoreEntry>;
}

/** Options of a {@link StoreHealthLoop}. */
export interface StoreHealthLoopOptions {
  /** The liveness probe (client-go requestLiveness). */
  probe: (store: StoreEntry) => Promise<Liveness>;
  /** Time between probes of one store in ms (client-go: 1 s). */
  intervalMs?: number;
  /** Re-read a probed store from PD this often in ms (client-go storeReResolveInterval: 30 s). */
  reResolveIntervalMs?: number;
  /** Clock (ms). */
  now?: () => number;
}

/** client-go's health check loop period. */
export const HEALTH_CHECK_INTERVAL_MS = 1_000;
/** client-go storeReResolveInterval. */
export const STORE_RERESOLVE_INTERVAL_MS = 30_000;

/** One probing loop per unreachable store; at most one per store at a time. */
export class StoreHealthLoop {
  private readonly loops = new Map<bigint, ReturnType<typeof setTimeout> | "probing">();
  private readonly lastResolve = new Map<bigint, number>();
  private readonly now: () => number;
  private closed = false;

  constructor(
    private readonly host: HealthLoopHost,
    private readonly opts: StoreHealthLoopOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts probing store `id` now, unless a loop already runs for it (client-go's CAS on livenessState). */
  watch(id: bigint): void {
    if (this.closed || this.loops.has(id)) return;
    this.lastResolve.set(id, this.now());
    this.tick(id);
  }

  /** True while a loop runs for `id`. */
  isWatching(id: bigint): boolean {
    return this.loops.has(id);
  }

  /** Number of stores being probed. */
  get size(): number {
    return this.loops.size;
  }

  /** Stops every loop; later watch() calls do nothing. */
  close(): void {
    this.closed = true;
    for (const t of this.loops.values()) if (t !== "probing") clearTimeout(t);
    this.loops.clear();
    this.lastResolve.clear();
  }

  private stop(id: bigint): void {
    this.loops.delete(id);
    this.lastResolve.delete(id);
  }

  private tick(id: bigint): void {
    this.loops.set(id, "probing");
    this.probeOnce(id).then(
      (again) => this.next(id, again),
      () => this.next(id, true),
    );
  }

  private next(id: bigint, again: boolean): void {
    if (this.closed || this.loops.get(id) !== "probing") return;
    if (!again) {
      this.stop(id);
      return;
    }
    const t = setTimeout(() => this.tick(id), this.opts.intervalMs ?? HEALTH_CHECK_INTERVAL_MS);
    t.unref?.();
    this.loops.set(id, t);
  }

  // one round: maybe re-resolve, then probe; true = keep probing
  private async probeOnce(id: bigint): Promise<boolean> {
    let s = this.host.peek(id);
    if (s === undefined || s.resolve === "tombstone") return false;
    const last = this.lastResolve.get(id) ?? 0;
    if (this.now() - last > (this.opts.reResolveIntervalMs ?? STORE_RERESOLVE_INTERVAL_MS)) {
      this.lastResolve.set(id, this.now());
      this.host.markNeedCheck(id);
      try {
        s = await this.host.resolve(id);
      } catch {
        // PD unreachable: keep probing the address we know
      }
      if (s.resolve === "tombstone") return false;
    }
    let liveness: Liveness;
    try {
      liveness = await this.opts.probe(s);
    } catch {
      liveness = "unreachable";
    }
    if (this.closed) return false;
    this.host.setLiveness(id, liveness);
    return liveness !== "reachable";
  }
}
