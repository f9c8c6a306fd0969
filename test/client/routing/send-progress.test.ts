// SendProgress (issue #9): the routing layer tells its caller whether a request may have been
// applied, so that a write failing without a verdict can be reported as undetermined. An attempt
// counts once it was answered without a region error, or failed after the transport took it, or
// was still in flight when the call ended; region errors and failures marked notSent do not.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender, type SendProgress } from "../../../src/actors/request/index.js";
import { AbortedError, TimeoutError } from "../../../src/errors/index.js";
import { notSent, wasNotSent } from "../../../src/rpc/errors.js";
import { FakePd, key, ScriptedStores } from "./fakes.js";

function world() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id);
  pd.addRegion(1n, "", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const stores = new ScriptedStores();
  const sender = new RequestSender(cache, stores, { random: () => 0 });
  return { cache, stores, sender };
}

const put = (ctx: { context: unknown }) =>
  ({ context: ctx.context, key: key("a"), value: key("v") }) as never;

async function drive<T>(p: Promise<T>): Promise<{ value?: T; error?: Error }> {
  let settled = false;
  const wrapped = p.then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  wrapped.finally(() => {
    settled = true;
  });
  for (let i = 0; i < 2000 && !settled; i++) await vi.advanceTimersByTimeAsync(10);
  return wrapped;
}

describe("SendProgress", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("notSent marks an error; wasNotSent reads it and nothing else", () => {
    const e = new Error("x");
    expect(wasNotSent(e)).toBe(false);
    expect(notSent(e)).toBe(e);
    expect(wasNotSent(e)).toBe(true);
    expect(wasNotSent(undefined)).toBe(false);
    expect(wasNotSent("x")).toBe(false);
  });

  it("an answered request counts as sent", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    const r = await drive(w.sender.sendToRegion(key("a"), "RawPut", put, { progress }));
    expect(r.error).toBeUndefined();
    expect(progress.sent).toBe(true);
  });

  it("region errors and refusals before the wire do not count; the call still fails only on its deadline", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    w.stores.fallback = (a) =>
      a.addr === "store1" ? { error: "refused" } : { regionError: { notLeader: { regionId: 1n } } };
    const r = await drive(
      w.sender.sendToRegion(key("a"), "RawPut", put, {
        progress,
        timeoutMs: 500,
        budget: new Backoffer({ maxSleepMs: 10_000 }),
      }),
    );
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(w.stores.accesses.length).toBeGreaterThan(1);
    expect(progress.sent).toBe(false);
  });

  it("a transport failure after the request left the client counts", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    w.stores.script = [{ error: "unavailable" }];
    const r = await drive(
      w.sender.sendToRegion(key("a"), "RawPut", put, {
        progress,
        budget: new Backoffer({ maxSleepMs: 10_000 }),
      }),
    );
    // not sent again (a raw write takes effect at most once): the call fails, counted as sent
    expect(r.error).toBeDefined();
    expect(progress.sent).toBe(true);
    expect(w.stores.accesses).toHaveLength(1);
  });

  it("an attempt in flight when the deadline passes counts", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    w.stores.script = [{ regionError: { notLeader: { regionId: 1n } } }];
    w.stores.fallback = () => ({ hang: true });
    const r = await drive(w.sender.sendToRegion(key("a"), "RawPut", put, { progress, timeoutMs: 300 }));
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(progress.sent).toBe(true);
  });

  it("an attempt in flight when the caller aborts counts; the AbortedError keeps the reason as cause", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    w.stores.script = [{ regionError: { notLeader: { regionId: 1n } } }];
    w.stores.fallback = () => ({ hang: true });
    const ac = new AbortController();
    const reason = new Error("stop");
    setTimeout(() => ac.abort(reason), 100);
    const r = await drive(w.sender.sendToRegion(key("a"), "RawPut", put, { progress, signal: ac.signal }));
    expect(r.error).toBeInstanceOf(AbortedError);
    expect(r.error?.cause).toBe(reason);
    expect(progress.sent).toBe(true);
  });

  it("a deadline passing during a backoff after refusals does not count", async () => {
    const w = world();
    const progress: SendProgress = { sent: false };
    w.stores.fallback = () => ({ error: "refused" });
    const r = await drive(
      w.sender.sendToRegion(key("a"), "RawPut", put, {
        progress,
        timeoutMs: 250,
        budget: new Backoffer({ maxSleepMs: 10_000 }),
      }),
    );
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(progress.sent).toBe(false);
  });
});
