// Shared vitest helper: one cluster per suite. Starts an EmbeddedCluster, or, when
// TIKV_PD_ENDPOINTS is set, uses that real cluster (fault-injection and topology tests are then
// skipped: `itFault`). Clients made with `connect()` are closed after the suite, then the cluster.

import { afterAll, beforeAll, it } from "vitest";
import type { ConnectOptions } from "../../src/api/options.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { EmbeddedCluster, type EmbeddedClusterOptions } from "../../src/cluster/embedded-cluster.js";

/** PD endpoints of a real cluster to test against, if any. */
export const REAL_PD_ENDPOINTS: string[] | undefined = process.env.TIKV_PD_ENDPOINTS
  ? process.env.TIKV_PD_ENDPOINTS.split(",")
      .map((s) => s.trim())
      .filter(Boolean)
  : undefined;

/** True when the suites run against a real cluster. */
export const isRealCluster = REAL_PD_ENDPOINTS !== undefined;

/** API version of the real cluster (TIKV_API_VERSION, default "v1"). */
export const REAL_API_VERSION = process.env.TIKV_API_VERSION ?? "v1";

/**
 * True when a suite written for `apiVersion` cannot run here: on a real cluster of another API
 * version. Use with `describe.skipIf(...)`.
 */
export function skipOnRealCluster(apiVersion: "v1" | "v1ttl" | "v2" = "v1"): boolean {
  return isRealCluster && apiVersion !== REAL_API_VERSION;
}

/** `it` for tests that need the embedded cluster's fault/topology API (skipped on a real cluster). */
export const itFault: typeof it = (isRealCluster ? it.skip : it) as typeof it;

/** What a suite gets from {@link useCluster}. */
export interface ClusterHandle {
  /** The embedded cluster; throws on a real cluster (guard with itFault). */
  readonly cluster: EmbeddedCluster;
  /** PD endpoints to connect to. */
  readonly pdEndpoints: string[];
  /** Connects a client (closed automatically after the suite). */
  connect(extra?: Partial<ConnectOptions>): Promise<TikvClient>;
  /** Calls the mock PD served for `method` (e.g. "GetRegion"); undefined on a real cluster. */
  pdCalls(method: string): number | undefined;
}

/**
 * Registers beforeAll/afterAll hooks that start (or attach to) a cluster for this suite.
 *
 * @example
 * ```ts
 * const env = useCluster({ stores: 3, splitKeys: ["m"] });
 * it("puts", async () => { const c = await env.connect(); await c.raw().put("a", "1"); });
 * ```
 */
export function useCluster(
  opts: EmbeddedClusterOptions & { connect?: Partial<ConnectOptions> } = {},
): ClusterHandle {
  let cluster: EmbeddedCluster | undefined;
  let endpoints: string[] = [];
  const clients: TikvClient[] = [];

  beforeAll(async () => {
    if (REAL_PD_ENDPOINTS) {
      endpoints = REAL_PD_ENDPOINTS;
      return;
    }
    cluster = await EmbeddedCluster.start({ host: "127.0.0.1", pdPort: 0, ...opts });
    endpoints = cluster.pdEndpoints;
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(clients.splice(0).map((c) => c.close()));
    await cluster?.close();
  }, 30_000);

  return {
    get cluster(): EmbeddedCluster {
      if (!cluster) throw new Error("no embedded cluster (real cluster in use, or suite not started)");
      return cluster;
    },
    get pdEndpoints() {
      return endpoints;
    },
    async connect(extra: Partial<ConnectOptions> = {}) {
      const c = await TikvClient.connect({
        pdEndpoints: endpoints,
        apiVersion: opts.apiVersion,
        ...opts.connect,
        ...extra,
      });
      clients.push(c);
      return c;
    },
    pdCalls(method: string) {
      return cluster?.pd.state.faults.calls(method);
    },
  };
}

/** A key prefix unique to one test, so tests sharing a cluster do not see each other's keys. */
export function uniquePrefix(name: string): string {
  return `${name}-${Math.random().toString(36).slice(2, 8)}-`;
}
