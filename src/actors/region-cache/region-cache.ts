// The client's region cache: synchronous key -> region lookups over a sorted index, PD loads on
// a miss (coalesced), TTL with jitter, invalidation with reasons, epoch-not-match updates and
// stale-insert protection. Semantics follow client-go internal/locate/region_cache.go.
// Regions are stored compactly (RegionStore: typed arrays + one byte arena) under a byte-keyed
// index (RegionIndex); CachedRegion handles onto them are kept in a small 2-way set-associative
// table so hot regions get the same handle back and a cache hit allocates nothing.

import { RegionUnavailableError } from "../../errors/server.js";
import { compareKeysShort, type KeyRange, type Latin1Key, toLatin1Key } from "../../kv/key.js";
import type { EpochNotMatchOutcome } from "../../machines/ports.js";
import type { Peer, Region } from "../../proto/metapb.js";
import { Bo } from "../backoff/backoff-config.js";
import { Backoffer } from "../backoff/backoffer.js";
import { CachedRegion, type InvalidReason, type RegionVerId } from "./cached-region.js";
import { groupByRegion } from "./group-by-region.js";
import { RegionIndex } from "./region-index.js";
import type { RegionInfo, RegionSource } from "./region-source.js";
import { F_EXPIRE_AFTER_TTL, F_NEED_RELOAD, RegionStore, reasonCode } from "./region-store.js";
import { type Liveness, StoreCache, type StoreEntry } from "./store-cache.js";
import type { RequestHealthFeedback } from "./tikv-slow-score.js";

// Buffers convert directly (toLatin1Key wraps any Uint8Array in a new Buffer first).
function latin1(key: Uint8Array): Latin1Key {
  return Buffer.isBuffer(key) ? key.toString("latin1") : toLatin1Key(key);
}

/** Handles kept for reuse (2 per set, sets chosen by slot): the hot set. */
const HOT_HANDLES = 2048;
const HOT_SETS = HOT_HANDLES / 2;
/** Regions inserted between two yields to the event loop while loading many. */
const LOAD_BATCH = 256;

