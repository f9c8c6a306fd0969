// Every region error kind and send failure through RequestSender.sendToRegion with a key
// target: PD lookups, peers tried, backoff kinds, final result or typed error
// (client-go internal/locate/region_request.go onRegionError / onSendFail semantics).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import {
  AbortedError,
  BackoffExhaustedError,
  DiskFullError,
  MaxTimestampNotSyncedError,
  RegionError,
  RegionFlashbackInProgressError,
  RegionFlashbackNotPreparedError,
  RegionUnavailableError,
  ResultUndeterminedError,
  TimeoutError,
} from "../../../src/errors/index.js";
import { classifyRegionError } from "../../../src/machines/retry.js";
import { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { FakePd, key, type RegionErrorInit, ScriptedStores, type StoreAnswer } from "./fakes.js";

function world(opts: { storeNotMatch?: (id: bigint) => void; probe?: boolean } = {}) {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id, { id: String(id) });
  pd.addRegion(1n, "", "m", [1n, 2n, 3n]);
  pd.addRegion(2n, "m", "", [1n, 2n, 3n]);
  const probes: bigint[] = [];
  const cache = new RegionCache(pd, {
    random: () => 0,
    probe: opts.probe
      ? async (s) => {
          probes.push(s.id);
          return "unreachable";
        }
      : undefined,
  });
  const stores = new ScriptedStores();
  const sender = new RequestSender(cache, stores, { random: () => 0, onStoreNotMatch: opts.storeNotMatch });
  return { pd, cache, stores, sender, probes };
}

async function drive<T>(p: Promise<T>): Promise<{ value?: T; error?: Error }> {
  let settled = false;
  const wrapped = p.then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  wrapped.finally(() => {
    settled = true;
  });
  for (let i = 0; i < 5000 && !settled; i++) await vi.advanceTimersByTimeAsync(100);
  return wrapped;
}

const get = (ctx: { context: unknown }) => ({ context: ctx.context, key: key("a") }) as never;

async function run(
  answers: StoreAnswer[],
  opts: {
    budgetMs?: number;
    replicaRead?: "leader" | "mixed" | "follower";
    staleRead?: boolean;
    rpcTimeoutMs?: number;
    cmd?: "Get" | "RawPut" | "RawBatchPut" | "RawDelete" | "RawCompareAndSwap" | "Prewrite";
  } = {},
  w = world(),
) {
  // warm the cache so the first PD lookup is not counted
  await w.cache.locateKey(key("a"));
  const before = { ...w.pd.calls };
  w.stores.script = [...answers];
  const bo = new Backoffer({ maxSleepMs: opts.budgetMs ?? 20_000, random: () => 0 });
  const r = await drive(
    w.sender.sendToRegion(key("a"), opts.cmd ?? "Get", get, {
      budget: bo,
      replicaRead: opts.replicaRead,
      staleRead: opts.staleRead,
      rpcTimeoutMs: opts.rpcTimeoutMs,
    }),
  );
  return {
    ...r,
    addrs: w.stores.accesses.map((a) => a.addr),
    backoffs: bo.backoffTimes(),
    pdGetRegion: w.pd.calls.getRegion - before.getRegion,
    w,
  };
}

const re = (e: RegionErrorInit): StoreAnswer => ({ regionError: e });

