// The client's region cache: synchronous key -> region lookups over a sorted index, PD loads on
// a miss (coalesced), TTL with jitter, invalidation with reasons, epoch-not-match updates and
// stale-insert protection. Semantics follow client-go internal/locate/region_cache.go.

import { RegionUnavailableError } from "../../errors/server.js";
import { type KeyRange, type Latin1Key, toLatin1Key } from "../../kv/key.js";
import type { EpochNotMatchOutcome } from "../../machines/ports.js";
import type { Peer, Region } from "../../proto/metapb.js";
import { Bo } from "../backoff/backoff-config.js";
import { Backoffer } from "../backoff/backoffer.js";
import { CachedRegion, type InvalidReason, type RegionVerId } from "./cached-region.js";
import { groupByRegion } from "./group-by-region.js";
import { RegionIndex } from "./region-index.js";
import type { RegionInfo, RegionSource } from "./region-source.js";
import { type Liveness, StoreCache, type StoreEntry } from "./store-cache.js";
import type { RequestHealthFeedback } from "./tikv-slow-score.js";

// Buffers convert directly (toLatin1Key wraps any Uint8Array in a new Buffer first).
function latin1(key: Uint8Array): Latin1Key {
  return Buffer.isBuffer(key) ? key.toString("latin1") : toLatin1Key(key);
}

/** Options of a {@link RegionCache}. */
export interface RegionCacheOptions {
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Random source in [0, 1) for the TTL jitter (default Math.random). */
  random?: () => number;
  /** Idle time after which a region is reloaded (client-go regionCacheTTLSec, default 600 s). */
  ttlMs?: number;
  /** Random extra TTL in [0, jitter) (client-go regionCacheTTLJitterSec, default 60 s). */
  ttlJitterMs?: number;
  /** Budget for PD lookups when the caller passes no backoffer (default 20 s, client-go locateRegionMaxBackoff). */
  locateBackoffMs?: number;
  /**
   * Leader requests whose leader store is unreachable go through a reachable follower that
   * forwards them (client-go EnableForwarding; default false).
   */
  enableForwarding?: boolean;
  /** Store health probe (see StoreCache). */
  probe?: (store: StoreEntry) => Promise<Liveness>;
  /** How long an unreachable mark lasts (see StoreCache). */
  unreachableTtlMs?: number;
  /** Time between background probes of an unreachable store (see StoreCache). */
  healthCheckIntervalMs?: number;
  /** Asks a store for its health feedback when its TiKV slow score went stale (see StoreCache). */
  requestHealthFeedback?: RequestHealthFeedback;
}

/** Keys of one region (output of {@link RegionCache.groupKeysByRegion}). */
export interface RegionKeys {
  region: CachedRegion;
  keys: Buffer[];
}

/** Outcome of {@link RegionCache.onEpochNotMatch} (defined beside the retry machine). */
export type { EpochNotMatchOutcome } from "../../machines/ports.js";

/** Key -> region cache. One per client. */
export class RegionCache {
  /** Stores seen by this cache. */
  readonly stores: StoreCache;
  /** See {@link RegionCacheOptions.enableForwarding}. */
  readonly enableForwarding: boolean;
  private readonly index = new RegionIndex();
  private readonly byId = new Map<bigint, CachedRegion>();
  private readonly inflight = new Map<string, Promise<CachedRegion>>();
  /** Regions with a bucket update in flight (client-go inflightUpdateBuckets). */
  private readonly bucketUpdates = new Set<bigint>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly ttlMs: number;
  private readonly jitterMs: number;

  constructor(
    /** Where regions and stores come from (PD). */
    readonly source: RegionSource,
    private readonly opts: RegionCacheOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.ttlMs = opts.ttlMs ?? 600_000;
    this.jitterMs = opts.ttlJitterMs ?? 60_000;
    this.enableForwarding = opts.enableForwarding ?? false;
    this.stores = new StoreCache(source, {
      now: this.now,
      probe: opts.probe,
      unreachableTtlMs: opts.unreachableTtlMs,
      healthCheckIntervalMs: opts.healthCheckIntervalMs,
      requestHealthFeedback: opts.requestHealthFeedback,
    });
  }

