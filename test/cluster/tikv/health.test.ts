// Ports tikv src/server/service/kv.rs test_health_feedback_attacher to our attacher.
import { describe, expect, it } from "vitest";
import { FeedbackAttacher, HealthSource } from "../../../src/cluster/tikv/health.js";

describe("health feedback attacher", () => {
  it("attaches per interval, always when requested, never when disabled and not requested", () => {
    let now = 10_000;
    const source = new HealthSource(1n, 1n);
    source.intervalMs = 0;
    const off = new FeedbackAttacher(source, () => now);
    expect(off.take(undefined)).toBeUndefined();

    source.intervalMs = 1000;
    const a = new FeedbackAttacher(source, () => now);
    expect(a.take(undefined)).toEqual({ storeId: 1n, feedbackSeqNo: 1n, slowScore: 1 });
    source.slowScore = 50;
    expect(a.take(undefined)).toBeUndefined();
    now += 1001;
    expect(a.take(undefined)).toEqual({ storeId: 1n, feedbackSeqNo: 2n, slowScore: 50 });
    // explicitly requested: attached even right after the last one
    const requested = source.next();
    expect(a.take(requested)).toBe(requested);
    expect(requested.feedbackSeqNo).toBe(3n);
    source.intervalMs = 0;
    const again = source.next();
    expect(a.take(again)).toBe(again);
    expect(a.take(undefined)).toBeUndefined();
  });
});
