// The public vocabulary of a GC round (phases, progress, options, result), apart from run-gc.ts
// so that declarations of the public API reach no actor types.

import type { RangeTaskProgress } from "../../runtime/range-task-types.js";

/** The phases of a GC round, in order. */
export type GcPhase = "advanceTxnSafePoint" | "resolveLocks" | "advanceGcSafePoint" | "done";

/** Progress of a GC round. */
export interface GcProgress extends RangeTaskProgress {
  /** The phase the round is in. */
  phase: GcPhase;
  /** Locks resolved so far. */
  locksResolved: number;
  /** The txn safe point locks are resolved at (0 before it is known). */
  txnSafePoint: bigint;
}

/** How a round goes. */
export interface GcRunOptions {
  /** Regions resolved at once (integer >= 1; default 8). */
  concurrency?: number;
  /** Stops the round (AbortedError); safe points already advanced stay advanced. */
  signal?: AbortSignal | undefined;
  /** Called as the round goes (exceptions are ignored). */
  onProgress?: ((p: GcProgress) => void) | undefined;
}

/** What a round did. */
export interface GcRunResult {
  /** The txn safe point now (may be below the requested one when a barrier blocks it). */
  txnSafePoint: bigint;
  /** The GC safe point now. */
  gcSafePoint: bigint;
  /** What held the txn safe point back (PD's description), empty when nothing did. */
  blocker: string;
  /** Regions whose locks were resolved. */
  regionsResolved: number;
  /** Locks resolved. */
  locksResolved: number;
  /** The keyspace whose GC state moved; undefined = the null keyspace (unified GC). */
  keyspaceId: number | undefined;
  /**
   * True when the PD lacked the GC state API and the legacy calls were used (service safe point
   * of "gc_worker", UpdateGCSafePoint).
   */
  legacy: boolean;
}