  /** Number of cached regions (valid or not). */
  get size(): number {
    return this.index.size;
  }

  // ---- synchronous lookups (hot path) ----

  /**
   * The cached, valid, unexpired region holding `key`, or undefined (then call {@link locateKey}).
   * Extends the TTL on access.
   */
  tryLocateKey(key: Uint8Array): CachedRegion | undefined {
    return this.usable(this.index.searchByKey(latin1(key)));
  }

  /** Same as {@link tryLocateKey} for a key already in latin1 form. */
  tryLocateL1(key: Latin1Key): CachedRegion | undefined {
    return this.usable(this.index.searchByKey(key));
  }

  /** The cached region with this id (latest version), valid or not. */
  getCachedById(id: bigint): CachedRegion | undefined {
    return this.byId.get(id);
  }

  /** The cached region entry for a version, if it is still the one cached. */
  getCachedByVer(v: RegionVerId): CachedRegion | undefined {
    const r = this.byId.get(v.id);
    return r?.sameVersion(v) ? r : undefined;
  }

  private usable(r: CachedRegion | undefined): CachedRegion | undefined {
    if (!r || !r.isValid || r.needReload) return undefined;
    return this.checkTtl(r) ? r : undefined;
  }

  // client-go checkRegionCacheTTL: expired when past the TTL; otherwise extend it when it is closer than ttlMs
  private checkTtl(r: CachedRegion): boolean {
    const now = this.now();
    if (now > r.ttlAt) return false;
    if (!r.expireAfterTtl && r.ttlAt <= now + this.ttlMs) r.ttlAt = this.nextTtl(now);
    return true;
  }

  private nextTtl(now: number): number {
    return now + this.ttlMs + (this.jitterMs > 0 ? Math.floor(this.random() * this.jitterMs) : 0);
  }

  // ---- asynchronous lookups (PD on miss) ----

  /** The region holding `key`, from the cache or PD (concurrent misses for the same key share one load). */
  locateKey(key: Buffer, bo?: Backoffer): Promise<CachedRegion> {
    const l1 = latin1(key);
    const hit = this.tryLocateL1(l1);
    if (hit) return Promise.resolve(hit);
    return this.coalesce(`k${l1}`, () => this.findByKey(key, l1, false, bo));
  }

  /** The region an exclusive range end `key` belongs to (start < key <= end; client-go LocateEndKey). */
  locateEndKey(key: Buffer, bo?: Backoffer): Promise<CachedRegion> {
    const l1 = toLatin1Key(key);
    const r = this.usable(this.index.searchByEndKey(l1));
    if (r) return Promise.resolve(r);
    return this.coalesce(`e${l1}`, () => this.findByKey(key, l1, true, bo));
  }

  /** The region with `id`, from the cache or PD (client-go LocateRegionByID). */
  async locateRegionById(id: bigint, bo?: Backoffer): Promise<CachedRegion> {
    const c = this.byId.get(id);
    if (c && this.usable(c)) return c;
    return this.coalesce(`i${id}`, async () => {
      const b = bo ?? this.newBackoffer();
      for (;;) {
        let info: RegionInfo | undefined;
        try {
          info = await this.source.getRegionById(id);
        } catch (e) {
          await b.backoff(Bo.PDRPC, e);
          continue;
        }
        if (!info) throw new RegionUnavailableError(`region ${id} not found`);
        const r = await this.buildRegion(info);
        this.insertRegion(r);
        return r;
      }
    });
  }

  /** Reloads the region holding `key` from PD even if cached, and caches it (used by region actors). */
  reloadKey(key: Buffer, bo?: Backoffer): Promise<CachedRegion> {
    const l1 = toLatin1Key(key);
    return this.coalesce(`r${l1}`, () => this.findByKey(key, l1, false, bo, true));
  }

  private coalesce(k: string, load: () => Promise<CachedRegion>): Promise<CachedRegion> {
    let p = this.inflight.get(k);
    if (!p) {
      p = load().finally(() => this.inflight.delete(k));
      this.inflight.set(k, p);
    }
    return p;
  }

