// The store record of the routing layer's store table (StoreCache), on its own so that the
// table's helpers (health loop, TiKV slow scores) can name it without an import circle.

import type { StoreLabel } from "../../proto/metapb.js";

/** Whether the client can reach a store (client-go livenessState). */
export type Liveness = "reachable" | "unreachable" | "unknown";

/** One store. */
export interface StoreEntry {
  readonly id: bigint;
  /** gRPC address; "" for a tombstone. */
  address: string;
  labels: StoreLabel[];
  /** unresolved → resolved; needCheck = re-read from PD on next use; tombstone = gone. */
  resolve: "unresolved" | "resolved" | "needCheck" | "tombstone";
  /** Bumped when the store fails: cached regions built with the old epoch see their replica as stale. */
  epoch: number;
  liveness: Liveness;
  /** 1 = healthy … 100 = slowest (client-side marks: send failures, ServerIsBusy). */
  slowScore: number;
  /** TiKV's own slow score from BatchCommands health feedback (client-go tikvSideSlowScore; 1 = healthy). */
  tikvSlowScore: number;
  /** Estimated wait reported by ServerIsBusy (ms) and when it was reported. */
  estimatedWaitMs: number;
  estimatedWaitAt: number;
}
