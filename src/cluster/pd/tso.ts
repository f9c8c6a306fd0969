// Timestamp oracle with PD's semantics (pd pkg/tso/tso.go): physical milliseconds plus an
// 18-bit logical counter; a request for `count` timestamps advances the logical part by
// `count` and answers the LAST timestamp of the batch. When the logical part would reach
// 1 << 18 the physical part moves forward (to the wall clock, or +1 ms) and the batch is
// taken from the new physical time.
import { tsoGenerateError } from "./errors.js";

/** PD's maxLogical: the logical part must stay below it. */
export const MAX_LOGICAL = 1 << 18;

/** One timestamp in PD's split form. */
export interface TsoPair {
  physical: number;
  logical: number;
}

/** Packs a timestamp into its 64-bit form. */
export function packTs(t: TsoPair): bigint {
  return (BigInt(t.physical) << 18n) | BigInt(t.logical);
}

/** Splits a 64-bit timestamp. */
export function unpackTs(ts: bigint): TsoPair {
  return { physical: Number(ts >> 18n), logical: Number(ts & BigInt(MAX_LOGICAL - 1)) };
}

/** Monotonic timestamp allocator. */
export class TimestampOracle {
  private physical = 0;
  private logical = 0;
  private readonly scripted: bigint[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Queues timestamps the next batches answer with (as their last ts), in order. */
  script(timestamps: readonly bigint[]): void {
    this.scripted.push(...timestamps);
  }

  /** Number of scripted timestamps still queued. */
  get scriptedLeft(): number {
    return this.scripted.length;
  }

  /** Allocates `count` timestamps and returns the last one. Throws PD's errors on bad counts. */
  generate(count: number): TsoPair {
    if (count <= 0) throw tsoGenerateError("tso count should be positive");
    const next = this.scripted.shift();
    if (next !== undefined) {
      const t = unpackTs(next);
      // Keep later answers above a scripted value that jumped ahead.
      if (t.physical > this.physical || (t.physical === this.physical && t.logical > this.logical)) {
        this.physical = t.physical;
        this.logical = t.logical;
      }
      return t;
    }
    if (count >= MAX_LOGICAL) throw tsoGenerateError("generate tso maximum number of retries exceeded");
    const wall = Math.floor(this.now());
    if (wall > this.physical) {
      this.physical = wall;
      this.logical = 0;
    }
    if (this.logical + count >= MAX_LOGICAL) {
      // Logical overflow: PD waits for the next physical tick.
      this.physical = Math.max(this.physical + 1, wall);
      this.logical = 0;
    }
    this.logical += count;
    return { physical: this.physical, logical: this.logical };
  }

  /**
   * A timestamp every later allocation exceeds, without allocating (and without consuming a
   * scripted one): the later of the last one handed out and the wall clock's logical 0.
   */
  peek(): bigint {
    const wall = packTs({ physical: Math.floor(this.now()), logical: 0 });
    const cur = this.current();
    return wall > cur ? wall : cur;
  }

  /**
   * Raises the allocator so every later timestamp exceeds `ts` (a TSO keyspace group starting
   * from what PD already handed out; a new primary continuing from its predecessor's window).
   */
  advanceTo(ts: bigint): void {
    const t = unpackTs(ts);
    if (t.physical > this.physical || (t.physical === this.physical && t.logical > this.logical)) {
      this.physical = t.physical;
      this.logical = t.logical;
    }
  }

  /** The last timestamp handed out (0 before the first). */
  current(): bigint {
    return packTs({ physical: this.physical, logical: this.logical });
  }
}
