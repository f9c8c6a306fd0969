// lastTS bookkeeping (ports of client-go oracle/oracles/pd_test.go by meaning).
import { describe, expect, it } from "vitest";
import { LastTs } from "../../../src/actors/pd/last-ts.js";
import { composeTs, physicalOf } from "../../../src/kv/timestamp.js";
import { PdError } from "../../../src/rpc/errors.js";

describe("LastTs", () => {
  it("only moves forward (TestSetLastTSAlwaysPushTS)", () => {
    const l = new LastTs();
    l.observe(composeTs(1000, 5));
    l.observe(composeTs(1000, 3));
    expect(l.value).toBe(composeTs(1000, 5));
    l.observe(composeTs(1001, 0));
    expect(l.value).toBe(composeTs(1001, 0));
  });

  it("has no low-resolution ts before the first timestamp; locks count as expired then", () => {
    const l = new LastTs();
    expect(() => l.lowResolution()).toThrow(PdError);
    expect(l.isExpired(composeTs(5, 0), 1)).toBe(true);
    expect(l.untilExpired(composeTs(5, 0), 1)).toBe(0);
  });

  it("UntilExpired = lock physical + TTL - lastTS physical (TestPDOracle_UntilExpired)", () => {
    const l = new LastTs();
    const lockAfter = 10;
    const now = 1_700_000_000_000;
    l.observe(composeTs(now, 0));
    const lockTs = composeTs(now + lockAfter, 1);
    expect(l.untilExpired(lockTs, 5)).toBe(lockAfter + 5);
    expect(l.isExpired(composeTs(now - 10, 0), 5)).toBe(true);
    expect(l.isExpired(composeTs(now - 10, 0), 200)).toBe(false);
  });

  it("stale timestamps come from lastTS plus local elapsed time (TestPdOracle_GetStaleTimestamp)", () => {
    const l = new LastTs();
    const now = 1_700_000_000_000;
    l.observe(composeTs(now, 7), now);
    expect(physicalOf(l.stale(10, now))).toBe(now - 10_000);
    expect(physicalOf(l.stale(10, now + 500))).toBe(now + 500 - 10_000);
    expect(() => l.stale(1e12, now)).toThrow(/invalid prevSecond/);
    expect(() => l.stale(-1, now)).toThrow(/invalid prevSecond/);
  });

  it("a 0-second stale ts is never ahead of local time since lastTS (TestNonFutureStaleTSO)", () => {
    const l = new LastTs();
    let now = 1_700_000_000_000;
    for (let i = 0; i < 100; i++) {
      l.observe(composeTs(now, i), now);
      now += 3;
      expect(physicalOf(l.stale(0, now))).toBeLessThanOrEqual(now);
    }
  });
});
