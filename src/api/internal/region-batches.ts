// The facade's region batching is the runtime's (one implementation for raw and txn paths).
export { type BatchExec, runRegionBatches } from "../../actors/runtime/region-batches.js";