describe("region errors with a key target", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("healthy fast path: one send, no actor, no PD call", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    const resp = await w.sender.sendToRegion(key("a"), "Get", get);
    expect((resp as unknown as { value: Buffer }).value.toString()).toBe("hello world");
    expect(w.stores.accesses.length).toBe(1);
    expect(w.stores.accesses[0]?.retry).toBe(false);
    expect(w.sender.regionActors.size).toBe(0);
    expect(w.pd.calls.getRegion).toBe(1);
  });

  it("a cache miss loads the region from PD first", async () => {
    const w = world();
    const resp = await drive(w.sender.sendToRegion(key("x"), "Get", get));
    expect(resp.error).toBeUndefined();
    expect(w.pd.calls.getRegion).toBe(1);
    expect(w.stores.accesses[0]?.regionId).toBe(2n);
  });

  it("NotLeader with a leader hint: switch to it at once, no backoff", async () => {
    const w = world();
    const r0 = await w.cache.locateKey(key("a"));
    const hint = r0.peers[1]!;
    const r = await run([re({ notLeader: { regionId: 1n, leader: hint } })], {}, w);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store2"]);
    expect(r.backoffs).toEqual({});
    expect(r.pdGetRegion).toBe(0);
    expect(w.cache.tryLocateKey(key("a"))?.leader.storeId).toBe(2n);
    expect(w.stores.accesses[1]?.retry).toBe(true);
  });

  it("TestSwitchPeerWhenNoLeader: NotLeader without a hint backs off RegionScheduling and tries the next peer", async () => {
    const r = await run([re({ notLeader: { regionId: 1n } })]);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store2"]);
    expect(r.backoffs).toEqual({ regionScheduling: 1 });
    // the follower answered a leader read: it is the leader now
    expect(r.w.cache.tryLocateKey(key("a"))?.leader.storeId).toBe(2n);
  });

  it("NotLeader naming an unknown peer invalidates the region and reloads it from PD", async () => {
    const r = await run([
      re({ notLeader: { regionId: 1n, leader: { id: 999n, storeId: 9n, role: 0, isWitness: false } } }),
    ]);
    expect(r.error).toBeUndefined();
    expect(r.pdGetRegion).toBe(1);
    expect(r.backoffs).toEqual({ regionMiss: 1 });
  });

  it("EpochNotMatch with current regions: cache updated from the error, retried without PD or backoff", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.pd.split(1n, "f", 3n);
    const current = [w.pd.region(1n).meta, w.pd.region(3n).meta];
    const r = await run([re({ epochNotMatch: { currentRegions: current } })], {}, w);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store1"]);
    expect(r.backoffs).toEqual({});
    expect(r.pdGetRegion).toBe(0);
    expect(w.cache.tryLocateKey(key("a"))?.endKey.toString()).toBe("f");
    expect(w.cache.tryLocateKey(key("g"))?.id).toBe(3n);
  });

  it("EpochNotMatch with an older epoch than ours: backs off RegionMiss and retries the same region", async () => {
    const w = world();
    const r0 = await w.cache.locateKey(key("a"));
    const older = { ...r0.meta, regionEpoch: { confVer: 1n, version: 0n } };
    const r = await run([re({ epochNotMatch: { currentRegions: [older] } })], {}, w);
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({ regionMiss: 1 });
    expect(r0.isValid).toBe(true);
  });

  it("EpochNotMatch without regions (fake): invalidate, RegionMiss, reload from PD", async () => {
    const r = await run([re({ epochNotMatch: { currentRegions: [] } })]);
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({ regionMiss: 1 });
    expect(r.pdGetRegion).toBe(1);
  });

  for (const [name, err] of [
    ["RegionNotFound", { regionNotFound: { regionId: 1n } }],
    [
      "KeyNotInRegion",
      { keyNotInRegion: { key: key("a"), regionId: 1n, startKey: key(""), endKey: key("m") } },
    ],
    ["MismatchPeerId", { mismatchPeerId: { requestPeerId: 11n, storePeerId: 12n } }],
  ] as const) {
    it(`${name}: invalidate, RegionMiss backoff, reload from PD, retry`, async () => {
      const r = await run([re(err)]);
      expect(r.error).toBeUndefined();
      expect(r.addrs).toEqual(["store1", "store1"]);
      expect(r.backoffs).toEqual({ regionMiss: 1 });
      expect(r.pdGetRegion).toBe(1);
    });
  }

  it("RegionNotFound from a follower retries on the leader at once", async () => {
    const r = await run([re({ regionNotFound: { regionId: 1n } })], { replicaRead: "follower" });
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store2", "store1"]);
    expect(r.backoffs).toEqual({});
  });

  it("StoreNotMatch: store re-resolved, connection reset hook called, region reloaded", async () => {
    const reset: bigint[] = [];
    const w = world({ storeNotMatch: (id) => reset.push(id) });
    const storesBefore = w.pd.calls.getStore;
    const r = await run([re({ storeNotMatch: { requestStoreId: 1n, actualStoreId: 4n } })], {}, w);
    expect(r.error).toBeUndefined();
    expect(reset).toEqual([1n]);
    expect(r.pdGetRegion).toBe(1);
    expect(w.pd.calls.getStore).toBeGreaterThan(storesBefore);
    expect(r.backoffs).toEqual({ regionMiss: 1 });
  });

  it("BucketVersionNotMatch: region kept, re-split on the cached entry", async () => {
    const r = await run([re({ bucketVersionNotMatch: { version: 2n, keys: [] } })]);
    expect(r.error).toBeUndefined();
    expect(r.pdGetRegion).toBe(0);
    expect(r.backoffs).toEqual({ regionMiss: 1 });
  });

  it("ServerIsBusy on the leader: TiKVServerBusy backoff, same leader again", async () => {
    const r = await run([
      re({ serverIsBusy: { reason: "busy", backoffMs: 0n, estimatedWaitMs: 0, appliedIndex: 0n } }),
    ]);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store1"]);
    expect(r.backoffs).toEqual({ tikvServerBusy: 1 });
  });

  it("TestOnRegionError: StaleCommand retries at once (no backoff)", async () => {
    const r = await run([re({ staleCommand: {} }), re({ staleCommand: {} })]);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store1", "store1"]);
    expect(r.backoffs).toEqual({});
  });

  for (const [name, err, kind] of [
    ["MaxTimestampNotSynced", { maxTimestampNotSynced: {} }, "maxTsNotSynced"],
    ["RegionNotInitialized", { regionNotInitialized: { regionId: 1n } }, "regionNotInitialized"],
    ["ReadIndexNotReady", { readIndexNotReady: { reason: "", regionId: 1n } }, "regionScheduling"],
    ["ProposalInMergingMode", { proposalInMergingMode: { regionId: 1n } }, "regionScheduling"],
    ["DiskFull", { diskFull: { storeId: [1n], reason: "full" } }, "tikvDiskFull"],
  ] as const) {
    it(`${name}: backs off ${kind} and retries the leader`, async () => {
      const r = await run([re(err as RegionErrorInit), re(err as RegionErrorInit)]);
      expect(r.error).toBeUndefined();
      expect(r.addrs).toEqual(["store1", "store1", "store1"]);
      expect(r.backoffs).toEqual({ [kind]: 2 });
      expect(r.pdGetRegion).toBe(0);
    });
  }

  for (const [name, err, kind] of [
    ["RecoveryInProgress", { RecoveryInProgress: { regionId: 1n } }, "regionRecoveryInProgress"],
    ["IsWitness", { isWitness: { regionId: 1n } }, "isWitness"],
  ] as const) {
    it(`${name}: invalidates, backs off ${kind} then RegionMiss, reloads`, async () => {
      const r = await run([re(err)]);
      expect(r.error).toBeUndefined();
      expect(r.backoffs).toEqual({ [kind]: 1, regionMiss: 1 });
      expect(r.pdGetRegion).toBe(1);
    });
  }

  it("DataIsNotReady on a stale read: no backoff, next replica with a replica read", async () => {
    const r = await run([re({ dataIsNotReady: { regionId: 1n, peerId: 11n, safeTs: 5n } })], {
      replicaRead: "mixed",
      staleRead: true,
    });
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({});
    expect(r.w.stores.path()).toEqual([
      "{addr: store1, replica-read: false, stale-read: true}",
      "{addr: store2, replica-read: true, stale-read: false}",
    ]);
  });

  it("FlashbackInProgress on the leader fails at once", async () => {
    const r = await run([re({ FlashbackInProgress: { regionId: 1n, flashbackStartTs: 42n } })]);
    expect(r.error).toBeInstanceOf(RegionFlashbackInProgressError);
    expect(r.error?.message).toContain("FlashbackStartTS is 42");
    expect(r.addrs).toEqual(["store1"]);
  });

  it("FlashbackNotPrepared fails at once", async () => {
    const r = await run([re({ FlashbackNotPrepared: { regionId: 1n } })]);
    expect(r.error).toBeInstanceOf(RegionFlashbackNotPreparedError);
    expect(r.addrs).toEqual(["store1"]);
  });

  it("RaftEntryTooLarge fails with a RegionError", async () => {
    const r = await run([re({ raftEntryTooLarge: { regionId: 1n, entrySize: 1n << 30n } })]);
    expect(r.error).toBeInstanceOf(RegionError);
    expect((r.error as RegionError).regionError.raftEntryTooLarge).toBeDefined();
  });

  it("an invalid max_ts update fails with a RegionError", async () => {
    const r = await run([re({ message: "invalid max_ts update: 10 > 5" })]);
    expect(r.error).toBeInstanceOf(RegionError);
  });

  it("UndeterminedResult fails with ResultUndeterminedError", async () => {
    const r = await run([re({ undeterminedResult: { message: "apply unknown" } })]);
    expect(r.error).toBeInstanceOf(ResultUndeterminedError);
    expect(r.addrs).toEqual(["store1"]);
  });

  it("an unknown (message-only) region error retries", async () => {
    const r = await run([re({ message: "something odd" })]);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store1"]);
  });

  it("TiKV's read deadline with a short read timeout skips that replica without backoff", async () => {
    const r = await run([re({ message: "Deadline is exceeded" })], { rpcTimeoutMs: 1000 });
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({});
    expect(r.w.stores.path()).toEqual([
      "{addr: store1, replica-read: false, stale-read: false}",
      "{addr: store2, replica-read: true, stale-read: false}",
    ]);
  });

  it("ServerIsBusy 'deadline is exceeded' with a short read timeout skips the replica", async () => {
    const r = await run(
      [
        re({
          serverIsBusy: {
            reason: "deadline is exceeded",
            backoffMs: 0n,
            estimatedWaitMs: 0,
            appliedIndex: 0n,
          },
        }),
      ],
      { rpcTimeoutMs: 500 },
    );
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({});
    expect(r.addrs).toEqual(["store1", "store2"]);
  });
});

