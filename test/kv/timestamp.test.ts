// TSO helpers (client-go oracle/oracle.go); lock-expiry cases ported from
// oracle/oracles/local_test.go (TestIsExpired, TestLocalOracle_UntilExpired) and pd.go semantics.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors/index.js";
import {
  addMs,
  composeTs,
  dateFromTs,
  isLockExpired,
  LOGICAL_BITS,
  logicalOf,
  lowerLimitStartTs,
  MAX_LOGICAL,
  MAX_PHYSICAL_MS,
  MAX_TS,
  physicalOf,
  subtractMs,
  tsFromDate,
  tsFromMs,
  untilExpiredMs,
} from "../../src/kv/timestamp.js";

describe("compose / extract", () => {
  it("uses 18 logical bits", () => {
    expect(LOGICAL_BITS).toBe(18);
    expect(MAX_LOGICAL).toBe(262143);
    expect(composeTs(1, 0)).toBe(262144n);
    expect(composeTs(0, 5)).toBe(5n);
    // A real TSO value: physical 1609459200000 ms (2021-01-01), logical 17.
    const ts = composeTs(1609459200000, 17);
    expect(ts).toBe((1609459200000n << 18n) + 17n);
    expect(physicalOf(ts)).toBe(1609459200000);
    expect(logicalOf(ts)).toBe(17);
  });

  it("round-trips any physical/logical pair (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_PHYSICAL_MS }),
        fc.integer({ min: 0, max: MAX_LOGICAL }),
        (p, l) => {
          const ts = composeTs(p, l);
          expect(physicalOf(ts)).toBe(p);
          expect(logicalOf(ts)).toBe(l);
          expect(ts >= 0n && ts <= MAX_TS).toBe(true);
        },
      ),
    );
  });

  it("orders like (physical, logical) pairs (property)", () => {
    const part = fc.tuple(
      fc.integer({ min: 0, max: MAX_PHYSICAL_MS }),
      fc.integer({ min: 0, max: MAX_LOGICAL }),
    );
    fc.assert(
      fc.property(part, part, ([p1, l1], [p2, l2]) => {
        const expected = p1 !== p2 ? p1 < p2 : l1 < l2;
        expect(composeTs(p1, l1) < composeTs(p2, l2)).toBe(expected);
      }),
    );
  });

  it("the largest timestamp decomposes into the largest parts", () => {
    expect(composeTs(MAX_PHYSICAL_MS, MAX_LOGICAL)).toBe(MAX_TS);
    expect(physicalOf(MAX_TS)).toBe(MAX_PHYSICAL_MS);
    expect(logicalOf(MAX_TS)).toBe(MAX_LOGICAL);
  });

  it.each([
    [-1, 0],
    [0, -1],
    [0, MAX_LOGICAL + 1],
    [MAX_PHYSICAL_MS + 1, 0],
    [1.5, 0],
    [Number.NaN, 0],
    [0, Number.POSITIVE_INFINITY],
  ])("composeTs(%d, %d) is rejected", (p, l) => {
    expect(() => composeTs(p, l)).toThrow(InvalidArgumentError);
  });

  it("rejects negative, too large and non-bigint timestamps", () => {
    expect(() => physicalOf(-1n)).toThrow(InvalidArgumentError);
    expect(() => logicalOf(MAX_TS + 1n)).toThrow(InvalidArgumentError);
    expect(() => physicalOf(5 as unknown as bigint)).toThrow(/bigint/);
  });
});

describe("arithmetic", () => {
  it("addMs / subtractMs move the physical part and keep the logical part", () => {
    const ts = composeTs(1000, 7);
    expect(addMs(ts, 250)).toBe(composeTs(1250, 7));
    expect(addMs(ts, -1000)).toBe(composeTs(0, 7));
    expect(subtractMs(ts, 400)).toBe(composeTs(600, 7));
    expect(addMs(ts, 0)).toBe(ts);
  });

  it("rejects results outside the range and bad deltas", () => {
    expect(() => subtractMs(composeTs(10, 0), 11)).toThrow(InvalidArgumentError);
    expect(() => addMs(composeTs(MAX_PHYSICAL_MS, 0), 1)).toThrow(InvalidArgumentError);
    expect(() => addMs(1n, 0.5)).toThrow(InvalidArgumentError);
    expect(() => addMs(-1n, 1)).toThrow(InvalidArgumentError);
  });

  it("Date conversions (client-go GoTimeToTS / GetTimeFromTS)", () => {
    const d = new Date("2024-05-06T07:08:09.123Z");
    const ts = tsFromDate(d);
    expect(logicalOf(ts)).toBe(0);
    expect(physicalOf(ts)).toBe(d.getTime());
    expect(dateFromTs(ts + 99n).getTime()).toBe(d.getTime());
    expect(tsFromMs(d.getTime())).toBe(ts);
    expect(() => tsFromDate(new Date(Number.NaN))).toThrow(InvalidArgumentError);
    expect(() => tsFromDate("2024" as unknown as Date)).toThrow(InvalidArgumentError);
    expect(() => tsFromDate(new Date(-1))).toThrow(InvalidArgumentError);
  });

  it("lowerLimitStartTs subtracts the max transaction time", () => {
    const now = new Date(1_000_000);
    expect(lowerLimitStartTs(now, 600)).toBe(tsFromMs(999_400));
  });
});

describe("lock expiry", () => {
  // oracles/local_test.go TestLocalOracle_UntilExpired: 10ms after the lock, TTL 6 -> -4, TTL 14 -> +4.
  it("untilExpiredMs", () => {
    const start = 1_700_000_000_000;
    const lockTs = composeTs(start, 3);
    const now = composeTs(start + 10, 0);
    expect(untilExpiredMs(lockTs, 6, now)).toBe(-4);
    expect(untilExpiredMs(lockTs, 14n, now)).toBe(4);
  });

  // oracles/local_test.go TestIsExpired: 10ms after the lock, TTL 5 expired, TTL 200 not.
  it("isLockExpired", () => {
    const start = 1_700_000_000_000;
    const lockTs = composeTs(start, 0);
    const now = composeTs(start + 10, 0);
    expect(isLockExpired(lockTs, 5, now)).toBe(true);
    expect(isLockExpired(lockTs, 200n, now)).toBe(false);
    // Exactly at the deadline counts as expired (pd oracle: last >= lock + ttl).
    expect(isLockExpired(lockTs, 10, now)).toBe(true);
  });
});
