// The public option and result types of split and scatter, apart from their implementation so
// the published declarations of TikvClient do not reach the actors (and xstate) through them.

import type { KeyMode } from "../../kv/api-codec.js";

/** Options of {@link TikvClient.scatterRegion}. */
export interface ScatterOptions {
  /**
   * Scatter group (client-go opt.WithGroup, e.g. a table id): PD spreads the regions of one group
   * evenly, independently of other groups. Default: no group.
   */
  group?: string;
  /** Retry budget of the PD call in ms (BoPDRPC backoffs; default 20 000). */
  maxBackoffMs?: number;
  /** Cancels the call (AbortedError). */
  signal?: AbortSignal;
}

/** What PD answered to a scatter. */
export interface ScatterResult {
  /** Share of the regions PD created a scatter operator for, 0-100. */
  finishedPercentage: number;
  /** Regions PD could not scatter (e.g. unknown ids). */
  failedRegionIds: bigint[];
}

/** Options of {@link TikvClient.waitScatterRegionFinish}. */
export interface WaitScatterOptions {
  /** How long to wait in ms (default 120 000, client-go waitScatterRegionFinishBackoff); then TimeoutError. */
  timeoutMs?: number;
  /** Cancels the wait (AbortedError). */
  signal?: AbortSignal;
}

/** Options of {@link TikvClient.splitRegions}. */
export interface SplitRegionsOptions {
  /** Scatter every new region after the split (client-go `scatter`; default false). */
  scatter?: boolean;
  /** Scatter group of the new regions (client-go tableID; default none). */
  group?: string;
  /**
   * Which keys these are (default "txn", as client-go's KVStore): "txn" keys are located through
   * the transactional region cache (memcomparable boundaries), "raw" keys through the raw one.
   */
  keyMode?: KeyMode;
  /** Deadline of the whole call in ms (default 0 = none; the backoff budget still bounds it). */
  timeoutMs?: number;
  /** Cancels the call (AbortedError). */
  signal?: AbortSignal;
}

/** A new region PD could not scatter. */
export interface ScatterFailure {
  regionId: bigint;
  error: Error;
}

/** What {@link TikvClient.splitRegions} did. */
export interface SplitRegionsResult {
  /** Ids of the regions the split created, in key order per split region. */
  regionIds: bigint[];
  /** Scatters that failed (empty without `scatter`); the split itself succeeded. */
  scatterErrors: ScatterFailure[];
}
