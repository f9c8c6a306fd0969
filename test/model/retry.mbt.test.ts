// Model-based test of the retry machine, replayed against the real actor: the real
// retryMachine with the real decision functions, region cache, replica selector and
// backoffer; only its I/O actors (`send`, `relocate`) are parked promises the model's events
// settle, over an in-memory PD, on vitest fake timers. Oracles come from the model.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { type Actor, createActor, fromPromise } from "xstate";
import { Backoffer, Bo } from "../../src/actors/backoff/index.js";
import type { CachedRegion } from "../../src/actors/region-cache/cached-region.js";
import { RegionCache } from "../../src/actors/region-cache/index.js";
import {
  ReplicaSelector,
  type ReplicaSelectorOptions,
} from "../../src/actors/region-cache/replica-selector.js";
import {
  AbortedError,
  BackoffExhaustedError,
  RegionError,
  ResultUndeterminedError,
} from "../../src/errors/index.js";
import {
  newRetrySession,
  type RetryResult,
  type RetrySession,
  retryMachine,
  type SendOutcome,
} from "../../src/machines/retry.js";
import { Error as RegionErrorProto } from "../../src/proto/errorpb.js";
import { Region } from "../../src/proto/metapb.js";
import { GrpcError, TimeoutError } from "../../src/rpc/errors.js";
import { FakePd } from "../client/routing/fakes.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelPath, modelPaths, replayPath } from "./paths.js";
import { FIRST_SLEEP_MS, type RetryModelContext, retryModel } from "./retry-model.js";

const KEY = Buffer.from("a");
const SEL: ReplicaSelectorOptions = { replicaRead: "leader", isRead: true, random: () => 0 };
const real = new MachineCoverage("retry", retryMachine);

interface Parked<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  storeId: bigint;
}

async function harness() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id);
  pd.addRegion(1n, "", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const region = await cache.locateKey(KEY);
  // maxSleep 1 ms, weight 1: the first backoff of any kind fits, the second exhausts the budget
  const bo = new Backoffer({ maxSleepMs: 1, weight: 1, random: () => 0 });
  const session = newRetrySession({
    cache,
    selector: new ReplicaSelector(cache, region, SEL),
    bo,
    isRead: true,
    rpcTimeoutMs: 30_000,
    relocatable: true,
    newSelector: (r) => new ReplicaSelector(cache, r, SEL),
  });
  const sends: Parked<SendOutcome>[] = [];
  const relocs: Parked<CachedRegion>[] = [];
  const machine = retryMachine.provide({
    actors: {
      send: fromPromise<SendOutcome, RetrySession>(
        ({ input }) =>
          new Promise((resolve, reject) =>
            sends.push({ resolve, reject, storeId: input.selector.target?.storeId ?? 0n }),
          ),
      ),
      relocate: fromPromise<CachedRegion, RetrySession>(
        () => new Promise((resolve, reject) => relocs.push({ resolve, reject, storeId: 0n })),
      ),
    },
  });
  const h = {
    pd,
    cache,
    session,
    sends,
    relocs,
    hinted: 0n,
    actor: undefined as Actor<typeof machine> | undefined,
    result: undefined as RetryResult | undefined,
    start(initial?: SendOutcome) {
      if (initial) session.selector.next(); // the fast-path attempt went to the leader
      const a = createActor(machine, { input: { session, initial }, inspect: real.inspect });
      a.subscribe({ complete: () => (h.result = a.getSnapshot().output) });
      h.actor = a;
      a.start();
      a.send({ type: "START" });
    },
    answer(o: SendOutcome) {
      const p = sends.at(-1);
      if (!p) throw new Error("no attempt in flight");
      p.resolve(o);
    },
    otherStore(): bigint {
      const cur = sends.at(-1)?.storeId ?? 1n;
      return (cur % 3n) + 1n;
    },
  };
  return h;
}

type Harness = Awaited<ReturnType<typeof harness>>;
const flush = () => vi.advanceTimersByTimeAsync(0);
const regionError = (e: Parameters<typeof RegionErrorProto.fromPartial>[0]) => ({
  resp: { regionError: RegionErrorProto.fromPartial(e) },
});
const peerOn = (h: Harness, store: bigint) =>
  h.session.selector.region.peers.find((p) => p.storeId === store) ?? { id: 0n, storeId: store };

