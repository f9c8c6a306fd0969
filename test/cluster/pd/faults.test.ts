import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { PdRequestEvent } from "../../../src/cluster/pd/index.js";
import { PDClient } from "../../../src/proto/pdpb.js";
import { call, callError, type PdFixture, startPd, streamError, tsOf, tsoStream } from "./helpers.js";

let fx: PdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("PD faults", () => {
  it("unavailable: every call fails with UNAVAILABLE until cleared", async () => {
    fx = await startPd();
    fx.pd.setUnavailable(true);
    const members = await callError(fx.clients[0]!, "getMembers", { header: fx.header });
    expect([members.code, members.details]).toEqual([status.UNAVAILABLE, "server not started"]);
    expect((await callError(fx.clients[0]!, "getStore", { header: fx.header, storeId: 1n })).code).toBe(
      status.UNAVAILABLE,
    );
    const s = tsoStream(fx.clients[0]!);
    expect((await streamError(s.request(fx.pd.clusterId, 1))).code).toBe(status.UNAVAILABLE);
    fx.pd.setUnavailable(false);
    expect((await call(fx.clients[0]!, "getMembers", { header: fx.header })).members).toHaveLength(1);
  });

  it("one member unavailable leaves the others answering", async () => {
    fx = await startPd({ members: 2 });
    fx.pd.setUnavailable(true, 1);
    expect((await callError(fx.clients[1]!, "getMembers", { header: fx.header })).code).toBe(
      status.UNAVAILABLE,
    );
    await call(fx.clients[0]!, "getMembers", { header: fx.header });
  });

  it("a stopped member refuses connections; restarted, it serves on the same address", async () => {
    fx = await startPd({ members: 2 });
    const endpoint = fx.pd.endpoints[1]!;
    await fx.pd.stopMember(1);
    const e = await callError(fx.clients[1]!, "getMembers", { header: fx.header });
    expect(e.code).toBe(status.UNAVAILABLE);
    // The member list still names it, as PD's does for a down member.
    const m = await call(fx.clients[0]!, "getMembers", { header: fx.header });
    expect(m.members).toHaveLength(2);
    await fx.pd.startMember(1);
    expect(fx.pd.endpoints[1]).toBe(endpoint);
    // A private subchannel: the shared one is still backing off from the refused connection.
    const fresh = new PDClient(endpoint, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
    });
    try {
      expect((await call(fresh, "getMembers", { header: fx.header })).members).toHaveLength(2);
    } finally {
      fresh.close();
    }
    await expect(fx.pd.stopMember(5)).rejects.toThrow(RangeError);
  });

  it("failNext fires exactly N times, for the named method only", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    fx.pd.faults.failNext("GetRegion", 2, { kind: "notLeader" });
    await call(c, "getStore", { header: fx.header, storeId: 1n });
    for (let i = 0; i < 2; i++) {
      const e = await callError(c, "getRegion", { header: fx.header, regionKey: Buffer.alloc(0) });
      expect(e.code).toBe(status.UNAVAILABLE);
      expect(e.details).toBe("not leader");
    }
    const ok = await call(c, "getRegion", { header: fx.header, regionKey: Buffer.alloc(0) });
    expect(ok.region).toBeDefined();
  });

  it("failNext with a custom status and on one member", async () => {
    fx = await startPd({ members: 2 });
    fx.pd.faults.failNext(
      "*",
      1,
      { kind: "status", code: status.RESOURCE_EXHAUSTED, details: "rate limited" },
      1,
    );
    await call(fx.clients[0]!, "getMembers", { header: fx.header });
    const e = await callError(fx.clients[1]!, "getMembers", { header: fx.header });
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(e.details).toBe("rate limited");
    await call(fx.clients[1]!, "getMembers", { header: fx.header });
    expect(() => fx!.pd.faults.failNext("Tso", 0, { kind: "unavailable" })).toThrow(RangeError);
  });

  it("a notLeader fault on Tso ends the stream with PD's not-leader TSO error", async () => {
    fx = await startPd();
    fx.pd.faults.failNext("Tso", 1, { kind: "notLeader" });
    const s = tsoStream(fx.clients[0]!);
    const e = await streamError(s.request(fx.pd.clusterId, 1));
    expect(e.code).toBe(status.UNKNOWN);
    expect(e.details).toContain("is not leader");
    const s2 = tsoStream(fx.clients[0]!);
    expect(tsOf(await s2.request(fx.pd.clusterId, 1))).toBeGreaterThan(0n);
    s2.end();
  });

  it("delays hold answers back but keep Tso answers in order", async () => {
    fx = await startPd();
    fx.pd.faults.setDelay("Tso", 30);
    const s = tsoStream(fx.clients[0]!);
    const [a, b2] = await Promise.all([s.request(fx.pd.clusterId, 1), s.request(fx.pd.clusterId, 1)]);
    expect(tsOf(b2)).toBeGreaterThan(tsOf(a));
    s.end();
    fx.pd.faults.setDelay("Tso", 0);
    expect(fx.pd.faults.delayOf("Tso")).toBe(0);
  });

  it("counters count every call per method; the hook sees each request with its member", async () => {
    fx = await startPd({ members: 2 });
    const seen: PdRequestEvent[] = [];
    const off = fx.pd.faults.onRequest((e) => {
      seen.push(e);
      throw new Error("hook failures are ignored");
    });
    await call(fx.clients[0]!, "getMembers", { header: fx.header });
    await call(fx.clients[1]!, "getMembers", { header: fx.header });
    await callError(fx.clients[1]!, "getStore", { header: fx.header, storeId: 1n });
    const s = tsoStream(fx.clients[0]!);
    await s.request(fx.pd.clusterId, 3);
    await s.request(fx.pd.clusterId, 3);
    s.end();
    expect(fx.pd.faults.calls("GetMembers")).toBe(2);
    expect(fx.pd.faults.calls("GetStore")).toBe(1);
    expect(fx.pd.faults.calls("Tso")).toBe(2);
    expect(seen.map((e) => [e.method, e.member])).toEqual([
      ["GetMembers", 0],
      ["GetMembers", 1],
      ["GetStore", 1],
      ["Tso", 0],
      ["Tso", 0],
    ]);
    expect((seen[2]!.request as { storeId: bigint }).storeId).toBe(1n);
    off();
    await call(fx.clients[0]!, "getMembers", { header: fx.header });
    expect(seen).toHaveLength(5);
    fx.pd.faults.reset();
    expect(fx.pd.faults.allCalls()).toEqual({});
  });
});
