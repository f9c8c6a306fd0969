/**
 * The embedded cluster's transactional engine: TiKV's MVCC / Percolator commands over the
 * in-memory storage core (../mvcc), with pessimistic locking delegated to ./pessimistic.
 */
export type { KeyRangeLimit } from "./context.js";
export { TxnEngine, type TxnEngineOptions } from "./txn-engine.js";
export { type CachedTxnState, TxnStatusCache } from "./txn-status-cache.js";