const REAL_STATE: Record<string, string> = {
  idle: "idle",
  sending: "sending",
  backingOff: "backingOff",
  relocating: "relocating",
  succeeded: "succeeded",
  failed: "failed",
};

function checkOutcome(h: Harness, m: RetryModelContext, value: string) {
  const r = h.result;
  expect(r).toBeDefined();
  if (value === "succeeded") {
    expect(r?.kind).toBe("ok");
    return;
  }
  expect(r?.kind).toBe("error");
  const err = (r as { error: Error }).error;
  const expected = {
    exhausted: BackoffExhaustedError,
    fatal: RegionError,
    undetermined: ResultUndeterminedError,
    aborted: AbortedError,
    relocateFailed: Error,
    "": Error,
  }[m.failure];
  expect(err).toBeInstanceOf(expected);
  if (m.failure === "relocateFailed") expect(err.message).toBe("pd lookup failed");
}

async function replay(path: ModelPath) {
  const h = await harness();
  let ctx: RetryModelContext | undefined;
  await replayPath(path, {
    events: {
      START: async () => {
        h.start();
        await flush();
      },
      FAST_NOT_LEADER: async () => {
        h.hinted = 2n;
        h.start(regionError({ notLeader: { regionId: 1n, leader: peerOn(h, 2n) } }));
        await flush();
      },
      OK: async () => {
        h.answer({ resp: { value: Buffer.from("v") } });
        await flush();
      },
      NOT_LEADER: async () => {
        h.hinted = h.otherStore();
        h.answer(regionError({ notLeader: { regionId: 1n, leader: peerOn(h, h.hinted) } }));
        await flush();
      },
      NO_LEADER: async () => {
        h.answer(regionError({ notLeader: { regionId: 1n } }));
        await flush();
      },
      SEND_FAIL: async () => {
        // a rejected send (transport error thrown) — sending's onError edge
        h.sends.at(-1)?.reject(new GrpcError(14, "connection refused", "store"));
        await flush();
      },
      STALE_EPOCH: async () => {
        const right = h.pd.split(1n, "m", 2n);
        const left = h.pd.region(1n);
        h.answer(regionError({ epochNotMatch: { currentRegions: [left.meta, right.meta] } }));
        await flush();
      },
      REGION_NOT_FOUND: async () => {
        h.answer(regionError({ regionNotFound: { regionId: 1n } }));
        await flush();
        // the relocation waits one RegionMiss backoff first (oracle from the model)
        if (h.actor?.getSnapshot().value === "relocateWait")
          await vi.advanceTimersByTimeAsync(FIRST_SLEEP_MS.regionMiss);
      },
      FATAL: async () => {
        h.answer(regionError({ raftEntryTooLarge: { regionId: 1n, entrySize: 1n << 30n } }));
        await flush();
      },
      UNDETERMINED: async () => {
        h.answer(regionError({ undeterminedResult: { message: "apply state unknown" } }));
        await flush();
      },
      ABORT: async () => {
        h.actor?.send({ type: "ABORT", error: new AbortedError("caller aborted") });
        await flush();
      },
      ELAPSED: async () => {
        const ms = FIRST_SLEEP_MS[ctx?.kind as keyof typeof FIRST_SLEEP_MS];
        await vi.advanceTimersByTimeAsync(ms - 1);
        expect(h.actor?.getSnapshot().value).toBe("backingOff");
        await vi.advanceTimersByTimeAsync(1);
      },
      RELOCATED: async () => {
        h.relocs.at(-1)?.resolve(await h.cache.locateKey(KEY));
        await flush();
      },
      RELOCATE_FAIL: async () => {
        h.relocs.at(-1)?.reject(new Error("pd lookup failed"));
        await flush();
      },
    },
    state: (m) => {
      ctx = m.context as RetryModelContext;
      const value = m.value as string;
      if (value === "idle") return;
      const snap = (h.actor as Actor<typeof retryMachine>).getSnapshot();
      expect(snap.value).toBe(REAL_STATE[value]);
      // backoff kinds used so far
      const expectedKinds = ctx.slept && ctx.kind ? { [ctx.kind]: 1 } : {};
      expect(h.session.bo.backoffTimes()).toEqual(expectedKinds);
      if (value === "sending") {
        // peers tried: a hinted leader is tried next; a failed store is not tried again at once
        if (ctx.expectHint) expect(h.sends.at(-1)?.storeId).toBe(h.hinted);
        if (ctx.avoidFailed) expect(h.sends.at(-1)?.storeId).not.toBe(h.sends.at(-2)?.storeId);
      }
      if (value === "succeeded" || value === "failed") checkOutcome(h, ctx, value);
    },
  });
  h.actor?.stop();
}

