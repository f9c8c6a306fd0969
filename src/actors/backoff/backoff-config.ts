// Backoff kinds and their exponential parameters: pure policy, defined beside the machines
// (src/machines/policy/backoff-config.ts) and re-exported here for the actors.
export * from "../../machines/policy/backoff-config.js";
