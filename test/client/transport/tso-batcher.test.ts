// TsoBatcher with a fake sink: batching, consecutive logicals, requeue on stream loss,
// count mismatch, timeouts (fake timers) and abort.
import { afterEach, describe, expect, it, vi } from "vitest";
import { TsoBatcher } from "../../../src/actors/pd/tso-batcher.js";
import type { TsoRequest } from "../../../src/proto/pdpb.js";
import { AbortedError, PdError, ShuttingDownError, TimeoutError } from "../../../src/rpc/errors.js";
import { REPLIES_PER_TURN } from "../../../src/rpc/paced-delivery.js";

const resp = (count: number, physical: bigint, logical: bigint) => ({
  count,
  timestamp: { physical, logical, suffixBits: 0 },
});

function setup() {
  const written: TsoRequest[] = [];
  const errors: Error[] = [];
  let last = 0n;
  const b = new TsoBatcher(
    (ts) => {
      last = ts;
    },
    (e) => errors.push(e),
  );
  return { b, written, errors, last: () => last, sink: { write: (r: TsoRequest) => written.push(r) } };
}

describe("TsoBatcher", () => {
  afterEach(() => vi.useRealTimers());

  it("one request per turn with count N; hands out last-N+1 .. last in call order", async () => {
    const { b, written, sink, last } = setup();
    b.attach(sink, 5n);
    const ps = [b.getTimestamp(), b.getTimestamp(), b.getTimestamp()];
    await Promise.resolve();
    expect(written.map((w) => w.count)).toEqual([3]);
    expect(written[0]?.header?.clusterId).toBe(5n);
    b.onResponse(resp(3, 1n, 10n));
    const base = 1n << 18n;
    expect(await Promise.all(ps)).toEqual([base + 8n, base + 9n, base + 10n]);
    expect(last()).toBe(base + 10n);
  });

  it("waits for a stream, and re-sends requests of a lost stream on the next one", async () => {
    const { b, written, sink } = setup();
    const p1 = b.getTimestamp();
    await Promise.resolve();
    expect(written).toEqual([]);
    b.attach(sink, 1n);
    await Promise.resolve();
    expect(written.length).toBe(1);
    b.detach();
    const p2 = b.getTimestamp();
    b.attach(sink, 1n);
    await Promise.resolve();
    expect(written.map((w) => w.count)).toEqual([1, 2]);
    b.onResponse(resp(2, 2n, 5n));
    expect(await p1).toBe((2n << 18n) + 4n);
    expect(await p2).toBe((2n << 18n) + 5n);
  });

  it("a count mismatch is a stream error and the batch is kept for the next stream", async () => {
    const { b, written, sink, errors } = setup();
    b.attach(sink, 1n);
    const p = b.getTimestamp();
    await Promise.resolve();
    b.onResponse(resp(2, 1n, 1n));
    expect(errors[0]).toBeInstanceOf(PdError);
    b.detach();
    b.attach(sink, 1n);
    await Promise.resolve();
    expect(written.map((w) => w.count)).toEqual([1, 1]);
    b.onResponse(resp(1, 3n, 7n));
    expect(await p).toBe((3n << 18n) + 7n);
  });

  it("times out requests PD does not answer", async () => {
    vi.useFakeTimers();
    const { b, sink } = setup();
    b.attach(sink, 1n);
    const p = b.getTimestamp({ timeoutMs: 500 }).catch((e) => e);
    await vi.advanceTimersByTimeAsync(499);
    expect(b.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBeInstanceOf(TimeoutError);
    expect(b.waiting).toBe(0);
    // the late answer is consumed without handing anything out
    b.onResponse(resp(1, 1n, 1n));
    expect(b.stats.timestamps).toBe(1);
  });

  it("aborts one request without disturbing the rest of its batch", async () => {
    const { b, sink } = setup();
    b.attach(sink, 1n);
    const ac = new AbortController();
    const a = b.getTimestamp({ signal: ac.signal });
    const c = b.getTimestamp();
    await Promise.resolve();
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(AbortedError);
    b.onResponse(resp(2, 1n, 2n));
    expect(await c).toBe((1n << 18n) + 2n);
  });

  it("close() fails everything, then fails new requests", async () => {
    const { b, sink } = setup();
    b.attach(sink, 1n);
    const p = b.getTimestamp();
    b.close();
    await expect(p).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(b.getTimestamp()).rejects.toBeInstanceOf(ShuttingDownError);
  });

  it("a large batch's timestamps are handed out a slice per turn; one aborted meanwhile gets nothing more", async () => {
    const { b, written, sink } = setup();
    b.attach(sink, 1n);
    const ctl = new AbortController();
    const got: Array<bigint | Error> = [];
    const n = REPLIES_PER_TURN * 2 + 3;
    for (let i = 0; i < n; i++)
      b.request(i === 5 ? { signal: ctl.signal } : undefined, (err, ts) => got.push(err ?? (ts as bigint)));
    await Promise.resolve();
    expect(written.map((w) => w.count)).toEqual([n]);
    ctl.abort();
    expect(got).toHaveLength(1);
    expect(got[0]).toBeInstanceOf(AbortedError);
    b.onResponse(resp(n, 3n, 100n));
    // the first slice at once (the aborted one's place counts), the rest on later turns
    expect(got).toHaveLength(REPLIES_PER_TURN);
    expect(b.waiting).toBe(0);
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    expect(got).toHaveLength(n);
    const first = (3n << 18n) + 100n - BigInt(n) + 1n;
    const ts = got.slice(1) as bigint[];
    expect(ts).toEqual(Array.from({ length: n }, (_, i) => first + BigInt(i)).filter((_, i) => i !== 5));
  });
});
