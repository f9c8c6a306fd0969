// The client side of resource control on its own: client-go's request info and request source
// rules, PD's KV RU model, the local bucket, and a group controller throttling against a fake PD.
// Ported by meaning (test/ported/resource-control.md): client-go internal/resourcecontrol
// TestMakeRequestInfo / TestResponseInfoReadBytes, util TestGetRequestSource / TestBuildRequestSource,
// PD client model_test / limiter_test (reservation within / beyond the max wait).

import { describe, expect, it } from "vitest";
import { GroupController } from "../../../src/actors/resource-control/group-controller.js";
import { LocalBucket } from "../../../src/actors/resource-control/local-bucket.js";
import { isBypassedSource } from "../../../src/actors/resource-control/request-source.js";
import {
  costAfter,
  costBefore,
  DEFAULT_REQUEST_UNIT_CONFIG as RU,
  requestInfo,
  responseInfo,
  ruOf,
} from "../../../src/actors/resource-control/ru-model.js";
import {
  AbortedError,
  buildRequestSource,
  isInternalRequestSource,
  ResourceGroupThrottledError,
} from "../../../src/index.js";
import { Consumption, GroupMode, type ResourceGroup } from "../../../src/proto/resource_manager.js";

const b = (s: string) => Buffer.from(s);

describe("request info (client-go TestMakeRequestInfo)", () => {
  it("reads are not writes; prewrite counts mutations + primary; commit counts keys; others bypass", () => {
    const read = requestInfo("BatchGet", { keys: [b("k")] }, 3, 1n);
    expect(read).toMatchObject({ isWrite: false, writeBytes: 0, storeId: 1n });
    const pw = requestInfo(
      "Prewrite",
      { mutations: [{ key: b("foo"), value: b("bar") }], primaryLock: b("baz") },
      1,
      2n,
    );
    expect(pw).toMatchObject({ isWrite: true, writeBytes: 9, storeId: 2n, replicaCount: 1 });
    expect(isBypassedSource("xxx_internal_others")).toBe(true);
    const commit = requestInfo("Commit", { keys: [b("qux")] }, 2, 3n);
    expect(commit).toMatchObject({ isWrite: true, writeBytes: 3, replicaCount: 2 });
    expect(isBypassedSource("external_txn")).toBe(false);
    // raw writes are writes with no byte count (client-go counts bytes of prewrite / commit only)
    expect(requestInfo("RawPut", { key: b("k"), value: b("vvvv") }, 3, 1n)).toMatchObject({
      isWrite: true,
      writeBytes: 0,
    });
  });

  it("response read bytes come from the scan detail, else a scan's pairs (TestResponseInfoReadBytes)", () => {
    const get = responseInfo("Get", {
      execDetailsV2: {
        scanDetailV2: { processedVersionsSize: 123n },
        timeDetailV2: { processWallTimeNs: 3_000_000n },
      },
    });
    expect(get).toEqual({ readBytes: 123, kvCpuMs: 3 });
    expect(responseInfo("Scan", { pairs: [{ key: b("ab"), value: b("cde") }] }).readBytes).toBe(5);
    expect(responseInfo("Prewrite", {})).toEqual({ readBytes: 0, kvCpuMs: 0 });
  });
});

describe("KV RU model (PD KVCalculator with DefaultRequestUnitConfig)", () => {
  it("a write pays base + batch share + bytes, times replicas; a read its base then bytes and CPU", () => {
    const c = Consumption.fromPartial({});
    costBefore(RU, requestInfo("Commit", { keys: [b("x".repeat(1024))] }, 3, 1n), c);
    expect(c.wRU).toBeCloseTo((1 + 0.7 + 1) * 3, 9);
    expect(c.kvWriteRpcCount).toBe(1);
    const r = Consumption.fromPartial({});
    const info = requestInfo("Get", {}, 3, 1n);
    costBefore(RU, info, r);
    expect(r.rRU).toBeCloseTo(0.125 + 0.5 * 0.7, 9);
    costAfter(RU, info, { readBytes: 64 * 1024, kvCpuMs: 3 }, r);
    expect(ruOf(r)).toBeCloseTo(0.125 + 0.35 + 1 + 1, 9);
    expect(r.readBytes).toBe(64 * 1024);
  });
});