describe("retry machine (model-based, real actor)", () => {
  afterEach(() => vi.useRealTimers());
  const { all, coverage } = modelPaths("retry model", retryModel);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
    expect(all.length).toBeGreaterThan(20);
  });

  for (const path of all) {
    it(path.description, async () => {
      vi.useFakeTimers();
      await replay(path);
    });
  }

  afterAll(() => {
    // eslint-disable-next-line no-console
    console.log(`\nretry machine coverage\n${coverageTable([{ name: "retry", model: coverage, real }])}`);
  });

  it("covers every state and every transition of the real machine", async () => {
    // extra replays for the real machine's branches the model does not name:
    vi.useFakeTimers();
    await extraScenarios();
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges().map((e) => e.key)).toEqual([]);
  });
});

// Drives a harness until it finishes: `answer(i)` gives the i-th attempt's outcome;
// relocations resolve from the cache; timers advance in 100 ms steps.
async function drive(h: Harness, answer: (i: number) => SendOutcome, before?: (i: number) => void) {
  let answered = 0;
  for (let n = 0; n < 200 && h.result === undefined; n++) {
    const v = h.actor?.getSnapshot().value;
    if (v === "sending" && h.sends.length > answered) {
      before?.(answered);
      h.sends[answered]?.resolve(answer(answered));
      answered++;
    } else if (v === "relocating") {
      h.relocs.at(-1)?.resolve(await h.cache.locateKey(KEY));
    }
    await vi.advanceTimersByTimeAsync(v === "sending" || v === "relocating" ? 0 : 100);
  }
  return h.result;
}

const busy = regionError({ serverIsBusy: { reason: "scheduler is busy", estimatedWaitMs: 0 } });
const MIXED: ReplicaSelectorOptions = { replicaRead: "mixed", isRead: true, random: () => 0 };

