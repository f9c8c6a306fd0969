// The min safe ts of the cluster (client-go tikv/kv.go safeTSUpdater / updateSafeTS /
// updateMinSafeTS / GetMinSafeTS): every 2 s each TiKV store is asked its safe ts
// (GetStoreSafeTS over the whole key space); a store's value never goes back; the min over the
// stores of a scope ("global" = every store, or a zone label) is kept. A store that never
// answered makes its scopes' min 0 (unknown), and a store answering 0 (nothing resolved yet) is
// skipped rather than taken as the min; when every store answers 0 the min is 0.
//
// With PD's HTTP API (client-go: a pd http client is set), each round first asks PD for the
// cluster's min resolved ts and, when it is valid (not 0, not 2^64-1), takes it as the global
// min (never moving it back) and asks no store (updateGlobalTxnScopeTSFromPD). Otherwise PD is
// asked for each store's value, and only the stores PD has no valid value for (or all of them
// when PD fails or its feature is off) are asked GetStoreSafeTS. Deviation: client-go with a
// global txn scope never updates zone scopes while PD answers; here, once a zone has been asked
// for, rounds go on through the per-store path for the zones (the global min still from PD).

import { StoreSafeTSRequest } from "../../proto/kvrpcpb.js";
import { type Store, StoreState } from "../../proto/metapb.js";
import type { PdActor } from "../pd/pd-actor.js";
import type { PdHttpClient } from "../pd/pd-http-client.js";
import { zoneOf } from "../request/zone-traffic.js";
import type { StorePool } from "../store/store-pool.js";

/** client-go safeTSUpdateInterval. */
export const SAFE_TS_UPDATE_INTERVAL_MS = 2_000;
/**
 * Budget of one GetStoreSafeTS (client-go: ReadTimeoutShort, 30 s). Shorter here because the
 * first getMinSafeTs waits for the first round, which a dead store must not hold for long.
 */
export const SAFE_TS_REQUEST_TIMEOUT_MS = 5_000;
/** The scope of every store (client-go oracle.GlobalTxnScope). */
export const GLOBAL_SCOPE = "global";

/** What the tracker asks. */
export interface MinSafeTsDeps {
  pd: Pick<PdActor, "getAllStores" | "cachedStores">;
  stores: Pick<StorePool, "get">;
  /** PD's HTTP API (the client's pdHttpEndpoints); unset = ask the stores only. */
  pdHttp?: Pick<PdHttpClient, "minResolvedTs"> | undefined;
  /** Refresh period (default 2 s). */
  intervalMs?: number;
}

/** The cluster's min safe ts, refreshed in the background from first use until {@link close}. */
export class MinSafeTsTracker {
  private readonly perStore = new Map<bigint, bigint>();
  private readonly minByScope = new Map<string, bigint>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private first: Promise<void> | undefined;
  private closed = false;
  // whether any zone scope has been asked for (they need the per-store path)
  private zonesAsked = false;

  constructor(private readonly deps: MinSafeTsDeps) {}

  /**
   * The min safe ts of `scope` (default "global"; else a zone label value): 0 when unknown.
   * The first call starts the background loop and waits for its first round.
   */
  async get(scope: string = GLOBAL_SCOPE, refresh = false): Promise<bigint> {
    const firstZone = scope !== GLOBAL_SCOPE && !this.zonesAsked;
    if (firstZone) this.zonesAsked = true;
    const started = this.first !== undefined;
    this.start();
    if (firstZone && started && this.deps.pdHttp) {
      // the rounds so far may have taken PD's global answer and skipped the zones: run one that does
      await this.running;
      await this.update();
    } else await (refresh ? this.update() : this.first);
    return this.minByScope.get(scope) ?? 0n;
  }

  /** The last safe ts a store answered, if any (client-go getSafeTS). */
  storeSafeTs(storeId: bigint): bigint | undefined {
    return this.perStore.get(storeId);
  }

  /** Starts the loop (idempotent; the timer does not keep the process alive). */
  start(): void {
    if (this.closed || this.first) return;
    this.first = this.update();
    this.timer = setInterval(() => void this.update(), this.deps.intervalMs ?? SAFE_TS_UPDATE_INTERVAL_MS);
    this.timer.unref();
  }