describe("request source (client-go TestGetRequestSource / TestBuildRequestSource)", () => {
  it("builds scope_type[_explicit], unknown when neither type is set", () => {
    expect(buildRequestSource(true, "test", "lightning")).toBe("internal_test_lightning");
    expect(buildRequestSource(false, "test", "lightning")).toBe("external_test_lightning");
    expect(buildRequestSource(false, "test", "")).toBe("external_test");
    expect(buildRequestSource(false, "", "lightning")).toBe("external_unknown_lightning");
    expect(buildRequestSource(true, "", "")).toBe("unknown");
    // an explicit type equal to the type is not repeated
    expect(buildRequestSource(false, "br", "br")).toBe("external_br");
    expect(isInternalRequestSource("internal_gc")).toBe(true);
    expect(isInternalRequestSource("external_txn")).toBe(false);
  });
});

describe("local bucket (PD client limiter)", () => {
  it("reserves into debt within the max wait; refuses beyond it and takes nothing", () => {
    const lb = new LocalBucket(0, { tokens: 10, fillRate: 10, burst: 0, notifyThreshold: 1 });
    expect(lb.reserve(0, 15, 1000)).toEqual({ ok: true, waitMs: 500 });
    const refused = lb.reserve(0, 20, 1000);
    expect(refused.ok).toBe(false);
    expect(lb.available(0)).toBe(-5);
    // refills at the rate
    expect(lb.available(1000)).toBe(5);
    // no rate: any shortfall is an infinite wait
    const dry = new LocalBucket(0, { tokens: 1, fillRate: 0, burst: 0, notifyThreshold: 1 });
    expect(dry.reserve(0, 2, 30_000)).toMatchObject({ ok: false, waitMs: Number.POSITIVE_INFINITY });
    // unlimited (burst < 0) never waits
    expect(
      new LocalBucket(0, { tokens: 0, fillRate: 0, burst: -1, notifyThreshold: 0 }).reserve(0, 1e9, 0),
    ).toEqual({
      ok: true,
      waitMs: 0,
    });
  });
});

function group(fillRate: number, burst: bigint): ResourceGroup {
  return {
    name: "g",
    mode: GroupMode.RUMode,
    priority: 8,
    rUSettings: {
      rU: { settings: { fillRate: BigInt(fillRate), burstLimit: burst, maxTokens: 0 }, tokens: 0 },
    },
  };
}
const CFG = {
  ru: RU,
  maxWaitMs: 1000,
  waitRetryIntervalMs: 5,
  waitRetryTimes: 3,
  targetPeriodMs: 1000,
  updateIntervalMs: 100,
};
const put = requestInfo("RawPut", {}, 1, 1n); // 1.7 WRU

