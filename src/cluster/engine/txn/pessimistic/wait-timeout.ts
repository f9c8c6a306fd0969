// Lock-wait timeout semantics of tikv src/storage/lock_manager/mod.rs (WaitTimeout) and the
// defaults of src/server/lock_manager/config.rs.

/** TiKV's `wait-for-lock-timeout` default: the default AND the maximum lock wait. */
export const DEFAULT_WAIT_FOR_LOCK_TIMEOUT_MS = 1000;
/** TiKV's `wake-up-delay-duration` default: delay before waking the rest of a queue. */
export const DEFAULT_WAKE_UP_DELAY_MS = 20;

/** How long a blocked request waits: not at all, TiKV's default, or a number of ms. */
export type WaitTimeout = { kind: "noWait" } | { kind: "default" } | { kind: "millis"; ms: number };

/** Decodes the wire value: negative = no wait, 0 = default, positive = that many ms. */
export function waitTimeoutFromWire(v: bigint): WaitTimeout {
  if (v < 0n) return { kind: "noWait" };
  if (v === 0n) return { kind: "default" };
  return { kind: "millis", ms: v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v) };
}

/** The wait in ms, capped by the configured ceiling as TiKV caps it (into_duration_with_ceiling). */
export function waitDurationMs(t: WaitTimeout, ceilingMs: number): number {
  if (t.kind === "noWait") return 0;
  if (t.kind === "default") return ceilingMs;
  return Math.min(t.ms, ceilingMs);
}
