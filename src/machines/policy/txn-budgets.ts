// The retry budgets of the transaction phases: pure data, kept out of the runtime so the
// public configuration's declarations do not reach the actors (and xstate) through it.

/** client-go budgets (ms) of the transaction phases and TSO. */
export const TXN_BUDGETS_MS = {
  prewrite: 40_000,
  commit: 40_000,
  secondaries: 41_000,
  cleanup: 20_000,
  heartbeat: 20_000,
  resolve: 20_000,
  tso: 15_000,
} as const;
