// The PD actor's low-resolution loop follows the adaptive period: a validated stale read fresher
// than the period shrinks it and the loop refreshes faster; normal reads leave it alone
// (client-go pd_test.go TestValidateReadTSForNormalReadDoNotAffectUpdateInterval and the
// updateTS shrink path). Fake PD on loopback (real grpc-js), real timers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MIN_ALLOWED_ADAPTIVE_INTERVAL_MS } from "../../../src/actors/pd/adaptive-low-res.js";
import { PdActor } from "../../../src/actors/pd/pd-actor.js";
import { composeTs, physicalOf } from "../../../src/kv/timestamp.js";
import { FakePdCluster } from "./fake-pd.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(): Promise<{ c: FakePdCluster; pd: PdActor }> {
  const c = new FakePdCluster(7n, 1);
  await c.start();
  cleanups.push(() => c.stop());
  const pd = await PdActor.connect({
    endpoints: c.endpoints(),
    discoveryBackoff: { baseMs: 10, capMs: 50 },
    retryBackoff: { baseMs: 10, capMs: 50 },
    rpcTimeoutMs: 1000,
    lowResolutionTsUpdateIntervalMs: 2_000,
  });
  cleanups.unshift(() => pd.close());
  return { c, pd };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PdActor adaptive low-resolution loop", () => {
  it("a stale read 600 ms back shrinks the 2 s period to about 500 ms and refreshes faster", async () => {
    const { c, pd } = await setup();
    const ts = await pd.getTimestamp();
    const before = c.tsoCounts.length;
    const timers = vi.spyOn(globalThis, "setTimeout");
    cleanups.push(() => timers.mockRestore());
    await pd.validateReadTs(composeTs(physicalOf(ts) - 600, 0), undefined, true);
    expect(pd.lowResInterval.state).toBe("adapting");
    // staleness measured against lastTS plus the local time since it arrived: 600 ms and a bit,
    // less the 100 ms preserve, never under the lower bound
    expect(pd.lowResInterval.adaptiveMs).toBeGreaterThanOrEqual(MIN_ALLOWED_ADAPTIVE_INTERVAL_MS);
    expect(pd.lowResInterval.adaptiveMs).toBeLessThan(560);
    // the loop refreshes and re-arms itself with the shrunk period, not the configured 2 s
    // (asserted on the delays it asks for, so a busy machine cannot make this flaky)
    while (c.tsoCounts.length - before < 2) await sleep(20);
    const delays = timers.mock.calls.map((call) => call[1]);
    expect(delays.some((ms) => ms === pd.lowResInterval.adaptiveMs)).toBe(true);
    expect(delays).not.toContain(2_000);
  });

  it("a stale read older than the period, and non-stale validations, leave the period alone", async () => {
    const { c, pd } = await setup();
    const ts = await pd.getTimestamp();
    await pd.validateReadTs(composeTs(physicalOf(ts) - 5_000, 0), undefined, true);
    await pd.validateReadTs(composeTs(physicalOf(ts) - 600, 0));
    await pd.validateReadTs(ts);
    // a future ts fetches a fresh one, still no adaptation
    c.physical += 10n;
    await pd.validateReadTs(composeTs(physicalOf(ts) + 5, 0));
    expect(pd.lowResInterval.adaptiveMs).toBe(2_000);
    expect(pd.lowResInterval.lastShortStalenessReadMs).toBe(0);
    const before = c.tsoCounts.length;
    await sleep(300);
    expect(c.tsoCounts.length).toBe(before);
  });
});