  // client-go findRegionByKey: load when missing / expired / needing reload; a stale answer from PD is retried once
  private async findByKey(
    key: Buffer,
    l1: Latin1Key,
    isEndKey: boolean,
    bo?: Backoffer,
    force = false,
  ): Promise<CachedRegion> {
    const cached = isEndKey ? this.index.searchByEndKey(l1) : this.index.searchByKey(l1);
    const b = bo ?? this.newBackoffer();
    if (!force && cached?.isValid && cached.needReload && this.checkTtl(cached)) {
      try {
        const r = await this.loadRegion(key, isEndKey, b);
        this.insertRegion(r, true);
        return r;
      } catch {
        // PD failed: keep using the old entry and reload on next access
        return cached;
      }
    }
    let r = await this.loadRegion(key, isEndKey, b);
    if (!this.insertRegion(r)) {
      r = await this.loadRegion(key, isEndKey, b);
      this.insertRegion(r);
    }
    return r;
  }

  /** Asks PD for the region of `key` (backing off with BoPDRPC on failures) and builds an entry; does not cache it. */
  async loadRegion(key: Buffer, isEndKey: boolean, bo: Backoffer): Promise<CachedRegion> {
    let searchPrev = false;
    for (;;) {
      let info: RegionInfo | undefined;
      try {
        info = searchPrev ? await this.source.getPrevRegion(key) : await this.source.getRegion(key);
      } catch (e) {
        await bo.backoff(Bo.PDRPC, e);
        continue;
      }
      if (!info) {
        await bo.backoff(
          Bo.PDRPC,
          new RegionUnavailableError(`region not found for key ${key.toString("hex")}`),
        );
        continue;
      }
      if (info.meta.peers.length === 0) throw new RegionUnavailableError("region has no available peer");
      if (isEndKey && !searchPrev && key.length > 0 && info.meta.startKey.equals(key)) {
        searchPrev = true;
        continue;
      }
      return this.buildRegion(info);
    }
  }

  /**
   * Builds a cache entry from PD's answer: resolves the peers' stores, drops peers on tombstone
   * stores, down peers and non-leader witnesses (client-go newRegion).
   */
  async buildRegion(info: RegionInfo): Promise<CachedRegion> {
    const meta = info.meta;
    const down = info.downPeers ?? [];
    const leader = info.leader;
    const peers: Peer[] = [];
    const epochs: number[] = [];
    let leaderIdx = 0;
    const stores = await Promise.all(meta.peers.map((p) => this.stores.resolve(p.storeId)));
    meta.peers.forEach((p, i) => {
      const s = stores[i] as StoreEntry;
      if (s.address === "" || down.some((d) => d.id === p.id)) return;
      const isLeader = !!leader && leader.id === p.id && leader.storeId === p.storeId;
      if (p.isWitness && !isLeader) return;
      if (isLeader) leaderIdx = peers.length;
      peers.push(p);
      epochs.push(s.epoch);
    });
    if (peers.length === 0) throw new RegionUnavailableError(`no available peers in region ${meta.id}`);
    return new CachedRegion(meta, peers, epochs, leaderIdx, down, this.nextTtl(this.now()), info.buckets);
  }

  /** All regions overlapping `[start, end)` (end empty = +inf), in key order, loading gaps from PD. */
  async locateRange(start: Buffer, end: Buffer, bo?: Backoffer): Promise<CachedRegion[]> {
    const out: CachedRegion[] = [];
    const endL1 = toLatin1Key(end);
    let key = start;
    for (;;) {
      const r = await this.locateKey(key, bo);
      out.push(r);
      if (r.endKey.length === 0 || (endL1 !== "" && r.endL1 >= endL1)) return out;
      key = r.endKey;
    }
  }

