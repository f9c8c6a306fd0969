// The nemesis contract: a fault that starts, holds while operations run, and heals on stop.

import type { EmbeddedCluster } from "../../cluster/embedded-cluster.js";
import type { OpValue, Rng, Workload } from "../types.js";

/** Where a crashing client stops talking (see client-crash.ts). */
export type CrashPoint = "after-prewrite" | "after-primary-commit" | "mid-raw-write";

/** What the runner gives a nemesis. */
export interface NemesisContext {
  /** The embedded cluster; undefined against a real cluster (only client-side faults apply). */
  readonly cluster: EmbeddedCluster | undefined;
  /** The nemesis stream of the run's seed. */
  readonly rng: Rng;
  readonly workload: Workload;
  /** A key under the workload's prefix, for splits. */
  sampleKey(): string;
  /**
   * Runs the next operation some process invokes on a fresh client that crashes at `point`
   * (stops sending, then closes). Resolves with what happened to it once it completed, or with
   * `{ taken: false }` when the run ended first.
   */
  crashNextOp(point: CrashPoint): Promise<OpValue>;
}

/** A started fault. */
export interface ActiveFault {
  /** What was done (recorded on the nemesis start event). */
  value: OpValue;
  /** Heals the fault; resolves with what was undone (recorded on the stop event). */
  stop(): Promise<OpValue>;
}

/** One kind of fault. */
export interface Nemesis {
  name: string;
  /** Needs the embedded cluster's topology / fault API (skipped against a real cluster). */
  embeddedOnly: boolean;
  /** Starts the fault. Throwing (or rejecting) means the fault could not be applied now. */
  start(ctx: NemesisContext): Promise<ActiveFault>;
}

/** A fault that is done once started (a split, a leader transfer): stopping heals nothing. */
export function instant(value: OpValue): ActiveFault {
  return { value, stop: async () => null };
}
