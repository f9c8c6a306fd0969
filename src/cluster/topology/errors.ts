// Typed errors of the topology model. The embedded cluster shares no code with the client
// (DESIGN.md), so these do not extend the client's error classes.

/** Kinds of topology failures; `code` is stable for tests and callers. */
export type TopologyErrorCode =
  | "INVALID_ARGUMENT"
  | "REGION_NOT_FOUND"
  | "STORE_NOT_FOUND"
  | "PEER_NOT_FOUND";

/** An impossible topology operation (split key outside region, transfer to a store without a peer...). */
export class TopologyError extends Error {
  constructor(
    /** Stable error kind. */
    readonly code: TopologyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "TopologyError";
  }
}

/** Hex rendering of a key for messages. */
export function hex(key: Uint8Array): string {
  return key.length === 0 ? '""' : Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex");
}