  /**
   * All regions overlapping any of `ranges` (sorted by start key, non-overlapping; end empty =
   * +inf), in key order and without duplicates (client-go BatchLocateKeyRanges). Cached regions
   * are used as they are; each gap is filled with one PD scan of up to `batch` regions instead
   * of one lookup per region.
   */
  async locateKeyRanges(ranges: readonly KeyRange[], bo?: Backoffer, batch = 128): Promise<CachedRegion[]> {
    const out: CachedRegion[] = [];
    let last: CachedRegion | undefined;
    for (const range of ranges) {
      const endL1 = latin1(range.end);
      let k = range.start;
      for (;;) {
        let r = this.tryLocateKey(k);
        if (!r) {
          const loaded = await this.batchLoadRegions(k, range.end, batch, bo);
          r = loaded.find((x) => x.contains(k)) ?? (await this.locateKey(k, bo));
        }
        if (r !== last) out.push(r);
        last = r;
        if (r.endKey.length === 0 || (endL1 !== "" && r.endL1 >= endL1)) break;
        k = r.endKey;
      }
    }
    return out;
  }

  /**
   * Loads up to `limit` regions from `start` with one PD scan and caches them (client-go
   * BatchLoadRegionsWithKeyRange). Returns the regions loaded.
   */
  async batchLoadRegions(start: Buffer, end: Buffer, limit: number, bo?: Backoffer): Promise<CachedRegion[]> {
    const b = bo ?? this.newBackoffer();
    for (;;) {
      let infos: RegionInfo[];
      try {
        infos = await this.source.scanRegions(start, end, limit);
      } catch (e) {
        await b.backoff(Bo.PDRPC, e);
        continue;
      }
      if (infos.length === 0) {
        await b.backoff(Bo.PDRPC, new RegionUnavailableError("PD returned no region"));
        continue;
      }
      const out: CachedRegion[] = [];
      for (const info of infos) {
        const r = await this.buildRegion(info);
        this.insertRegion(r);
        out.push(r);
      }
      return out;
    }
  }

  /**
   * Groups keys by region version in first-seen order (client-go GroupKeysByRegion); see
   * {@link groupByRegion}. Consecutive keys in the same region reuse the lookup.
   */
  async groupKeysByRegion(keys: readonly Buffer[], bo?: Backoffer): Promise<RegionKeys[]> {
    const groups = await groupByRegion(
      keys,
      (k) => k,
      (k) => this.tryLocateKey(k) ?? this.locateKey(k, bo),
    );
    return groups.map((g) => ({ region: g.region, keys: g.items }));
  }

  // ---- updates ----

  /**
   * Caches `r`, removing the regions it overlaps. Refuses (returns false) a region older than
   * the cached version of the same id or older than any region it overlaps (client-go
   * insertRegionToCache / removeIntersecting).
   */
  insertRegion(r: CachedRegion, invalidateOld = true): boolean {
    const old = this.byId.get(r.id);
    if (old && (old.version > r.version || old.confVer > r.confVer)) return false;
    const overlapped = this.index.intersecting(r);
    if (overlapped === "stale") return false;
    for (const o of overlapped) this.index.delete(o);
    this.index.set(r);
    const first = overlapped[0];
    // a region that lost its leader is retried on the next peer (client-go: NoLeader → workTiKVIdx + 1)
    if (first && first.invalidReason === "noLeader" && r.peers.length > 0) {
      r.leaderIdx = (first.leaderIdx + 1) % r.peers.length;
    }
    // keep the older entry's buckets when PD sent none or older ones (client-go insertRegionToCache)
    if (first?.buckets && (!r.buckets || r.buckets.version < first.buckets.version))
      r.buckets = first.buckets;
    for (const o of overlapped) {
      if (this.byId.get(o.id) === o) this.byId.delete(o.id);
      if (invalidateOld) o.invalidate("other");
    }
    this.byId.set(r.id, r);
    return true;
  }

  /** Invalidates the cached entry of this region version (client-go InvalidateCachedRegionWithReason). */
  invalidate(region: CachedRegion | RegionVerId, reason: Exclude<InvalidReason, "ok"> = "other"): void {
    const r = region instanceof CachedRegion ? region : this.getCachedByVer(region);
    r?.invalidate(reason);
  }

  /** Marks the region to be reloaded from PD on next access, keeping it usable if PD fails. */
  scheduleReload(region: CachedRegion): void {
    region.needReload = true;
  }