describe("send failures", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("an unreachable store: marked, probed, TiKVRPC backoff, next peer serves; it becomes the leader", async () => {
    const w = world({ probe: true });
    const r = await run([{ error: "unavailable" }], {}, w);
    expect(r.error).toBeUndefined();
    expect(r.addrs).toEqual(["store1", "store2"]);
    expect(r.backoffs).toEqual({ tikvRPC: 1 });
    expect(w.probes).toEqual([1n]);
    expect(w.cache.stores.liveness(1n)).toBe("unreachable");
    expect(w.cache.stores.peek(1n)?.epoch).toBe(1);
    expect(w.cache.getCachedById(1n)?.leader.storeId).toBe(2n);
    // the leader's replica went stale: the entry reloads on next access
    expect(w.cache.tryLocateKey(key("a"))).toBeUndefined();
  });

  it("every store down: each peer tried once, then no replica is left and the region stays unavailable", async () => {
    const w = world();
    w.stores.fallback = () => ({ error: "unavailable" });
    const r = await run([], { budgetMs: 2000 }, w);
    expect(r.error).toBeInstanceOf(BackoffExhaustedError);
    // unreachable stores are skipped until they recover, so RegionMiss dominates the sleep
    expect(r.error?.cause).toBeInstanceOf(RegionUnavailableError);
    expect(r.addrs.slice(0, 3)).toEqual(["store1", "store2", "store3"]);
    expect(r.backoffs.tikvRPC).toBe(3);
    expect(r.pdGetRegion).toBeGreaterThanOrEqual(1);
  });

  it("a write timeout is a send failure (backoff + next peer), not a skipped replica", async () => {
    const r = await run([{ error: "timeout" }], { cmd: "Prewrite" });
    expect(r.error).toBeUndefined();
    expect(r.backoffs).toEqual({ tikvRPC: 1 });
    expect(r.addrs).toEqual(["store1", "store2"]);
  });

  it("a raw write that may have been applied is not sent again: the call fails with the send error", async () => {
    for (const cmd of ["RawPut", "RawBatchPut", "RawDelete", "RawCompareAndSwap"] as const) {
      const r = await run([{ error: "timeout" }], { cmd });
      expect(r.error, cmd).toBeInstanceOf(TimeoutError);
      expect(r.addrs, cmd).toEqual(["store1"]);
    }
  });
});

