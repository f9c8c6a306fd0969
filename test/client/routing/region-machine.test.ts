// The region-in-trouble statechart on its own: queueing while reloading, answering when fresh,
// failing waiters on a PD error, reloading again on demand, stopping when idle.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createActor, fromPromise } from "xstate";
import type { CachedRegion } from "../../../src/actors/region-cache/cached-region.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { regionMachine } from "../../../src/machines/region.js";
import { FakePd, key } from "./fakes.js";

function harness() {
  const loads: Array<{ key: Buffer; resolve: (r: CachedRegion) => void; reject: (e: Error) => void }> = [];
  const machine = regionMachine.provide({
    actors: {
      load: fromPromise<CachedRegion, { key: Buffer }>(
        ({ input }) => new Promise((resolve, reject) => loads.push({ key: input.key, resolve, reject })),
      ),
    },
  });
  const actor = createActor(machine, { input: { regionId: 1n, key: key("a"), idleMs: 1000 } });
  return { actor, loads };
}

async function regionOf(start: string, end: string): Promise<CachedRegion> {
  const pd = new FakePd();
  pd.addStore(1n);
  pd.addRegion(1n, start, end, [1n]);
  return new RegionCache(pd).locateKey(key(start));
}

describe("region machine", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("queues waiters while reloading and answers them all with one load", async () => {
    const { actor, loads } = harness();
    actor.start();
    const got: Array<CachedRegion | undefined> = [];
    for (const k of ["a", "b", "z"]) actor.send({ type: "WAIT", key: key(k), reply: (_e, r) => got.push(r) });
    expect(actor.getSnapshot().value).toBe("reloading");
    expect(loads.length).toBe(1);
    const r = await regionOf("", "m");
    loads[0]!.resolve(r);
    await vi.advanceTimersByTimeAsync(0);
    // "z" is outside the reloaded region: the waiter is told to look elsewhere
    expect(got).toEqual([r, r, undefined]);
    expect(actor.getSnapshot().value).toBe("fresh");
    // fresh: answered at once, no new load
    actor.send({ type: "WAIT", key: key("c"), reply: (_e, x) => got.push(x) });
    expect(got[3]).toBe(r);
    expect(loads.length).toBe(1);
  });

  it("reloads again for a key the fresh region does not hold, and stops after the idle time", async () => {
    const { actor, loads } = harness();
    actor.start();
    const r = await regionOf("", "m");
    loads[0]!.resolve(r);
    await vi.advanceTimersByTimeAsync(0);
    actor.send({ type: "WAIT", key: key("x"), reply: () => {} });
    expect(actor.getSnapshot().value).toBe("reloading");
    expect(loads[1]?.key.toString()).toBe("x");
    loads[1]!.resolve(await regionOf("m", ""));
    await vi.advanceTimersByTimeAsync(999);
    expect(actor.getSnapshot().value).toBe("fresh");
    await vi.advanceTimersByTimeAsync(1);
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("a failed load fails the waiters; the next waiter triggers a new load", async () => {
    const { actor, loads } = harness();
    actor.start();
    const errors: Array<Error | null> = [];
    actor.send({ type: "WAIT", key: key("a"), reply: (e) => errors.push(e) });
    loads[0]!.reject(new Error("pd down"));
    await vi.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => e?.message)).toEqual(["pd down"]);
    expect(actor.getSnapshot().value).toBe("idleAfterFailure");
    actor.send({ type: "WAIT", key: key("a"), reply: () => {} });
    expect(loads.length).toBe(2);
  });

  it("STOP fails pending waiters", () => {
    const { actor } = harness();
    actor.start();
    const errors: Array<Error | null> = [];
    actor.send({ type: "WAIT", key: key("a"), reply: (e) => errors.push(e) });
    actor.send({ type: "STOP" });
    expect(errors.length).toBe(1);
    expect(actor.getSnapshot().status).toBe("done");
  });
});