// Branches outside the key-target model: a region target (the region error goes back to the
// caller), no replica left to try, a pending ServerIsBusy backoff paid before an attempt,
// a failing epoch update, an EpochNotMatch ahead of TiKV, a send that resolves with an error.
async function extraScenarios() {
  // region target: KeyNotInRegion is returned to the caller (state "returned")
  {
    const h = await harness();
    h.session.relocatable = false;
    h.start();
    await flush();
    h.answer(regionError({ keyNotInRegion: { regionId: 1n, key: KEY } }));
    await flush();
    expect(h.result?.kind).toBe("regionError");
  }
  // an EpochNotMatch whose regions are older than the cache: RegionMiss backoff, then retry;
  // the same with the budget spent fails (routing's failure edge)
  for (const spent of [false, true]) {
    const h = await harness();
    if (spent) h.session.bo.next({ ...Bo.RegionMiss }, new Error("earlier"));
    h.start();
    await flush();
    const stale = Region.fromPartial({ ...h.pd.region(1n).meta, regionEpoch: { confVer: 1n, version: 0n } });
    h.answer(regionError({ epochNotMatch: { currentRegions: [stale] } }));
    await flush();
    if (spent) {
      expect((h.result as { error: Error }).error).toBeInstanceOf(BackoffExhaustedError);
      continue;
    }
    expect(h.actor?.getSnapshot().value).toBe("backingOff");
    await vi.advanceTimersByTimeAsync(FIRST_SLEEP_MS.regionMiss);
    h.answer({ resp: {} });
    await flush();
    expect(h.result?.kind).toBe("ok");
    expect(h.session.bo.backoffTimes()).toEqual({ regionMiss: 1 });
  }
  // applying the EpochNotMatch throws: the request fails with that error
  {
    const h = await harness();
    h.start();
    await flush();
    h.cache.onEpochNotMatch = async () => {
      throw new Error("cache broken");
    };
    h.answer(regionError({ epochNotMatch: { currentRegions: [h.pd.region(1n).meta] } }));
    await flush();
    expect((h.result as { error: Error }).error.message).toBe("cache broken");
  }
  // a send that resolves with an error outcome on every peer, unlimited budget: tikvRPC
  // backoffs, the region reloaded, and in the end the request succeeds
  {
    const h = await harness();
    h.session.bo = new Backoffer({ maxSleepMs: 0, random: () => 0 });
    h.start();
    const r = await drive(h, (i) =>
      i < 3 ? { error: new GrpcError(14, "connection refused", "store") } : { resp: {} },
    );
    expect(r?.kind).toBe("ok");
  }
  // mixed replica reads, every replica busy: fast retries leave pending ServerIsBusy backoffs,
  // paid before going back to a store (pendingBackoff) or once no replica is left (noCandidateWait)
  {
    const h = await harness();
    h.session.bo = new Backoffer({ maxSleepMs: 0, random: () => 0 });
    h.session.selector = new ReplicaSelector(h.cache, h.session.selector.region, MIXED);
    h.session.newSelector = (r) => new ReplicaSelector(h.cache, r, MIXED);
    h.start();
    const r = await drive(h, (i) => (i < 8 ? busy : { resp: {} }));
    expect(r?.kind).toBe("ok");
    expect(h.session.bo.backoffTimes().tikvServerBusy).toBeGreaterThan(0);
  }
  // a busy leader (busy threshold set) sends the read to the followers, busy too: going back
  // to the leader pays its pending ServerIsBusy backoff first (pendingBackoff); with the
  // request aborted meanwhile the backoffer refuses and selecting fails
  for (const abort of [false, true]) {
    const ac = new AbortController();
    const h = await harness();
    const busyLeader: ReplicaSelectorOptions = { ...SEL, busyThresholdMs: 50 };
    h.session.bo = new Backoffer({ maxSleepMs: 0, random: () => 0, signal: ac.signal });
    h.session.selector = new ReplicaSelector(h.cache, h.session.selector.region, busyLeader);
    h.start();
    const r = await drive(
      h,
      (i) =>
        i < 3
          ? regionError({ serverIsBusy: { reason: "read pool is busy", estimatedWaitMs: 10 } })
          : { resp: {} },
      (i) => abort && i === 2 && ac.abort(),
    );
    expect(r?.kind).toBe(abort ? "error" : "ok");
    if (abort) expect((r as { error: Error }).error).toBeInstanceOf(AbortedError);
    else {
      // every replica busy once, then back to the leader after paying one ServerIsBusy backoff
      expect(h.sends.map((x) => x.storeId)).toEqual([1n, 2n, 3n, 1n]);
      expect(h.session.bo.backoffTimes()).toEqual({ tikvServerBusy: 1 });
    }
  }
  // a short read timeout skips the timed-out replica without backing off (sendFailed -> selecting)
  {
    const h = await harness();
    h.session.rpcTimeoutMs = 1_000;
    h.start();
    const r = await drive(h, (i) => (i === 0 ? { error: new TimeoutError("Get", 1_000) } : { resp: {} }));
    expect(r?.kind).toBe("ok");
    expect(h.session.bo.backoffTimes()).toEqual({});
    expect(h.sends[1]?.storeId).not.toBe(h.sends[0]?.storeId);
  }
  // RecoveryInProgress: back off, then treat the region as changed and relocate
  {
    const h = await harness();
    h.session.bo = new Backoffer({ maxSleepMs: 0, random: () => 0 });
    h.start();
    const r = await drive(h, (i) =>
      i === 0 ? regionError({ RecoveryInProgress: { regionId: 1n } }) : { resp: {} },
    );
    expect(r?.kind).toBe("ok");
    expect(h.session.bo.backoffTimes().regionRecoveryInProgress).toBe(1);
    expect(h.relocs.length).toBe(1);
  }
  // the same, aborted while backoffs are pending: the backoffer refuses (selecting / noCandidate fail)
  for (const abortAt of [1, 2, 3]) {
    const ac = new AbortController();
    const h = await harness();
    h.session.bo = new Backoffer({ maxSleepMs: 0, random: () => 0, signal: ac.signal });
    h.session.selector = new ReplicaSelector(h.cache, h.session.selector.region, MIXED);
    h.session.newSelector = (r) => new ReplicaSelector(h.cache, r, MIXED);
    h.start();
    const r = await drive(
      h,
      () => busy,
      (i) => i === abortAt && ac.abort(),
    );
    expect(r?.kind).toBe("error");
  }
}