describe("budget, timeout, abort", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("budget exhaustion reports the kind that slept longest", async () => {
    const w = world();
    w.stores.fallback = () => ({ regionError: { maxTimestampNotSynced: {} } });
    const r = await run([], { budgetMs: 50 }, w);
    expect(r.error).toBeInstanceOf(BackoffExhaustedError);
    expect((r.error as BackoffExhaustedError).backoffKind).toBe("maxTsNotSynced");
    expect(r.error?.cause).toBeInstanceOf(MaxTimestampNotSyncedError);
  });

  it("DiskFull until the budget ends", async () => {
    const w = world();
    w.stores.fallback = () => ({ regionError: { diskFull: { storeId: [1n], reason: "" } } });
    const r = await run([], { budgetMs: 1000 }, w);
    expect(r.error).toBeInstanceOf(BackoffExhaustedError);
    expect(r.error?.cause).toBeInstanceOf(DiskFullError);
  });

  it("whole-call timeout fails with TimeoutError", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.stores.fallback = () => ({ regionError: { maxTimestampNotSynced: {} } });
    const r = await drive(w.sender.sendToRegion(key("a"), "Get", get, { timeoutMs: 300 }));
    expect(r.error).toBeInstanceOf(TimeoutError);
  });

  it("a hanging store with a whole-call timeout fails with TimeoutError", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.stores.fallback = () => ({ hang: true });
    const r = await drive(
      w.sender.sendToRegion(key("a"), "Get", get, { timeoutMs: 500, rpcTimeoutMs: 60_000 }),
    );
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect(w.stores.accesses.length).toBe(1);
  });

  it("a hanging store is left when the caller aborts", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.stores.fallback = () => ({ hang: true });
    const ac = new AbortController();
    const p = drive(w.sender.sendToRegion(key("a"), "Get", get, { signal: ac.signal }));
    setTimeout(() => ac.abort("gone"), 1000);
    const r = await p;
    expect(r.error).toBeInstanceOf(AbortedError);
  });

  it("AbortSignal stops the retries with AbortedError", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.stores.fallback = () => ({
      regionError: { serverIsBusy: { reason: "", backoffMs: 0n, estimatedWaitMs: 0, appliedIndex: 0n } },
    });
    const ac = new AbortController();
    const p = drive(w.sender.sendToRegion(key("a"), "Get", get, { signal: ac.signal }));
    setTimeout(() => ac.abort("user"), 5000);
    const r = await p;
    expect(r.error).toBeInstanceOf(AbortedError);
  });

  it("an already aborted signal fails before sending", async () => {
    const w = world();
    const ac = new AbortController();
    ac.abort();
    await expect(w.sender.sendToRegion(key("a"), "Get", get, { signal: ac.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(w.stores.accesses.length).toBe(0);
  });
});

describe("region target (caller re-splits)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a changed region comes back as the response's region error, cache updated", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    w.stores.script = [
      {
        regionError: { keyNotInRegion: { key: key("a"), regionId: 1n, startKey: key(""), endKey: key("m") } },
      },
    ];
    const r = await drive(w.sender.sendToRegion(region, "Get", get));
    expect(
      (r.value as unknown as { regionError: RegionErrorProto }).regionError.keyNotInRegion,
    ).toBeDefined();
    expect(region.isValid).toBe(false);
  });

  it("TestOnRegionError (single store, endless StaleCommand): gives up with the pseudo EpochNotMatch", async () => {
    const pd = new FakePd();
    pd.addStore(1n);
    pd.addRegion(1n, "", "", [1n]);
    const cache = new RegionCache(pd);
    const stores = new ScriptedStores();
    stores.fallback = () => ({ regionError: { staleCommand: {} } });
    const sender = new RequestSender(cache, stores);
    const region = await cache.locateKey(key("a"));
    const r = await drive(sender.sendToRegion(region, "RawPut", get, { maxBackoffMs: 5 }));
    const err = (r.value as unknown as { regionError: RegionErrorProto }).regionError;
    expect(err.epochNotMatch?.currentRegions).toEqual([]);
    expect(stores.accesses.length).toBe(10);
  });
});

