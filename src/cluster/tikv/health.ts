// Health feedback as TiKV attaches it (src/server/service/kv.rs HealthFeedbackAttacher): a
// per-store sequence starting at the store's start time in ms, the raftstore slow score
// (1 = healthy), attached to a BatchCommands response when one of its requests asked for it,
// otherwise at most once per interval (TiKV default 1 s) per stream.
import { HealthFeedback } from "../../proto/kvrpcpb.js";

/** TiKV's default `server.health-feedback-interval`. */
export const HEALTH_FEEDBACK_INTERVAL_MS = 1000;

/** Generates one store's health feedback messages. */
export class HealthSource {
  private seq: bigint;
  /** Raftstore slow score reported to clients (1..100). */
  slowScore = 1;
  /** Interval between unsolicited feedbacks on a stream; 0 disables them. */
  intervalMs = HEALTH_FEEDBACK_INTERVAL_MS;

  /** `startSeq` defaults to the current time in ms, as TiKV seeds it at start-up. */
  constructor(
    private readonly storeId: bigint,
    startSeq: bigint = BigInt(Date.now()),
  ) {
    this.seq = startSeq;
  }

  /** A new feedback message (each call takes the next sequence number). */
  next(): HealthFeedback {
    const feedbackSeqNo = this.seq;
    this.seq += 1n;
    return HealthFeedback.fromPartial({ storeId: this.storeId, feedbackSeqNo, slowScore: this.slowScore });
  }
}

/** Per-stream decision of when to attach unsolicited feedback. */
export class FeedbackAttacher {
  private last: number | undefined;

  constructor(
    private readonly source: HealthSource,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Feedback for the next outgoing message: `requested` forces one (and resets the interval);
   * otherwise one is produced when the interval has elapsed since the last.
   */
  take(requested: HealthFeedback | undefined): HealthFeedback | undefined {
    const t = this.now();
    if (requested) {
      this.last = t;
      return requested;
    }
    const interval = this.source.intervalMs;
    if (interval <= 0) return undefined;
    if (this.last !== undefined && t - this.last < interval) return undefined;
    this.last = t;
    return this.source.next();
  }
}
