import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_LOGICAL, TimestampOracle } from "../../../src/cluster/pd/index.js";
import { ServiceMode } from "../../../src/proto/pdpb.js";
import { call, callError, type PdFixture, startPd, streamError, tsOf, tsoStream } from "./helpers.js";

let fx: PdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("GetMembers and leadership", () => {
  it("every member reports the same members, leader and etcd leader; header carries the cluster id", async () => {
    fx = await startPd({ members: 3, clusterId: 4242n });
    for (const c of fx.clients) {
      const r = await call(c, "getMembers", { header: { clusterId: 0n } });
      expect(r.header.clusterId).toBe(4242n);
      expect(r.header.error).toBeUndefined();
      expect(r.members).toHaveLength(3);
      expect(r.members.map((m) => m.clientUrls[0])).toEqual(fx.pd.endpoints.map((e) => `http://${e}`));
      expect(r.leader.memberId).toBe(r.members[0].memberId);
      expect(r.etcdLeader.memberId).toBe(r.members[0].memberId);
    }
  });

  it("leader change: GetMembers shows the new leader; the old leader answers UNAVAILABLE 'not leader'", async () => {
    fx = await startPd({ members: 3 });
    const h = fx.header;
    await call(fx.clients[0]!, "getAllStores", { header: h });
    fx.pd.transferLeader(2);
    const m = await call(fx.clients[0]!, "getMembers", { header: h });
    expect(m.leader.clientUrls[0]).toBe(`http://${fx.pd.endpoints[2]}`);
    const e = await callError(fx.clients[0]!, "getAllStores", { header: h });
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.details).toBe("not leader");
    const ok = await call(fx.clients[2]!, "getAllStores", { header: h });
    expect(ok.stores).toHaveLength(1);
    expect(() => fx!.pd.transferLeader(3)).toThrow(RangeError);
  });

  it("a fixed port is honoured (member i would take port + i)", async () => {
    const probe = await startPd();
    const free = Number(probe.pd.endpoints[0]!.split(":")[1]);
    await probe.close();
    fx = await startPd({ port: free });
    expect(fx.pd.endpoints).toEqual([`127.0.0.1:${free}`]);
    await expect(startPd({ members: 2, port: 65535 })).rejects.toThrow(RangeError);
  });

  it("without a leader every member refuses leader-only calls but still answers GetMembers", async () => {
    fx = await startPd({ members: 2 });
    fx.pd.clearLeader();
    const m = await call(fx.clients[1]!, "getMembers", { header: fx.header });
    expect(m.leader).toBeUndefined();
    expect(
      (await callError(fx.clients[0]!, "getRegion", { header: fx.header, regionKey: Buffer.alloc(0) }))
        .details,
    ).toBe("not leader");
  });

  it("a wrong cluster id fails with FAILED_PRECONDITION, as PD's ErrMismatchClusterID", async () => {
    fx = await startPd({ clusterId: 10n });
    const e = await callError(fx.clients[0]!, "getStore", { header: { clusterId: 11n }, storeId: 1n });
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.details).toBe("mismatch cluster id, need 10 but got 11");
    // GetMembers and GetClusterInfo do not check it (clients learn the id from GetMembers).
    await call(fx.clients[0]!, "getMembers", { header: { clusterId: 11n } });
    const info = await call(fx.clients[0]!, "getClusterInfo", {});
    expect(info.serviceModes).toEqual([ServiceMode.PD_SVC_MODE]);
  });
});

describe("Tso stream", () => {
  it("timestamps are strictly increasing and a batch answers its last ts with the count", async () => {
    fx = await startPd();
    const s = tsoStream(fx.clients[0]!);
    let prev = 0n;
    for (const count of [1, 5, 1, 100, 3]) {
      const r = await s.request(fx.pd.clusterId, count);
      expect(r.count).toBe(count);
      expect(r.header!.clusterId).toBe(fx.pd.clusterId);
      const last = tsOf(r);
      const first = last - BigInt(count - 1);
      expect(first).toBeGreaterThan(prev);
      expect(r.timestamp!.logical).toBeGreaterThanOrEqual(BigInt(count));
      prev = last;
    }
    s.end();
  });

  it("count 0 ends the stream with PD's ErrGenerateTimestamp", async () => {
    fx = await startPd();
    const s = tsoStream(fx.clients[0]!);
    const e = await streamError(s.request(fx.pd.clusterId, 0));
    expect(e.code).toBe(status.UNKNOWN);
    expect(e.details).toBe(
      "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, tso count should be positive",
    );
  });

  it("a follower's stream fails with the not-leader TSO error; the new leader serves higher ts", async () => {
    fx = await startPd({ members: 2 });
    const s0 = tsoStream(fx.clients[0]!);
    const before = tsOf(await s0.request(fx.pd.clusterId, 1));
    fx.pd.transferLeader(1);
    const e = await streamError(s0.request(fx.pd.clusterId, 1));
    expect(e.code).toBe(status.UNKNOWN);
    expect(e.details).toContain("is not leader");
    const s1 = tsoStream(fx.clients[1]!);
    expect(tsOf(await s1.request(fx.pd.clusterId, 1))).toBeGreaterThan(before);
    s1.end();
  });

  it("a wrong cluster id on the stream fails with FAILED_PRECONDITION", async () => {
    fx = await startPd({ clusterId: 5n });
    const s = tsoStream(fx.clients[0]!);
    const e = await streamError(s.request(6n, 1));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
  });

  it("scripted timestamps are answered in order, then the oracle continues above them", async () => {
    fx = await startPd();
    const future = (BigInt(Date.now() + 3_600_000) << 18n) + 7n;
    fx.pd.scriptTso([future, 5n]);
    const s = tsoStream(fx.clients[0]!);
    expect(tsOf(await s.request(fx.pd.clusterId, 1))).toBe(future);
    expect(tsOf(await s.request(fx.pd.clusterId, 1))).toBe(5n);
    expect(tsOf(await s.request(fx.pd.clusterId, 1))).toBeGreaterThan(future);
    s.end();
  });

  it("GetMinTS answers a fresh timestamp", async () => {
    fx = await startPd();
    const r = await call(fx.clients[0]!, "getMinTs", { header: fx.header });
    expect(r.timestamp.physical).toBeGreaterThan(0n);
  });
});

describe("TimestampOracle (pd pkg/tso semantics)", () => {
  it("logical overflow moves the physical part forward and restarts the logical part", () => {
    const o = new TimestampOracle(() => 1000);
    const a = o.generate(MAX_LOGICAL - 10);
    expect(a).toEqual({ physical: 1000, logical: MAX_LOGICAL - 10 });
    const b = o.generate(20);
    expect(b).toEqual({ physical: 1001, logical: 20 });
    expect(o.generate(1)).toEqual({ physical: 1001, logical: 21 });
  });

  it("the physical part follows the clock but never goes back", () => {
    let now = 500;
    const o = new TimestampOracle(() => now);
    expect(o.generate(1)).toEqual({ physical: 500, logical: 1 });
    now = 400;
    expect(o.generate(1)).toEqual({ physical: 500, logical: 2 });
    now = 600;
    expect(o.generate(2)).toEqual({ physical: 600, logical: 2 });
  });

  it("a batch as large as the logical space fails like PD's retries", () => {
    const o = new TimestampOracle(() => 1);
    expect(() => o.generate(MAX_LOGICAL)).toThrow(/maximum number of retries exceeded/);
  });
});
