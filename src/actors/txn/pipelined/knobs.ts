// The timings of pipelined transactions, as module-level values (client-go keeps them in
// package variables, ManagedLockTTL and MaxPipelinedTxnTTL, that its tests change).

import type { PipelinedFlushThresholds } from "../../../kv/memdb/pipelined-memdb.js";

/** @internal tests change these, and must restore them */
export const pipelinedKnobs = {
  /** client-go ManagedLockTTL (ms): lock TTL of flushed locks; the TTL manager beats every half of it. */
  managedLockTtlMs: 20_000,
  /** client-go MaxPipelinedTxnTTL (ms): the TTL manager gives up after this uptime (at least the client's max TTL). */
  maxPipelinedTxnTtlMs: 24 * 60 * 60 * 1000,
  /** Overrides the client's max transaction TTL for pipelined transactions (client-go config MaxTxnTTL). */
  clientMaxTxnTtlMs: undefined as number | undefined,
  /** client-go broadcastGracePeriod (ms) before the "completed" broadcast. */
  broadcastGraceMs: 5_000,
  /** Flush thresholds of new transactions (client-go's failpoints pipelinedMemDBMinFlush*). */
  flushThresholds: undefined as Partial<PipelinedFlushThresholds> | undefined,
};
