// Topology model of the embedded cluster.

export { type BootstrapOptions, bootstrapTopology } from "./bootstrap.js";
export { type AddStoreOptions, ClusterTopology } from "./cluster-topology.js";
export { TopologyError, type TopologyErrorCode } from "./errors.js";
export { IdAllocator } from "./id-allocator.js";
export { ceilDecodeBytes, fromStoredKey, type RegionKeyEncoding, toStoredKey } from "./stored-keys.js";
export type * from "./types.js";