  /**
   * A NotLeader answer: switches the leader to `leader`, invalidating the region when that peer
   * is unknown (client-go UpdateLeader). Without a leader, moves to the next peer.
   */
  updateLeader(region: CachedRegion, leader: Peer | undefined, currentIdx = region.leaderIdx): void {
    if (!leader) {
      region.leaderIdx = (currentIdx + 1) % region.peers.length;
      return;
    }
    if (!region.switchLeaderToPeer(leader)) region.invalidate("storeNotFound");
  }

  /**
   * An EpochNotMatch answer from a peer on store `accessStoreId`: replaces the region with the
   * current regions TiKV sent (each with that store's peer as leader), or reports that our epoch
   * is ahead of TiKV's (client-go OnRegionEpochNotMatch).
   */
  async onEpochNotMatch(
    region: CachedRegion,
    currentRegions: readonly Region[],
    accessStoreId: bigint,
  ): Promise<EpochNotMatchOutcome> {
    if (currentRegions.length === 0) {
      region.invalidate("epochNotMatch");
      return "updated";
    }
    for (const m of currentRegions) {
      const e = m.regionEpoch;
      if (
        m.id === region.id &&
        ((e?.confVer ?? 0n) < region.confVer || (e?.version ?? 0n) < region.version)
      ) {
        return "aheadOfTikv";
      }
    }
    const fresh: CachedRegion[] = [];
    let keepOld = false;
    for (const m of currentRegions) {
      // the new regions inherit the old one's buckets (client-go OnRegionEpochNotMatch)
      const r = await this.buildRegion({ meta: m, buckets: region.buckets });
      const i = r.peerIndexOnStore(accessStoreId);
      if (i >= 0) r.leaderIdx = i;
      fresh.push(r);
      if (r.sameVersion(region.verId)) keepOld = true;
    }
    if (!keepOld) region.invalidate("epochNotMatch");
    for (const r of fresh) this.insertRegion(r);
    return "updated";
  }

  /**
   * A BucketVersionNotMatch answer: TiKV's `version` and boundary `keys` replace the cached
   * buckets when those are missing or older (client-go OnBucketVersionNotMatch). The keys are
   * stored as TiKV sent them, as client-go does.
   */
  onBucketVersionNotMatch(region: CachedRegion, version: bigint, keys: readonly Buffer[]): void {
    const r = this.getCachedByVer(region.verId);
    if (!r || (r.buckets && r.buckets.version >= version)) return;
    r.buckets = { regionId: r.id, version, keys: [...keys], stats: undefined, periodInMs: 0n };
  }

  /**
   * Reloads the region from PD in the background when `latestVersion` is newer than the cached
   * buckets' (client-go UpdateBucketsIfNeeded, called with a response's latest_buckets_version).
   * Nothing happens when the cached buckets are already newer than the request's
   * `requestVersion` (non-zero), or an update of this region is already in flight. Returns the
   * background load (for tests), or undefined when none was started; the load never rejects.
   */
  updateBucketsIfNeeded(
    v: RegionVerId,
    requestVersion: bigint,
    latestVersion: bigint,
  ): Promise<void> | undefined {
    const r = this.getCachedByVer(v);
    if (!r) return undefined;
    const cached = r.bucketVersion;
    if (requestVersion !== 0n && requestVersion < cached) return undefined;
    if (cached >= latestVersion || this.bucketUpdates.has(v.id)) return undefined;
    this.bucketUpdates.add(v.id);
    const load = (async () => {
      try {
        const info = await this.source.getRegionById(v.id);
        if (info) this.insertRegion(await this.buildRegion(info));
      } catch {
        // best effort, as client-go logs and drops a failed bucket update
      } finally {
        this.bucketUpdates.delete(v.id);
      }
    })();
    return load;
  }

  /** Regions in the cache from `start` (by start key), at most `limit` (for tests and range scans). */
  cachedRegions(
    start: Buffer = Buffer.alloc(0),
    end: Buffer = Buffer.alloc(0),
    limit = Number.MAX_SAFE_INTEGER,
  ) {
    return this.index.ascend(toLatin1Key(start), toLatin1Key(end), limit);
  }

  /** Drops everything. */
  clear(): void {
    this.index.clear();
    this.byId.clear();
  }

  private newBackoffer(): Backoffer {
    return new Backoffer({ maxSleepMs: this.opts.locateBackoffMs ?? 20_000 });
  }
}
