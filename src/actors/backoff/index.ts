// Backoff kinds and per-request budgets (client-go config/retry).
export * from "./backoff-config.js";
export * from "./backoffer.js";
