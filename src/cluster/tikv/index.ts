// The embedded cluster's mock TiKV stores.

export { MAX_RESPONSES_PER_MESSAGE } from "./batch-commands.js";
export type { DiskUsage } from "./disk-usage.js";
export { HEALTH_FEEDBACK_INTERVAL_MS, HealthSource } from "./health.js";
export { MockTikvStore, type MockTikvStoreOptions, StoreStateError } from "./mock-tikv-store.js";
export type { KeyRangeArg, RawEnginePort, RegionState, TopologyPort, TxnEnginePort } from "./ports.js";
export { GC_WORKER_IS_BUSY, RAFTSTORE_IS_BUSY, RegionErrors, SCHEDULER_IS_BUSY } from "./region-errors.js";
export type { RegionKeyEncoding } from "./store-commands.js";