  /** One round now (rounds never overlap: a caller joins the one running). */
  update(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** Stops the loop. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async round(): Promise<void> {
    const pdGlobal = await this.globalFromPd();
    if (pdGlobal && !this.zonesAsked) return;
    let stores: Store[];
    try {
      stores = await this.deps.pd.getAllStores();
    } catch {
      stores = this.deps.pd.cachedStores();
    }
    const tikv = stores.filter(isTikvStore);
    const req = StoreSafeTSRequest.fromPartial({
      keyRange: { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) },
    });
    const fromPd = await this.storesFromPd(tikv.map((s) => s.id));
    await Promise.all(
      tikv.map(async (s) => {
        const pdTs = fromPd?.get(s.id);
        if (pdTs !== undefined && isValidSafeTs(pdTs)) {
          this.record(s.id, pdTs);
          return;
        }
        try {
          const r = await this.deps.stores
            .get(Number(s.id), s.address)
            .send("GetStoreSafeTS", req, { timeoutMs: SAFE_TS_REQUEST_TIMEOUT_MS });
          this.record(s.id, r.safeTs);
        } catch {
          // keep the last value (client-go logs and goes on)
        }
      }),
    );
    if (this.closed) return;
    const scopes = new Map<string, bigint[]>([[GLOBAL_SCOPE, []]]);
    for (const s of tikv) {
      scopes.get(GLOBAL_SCOPE)?.push(s.id);
      const zone = zoneOf(s.labels);
      if (zone !== undefined) {
        const ids = scopes.get(zone) ?? [];
        ids.push(s.id);
        scopes.set(zone, ids);
      }
    }
    for (const [scope, ids] of scopes) {
      if (scope === GLOBAL_SCOPE && pdGlobal) continue;
      this.minByScope.set(scope, minSafeTs(ids.map((id) => this.perStore.get(id))));
    }
    // scopes no store carries any longer are unknown again
    for (const scope of this.minByScope.keys()) if (!scopes.has(scope)) this.minByScope.delete(scope);
  }

  // client-go updateGlobalTxnScopeTSFromPD: true when PD's cluster min resolved ts was valid
  private async globalFromPd(): Promise<boolean> {
    if (!this.deps.pdHttp) return false;
    let ts: bigint;
    try {
      ts = (await this.deps.pdHttp.minResolvedTs()).minResolvedTs;
    } catch {
      return false; // PD failed or its feature is off: the stores are asked
    }
    if (this.closed || !isValidSafeTs(ts)) return false;
    // an older answer does not move the min back (client-go skips it)
    if (ts > (this.minByScope.get(GLOBAL_SCOPE) ?? 0n)) this.minByScope.set(GLOBAL_SCOPE, ts);
    return true;
  }

  // each store's min resolved ts as PD has it, or undefined (no PD HTTP, or it failed)
  private async storesFromPd(ids: bigint[]): Promise<Map<bigint, bigint> | undefined> {
    if (!this.deps.pdHttp || ids.length === 0) return undefined;
    try {
      return (await this.deps.pdHttp.minResolvedTs(ids)).stores;
    } catch {
      return undefined;
    }
  }

  // a store's safe ts never goes back here (client-go: an older answer is skipped)
  private record(storeId: bigint, ts: bigint): void {
    const prev = this.perStore.get(storeId);
    if (prev !== undefined && prev > ts) return;
    this.perStore.set(storeId, ts);
  }
}

/**
 * client-go updateMinSafeTS over the stores of one scope: undefined (never answered) makes it 0,
 * 0 answers are skipped, all zeros (or no store) give 0.
 */
export function minSafeTs(values: readonly (bigint | undefined)[]): bigint {
  let min: bigint | undefined;
  for (const v of values) {
    if (v === undefined) return 0n;
    if (v !== 0n && (min === undefined || v < min)) min = v;
  }
  return min ?? 0n;
}

/** client-go isValidSafeTS: PD's 0 (nothing resolved) and 2^64-1 (no value) are not safe ts. */
export function isValidSafeTs(ts: bigint): boolean {
  return ts !== 0n && ts !== MAX_U64;
}

const MAX_U64 = (1n << 64n) - 1n;

// stores that answer GetStoreSafeTS: live TiKV stores with an address (TiFlash is left out)
function isTikvStore(s: Store): boolean {
  if (s.address === "" || s.state === StoreState.Tombstone) return false;
  return !s.labels.some((l) => l.key === "engine" && l.value.startsWith("tiflash"));
}
