// The retry model's paths replayed against the embedded cluster: a real RequestSender (region
// cache over the PD actor, store pool over BatchCommands) sends RawGet with a key target, and a
// request hook on the cluster's fault registry turns each path event into what the attempt
// meets: a real leader transfer (TiKV answers NotLeader with the new leader), a real split
// (TiKV answers EpochNotMatch), or an injected region error / gRPC status. Each path is
// checked for its result or typed error, the stores tried, the PD lookups made and the
// backoff kinds used — all predicted by the model. Paths run on real timers (backoffs of a
// few ms; the budget fits exactly one backoff). The paths share one store pool, as a client
// would: a stream dropped by one path's SEND_FAIL is re-created at once, so the next path
// finds the store reachable (client-go recreateStreamingClient).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backoffer } from "../../src/actors/backoff/index.js";
import { PdActor } from "../../src/actors/pd/pd-actor.js";
import { RegionCache } from "../../src/actors/region-cache/index.js";
import { RequestSender } from "../../src/actors/request/index.js";
import { ClientMetrics } from "../../src/actors/runtime/metrics.js";
import { PdRegionSource, regionKeyCodec } from "../../src/actors/runtime/pd-region-source.js";
import { poolStoreSender } from "../../src/actors/runtime/routed-sender.js";
import { StorePool } from "../../src/actors/store/store-pool.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import type { CallInfo, FaultError } from "../../src/cluster/faults/types.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import {
  AbortedError,
  BackoffExhaustedError,
  RegionError,
  ResultUndeterminedError,
} from "../../src/errors/index.js";
import { createApiCodec } from "../../src/kv/keyspace.js";
import { APIVersion } from "../../src/proto/kvrpcpb.js";
import { type ModelPath, modelPaths } from "./paths.js";
import { type RetryModelContext, retryModel } from "./retry-model.js";

const KEY = Buffer.from("k");
const VALUE = Buffer.from("v");
// the n-th split key: ascending and below KEY, so each lies inside the region holding KEY (which
// becomes the right half)
const splitKeyBelow = (n: number) => Buffer.from(`j${String(n).padStart(4, "0")}`);
/** Events that are what one attempt meets (the others are timers and PD answers). */
const ATTEMPT_EVENTS = new Set([
  "FAST_NOT_LEADER",
  "OK",
  "NOT_LEADER",
  "NO_LEADER",
  "SEND_FAIL",
  "STALE_EPOCH",
  "REGION_NOT_FOUND",
  "FATAL",
  "UNDETERMINED",
  "ABORT",
]);

