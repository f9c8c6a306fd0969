// Typed errors of tikv-ts (client-go error/error.go, G42 of the API inventory).
// The classes live in src/api/errors/*; this module is the public entry point.

export * from "./errors/base.js";
export * from "./errors/codec.js";
export * from "./errors/codes.js";
export * from "./errors/debug-info.js";
export * from "./errors/extract.js";
export * from "./errors/predicates.js";
export * from "./errors/server.js";
export * from "./errors/server-message.js";
export * from "./errors/tls.js";
export * from "./errors/txn.js";
