// A client asked for tracing where @opentelemetry/api cannot be imported (the optional peer
// dependency is not installed): it connects and works, untraced.
import { describe, expect, it, vi } from "vitest";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

vi.mock("@opentelemetry/api", () => {
  throw new Error("Cannot find package '@opentelemetry/api'");
});

describe.skipIf(skipOnRealCluster("v1"))("tracing without @opentelemetry/api", () => {
  const env = useCluster({ stores: 1 });

  it("connect({ tracing: true }) works and runs untraced", async () => {
    await expect(import("@opentelemetry/api")).rejects.toThrow();
    const client = await env.connect({ tracing: true });
    const raw = client.raw();
    const k = uniquePrefix("absent");
    await raw.put(k, "v");
    expect((await raw.get(k))?.toString()).toBe("v");
    const txn = await client.txn().begin();
    txn.set(k, "t");
    await txn.commit();
    expect(txn.commitDetails?.writeKeys).toBe(1);
  });
});
