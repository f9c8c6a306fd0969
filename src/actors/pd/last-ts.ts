// lastTS tracking and the low-resolution timestamp (client-go oracle/oracles/pd.go:
// setLastTS / getLastTS / IsExpired / UntilExpired / GetStaleTimestamp).

import { InvalidArgumentError } from "../../errors/base.js";
import { composeTs, isLockExpired, physicalOf, untilExpiredMs } from "../../kv/timestamp.js";
import { ErrorType } from "../../proto/pdpb.js";
import { PdError } from "../../rpc/errors.js";

/** The newest timestamp this client has seen from PD, with its arrival time. */
export class LastTs {
  private ts: bigint | undefined;
  private arrivalMs = 0;

  /** Records `ts` if it is newer than the current one (monotonic). */
  observe(ts: bigint, nowMs: number = Date.now()): void {
    if (this.ts !== undefined && ts <= this.ts) return;
    this.ts = ts;
    this.arrivalMs = nowMs;
  }

  /** The newest timestamp, or undefined before the first one. */
  get value(): bigint | undefined {
    return this.ts;
  }

  /** The low-resolution timestamp; PdError before the first timestamp arrived. */
  lowResolution(): bigint {
    if (this.ts === undefined)
      throw new PdError(ErrorType.UNKNOWN, "get low resolution timestamp fail: no timestamp yet");
    return this.ts;
  }

  /** True when lockTs + ttl is not after lastTS (true when no timestamp is known yet, like client-go). */
  isExpired(lockTs: bigint, ttlMs: number | bigint): boolean {
    if (this.ts === undefined) return true;
    return isLockExpired(lockTs, ttlMs, this.ts);
  }

  /** Milliseconds until lockTs + ttl, measured against lastTS (0 when no timestamp is known). */
  untilExpired(lockTs: bigint, ttlMs: number | bigint): number {
    if (this.ts === undefined) return 0;
    return untilExpiredMs(lockTs, ttlMs, this.ts);
  }

  /**
   * A timestamp `prevSecond` seconds before "now", estimated from lastTS plus the local time
   * elapsed since it arrived (no PD round trip).
   */
  stale(prevSecond: number, nowMs: number = Date.now()): bigint {
    if (this.ts === undefined)
      throw new PdError(ErrorType.UNKNOWN, "get stale timestamp fail: no timestamp yet");
    const physical = physicalOf(this.ts);
    if (!Number.isInteger(prevSecond) || prevSecond < 0 || Math.floor(physical / 1000) <= prevSecond) {
      throw new InvalidArgumentError(`invalid prevSecond ${prevSecond}`, "prevSecond");
    }
    return composeTs(physical + (nowMs - this.arrivalMs) - prevSecond * 1000, 0);
  }
}
