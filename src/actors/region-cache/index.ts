// Region cache, store cache, replica selection, region actors and the PD interface.
export * from "./buckets.js";
export * from "./cached-region.js";
export * from "./group-by-region.js";
export * from "./region-actors.js";
export * from "./region-cache.js";
export * from "./region-index.js";
export * from "./region-source.js";
export * from "./replica-selector.js";
export * from "./store-cache.js";
