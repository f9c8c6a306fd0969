// The adaptive low-resolution refresh period on an injected clock (ports client-go
// oracle/oracles/pd_test.go TestAdaptiveUpdateTSInterval step by step).
import { describe, expect, it } from "vitest";
import {
  AdaptiveLowResInterval,
  BLOCK_RECOVER_THRESHOLD_MS,
  DELAY_BEFORE_RECOVERING_MS,
  MIN_ALLOWED_ADAPTIVE_INTERVAL_MS,
  RECOVER_PER_SECOND_MS,
  SHRINKING_PRESERVE_MS,
} from "../../../src/actors/pd/adaptive-low-res.js";
import { composeTs } from "../../../src/kv/timestamp.js";

const T0 = 1_700_000_000_000;

describe("AdaptiveLowResInterval (client-go TestAdaptiveUpdateTSInterval)", () => {
  it("shrinks for short-staleness stale reads, holds, recovers, and follows configuration", () => {
    let now = T0;
    const a = new AdaptiveLowResInterval(2_000, now);
    // a ts `beforeNowMs` before the test's current time
    const ts = (beforeNowMs: number) => composeTs(now - beforeNowMs, 1);
    const note = (readBeforeMs: number) => a.noteStaleRead(ts(readBeforeMs), ts(0), now);

    now += 2_000;
    expect(a.next(now)).toBe(2_000);
    now += 2_000;
    expect(a.next(now)).toBe(2_000);
    expect(a.state).toBe("normal");

    // a staleness above the period changes nothing
    now += 1_000;
    expect(note(3_000)).toBeUndefined();
    expect(a.next(now)).toBe(2_000);

    // a staleness below the period asks for an immediate shrink to just under it
    now += 1_000;
    expect(note(1_000)).toBe(1_000);
    let expected = 1_000 - SHRINKING_PRESERVE_MS;
    expect(a.next(now, 1_000)).toBe(expected);
    expect(a.state).toBe("adapting");
    expect(a.lastShortStalenessReadMs).toBe(now);

    // more short-staleness reads: no further shrink asked, but the hold is renewed
    now += DELAY_BEFORE_RECOVERING_MS / 2;
    expect(note(1_000)).toBeUndefined();
    expect(a.lastShortStalenessReadMs).toBe(now);

    // the hold has not run out yet
    now += DELAY_BEFORE_RECOVERING_MS / 2 + 1_000;
    a.lastTickMs = now - 1_000;
    expect(a.next(now)).toBe(expected);
    expect(a.state).toBe("adapting");

    // it has: the period grows back by RECOVER_PER_SECOND_MS per second since the last tick
    now += DELAY_BEFORE_RECOVERING_MS / 2;
    a.lastTickMs = now - 1_000;
    expected += RECOVER_PER_SECOND_MS;
    expect(a.next(now)).toBeCloseTo(expected, 6);
    expect(a.state).toBe("recovering");
    a.lastTickMs = now;
    now += 2_000;
    // a staleness well above the period does not block the recovery
    expect(note(expected + BLOCK_RECOVER_THRESHOLD_MS * 2)).toBeUndefined();
    expected += RECOVER_PER_SECOND_MS * 2;
    expect(a.next(now)).toBeCloseTo(expected, 6);
    expect(a.state).toBe("recovering");

    // a staleness within the threshold of the period blocks the recovery
    a.lastTickMs = now;
    now += 1_000;
    expect(note(expected + BLOCK_RECOVER_THRESHOLD_MS / 2)).toBeUndefined();
    expect(a.next(now)).toBeCloseTo(expected, 6);
    expect(a.state).toBe("adapting");
    a.lastTickMs = now;
    now += 1_000;
    expect(a.next(now)).toBeCloseTo(expected, 6);
    expect(a.state).toBe("adapting");

    // the hold ran out again: recovery goes on, up to the configured period, then normal
    now += DELAY_BEFORE_RECOVERING_MS;
    a.lastTickMs = now - 1_000;
    expected += RECOVER_PER_SECOND_MS;
    expect(a.next(now)).toBeCloseTo(expected, 6);
    expect(a.state).toBe("recovering");
    for (;;) {
      a.lastTickMs = now;
      now += 1_000;
      expected += RECOVER_PER_SECOND_MS;
      if (expected >= 2_000) break;
      expect(a.next(now)).toBeCloseTo(expected, 6);
      expect(a.state).toBe("recovering");
    }
    expect(a.next(now)).toBe(2_000);
    expect(a.state).toBe("normal");

    // not adapting: a configuration change applies at once
    a.setConfigured(1_000);
    expect(a.adaptiveMs).toBe(1_000);
    expect(a.next(now)).toBe(1_000);
    a.setConfigured(2_000);
    expect(a.adaptiveMs).toBe(2_000);
    expect(a.next(now)).toBe(2_000);

    // adapting: a longer configuration waits, ...
    now += 1_000;
    expect(note(1_000)).toBe(1_000);
    expected = 1_000 - SHRINKING_PRESERVE_MS;
    expect(a.next(now, 1_000)).toBe(expected);
    expect(a.state).toBe("adapting");
    a.setConfigured(3_000);
    expect(a.adaptiveMs).toBe(expected);
    expect(a.next(now)).toBe(expected);
    a.setConfigured(1_000);
    expect(a.adaptiveMs).toBe(expected);
    expect(a.next(now)).toBe(expected);

    // ... a shorter one than the period in use applies at once
    a.setConfigured(800);
    expect(a.adaptiveMs).toBe(800);
    expect(a.next(now)).toBe(800);
    expect(a.state).toBe("normal");

    // a configured period at or under the lower bound is never adapted
    a.setConfigured(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS / 2);
    expect(a.adaptiveMs).toBe(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS / 2);
    expect(a.next(now)).toBe(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS / 2);
    expect(a.state).toBe("unadjustable");
    expect(note(100)).toBeUndefined();
    expect(a.next(now, 100)).toBe(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS / 2);
  });

  it("never shrinks below the lower bound, and a non-positive staleness (clock drift) still asks", () => {
    const now = T0;
    const a = new AdaptiveLowResInterval(2_000, now);
    // staleness 300 ms: shrink requested, clamped to the lower bound
    expect(a.noteStaleRead(composeTs(now - 300, 0), composeTs(now, 0), now)).toBe(300);
    expect(a.next(now, 300)).toBe(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS);
    // once at the lower bound, no further shrink is asked
    expect(a.noteStaleRead(composeTs(now - 100, 0), composeTs(now, 0), now)).toBeUndefined();

    const b = new AdaptiveLowResInterval(2_000, now);
    // read ts ahead of the estimated "now": 1 ms, never 0 (0 means "no shrink asked")
    expect(b.noteStaleRead(composeTs(now + 5, 0), composeTs(now, 0), now)).toBe(1);
    expect(b.next(now, 1)).toBe(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS);
  });
});
