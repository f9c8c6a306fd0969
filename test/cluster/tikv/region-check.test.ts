import { describe, expect, it } from "vitest";
import { checkRegion, isRegionError } from "../../../src/cluster/tikv/region-check.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { ctx, FakeTopology } from "./helpers.js";

const B = (...xs: number[]) => Buffer.from(xs);

describe("key in region (client-go mocktikv TestRegionContains)", () => {
  const cases: [Buffer, Buffer, Buffer, boolean][] = [
    [B(), B(), B(), true],
    [B(), B(), B(1), true],
    [B(1, 1, 1), B(), B(1, 1, 0), false],
    [B(1, 1, 1), B(), B(1, 1, 1), true],
    [B(), B(2, 2, 2), B(2, 2, 1), true],
    [B(), B(2, 2, 2), B(2, 2, 2), false],
    [B(1, 1, 1), B(2, 2, 2), B(1, 1, 0), false],
    [B(1, 1, 1), B(2, 2, 2), B(1, 1, 1), true],
    [B(1, 1, 1), B(2, 2, 2), B(2, 2, 1), true],
    [B(1, 1, 1), B(2, 2, 2), B(2, 2, 2), false],
  ];
  cases.forEach(([start, end, key, want], i) => {
    it(`case ${i}`, () => {
      const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], leader: 11 });
      const st = t.regions.get(1n);
      if (!st) throw new Error("no region");
      st.region.startKey = start;
      st.region.endKey = end;
      const r = checkRegion(t, 1n, ctx(1, 11, 1), { access: "read", keys: [key] });
      expect(isRegionError(r)).toBe(!want);
      if (isRegionError(r)) expect(r.keyNotInRegion?.key).toEqual(key);
    });
  });
});

describe("check order and epoch siblings", () => {
  it("checks store before region, region before peer, peer before leader, leader before epoch", () => {
    const t = new FakeTopology().add({
      id: 1,
      version: 5,
      peers: [
        [11, 1],
        [12, 2],
      ],
      leader: 12,
    });
    const c = ctx(1, 99, 3, 1);
    expect(checkRegion(t, 1n, c, { access: "write", keys: [] })).toEqual(RegionErrors.storeNotMatch(3, 1));
    c.peer = { id: 99n, storeId: 1n, role: 0, isWitness: false };
    c.regionId = 7n;
    expect(checkRegion(t, 1n, c, { access: "write", keys: [] })).toEqual(
      RegionErrors.regionNotFound(7, "write"),
    );
    c.regionId = 1n;
    expect(checkRegion(t, 1n, c, { access: "write", keys: [] })).toEqual(RegionErrors.mismatchPeerId(99, 11));
    c.peer.id = 11n;
    const nl = checkRegion(t, 1n, c, { access: "write", keys: [] });
    expect(isRegionError(nl) && nl.notLeader?.leader?.id).toBe(12n);
    const epoch = checkRegion(t, 2n, ctx(1, 12, 2, 1), { access: "write", keys: [] });
    expect(isRegionError(epoch) && epoch.epochNotMatch !== undefined).toBe(true);
  });

  it("attaches left siblings while their count is below the version gap, at most 10", () => {
    const t = new FakeTopology();
    // 12 regions split off the left of region 100, each split bumping the version
    const bounds = ["", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    for (let i = 0; i + 1 < bounds.length; i++) {
      t.add({
        id: i + 1,
        start: bounds[i],
        end: bounds[i + 1],
        version: 13,
        peers: [[i + 10, 1]],
        leader: i + 10,
      });
    }
    t.add({ id: 100, start: "l", version: 13, peers: [[500, 1]], leader: 500 });
    const gap3 = checkRegion(t, 1n, ctx(100, 500, 1, 10), { access: "write", keys: [] });
    expect(isRegionError(gap3) && gap3.epochNotMatch?.currentRegions.map((r) => Number(r.id))).toEqual([
      100, 12, 11, 10,
    ]);
    const gapBig = checkRegion(t, 1n, ctx(100, 500, 1, 1), { access: "write", keys: [] });
    expect(isRegionError(gapBig) && gapBig.epochNotMatch?.currentRegions.length).toBe(11);
  });

  it("split checks conf_ver as well as version", () => {
    const t = new FakeTopology().add({ id: 1, version: 1, confVer: 2, peers: [[11, 1]], leader: 11 });
    const c = ctx(1, 11, 1, 1); // conf_ver 1
    expect(isRegionError(checkRegion(t, 1n, c, { access: "write", keys: [] }))).toBe(false);
    const r = checkRegion(t, 1n, c, { access: "split", keys: [] });
    expect(isRegionError(r) && r.message).toBe(
      "EpochNotMatch current epoch of region 1 is conf_ver: 2 version: 1, but you sent conf_ver: 1 version: 1",
    );
  });

  it("learners serve replica and stale reads", () => {
    const t = new FakeTopology().add({
      id: 1,
      peers: [
        [11, 1],
        [13, 3, true],
      ],
      leader: 11,
      safeTs: 50n,
    });
    expect(
      isRegionError(
        checkRegion(t, 3n, ctx(1, 13, 3, 1, { replicaRead: true }), { access: "read", keys: [] }),
      ),
    ).toBe(false);
    expect(
      isRegionError(
        checkRegion(t, 3n, ctx(1, 13, 3, 1, { staleRead: true }), { access: "read", keys: [], readTs: 50n }),
      ),
    ).toBe(false);
    const nl = checkRegion(t, 3n, ctx(1, 13, 3, 1), { access: "read", keys: [] });
    expect(isRegionError(nl) && nl.notLeader?.leader?.id).toBe(11n);
  });

  it("stale read does not need a leader", () => {
    const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], safeTs: 50n });
    expect(
      isRegionError(
        checkRegion(t, 1n, ctx(1, 11, 1, 1, { staleRead: true }), { access: "read", keys: [], readTs: 40n }),
      ),
    ).toBe(false);
  });
});

describe("witness and flashback", () => {
  it("a witness peer answers IsWitness", () => {
    const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], leader: 11 });
    const st = t.regions.get(1n);
    if (!st?.region.peers[0]) throw new Error("setup");
    st.region.peers[0].isWitness = true;
    expect(checkRegion(t, 1n, ctx(1, 11, 1, 1), { access: "read", keys: [] })).toEqual(
      RegionErrors.isWitness(1),
    );
  });

  it("a region in flashback refuses writes and reads at or above the flashback start ts", () => {
    const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], leader: 11 });
    const st = t.regions.get(1n);
    if (!st) throw new Error("setup");
    st.region.isInFlashback = true;
    st.region.flashbackStartTs = 100n;
    const want = RegionErrors.flashbackInProgress(1, 100);
    expect(checkRegion(t, 1n, ctx(1, 11, 1, 1), { access: "write", keys: [] })).toEqual(want);
    expect(checkRegion(t, 1n, ctx(1, 11, 1, 1), { access: "read", keys: [], readTs: 100n })).toEqual(want);
    expect(
      isRegionError(checkRegion(t, 1n, ctx(1, 11, 1, 1), { access: "read", keys: [], readTs: 99n })),
    ).toBe(false);
  });
});
