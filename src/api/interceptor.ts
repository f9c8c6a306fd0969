// The RPC interceptor vocabulary lives beside the request sender that runs it; the facade re-exports it.
export * from "../actors/request/interceptor.js";
