// The public vocabulary of range tasks (stats, progress, handler, options), apart from the
// engine in range-task.ts so that declarations of the public API reach no actor types.

import type { KeyRange } from "../../kv/key.js";

/** What a handler reports for its task (client-go TaskStat). */
export interface RangeTaskStat {
  /** Regions the handler finished. */
  completedRegions: number;
  /**
   * Regions the handler gave up on without stopping the run; a task whose handler throws counts
   * all its regions here.
   */
  failedRegions: number;
}

/** Progress of a run, reported after every finished task and once at the end. */
export interface RangeTaskProgress extends RangeTaskStat {
  /**
   * Regions found in the range so far (an estimate: regions split and merge while the run goes
   * on); final once `located` is true.
   */
  totalRegions: number;
  /** True once the whole range has been cut into tasks. */
  located: boolean;
  /** Tasks finished. */
  tasksDone: number;
  /** True on the last report of a successful run. */
  done: boolean;
}

/** What a handler gets besides its range. */
export interface RangeTaskContext {
  /** Aborted when the run stops (another task failed, or the caller aborted). */
  readonly signal: AbortSignal;
}

/** Processes one task: `range` is clipped to the run's range. */
export type RangeTaskHandler = (range: KeyRange, ctx: RangeTaskContext) => Promise<RangeTaskStat>;

/** How a run goes. */
export interface RangeTaskOptions {
  /** Workers running handlers at once (integer >= 1). */
  concurrency: number;
  /** Regions per task (integer >= 1, default 128). */
  regionsPerTask?: number;
  /** Stops the run: handlers see their signal aborted, the run rejects with AbortedError. */
  signal?: AbortSignal | undefined;
  /** Called with the progress after every finished task (exceptions are ignored). */
  onProgress?: ((p: RangeTaskProgress) => void) | undefined;
}
