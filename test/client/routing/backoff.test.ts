// Ports of client-go config/retry/backoff_test.go plus kind-parameter checks.
import { describe, expect, it, vi } from "vitest";
import {
  type BackoffConfig,
  Backoffer,
  BackoffSequence,
  Bo,
  DEFAULT_EXCLUDED_LIMITS,
  expo,
  MAX_RECORDED_BACKOFF_ERRORS,
  mayBackoffForRegionError,
} from "../../../src/actors/backoff/index.js";
import { AbortedError, BackoffExhaustedError, findError } from "../../../src/errors/index.js";
import { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";

const noSleep = async () => {};

describe("backoff kinds", () => {
  it("have client-go's base, cap and jitter", () => {
    const table = Object.fromEntries(
      Object.values(Bo).map((c: BackoffConfig) => [c.name, [c.baseMs, c.capMs, c.jitter]]),
    );
    expect(table).toEqual({
      tikvRPC: [100, 2000, "equal"],
      txnLock: [100, 3000, "equal"],
      txnLockFast: [2, 3000, "equal"],
      pdRPC: [500, 3000, "equal"],
      regionMiss: [2, 500, "none"],
      regionScheduling: [2, 500, "none"],
      tikvServerBusy: [2000, 10000, "equal"],
      tikvDiskFull: [500, 5000, "none"],
      regionRecoveryInProgress: [100, 10000, "equal"],
      txnNotFound: [2, 500, "none"],
      staleCommand: [2, 1000, "none"],
      maxTsNotSynced: [2, 500, "none"],
      commitTSLag: [2, 500, "none"],
      regionNotInitialized: [2, 1000, "none"],
      isWitness: [1000, 10000, "equal"],
    });
  });

  it("no jitter doubles up to the cap", () => {
    const s = new BackoffSequence(Bo.RegionMiss, 2, () => 0.5);
    const sleeps = Array.from({ length: 10 }, () => s.next());
    expect(sleeps).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 500, 500]);
  });

  it("equal jitter stays in [v/2, v)", () => {
    const lo = new BackoffSequence(Bo.TiKVRPC, 100, () => 0);
    const hi = new BackoffSequence(Bo.TiKVRPC, 100, () => 0.9999);
    expect([lo.next(), lo.next(), lo.next()]).toEqual([50, 100, 200]);
    expect([hi.next(), hi.next(), hi.next()]).toEqual([99, 199, 399]);
  });

  it("full and decorrelated jitter", () => {
    const full = new BackoffSequence({ ...Bo.TiKVRPC, jitter: "full" }, 100, () => 0.5);
    expect([full.next(), full.next()]).toEqual([50, 100]);
    const dec = new BackoffSequence({ ...Bo.TiKVRPC, jitter: "decorr" }, 100, () => 0.5);
    // base + rand(lastSleep*3 - base): 100 + 100, then 100 + floor(0.5 * 500)
    expect([dec.next(), dec.next()]).toEqual([200, 350]);
    expect(expo(2, 500, 20)).toBe(500);
  });

  it("a base below 2 is raised to 2", () => {
    const s = new BackoffSequence({ ...Bo.RegionMiss, baseMs: 1 }, 1, () => 0);
    expect(s.next()).toBe(2);
  });
});