/** Resolves once every store actor of `pool` is ready (fails after `ms`). */
async function untilStoresReady(pool: StorePool, ms = 2_000): Promise<void> {
  const until = Date.now() + ms;
  while (pool.all().some((s) => s.state !== "ready")) {
    if (Date.now() > until) throw new Error(`stores not ready: ${pool.all().map((s) => s.state)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe("retry machine paths on the embedded cluster", () => {
  let cluster: EmbeddedCluster;
  let pd: PdActor;
  let stores: StorePool;
  let splits = 0;
  const { all, covering } = modelPaths("retry model", retryModel);
  // every path of up to 4 events plus a transition-covering subset of the longer ones (the
  // exhaustive short set replays in a few seconds); a failing PD lookup is retried by the PD
  // client on its own budget (seconds), so RELOCATE_FAIL is left to the real-actor replay
  const short = all.filter((p) => p.steps.length <= 5);
  const paths = [...new Set([...covering, ...short])].filter(
    (p) => !p.steps.some((s) => s.event.type === "RELOCATE_FAIL"),
  );

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3 });
    const codec = createApiCodec({ apiVersion: APIVersion.V1, mode: "raw" });
    pd = await PdActor.connect({
      endpoints: cluster.pdEndpoints,
      regionCodec: regionKeyCodec(codec),
      initialTimestamp: false,
    });
    stores = new StorePool({});
    const metrics = new ClientMetrics();
    const sender = new RequestSender(
      new RegionCache(new PdRegionSource(pd, metrics)),
      poolStoreSender(stores, codec, metrics),
    );
    await sender.sendToRegion(KEY, "RawPut", (ctx) => ({
      context: ctx.context,
      key: KEY,
      value: VALUE,
      cf: "",
      ttl: 0n,
      forCas: false,
    }));
  }, 30_000);

  afterAll(async () => {
    stores?.close();
    pd?.close();
    await cluster?.close();
  });

  it("replays every path of up to 4 events and a transition-covering subset of the rest", () => {
    expect(short.length).toBeGreaterThan(60);
    for (const p of short)
      if (!p.steps.some((s) => s.event.type === "RELOCATE_FAIL")) expect(paths).toContain(p);
  });

  for (const path of paths) {
    it(path.description, async () => {
      await replayOnCluster(path);
    }, 20_000);
  }

  async function replayOnCluster(path: ModelPath) {
    const final = path.steps.at(-1)?.state as { value: string; context: RetryModelContext };
    // what each attempt at the leader meets; an ABORT while backing off or relocating (not
    // while sending) fires right after the attempt before it
    const script: string[] = [];
    let abortAfter = -1;
    path.steps.forEach((s, i) => {
      if (!ATTEMPT_EVENTS.has(s.event.type)) return;
      if (s.event.type === "ABORT" && path.steps[i - 1]?.state.value !== "sending")
        abortAfter = script.length - 1;
      else script.push(s.event.type);
    });
    // a fresh client-side cache per path (the cluster keeps its topology changes)
    const metrics = new ClientMetrics();
    const codec = createApiCodec({ apiVersion: APIVersion.V1, mode: "raw" });
    const cache = new RegionCache(new PdRegionSource(pd, metrics));
    // the retry actor's inspection tells when it left `sending` (for an ABORT while waiting)
    let abortArmed = false;
    const waiting = new Set([
      "backingOff",
      "relocateWait",
      "relocating",
      "noCandidateWait",
      "pendingBackoff",
    ]);
    const sender = new RequestSender(cache, poolStoreSender(stores, codec, metrics), {
      random: () => 0,
      inspect: (ev) => {
        if (!abortArmed || ev.type !== "@xstate.snapshot") return;
        if (waiting.has(String((ev.snapshot as { value?: unknown }).value))) {
          abortArmed = false;
          ac.abort();
        }
      },
    });
    await cache.locateKey(KEY);
    const lookupsBefore = metrics.pdRegionLookups;
    const ac = new AbortController();
    // every RawGet in order; `scripted` ones reached the leader and met the path's next event
    const calls: Array<{ store: bigint; scripted: boolean; hinted?: bigint }> = [];
    let attempt = 0;
    const unhook = cluster.faults.onRequest((call: CallInfo): FaultError | undefined => {
      if (call.rpc !== "RawGet") return undefined;
      const storeId = call.storeId as bigint;
      const region = cluster.topology.locateKey(KEY);
      const entry: { store: bigint; scripted: boolean; hinted?: bigint } = {
        store: storeId,
        scripted: false,
      };
      calls.push(entry);
      // an attempt at a follower is left to the real server (it answers NotLeader with the leader)
      if (region?.leader?.storeId !== storeId) return undefined;
      entry.scripted = true;
      if (attempt === abortAfter) abortArmed = true;
      const what = script[attempt++] ?? "OK";
      switch (what) {
        case "FAST_NOT_LEADER":
        case "NOT_LEADER": {
          // a real leader change: TiKV answers NotLeader naming the new leader
          const to = region?.peers.find((p) => p.storeId !== storeId);
          if (region && to) cluster.topology.transferLeader(region.id, to.storeId);
          entry.hinted = to?.storeId;
          return undefined;
        }
        case "NO_LEADER":
          return { regionError: RegionErrors.notLeader(call.regionId ?? 0n) };
        case "SEND_FAIL": {
          // the leader's store drops the stream (unreachable until the client reconnects), and
          // as after a real failure another peer takes over the leadership
          const to = region?.peers.find((p) => p.storeId !== storeId);
          if (region && to) cluster.topology.transferLeader(region.id, to.storeId);
          return { grpcStatus: 14, message: "injected: store unreachable" };
        }
        case "STALE_EPOCH":
          // a real split: TiKV answers EpochNotMatch with the new regions
          if (region) cluster.topology.split(region.id, [splitKeyBelow(++splits)]);
          return undefined;
        case "REGION_NOT_FOUND":
          return { regionError: RegionErrors.regionNotFound(call.regionId ?? 0n) };
        case "FATAL":
          return { regionError: RegionErrors.raftEntryTooLarge(call.regionId ?? 0n, 1n << 30n) };
        case "UNDETERMINED":
          return { regionError: RegionErrors.undeterminedResult("apply result unknown") };
        case "ABORT":
          ac.abort();
          return undefined;
        default:
          return undefined;
      }
    });
    const budget = new Backoffer({ maxSleepMs: 1, weight: 1, random: () => 0 });
    let result: { value?: unknown; error?: Error };
    try {
      const resp = await sender.sendToRegion(
        KEY,
        "RawGet",
        (ctx) => ({ context: ctx.context, key: KEY, cf: "" }),
        {
          budget,
          signal: ac.signal,
        },
      );
      result = { value: resp };
    } catch (e) {
      result = { error: e as Error };
    } finally {
      unhook();
    }
    // a stream dropped by SEND_FAIL is re-created at once, never after a reconnect backoff
    // (client-go recreateStreamingClient): no store is left waiting out one, and each is ready
    // again before the next path
    for (const st of stores.all()) expect(st.state).not.toBe("reconnecting");
    await untilStoresReady(stores);

    // the result or the typed error
    if (final.value === "succeeded") {
      expect(result.error).toBeUndefined();
      expect((result.value as { value: Buffer }).value).toEqual(VALUE);
    } else {
      const expected = {
        exhausted: BackoffExhaustedError,
        fatal: RegionError,
        undetermined: ResultUndeterminedError,
        aborted: AbortedError,
        relocateFailed: Error,
        "": Error,
      }[final.context.failure];
      expect(result.error).toBeInstanceOf(expected);
    }
    // the attempts that reached the leader: one per attempt event of the path
    const scripted = calls.filter((c) => c.scripted);
    expect(scripted.length).toBe(script.length);
    // peers tried: a NotLeader's new leader is tried next; a failed store is not tried again at once
    for (let i = 0; i + 1 < calls.length; i++) {
      const c = calls[i] as (typeof calls)[number];
      if (c.hinted !== undefined) expect(calls[i + 1]?.store).toBe(c.hinted);
      if (c.scripted && script[scripted.indexOf(c)] === "SEND_FAIL")
        expect(calls[i + 1]?.store).not.toBe(c.store);
    }
    // the backoff kinds used, exactly (aborted paths included)
    const kinds = final.context.slept && final.context.kind ? { [final.context.kind]: 1 } : {};
    expect(budget.backoffTimes()).toEqual(kinds);
    // PD lookups: one per relocation after RegionNotFound (the region was dropped from the
    // cache); an EpochNotMatch brings the new regions along, so relocating needs no lookup
    const relocatedAfterNotFound = path.steps.filter(
      (st, k) => st.event.type === "RELOCATED" && path.steps[k - 1]?.event.type === "REGION_NOT_FOUND",
    ).length;
    expect(metrics.pdRegionLookups - lookupsBefore).toBe(relocatedAfterNotFound);
  }
});
