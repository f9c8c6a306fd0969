// The public range task runner (client-go txnkv/rangetask.Runner): runs your handler over a
// key range cut into tasks of whole regions, with a few workers, reporting progress. The engine
// is src/actors/runtime/range-task.ts; this facade checks arguments, converts keys and emits
// events.

import { EventEmitter } from "eventemitter3";
import { checkPositiveInt, runRangeTask } from "../actors/runtime/range-task.js";
import type {
  RangeTaskContext,
  RangeTaskProgress,
  RangeTaskStat,
} from "../actors/runtime/range-task-types.js";
import type { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError } from "../errors/server.js";
import { type KeyInput, type KeyRange, toKey } from "../kv/key.js";

export type {
  RangeTaskContext,
  RangeTaskProgress,
  RangeTaskStat,
} from "../actors/runtime/range-task-types.js";

/** Options of a {@link RangeTaskRunner}. */
export interface RangeTaskRunnerOptions {
  /** A name for logs and errors (default "range-task"). */
  name?: string;
  /** Tasks run at once (integer >= 1, default 1). */
  concurrency?: number;
  /** Regions per task (integer >= 1, default 128). */
  regionsPerTask?: number;
}

/** Options of one {@link RangeTaskRunner.runOnRange}. */
export interface RunOnRangeOptions {
  /** Stops the run: handlers see their `signal` aborted, the run rejects with AbortedError. */
  signal?: AbortSignal;
  /** Called with the progress after every task (same as the "progress" event). */
  onProgress?: (p: RangeTaskProgress) => void;
}

/**
 * A task handler: processes `range` (user keys; `end` empty = +infinity) and says how many
 * regions it finished or gave up on. Returning nothing counts no region. Throwing stops the run.
 */
export type RangeTaskFn = (range: KeyRange, ctx: RangeTaskContext) => Promise<RangeTaskStat | undefined>;

/** Events of a {@link RangeTaskRunner}. */
export interface RangeTaskEvents {
  /** After every finished task, and once at the end of a successful run (`done`). */
  progress: (p: RangeTaskProgress) => void;
}

/** @internal Throws InvalidArgumentError for a bad `concurrency` / `regionsPerTask` (undefined = default). */
export function checkRangeTaskOptions(o: { concurrency?: unknown; regionsPerTask?: unknown }): void {
  if (o.concurrency !== undefined) checkPositiveInt(o.concurrency, "concurrency");
  if (o.regionsPerTask !== undefined) checkPositiveInt(o.regionsPerTask, "regionsPerTask");
}

/**
 * Runs a handler over every region of a key range of the transactional key space, a few tasks
 * at a time. Regions split and merge while it runs: task bounds follow the region cache, and a
 * handler sending requests per region should re-locate when a region changed. Completed and
 * failed region counts are kept across a run; listeners get "progress" events.
 *
 * @example
 * ```ts
 * const runner = client.txn().rangeTaskRunner({ concurrency: 4 });
 * runner.on("progress", (p) => console.log(`${p.completedRegions}/${p.totalRegions}`));
 * await runner.runOnRange("a", "z", async (range) => {
 *   // ... work on [range.start, range.end)
 *   return { completedRegions: 1, failedRegions: 0 };
 * });
 * ```
 */
export class RangeTaskRunner extends EventEmitter<RangeTaskEvents> {
  /** The runner's name. */
  readonly name: string;
  private readonly concurrency: number;
  private readonly regionsPerTask: number | undefined;
  private completed = 0;
  private failed = 0;

  /** @internal Use TxnClient.rangeTaskRunner. */
  constructor(
    private readonly rt: Pick<TxnRuntime, "cache">,
    options: RangeTaskRunnerOptions = {},
  ) {
    super();
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("must be an object", "options");
    checkRangeTaskOptions(options);
    this.name = options.name ?? "range-task";
    this.concurrency = options.concurrency ?? 1;
    this.regionsPerTask = options.regionsPerTask;
  }

  /** Regions completed by the last (or current) run. */
  get completedRegions(): number {
    return this.completed;
  }

  /** Regions failed in the last (or current) run. */
  get failedRegions(): number {
    return this.failed;
  }

  /**
   * Runs `handler` over [start, end) (`end` omitted or empty = +infinity). Resolves with the
   * totals; rejects with the first handler error, AbortedError on `signal`, InvalidArgumentError
   * for bad input. An empty range (end <= start) calls no handler.
   */
  async runOnRange(
    start: KeyInput,
    end: KeyInput | undefined,
    handler: RangeTaskFn,
    options: RunOnRangeOptions = {},
  ): Promise<RangeTaskStat> {
    const range: KeyRange = {
      start: toKey(start, "start"),
      end: end === undefined ? Buffer.alloc(0) : toKey(end, "end"),
    };
    if (typeof handler !== "function") throw new InvalidArgumentError("must be a function", "handler");
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError("must be an AbortSignal", "signal");
    }
    if (signal?.aborted) throw new AbortedError(signal.reason);
    this.completed = 0;
    this.failed = 0;
    return runRangeTask(
      this.rt.cache,
      range,
      async (r, ctx) => (await handler(r, ctx)) ?? { completedRegions: 0, failedRegions: 0 },
      {
        concurrency: this.concurrency,
        regionsPerTask: this.regionsPerTask,
        signal,
        onProgress: (p) => {
          this.completed = p.completedRegions;
          this.failed = p.failedRegions;
          // each listener on its own: one throwing must not starve the others
          for (const l of [options.onProgress, ...this.listeners("progress")]) {
            if (!l) continue;
            try {
              l(p);
            } catch {
              // ignored, as the engine ignores a throwing onProgress
            }
          }
        },
      },
    );
  }
}
