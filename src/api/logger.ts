// The logger vocabulary lives with the runtime that logs; the facade re-exports it.
export * from "../actors/runtime/logger.js";
