// The request sender (routing + retry) and the transport interface it needs.
export * from "./request-sender.js";
export * from "./store-pool-sender.js";
export * from "./store-sender.js";