describe("Backoffer (client-go backoff_test.go)", () => {
  it("TestBackoffWithMax: a per-call max caps the sleep", () => {
    const b = new Backoffer({ maxSleepMs: 2000, sleep: noSleep });
    expect(b.next(Bo.TxnLockFast, new Error("test"), 5)).toBe(5);
    expect(b.totalSleepMs).toBe(5);
  });

  it("TestBackoffErrorType: exhaustion reports the kind that slept longest", () => {
    // budget 800 ms × weight 2 = 1600 ms
    const b = new Backoffer({ maxSleepMs: 800, random: Math.random });
    expect(b.maxSleepMs).toBe(1600);
    b.next(Bo.RegionMiss, new Error("region miss"));
    b.next(Bo.MaxRegionNotInitialized, new Error("region not initialized"));
    b.next(Bo.MaxRegionNotInitialized, new Error("region not initialized"));
    b.next(Bo.RegionRecoveryInProgress, new Error("recovery in progress"));
    b.next(Bo.TiKVServerBusy, new Error("server is busy")); // not counted against the budget
    b.next(Bo.IsWitness, new Error("peer is witness"));
    let thrown: unknown;
    for (let i = 0; i < 15 && !thrown; i++) {
      try {
        b.next(Bo.TxnNotFound, new Error("txn not found"));
      } catch (e) {
        thrown = e;
      }
    }
    expect(thrown).toBeInstanceOf(BackoffExhaustedError);
    const sleeps = b.backoffSleepMs();
    const longest = Object.entries(sleeps)
      .filter(([k]) => DEFAULT_EXCLUDED_LIMITS[k] === undefined)
      .sort((x, y) => y[1] - x[1])[0]![0];
    const kind = Object.values(Bo).find((c) => c.name === longest)!;
    expect((thrown as BackoffExhaustedError).backoffKind).toBe(longest);
    expect((thrown as Error).cause).toBeInstanceOf(kind.makeError().constructor);
  });

  it("TestBackoffDeepCopy: clone and fork carry the counters", () => {
    const b = new Backoffer({ maxSleepMs: 4 });
    for (let i = 0; i < 3; i++) b.next(Bo.MaxRegionNotInitialized, new Error("region not initialized"));
    const forked = b.fork();
    const cloned = b.clone();
    for (const c of [forked, cloned]) {
      expect(c.totalSleepMs).toBe(b.totalSleepMs);
      expect(c.backoffTimes()).toEqual(b.backoffTimes());
      expect(c.backoffSleepMs()).toEqual(b.backoffSleepMs());
      expect(c.latestErrors()).toEqual(b.latestErrors());
      expect(c.errorsNum()).toBe(b.errorsNum());
      let err: unknown;
      try {
        c.next(Bo.TiKVRPC, new Error("tikv rpc"));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BackoffExhaustedError);
      expect((err as BackoffExhaustedError).backoffKind).toBe("regionNotInitialized");
    }
  });

  it("TestBackoffUpdateUsingFork: the parent takes over a fork's progress", () => {
    const b = new Backoffer({ maxSleepMs: 4 });
    for (let i = 0; i < 3; i++) b.next(Bo.MaxRegionNotInitialized, new Error("region not initialized"));
    const forked = b.fork();
    expect(() => forked.next(Bo.TiKVRPC, new Error("tikv rpc"))).toThrow(BackoffExhaustedError);
    const snapshot = forked.clone();
    b.updateUsingForked(forked);
    expect(b.totalSleepMs).toBe(snapshot.totalSleepMs);
    expect(b.backoffTimes()).toEqual(snapshot.backoffTimes());
    expect(b.errorsNum()).toBe(snapshot.errorsNum());
    // an unrelated backoffer is not updated
    const other = new Backoffer({ maxSleepMs: 4 });
    other.updateUsingForked(forked);
    expect(other.totalSleepMs).toBe(0);
  });

  it("TestBackoffWithMaxExcludedExceed: excluded kinds have their own cap", () => {
    const b = new Backoffer({ maxSleepMs: 1, excludedLimits: { tikvServerBusy: 1 } });
    expect(() => b.next(Bo.TiKVServerBusy, new Error("server is busy"))).not.toThrow();
    expect(() => b.next(Bo.TiKVServerBusy, new Error("server is busy"))).toThrow(BackoffExhaustedError);
    expect(b.excludedSleepMs).toBeGreaterThan(b.maxSleepMs);
  });

  it("TestMayBackoffForRegionError", () => {
    const real = RegionErrorProto.fromPartial({ epochNotMatch: { currentRegions: [{ id: 1n }] } });
    const b0 = new Backoffer({ maxSleepMs: 1 });
    expect(mayBackoffForRegionError(real, b0)).toBe(0);
    expect(b0.totalSleepMs).toBe(0);
    for (const e of [
      RegionErrorProto.fromPartial({ epochNotMatch: {} }),
      RegionErrorProto.fromPartial({ notLeader: {} }),
      RegionErrorProto.fromPartial({ serverIsBusy: {} }),
      RegionErrorProto.fromPartial({ maxTimestampNotSynced: {} }),
    ]) {
      const b = new Backoffer({ maxSleepMs: 1 });
      expect(mayBackoffForRegionError(e, b)).toBeGreaterThan(0);
      expect(b.totalSleepMs).toBeGreaterThan(0);
      const ac = new AbortController();
      ac.abort();
      const cancelled = new Backoffer({ maxSleepMs: 1, signal: ac.signal });
      expect(() => mayBackoffForRegionError(e, cancelled)).toThrow(AbortedError);
    }
  });

  it("TestBackoffErrorsKeep: keeps the latest errors, counts all", () => {
    const b = new Backoffer({ maxSleepMs: 1_000_000 });
    expect(b.errorsNum()).toBe(0);
    expect(b.latestErrors()).toEqual([]);
    const cfg: BackoffConfig = { ...Bo.TiKVRPC, name: "foo", baseMs: 1, capMs: 2 };
    const errs: Error[] = [];
    for (let i = 0; i < 32; i++) {
      errs.push(new Error(`mockErr-${i}`));
      b.next(cfg, errs[i]);
      expect(b.errorsNum()).toBe(i + 1);
      const latest = b.latestErrors();
      expect(latest.length).toBe(Math.min(i + 1, MAX_RECORDED_BACKOFF_ERRORS));
      expect(latest.map((r) => r.reason)).toEqual(
        errs.slice(Math.max(0, i + 1 - MAX_RECORDED_BACKOFF_ERRORS)).map((e) => e.message),
      );
      for (let j = 1; j < latest.length; j++) expect(latest[j]!.at).toBeGreaterThanOrEqual(latest[j - 1]!.at);
    }
  });

  it("TestBackoffError: exhaustion error lists the latest errors and the budget", () => {
    const b = new Backoffer({ maxSleepMs: 1, weight: 1 });
    b.next(Bo.RegionMiss, new Error("first"));
    let err: unknown;
    try {
      b.next(Bo.RegionMiss, new Error("second"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackoffExhaustedError);
    const ex = err as BackoffExhaustedError;
    expect(ex.code).toBe("BACKOFF_EXHAUSTED");
    expect(ex.maxSleepMs).toBe(1);
    expect(ex.totalSleepMs).toBe(2);
    expect(ex.errors.map((e) => (e as Error).message)).toEqual(["first", "second"]);
    expect(findError(ex, Error)).toBe(ex);
  });

  it("backoff() sleeps through the injected timer and honours abort", async () => {
    vi.useFakeTimers();
    try {
      const b = new Backoffer({ maxSleepMs: 1000 });
      let done = false;
      const p = b.backoff(Bo.RegionMiss, new Error("x")).then(() => {
        done = true;
      });
      await vi.advanceTimersByTimeAsync(1);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await p;
      expect(done).toBe(true);
      const ac = new AbortController();
      const b2 = new Backoffer({ maxSleepMs: 1000, signal: ac.signal });
      const p2 = b2.backoff(Bo.TiKVRPC, new Error("y"));
      ac.abort("stop");
      await expect(p2).rejects.toBeInstanceOf(AbortedError);
    } finally {
      vi.useRealTimers();
    }
  });

  it("TxnLockFast uses the backoffer's lock-fast base", () => {
    const b = new Backoffer({ maxSleepMs: 1000, lockFastBaseMs: 40, random: () => 0 });
    expect(b.next(Bo.TxnLockFast, new Error("lock"))).toBe(20);
  });

  it("unlimited budget never exhausts", () => {
    const b = new Backoffer({ maxSleepMs: 0 });
    for (let i = 0; i < 100; i++) b.next(Bo.RegionMiss, new Error("x"));
    expect(b.totalBackoffTimes()).toBe(100);
    expect(b.types().length).toBe(100);
  });
});
