// Topology model of the embedded cluster.
export { ClusterTopology, type AddStoreOptions } from "./cluster-topology.js";
export { bootstrapTopology, type BootstrapOptions } from "./bootstrap.js";
export { IdAllocator } from "./id-allocator.js";
export { TopologyError, type TopologyErrorCode } from "./errors.js";
export type * from "./types.js";
