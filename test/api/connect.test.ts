// TikvClient.connect against unreachable / closing PDs, and the client lifecycle.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { TikvClient, TikvError } from "../../src/index.js";
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