const OTHER = reasonCode("other");

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  private readonly store = new RegionStore();
  private readonly index = new RegionIndex(this.store);
  private readonly hot: (CachedRegion | undefined)[] = new Array(HOT_HANDLES).fill(undefined);
  // slot + 1 and gen of each hot handle: a miss is told without touching the evicted handle
  private readonly hotSlot = new Int32Array(HOT_HANDLES);
  private readonly hotGen = new Uint32Array(HOT_HANDLES);
  // the way of each set used last (the other one is replaced)
  private readonly hotLast = new Uint8Array(HOT_SETS);
  private hotMoves = 0;
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
    const slot = this.index.searchByKey(key);
    return slot >= 0 && this.usableSlot(slot) ? this.handle(slot) : undefined;
  }

  /** Same as {@link tryLocateKey} for a key in latin1 form. */
  tryLocateL1(key: Latin1Key): CachedRegion | undefined {
    return this.tryLocateKey(Buffer.from(key, "latin1"));
  }

  /** The cached region with this id (latest version), valid or not. */
  getCachedById(id: bigint): CachedRegion | undefined {
    const slot = this.store.byId(id);
    return slot >= 0 ? this.handle(slot) : undefined;
  }

  /** The cached region entry for a version, if it is still the one cached. */
  getCachedByVer(v: RegionVerId): CachedRegion | undefined {
    const slot = this.store.byId(v.id);
    if (slot < 0 || this.store.version(slot) !== v.version || this.store.confVer(slot) !== v.confVer)
      return undefined;
    return this.handle(slot);
  }

  // The handle of a live slot: the hot one when it is still that slot's, else a new one (kept).
  private handle(slot: number): CachedRegion {
    const set = slot & (HOT_SETS - 1);
    const i = set << 1;
    const gen = this.store.gen(slot);
    const tag = slot + 1;
    const hs = this.hotSlot;
    const hg = this.hotGen;
    if (hs[i] === tag && hg[i] === gen) {
      this.hotLast[set] = 0;
      return this.hot[i] as CachedRegion;
    }
    if (hs[i + 1] === tag && hg[i + 1] === gen) {
      this.hotLast[set] = 1;
      return this.hot[i + 1] as CachedRegion;
    }
    const fresh = CachedRegion.ofSlot(this.store, slot);
    this.keepHot(fresh, slot, gen);
    return fresh;
  }

  // keeps `h` in its set: in the way already holding its slot, else in the way not used last
  private keepHot(h: CachedRegion, slot: number, gen: number): void {
    const set = slot & (HOT_SETS - 1);
    const tag = slot + 1;
    const way =
      this.hotSlot[set << 1] === tag
        ? 0
        : this.hotSlot[(set << 1) + 1] === tag
          ? 1
          : 1 - (this.hotLast[set] as number);
    const i = (set << 1) + way;
    this.hot[i] = h;
    this.hotSlot[i] = tag;
    this.hotGen[i] = gen;
    this.hotLast[set] = way;
  }

  // client-go checkRegionCacheTTL on a slot (valid, no reload pending, TTL not passed; extends it)
  private usableSlot(slot: number): boolean {
    const st = this.store;
    const flags = st.flags(slot);
    if (st.reason(slot) !== 0 || (flags & F_NEED_RELOAD) !== 0) return false;
    const now = this.now();
    const ttl = st.ttlAt(slot);
    if (now > ttl) return false;
    if ((flags & F_EXPIRE_AFTER_TTL) === 0 && ttl <= now + this.ttlMs) st.setTtlAt(slot, this.nextTtl(now));
    return true;
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
    const hit = this.tryLocateKey(key);
    if (hit) return Promise.resolve(hit);
    return this.coalesce(`k${latin1(key)}`, () => this.findByKey(key, false, bo));
  }

  /** The region an exclusive range end `key` belongs to (start < key <= end; client-go LocateEndKey). */
  locateEndKey(key: Buffer, bo?: Backoffer): Promise<CachedRegion> {
    const slot = this.index.searchByEndKey(key);
    if (slot >= 0 && this.usableSlot(slot)) return Promise.resolve(this.handle(slot));
    return this.coalesce(`e${latin1(key)}`, () => this.findByKey(key, true, bo));
  }

  /** The region with `id`, from the cache or PD (client-go LocateRegionByID). */
  async locateRegionById(id: bigint, bo?: Backoffer): Promise<CachedRegion> {
    const c = this.getCachedById(id);
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
    return this.coalesce(`r${latin1(key)}`, () => this.findByKey(key, false, bo, true));
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
    isEndKey: boolean,
    bo?: Backoffer,
    force = false,
  ): Promise<CachedRegion> {
    const slot = isEndKey ? this.index.searchByEndKey(key) : this.index.searchByKey(key);
    const cached = slot >= 0 ? this.handle(slot) : undefined;
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
        // undecodable boundaries do not heal by waiting (see pd-region-source.ts)
        if (e instanceof RegionUnavailableError) throw e;
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
    const stores = await this.resolveStores(meta.peers);
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

  // the stores of `peers`, without waiting when all are known (loading many regions stays cheap)
  private resolveStores(peers: readonly Peer[]): StoreEntry[] | Promise<StoreEntry[]> {
    const out: StoreEntry[] = [];
    for (const p of peers) {
      const s = this.stores.peek(p.storeId);
      if (!s || (s.resolve !== "resolved" && s.resolve !== "tombstone"))
        return Promise.all(peers.map((q) => this.stores.resolve(q.storeId)));
      out.push(s);
    }
    return out;
  }

  /** All regions overlapping `[start, end)` (end empty = +inf), in key order, loading gaps from PD. */
  async locateRange(start: Buffer, end: Buffer, bo?: Backoffer): Promise<CachedRegion[]> {
    const out: CachedRegion[] = [];
    let key = start;
    for (;;) {
      const r = await this.locateKey(key, bo);
      out.push(r);
      if (r.endKey.length === 0 || (end.length > 0 && compareKeysShort(r.endKey, end) >= 0)) return out;
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
      const end = range.end;
      let k = range.start;
      for (;;) {
        let r = this.tryLocateKey(k);
        if (!r) {
          const loaded = await this.batchLoadRegions(k, range.end, batch, bo);
          r = loaded.find((x) => x.contains(k)) ?? (await this.locateKey(k, bo));
        }
        // two handles may stand for one entry: compare entries, not objects
        if (last === undefined || !last.sameEntry(r)) out.push(r);
        last = r;
        if (r.endKey.length === 0 || (end.length > 0 && compareKeysShort(r.endKey, end) >= 0)) break;
        k = r.endKey;
      }
    }
    return out;
  }

  /**
   * Loads up to `limit` regions from `start` with one PD scan and caches them (client-go
   * BatchLoadRegionsWithKeyRange). Returns the regions loaded. A large page is cached in
   * batches with a yield to the event loop between them, so requests are not stalled.
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
      for (let i = 0; i < infos.length; i++) {
        if (i > 0 && i % LOAD_BATCH === 0) await yieldToLoop();
        const r = await this.buildRegion(infos[i] as RegionInfo);
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
    if (r.liveSlot() >= 0) return true;
    const st = this.store;
    const oldSlot = st.byId(r.id);
    if (oldSlot >= 0 && (st.version(oldSlot) > r.version || st.confVer(oldSlot) > r.confVer)) return false;
    const overlapped = this.index.intersecting(r.startKey, r.endKey);
    for (const o of overlapped) if (st.version(o) > r.version) return false;
    const firstSlot = overlapped[0];
    const first = firstSlot === undefined ? undefined : this.handle(firstSlot);
    // a region that lost its leader is retried on the next peer (client-go: NoLeader → workTiKVIdx + 1)
    if (first && first.invalidReason === "noLeader" && r.peers.length > 0) {
      r.leaderIdx = (first.leaderIdx + 1) % r.peers.length;
    }
    // keep the older entry's buckets when PD sent none or older ones (client-go insertRegionToCache)
    const firstBuckets = first?.buckets;
    if (firstBuckets && (!r.buckets || r.buckets.version < firstBuckets.version)) r.buckets = firstBuckets;
    for (const o of overlapped) {
      this.index.delete(o);
      if (invalidateOld && st.reason(o) === 0) {
        st.setReason(o, OTHER);
        st.setTtlAt(o, Number.NEGATIVE_INFINITY);
      }
      st.release(o);
    }
    const slot = st.add(r.toRecord());
    r.attachTo(st, slot);
    this.index.set(slot);
    st.setById(slot);
    this.keepHot(r, slot, st.gen(slot));
    if (st.moves !== this.hotMoves) this.rebaseHot();
    return true;
  }

  // the store moved blobs: hot handles read their new place (so the old chunk can be freed)
  private rebaseHot(): void {
    this.hotMoves = this.store.moves;
    const hot = this.hot;
    for (let i = 0; i < hot.length; i++) {
      const h = hot[i];
      if (h === undefined) continue;
      if (h.liveSlot() < 0) {
        hot[i] = undefined;
        this.hotSlot[i] = 0;
      } else h.rebase();
    }
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
    return this.index.ascend(start, end, limit).map((s) => this.handle(s));
  }

  /** Drops everything (handles of the dropped entries become invalid). */
  clear(): void {
    this.index.clear();
    this.store.releaseAll();
    this.hot.fill(undefined);
    this.hotSlot.fill(0);
  }

  private newBackoffer(): Backoffer {
    return new Backoffer({ maxSleepMs: this.opts.locateBackoffMs ?? 20_000 });
  }
}
