// TikvClient.connect against unreachable / closing PDs, and the client lifecycle.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import {
  AbortedError,
  InvalidArgumentError,
  PdError,
  TikvClient,
  TikvError,
  TimeoutError,
} from "../../src/index.js";
import { useCluster } from "../support/cluster.js";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe("TikvClient lifecycle", () => {
  const env = useCluster({ stores: 1 });

  it("fails with a typed error when no PD answers within connectTimeoutMs", async () => {
    const port = await freePort();
    const err = await TikvClient.connect({ pdEndpoints: [`127.0.0.1:${port}`], connectTimeoutMs: 300 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(TikvError);
  });

  // issue #9: the message said "wait for the PD leader timed out after 0ms" (the time left)
  it("a dead PD: TimeoutError with the configured timeout and the endpoints tried, the last PD error as cause", async () => {
    const a = await freePort();
    const b = await freePort();
    const eps = [`127.0.0.1:${a}`, `http://127.0.0.1:${b}`];
    const err = await TikvClient.connect({ pdEndpoints: eps, connectTimeoutMs: 400 }).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).timeoutMs).toBe(400);
    expect((err as Error).message).toBe(`connect to PD at [${eps.join(", ")}] timed out after 400ms`);
    // the discovery round's error names each endpoint and why it failed
    expect((err as Error).cause).toBeInstanceOf(PdError);
    expect(((err as Error).cause as Error).message).toContain(`127.0.0.1:${a}`);
  });

  it("connect() can be aborted: AbortedError with the reason as cause, soon after the abort", async () => {
    const port = await freePort();
    const ac = new AbortController();
    const reason = new Error("shutting down");
    const started = Date.now();
    setTimeout(() => ac.abort(reason), 100);
    const err = await TikvClient.connect({
      pdEndpoints: [`127.0.0.1:${port}`],
      connectTimeoutMs: 30_000,
      signal: ac.signal,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).cause).toBe(reason);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("connect() with an already aborted signal rejects at once; a non-signal is an InvalidArgumentError", async () => {
    const ac = new AbortController();
    ac.abort("no");
    const err = await TikvClient.connect({ pdEndpoints: env.pdEndpoints, signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).cause).toBe("no");
    await expect(
      TikvClient.connect({ pdEndpoints: env.pdEndpoints, signal: "stop" as never }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("a signal that never aborts does not get in the way (and is not kept by the client)", async () => {
    const ac = new AbortController();
    const c = await env.connect({ signal: ac.signal });
    await c.raw().put("signal-ok", "1");
    ac.abort();
    expect((await c.raw().get("signal-ok"))?.toString()).toBe("1");
  });

  it.each([
    "127.0.0.1:99999",
    "127.0.0.1:0",
    ":2379",
    "garbage",
  ])("the endpoint %j is rejected at once with InvalidArgumentError naming it, before any connection", async (endpoint) => {
    const started = Date.now();
    const err = await TikvClient.connect({ pdEndpoints: [endpoint], connectTimeoutMs: 10_000 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(JSON.stringify(endpoint));
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("exposes cluster id, api version and an empty keyspace prefix in v1", async () => {
    const c = await env.connect();
    expect(c.clusterId).not.toBe(0n);
    expect(c.apiVersion).toBe("v1");
    expect(c.codec.keyspacePrefix.length).toBe(0);
    expect(c.isClosed).toBe(false);
    await c.close();
    expect(c.isClosed).toBe(true);
  });

  it("counts PD lookups once per region, then serves from the cache", async () => {
    const c = await env.connect();
    const raw = c.raw();
    await raw.put("a", "1");
    c.resetMetrics();
    await Promise.all(Array.from({ length: 50 }, () => raw.get("a")));
    expect(c.metrics().pdRegionLookups).toBe(0);
    const c2 = await env.connect();
    const before = env.pdCalls("GetRegion");
    await Promise.all(Array.from({ length: 50 }, () => c2.raw().get("a")));
    // concurrent misses for one key share one PD lookup
    expect(c2.metrics().pdRegionLookups).toBe(1);
    if (before !== undefined) expect(env.pdCalls("GetRegion")).toBe(before + 1);
  });
});