describe("group controller against a fake PD", () => {
  it("starts with the fill rate's tokens; without a grant a request past them fails throttled (typed)", async () => {
    let lows = 0;
    const g = new GroupController(group(2, 2n), CFG, Date.now, () => lows++);
    await g.onRequest(put); // 2 tokens → 0.3 left
    const e = await g.onRequest(put).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResourceGroupThrottledError);
    expect((e as ResourceGroupThrottledError).resourceGroup).toBe("g");
    expect(g.stats).toMatchObject({ requests: 2, throttled: 1, retries: 3 });
    expect(lows).toBeGreaterThanOrEqual(3);
  });

  it("a grant wakes the waiting request; the report asks for what it lacks and carries the consumption", async () => {
    const g = new GroupController(
      group(2, 2n),
      { ...CFG, waitRetryIntervalMs: 10_000, waitRetryTimes: 2 },
      Date.now,
      () => {},
    );
    await g.onRequest(put);
    const waiting = g.onRequest(put);
    await new Promise((r) => setTimeout(r, 0));
    expect(g.wantsReport(true)).toBe(true);
    const rep = g.takeReport();
    expect(rep.requested).toBeGreaterThan(1.7 - 0.3 - 1e-9);
    expect(rep.consumption.wRU).toBeCloseTo(3.4, 9);
    g.applyGrant({ settings: { fillRate: 0n, burstLimit: 2n, maxTokens: 0 }, tokens: rep.requested }, 0);
    await waiting;
    expect(g.stats).toMatchObject({ requests: 2, throttled: 0, grants: 1 });
  });

  it("an aborted request stops waiting for a grant at once: AbortedError, nothing left waiting", async () => {
    const g = new GroupController(
      group(2, 2n),
      { ...CFG, waitRetryIntervalMs: 60_000, waitRetryTimes: 5 },
      Date.now,
      () => {},
    );
    await g.onRequest(put); // 0.3 tokens left: the next one is refused and waits for a grant
    const ac = new AbortController();
    const waiting = g.onRequest(put, ac.signal).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 0));
    expect(g.stats.waiting).toBe(1);
    ac.abort();
    expect(await waiting).toBeInstanceOf(AbortedError);
    expect(g.stats).toMatchObject({ waiting: 0, throttled: 0, retries: 1 });
    // it no longer asks PD for what it lacked
    expect(g.takeReport().requested).toBe(0);
  });

  it("an aborted request stops its reservation's delay and gives the tokens back", async () => {
    const g = new GroupController(group(2, 2n), CFG, Date.now, () => {}); // waits up to 1 s
    await g.onRequest(put); // 0.3 left
    g.applyGrant({ settings: { fillRate: 0n, burstLimit: 2n, maxTokens: 0 }, tokens: 2 }, 1000); // 2 RU/s
    const ac = new AbortController();
    const delayed = g.onRequest(put, ac.signal).catch((x: unknown) => x); // ~0.7 s of delay
    await new Promise((r) => setTimeout(r, 0));
    expect(g.stats).toMatchObject({ delayed: 1, waiting: 1 });
    ac.abort();
    expect(await delayed).toBeInstanceOf(AbortedError);
    expect(g.stats.waiting).toBe(0);
    // the 1.7 RU came back: the next request is delayed ~0.7 s again; without them it would need
    // ~1.55 s, past the 1 s max wait, and be refused (a retry)
    const ac2 = new AbortController();
    const next = g.onRequest(put, ac2.signal);
    expect(g.stats).toMatchObject({ delayed: 2, retries: 0 });
    ac2.abort();
    await next.catch(() => {});
  });

  it("an already aborted signal is refused before any accounting wait", async () => {
    const g = new GroupController(group(2, 2n), CFG, Date.now, () => {});
    const ac = new AbortController();
    ac.abort();
    expect(await g.onRequest(put, ac.signal).catch((x: unknown) => x)).toBeInstanceOf(AbortedError);
    expect(g.stats).toMatchObject({ waiting: 0, delayed: 0 });
  });

  it("a burstable group (burst < 0) never waits, only accounts", async () => {
    const g = new GroupController(group(0, -1n), CFG, Date.now, () => {});
    for (let i = 0; i < 50; i++) await g.onRequest(put);
    expect(g.stats).toMatchObject({ requests: 50, delayed: 0, throttled: 0 });
    expect(g.takeReport().requested).toBe(0);
  });

  it("a trickled grant delivers at granted / trickle time: a request waits instead of failing", async () => {
    const g = new GroupController(group(2, 2n), CFG, Date.now, () => {});
    await g.onRequest(put);
    g.applyGrant({ settings: { fillRate: 0n, burstLimit: 2n, maxTokens: 0 }, tokens: 20 }, 200); // 100 RU/s
    await g.onRequest(put);
    expect(g.stats).toMatchObject({ delayed: 1, throttled: 0, trickledGrants: 1 });
  });
});
