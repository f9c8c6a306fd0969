// The standard gRPC health service (grpc.health.v1.Health/Check) on every mock store, as TiKV
// serves it: SERVING while the store runs, unreachable (UNAVAILABLE) while it is stopped,
// SERVING again after a restart on the same address. client-go probes store liveness with it
// (internal/locate/store_cache.go requestLiveness); our client does too (src/rpc/health-check.ts).
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { checkHealth } from "../../../src/rpc/health-check.js";

const HealthClient = grpc.makeGenericClientConstructor(healthService as never, "Health");

/** One Check call on a fresh channel: the status name, or the gRPC error code. */
function check(address: string): Promise<{ status?: string; code?: grpc.status }> {
  // a channel of its own (not the process-wide subchannel pool), as a fresh dial
  const client = new HealthClient(address, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  });
  const fn = (client as unknown as Record<string, (...a: unknown[]) => void>).Check as (
    ...a: unknown[]
  ) => void;
  return new Promise((resolve) => {
    fn.call(
      client,
      { service: "" },
      { deadline: Date.now() + 1_000 },
      (err: grpc.ServiceError | null, resp?: { status?: string }) => {
        client.close();
        resolve(err ? { code: err.code } : { status: resp?.status });
      },
    );
  });
}

describe("gRPC health service of the mock stores", () => {
  let cluster: EmbeddedCluster;

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 2, resolvedTsIntervalMs: 0 });
  });
  afterAll(() => cluster.close());

  it("answers SERVING on every running store", async () => {
    for (const s of cluster.stores) expect(await check(s.address)).toEqual({ status: "SERVING" });
  });

  it("a stopped store is UNAVAILABLE (the client's probe: unreachable); restarted, SERVING again", async () => {
    const store = cluster.store(2);
    const address = store.address;
    // the client's probe rides on an existing channel, as a store connection's
    const channelClient = new HealthClient(address, grpc.credentials.createInsecure());
    try {
      const channel = channelClient.getChannel();
      expect(await checkHealth(channel, address, 1_000)).toBe("serving");

      await cluster.stopStore(2);
      expect(await check(address)).toEqual({ code: grpc.status.UNAVAILABLE });
      expect(await checkHealth(channel, address, 500)).toBe("unreachable");
      // the other store is unaffected
      expect(await check(cluster.store(1).address)).toEqual({ status: "SERVING" });

      await cluster.startStore(2);
      expect(store.address).toBe(address);
      expect(await check(address)).toEqual({ status: "SERVING" });
    } finally {
      channelClient.close();
    }
  });
});