describe("region actors (troubled regions)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("concurrent requests hitting the same stale region share one PD reload; the actor stops when idle", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    const before = w.pd.calls.getRegion;
    const nir = {
      regionError: { keyNotInRegion: { key: key("a"), regionId: 1n, startKey: key(""), endKey: key("m") } },
    };
    w.stores.script = [nir, nir];
    const p1 = w.sender.sendToRegion(key("a"), "Get", get);
    const p2 = w.sender.sendToRegion(key("b"), "Get", get);
    const [r1, r2] = await Promise.all([drive(p1), drive(p2)]);
    expect(r1.error).toBeUndefined();
    expect(r2.error).toBeUndefined();
    expect(w.pd.calls.getRegion - before).toBe(1);
    expect(w.sender.regionActors.size).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(w.sender.regionActors.size).toBe(0);
  });
});

describe("classifyRegionError", () => {
  it("follows client-go's precedence", () => {
    const both = RegionErrorProto.fromPartial({
      notLeader: { regionId: 1n },
      epochNotMatch: { currentRegions: [] },
    });
    expect(classifyRegionError(both).type).toBe("NOT_LEADER");
    const und = RegionErrorProto.fromPartial({ undeterminedResult: { message: "x" }, notLeader: {} });
    expect(classifyRegionError(und).type).toBe("UNDETERMINED_RESULT");
    expect(classifyRegionError(RegionErrorProto.fromPartial({ message: "Deadline is exceeded" })).type).toBe(
      "DEADLINE_EXCEEDED",
    );
    expect(classifyRegionError(RegionErrorProto.fromPartial({ message: "?" })).type).toBe("UNKNOWN");
    const kinds: Array<[RegionErrorInit, string]> = [
      [{ diskFull: {} }, "DISK_FULL"],
      [{ RecoveryInProgress: {} }, "RECOVERY_IN_PROGRESS"],
      [{ isWitness: {} }, "IS_WITNESS"],
      [{ FlashbackInProgress: {} }, "FLASHBACK_IN_PROGRESS"],
      [{ FlashbackNotPrepared: {} }, "FLASHBACK_NOT_PREPARED"],
      [{ regionNotFound: {} }, "REGION_NOT_FOUND"],
      [{ keyNotInRegion: {} }, "KEY_NOT_IN_REGION"],
      [{ epochNotMatch: {} }, "EPOCH_NOT_MATCH"],
      [{ bucketVersionNotMatch: {} }, "BUCKET_VERSION_NOT_MATCH"],
      [{ serverIsBusy: {} }, "SERVER_IS_BUSY"],
      [{ staleCommand: {} }, "STALE_COMMAND"],
      [{ storeNotMatch: {} }, "STORE_NOT_MATCH"],
      [{ raftEntryTooLarge: {} }, "RAFT_ENTRY_TOO_LARGE"],
      [{ maxTimestampNotSynced: {} }, "MAX_TIMESTAMP_NOT_SYNCED"],
      [{ regionNotInitialized: {} }, "REGION_NOT_INITIALIZED"],
      [{ readIndexNotReady: {} }, "READ_INDEX_NOT_READY"],
      [{ proposalInMergingMode: {} }, "PROPOSAL_IN_MERGING_MODE"],
      [{ dataIsNotReady: {} }, "DATA_IS_NOT_READY"],
      [{ mismatchPeerId: {} }, "MISMATCH_PEER_ID"],
      [{ message: "invalid max_ts update" }, "INVALID_MAX_TS_UPDATE"],
    ];
    for (const [e, t] of kinds) expect(classifyRegionError(RegionErrorProto.fromPartial(e)).type).toBe(t);
  });
});

