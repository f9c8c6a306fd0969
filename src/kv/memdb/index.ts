// The transaction buffer ("memdb"): public pieces. See memdb.ts for the buffer, iterator.ts for
// what iterators see of concurrent writes, snapshot.ts for the stage-0 view.

export { MemDbCheckpoint } from "./checkpoint.js";
export type { MemDbEntry, MemDbFlaggedEntry, MemDbKeyValue } from "./entries.js";
export {
  InvalidCheckpointError,
  type InvalidCheckpointReason,
  InvalidStagingHandleError,
  type StagingOperation,
  StaleSnapshotError,
  ValuesDiscardedError,
} from "./errors.js";
export { MemDbIterator } from "./iterator.js";
export * from "./key-flags.js";
export { MAX_KEY_LENGTH, type SizeLimits } from "./limits.js";
export { MemDb, type MemDbOptions } from "./memdb.js";
export { MemDbSnapshot, type SnapshotBatchOptions } from "./snapshot.js";
