// The slow-transaction log: a transaction whose commit ends more than the threshold after it
// began is logged at warn (client-go logs commit batches slower than slowRequestThreshold, one
// minute; we log the whole transaction once, with what its commit did). Nothing runs without a
// logger.

import type { Logger } from "../runtime/logger.js";

/** client-go slowRequestThreshold (1 min): the default slow-transaction threshold. */
export const DEFAULT_SLOW_TXN_THRESHOLD_MS = 60_000;

/** Where the log goes and from when a transaction counts as slow. */
export interface SlowTxnLog {
  logger: Logger | undefined;
  thresholdMs: number;
}

/** `commit` as is, logging the transaction as slow when it ends (committed or not) past the threshold. */
export function logIfSlow<T extends { commitTs: bigint; info: { mode: string } | undefined }>(
  log: SlowTxnLog | undefined,
  txn: { readonly startTs: bigint; readonly startedAt: number },
  buffer: { readonly len: number; readonly size: number },
  commit: Promise<T>,
): Promise<T> {
  const logger = log?.logger;
  if (logger === undefined || log === undefined) return commit;
  const commitStart = Date.now();
  const entry = (): Record<string, unknown> | undefined => {
    const now = Date.now();
    const durationMs = now - txn.startedAt;
    if (durationMs <= log.thresholdMs) return undefined;
    return {
      startTs: txn.startTs.toString(),
      keys: buffer.len,
      sizeBytes: buffer.size,
      durationMs,
      commitMs: now - commitStart,
      thresholdMs: log.thresholdMs,
    };
  };
  return commit.then(
    (r) => {
      const e = entry();
      if (e)
        logger.warn(
          { ...e, commitTs: r.commitTs.toString(), mode: r.info?.mode ?? "readOnly" },
          "slow transaction",
        );
      return r;
    },
    (err: unknown) => {
      const e = entry();
      if (e)
        logger.warn({ ...e, error: err instanceof Error ? err.message : String(err) }, "slow transaction");
      throw err;
    },
  );
}
