// The public oracle (client.oracle; client-go oracle.Oracle over PD, oracle/oracles/pd_test.go):
// fresh / low-resolution / stale timestamps, read-ts validation, lock expiry against lastTS,
// PD's external timestamp and its rules (never back, never past the TSO: PD server.go
// SetExternalTS), the min ts over TSO keyspace groups, and the exported ts helpers. Runs on the
// embedded cluster or TIKV_PD_ENDPOINTS.

import { describe, expect, it } from "vitest";
import {
  addMs,
  composeTs,
  dateFromTs,
  FutureTsReadError,
  InvalidArgumentError,
  LatestStaleReadError,
  logicalOf,
  MAX_TS,
  PdError,
  physicalOf,
  ShuttingDownError,
  type TikvClient,
  tsFromMs,
} from "../../src/index.js";
import { ErrorType } from "../../src/proto/pdpb.js";
import { useCluster } from "../support/cluster.js";
import { eventually } from "../support/wait.js";

const HOUR_MS = 3_600_000;

describe("client.oracle", () => {
  const env = useCluster();

  async function fresh(): Promise<TikvClient> {
    return env.connect();
  }

  it("hands out increasing timestamps; the low-resolution one is never ahead of them", async () => {
    const o = (await fresh()).oracle;
    // before any timestamp was fetched, the low-resolution ts fetches one
    const low0 = await o.getLowResolutionTimestamp();
    const a = await o.getTimestamp();
    const b = await o.getTimestamp();
    expect(low0 < a && a < b).toBe(true);
    const low = await o.getLowResolutionTimestamp();
    expect(low).toBe(b); // the newest seen, no round trip
    expect(await o.getLowResolutionTimestamp()).toBeLessThan(await o.getTimestamp());
  });

  it("refreshes the low-resolution ts at the interval set; bad intervals are refused", async () => {
    const o = (await fresh()).oracle;
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, "100"]) {
      expect(() => o.setLowResolutionTimestampUpdateInterval(bad as number), String(bad)).toThrow(
        InvalidArgumentError,
      );
    }
    o.setLowResolutionTimestampUpdateInterval(50);
    const first = await o.getLowResolutionTimestamp();
    // the background refresh moves it without any call of ours
    expect(await eventually(async () => (await o.getLowResolutionTimestamp()) > first, 3_000)).toBe(true);
    o.setLowResolutionTimestampUpdateInterval(2_000);
  });

  it("a stale ts is about N seconds before now (TestPdOracle_GetStaleTimestamp)", async () => {
    const o = (await fresh()).oracle;
    const now = Date.now();
    const ts = await o.getStaleTimestamp(10);
    // PD's clock against ours, and the local estimate: a loose bound
    expect(Math.abs(physicalOf(ts) - (now - 10_000))).toBeLessThan(1_000);
    expect(logicalOf(ts)).toBe(0);
    // reaching back before 1970, or a negative / fractional count, is refused
    await expect(o.getStaleTimestamp(1e12)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(o.getStaleTimestamp(-1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(o.getStaleTimestamp(0.5)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("a 0-second stale ts is never ahead of a TSO fetched after it (TestNonFutureStaleTSO)", async () => {
    const o = (await fresh()).oracle;
    for (let i = 0; i < 50; i++) {
      const stale = await o.getStaleTimestamp(0);
      const current = await o.getTimestamp();
      expect(stale).toBeLessThanOrEqual(current);
    }
  });

  it("validates read timestamps (TestValidateReadTS)", async () => {
    const client = await fresh();
    const o = client.oracle;
    const ts = await o.getTimestamp();
    await o.validateReadTs(ts);
    await o.validateReadTs(ts, { isStaleRead: true });
    // a ts another client got later than anything this one saw: checked with a fresh TSO
    const other = await (await fresh()).oracle.getTimestamp();
    await o.validateReadTs(other);
    const future = composeTs(physicalOf(ts) + HOUR_MS, 0);
    const e = await o.validateReadTs(future).catch((x) => x);
    expect(e).toBeInstanceOf(FutureTsReadError);
    expect((e as FutureTsReadError).readTs).toBe(future);
    expect((e as FutureTsReadError).currentTs).toBeLessThan(future);
    await expect(o.validateReadTs(future, { isStaleRead: true })).rejects.toBeInstanceOf(FutureTsReadError);
    // "latest": allowed for normal reads, not for stale reads
    await o.validateReadTs(MAX_TS);
    await expect(o.validateReadTs(MAX_TS, { isStaleRead: true })).rejects.toBeInstanceOf(
      LatestStaleReadError,
    );
    await expect(o.validateReadTs((1n << 63n) - 1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(o.validateReadTs(MAX_TS - 1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(o.validateReadTs(0n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(o.validateReadTs(5 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("lock expiry is measured against the newest ts seen (TestIsExpired, TestPDOracle_UntilExpired)", async () => {
    const o = (await fresh()).oracle;
    const last = await o.getTimestamp();
    const lastMs = physicalOf(last);
    // a lock 10 ms after lastTS with a 15 ms TTL expires 25 ms after it
    expect(o.untilExpired(composeTs(lastMs + 10, 0), 15)).toBe(25);
    expect(o.isExpired(composeTs(lastMs + 10, 0), 15)).toBe(false);
    // a lock 5 s old with a 3 s TTL expired 2 s ago
    expect(o.untilExpired(composeTs(lastMs - 5_000, 0), 3_000n)).toBe(-2_000);
    expect(o.isExpired(composeTs(lastMs - 5_000, 0), 3_000)).toBe(true);
    expect(o.isExpired(last, 0)).toBe(true);
    expect(() => o.isExpired(last, -1)).toThrow(InvalidArgumentError);
    expect(() => o.untilExpired(-1n, 1)).toThrow(InvalidArgumentError);
  });

  it("the external timestamp moves only forward and never past the TSO (PD SetExternalTS)", async () => {
    const o = (await fresh()).oracle;
    const before = await o.getExternalTimestamp();
    const ts = await o.getTimestamp();
    expect(before).toBeLessThan(ts);
    await o.setExternalTimestamp(ts);
    expect(await o.getExternalTimestamp()).toBe(ts);
    const refused = async (t: bigint, why: RegExp) => {
      const e = await o.setExternalTimestamp(t).catch((x) => x);
      expect(e, String(t)).toBeInstanceOf(PdError);
      expect((e as PdError).pdErrorType).toBe(ErrorType.INVALID_VALUE);
      expect((e as Error).message).toMatch(why);
    };
    await refused(ts, /larger than current external timestamp/); // not above the current one
    await refused(ts - 1n, /larger than current external timestamp/); // back
    await refused(addMs(ts, HOUR_MS), /not be larger than global ts/); // past the TSO
    expect(await o.getExternalTimestamp()).toBe(ts);
    await expect(o.setExternalTimestamp(0n)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("the min ts over TSO keyspace groups is a valid past timestamp", async () => {
    const o = (await fresh()).oracle;
    const before = await o.getTimestamp();
    const min = await o.getAllTsoKeyspaceGroupMinTs();
    const after = await o.getTimestamp();
    expect(min).toBeGreaterThan(0n);
    expect(min).toBeLessThanOrEqual(after);
    expect(physicalOf(min)).toBeGreaterThanOrEqual(physicalOf(before) - 1_000);
  });

  it("exports the ts helpers", () => {
    const ts = composeTs(1_700_000_000_123, 7);
    expect(physicalOf(ts)).toBe(1_700_000_000_123);
    expect(logicalOf(ts)).toBe(7);
    expect(dateFromTs(ts).getTime()).toBe(1_700_000_000_123);
    expect(tsFromMs(1_700_000_000_123)).toBe(ts - 7n);
  });

  it("fails with ShuttingDownError once the client is closed", async () => {
    const client = await fresh();
    const o = client.oracle;
    await client.close();
    await expect(o.getTimestamp()).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(o.getStaleTimestamp(1)).rejects.toBeInstanceOf(ShuttingDownError);
    expect(() => o.isExpired(1n, 1)).toThrow(ShuttingDownError);
    expect(() => client.oracle).toThrow(ShuttingDownError);
  });
});