describe("whole-call deadline", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a read whose attempts keep timing out stops at the call's deadline instead of spinning", async () => {
    const w = world();
    await w.cache.locateKey(key("a"));
    w.stores.fallback = () => ({ hang: true });
    const r = await drive(w.sender.sendToRegion(key("a"), "Get", get, { timeoutMs: 250, rpcTimeoutMs: 100 }));
    expect(r.error).toBeInstanceOf(TimeoutError);
    // 100 ms + 100 ms attempts, then the last one is cut at the deadline
    expect(w.stores.accesses.length).toBe(3);
  });
});

describe("tombstone store", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("a leader on a store that became a tombstone: the region is reloaded without it", async () => {
    const w = world();
    const r0 = await w.cache.locateKey(key("a"));
    // the store is gone in PD and the cache learns it on re-resolve
    w.pd.stores.get(1n)!.state = 2; // Tombstone
    w.cache.stores.markNeedCheck(1n);
    await w.cache.stores.resolve(1n);
    w.stores.script = [];
    const r = await drive(w.sender.sendToRegion(key("a"), "Get", get, { replicaRead: "mixed" }));
    expect(r.error).toBeUndefined();
    expect(r0.isValid).toBe(false);
    expect(w.stores.accesses.every((a) => a.addr !== "store1")).toBe(true);
    expect(w.cache.tryLocateKey(key("a"))?.peers.map((p) => p.storeId)).toEqual([2n, 3n]);
  });
});
