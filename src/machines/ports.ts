// What the machines need from the actors' objects, as types only: the retry machine drives a
// region cache, a replica selector and a backoff budget, and the region machine holds a region
// entry. No machine imports from src/actors/ (issue #17 layering): each port is a minimal shape
// declared here, and the actors layer names its concrete class for it by augmenting
// {@link MachinePorts} (declaration merging, in src/actors/region-cache/replica-selector.ts).
// A port then resolves to that class (so the actors get their own types back from the
// machines), and to `never` when the class does not satisfy the shape (a loud type error).
// Without the augmentation a port is just its shape.

import type { Peer, Region } from "../proto/metapb.js";
import type { BackoffConfig } from "./policy/backoff-config.js";

/**
 * The concrete types the actors layer plugs into the machines' ports, keyed by port:
 * `region` ({@link RegionEntryShape}), `regionCache` ({@link RetryRegionCacheShape}),
 * `replicaSelector` ({@link RetryReplicaSelectorShape}), `backoffBudget` ({@link BackoffBudgetShape}).
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by declaration merging from src/actors/
export interface MachinePorts {}

/** The type plugged into port `K`, checked against `Shape`; `Shape` itself when none is plugged. */
type Port<K extends string, Shape> = MachinePorts extends { [P in K]: infer T }
  ? T extends Shape
    ? T
    : never
  : Shape;

/** A cached region entry as the machines use it (the actors' CachedRegion). */
export type RegionEntry = Port<"region", RegionEntryShape>;
/** The region cache the retry machine drives (the actors' RegionCache). */
export type RetryRegionCache = Port<"regionCache", RetryRegionCacheShape>;
/** Replica choice on one region (the actors' ReplicaSelector). */
export type RetryReplicaSelector = Port<"replicaSelector", RetryReplicaSelectorShape>;
/** A per-request retry budget (the actors' Backoffer). */
export type BackoffBudget = Port<"backoffBudget", BackoffBudgetShape>;

/** What the machines need of a region entry. */
export interface RegionEntryShape {
  /** Region id. */
  readonly id: bigint;
  /** The region's peers. */
  readonly peers: readonly Peer[];
  /** False once the entry was invalidated or its TTL expired. */
  readonly isValid: boolean;
  /** True when `key` lies in the region's range. */
  contains(key: Uint8Array): boolean;
}

/** Why a region entry is dropped (the actors' InvalidReason, without "ok"). */
export type RegionInvalidReason = "noLeader" | "regionNotFound" | "epochNotMatch" | "storeNotFound" | "other";

/** Outcome of {@link RetryRegionCacheShape.onEpochNotMatch}. */
export type EpochNotMatchOutcome =
  /** The cache was updated (or invalidated): the caller re-splits its request. */
  | "updated"
  /** Our epoch is newer than TiKV's (it applies slowly): back off with RegionMiss and retry as is. */
  | "aheadOfTikv";

/** The region cache operations the retry machine uses. */
export interface RetryRegionCacheShape {
  /** Store bookkeeping. */
  readonly stores: { markNeedCheck(storeId: bigint): void };
  /** Drops a region entry. */
  invalidate(region: RegionEntry, reason?: RegionInvalidReason): void;
  /** Marks the region to be reloaded from PD on next access. */
  scheduleReload(region: RegionEntry): void;
  /** Applies a BucketVersionNotMatch answer: TiKV's current bucket version and keys. */
  onBucketVersionNotMatch(region: RegionEntry, version: bigint, keys: readonly Buffer[]): void;
  /** Applies an EpochNotMatch answer from a peer on store `accessStoreId`. */
  onEpochNotMatch(
    region: RegionEntry,
    currentRegions: readonly Region[],
    accessStoreId: bigint,
  ): Promise<EpochNotMatchOutcome>;
}

/** The replica the selector picked for the next attempt. */
export interface RetryTarget {
  /** Store of the target peer. */
  readonly storeId: bigint;
}

/** A deferred backoff a replica selector recorded for a store. */
export interface PendingBackoff {
  cfg: BackoffConfig;
  err: unknown;
}

/** The replica selector operations the retry machine uses. */
export interface RetryReplicaSelectorShape {
  /** The region the replicas come from. */
  readonly region: RegionEntry;
  /** The current target (cleared when no replica is left). */
  target: RetryTarget | undefined;
  /** Picks the next target (also stored in `target`), or undefined when none is left. */
  next(): RetryTarget | undefined;
  /** The region is wrong: no replica of it is tried again. */
  invalidateRegion(): void;
  onNotLeader(leader: Peer | undefined): "retry" | "backoff";
  onServerIsBusy(estimatedWaitMs: number, err: unknown): "fastRetry" | "backoff";
  onDataIsNotReady(): void;
  onRegionNotFound(): boolean;
  onReadTimeout(): void;
  onFlashbackInProgress(): boolean;
  onSendFailure(): void;
  onSendSuccess(): void;
  /** Takes the pending backoff recorded for `storeId`, if any. */
  takePendingBackoff(storeId: bigint): PendingBackoff | undefined;
  /** The largest pending backoff of any store, if any. */
  largestPendingBackoff(): PendingBackoff | undefined;
}

/** What the machines need of a per-request retry budget. */
export interface BackoffBudgetShape {
  /**
   * Accounts one backoff of kind `cfg` caused by `err` and returns the ms to sleep; throws when
   * the budget is spent or the request was aborted.
   */
  next(cfg: BackoffConfig, err: unknown, maxSleepMs?: number): number;
}
