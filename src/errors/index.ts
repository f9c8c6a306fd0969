// Typed errors of tikv-ts (client-go error/error.go, G42 of the API inventory).
// The classes live in src/errors/*; this module is the public entry point.

export * from "./base.js";
export * from "./codec.js";
export * from "./codes.js";
export * from "./debug-info.js";
export * from "./extract.js";
export * from "./gc.js";
export * from "./predicates.js";
export * from "./resource-control.js";
export * from "./server.js";
export * from "./server-message.js";
export * from "./tls.js";
export * from "./txn.js";
