/**
 * Scans. Cases follow tikv src/storage/mod.rs tests test_raw_scan,
 * test_raw_batch_scan and test_check_key_ranges (under every storage API
 * version), and client-go integration_tests/raw/api_mock_test.go TestScan /
 * TestReverseScan, replayed across region splits with client-go's per-region
 * scan loop (rawkv.go Scan / ReverseScan) to exercise the region clamp.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkKeyRanges } from "../../../../src/cluster/engine/raw/raw-checks.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { b, keysOf, kv, setup } from "./helpers.js";

const TEST_DATA: [string, string][] = [];
for (const c of "abcde") {
  TEST_DATA.push([`r\0${c}`, `${c}${c}`]);
  for (const n of "123") TEST_DATA.push([`r\0${c}${n}`, `${c}${c}${n}${n}`]);
}

describe.each([
  ["V1", APIVersion.V1],
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const)("raw scan on %s storage (test_raw_scan)", (_n, storage) => {
  const v2 = storage === APIVersion.V2;
  // V2 forbids unbounded ranges, so TiKV's test bounds them inside the raw keyspace.
  const endKey = v2 ? "r\0z" : "";
  const endKeyReverse = v2 ? "r\0\0" : "";
  const fresh = () => {
    const env = setup(storage);
    env.r.batchPut(TEST_DATA);
    return env;
  };

  it("key only", () => {
    const { r } = fresh();
    const resp = r.scan("r\0", endKey, 20, { keyOnly: true });
    expect(keysOf(resp.kvs)).toEqual(TEST_DATA.map(([k]) => k));
    for (const p of resp.kvs) expect(p.value.length).toBe(0);
    expect(keysOf(r.scan("r\0c2", endKey, 20, { keyOnly: true }).kvs)).toEqual(
      TEST_DATA.slice(10).map(([k]) => k),
    );
  });

  it("with values", () => {
    const { r } = fresh();
    expect(kv(r.scan("r\0", endKey, 20).kvs)).toEqual(TEST_DATA);
    expect(kv(r.scan("r\0c2", endKey, 20).kvs)).toEqual(TEST_DATA.slice(10));
  });

  it("reverse, with and without limit", () => {
    const { r } = fresh();
    const rev = [...TEST_DATA].reverse();
    expect(kv(r.scan("r\0z", endKeyReverse, 20, { reverse: true }).kvs)).toEqual(rev);
    expect(kv(r.scan("r\0z", endKeyReverse, 5, { reverse: true }).kvs)).toEqual(rev.slice(0, 5));
  });

  it("forward with end key (exclusive)", () => {
    const { r } = fresh();
    expect(kv(r.scan("r\0b2", "r\0c2", 20).kvs)).toEqual(TEST_DATA.slice(6, 10));
    expect(kv(r.scan("r\0b2", "r\0b2\0", 20).kvs)).toEqual(TEST_DATA.slice(6, 7));
  });

  it("reverse with end key: start is the exclusive upper bound, end the inclusive lower bound", () => {
    const { r } = fresh();
    const rev = [...TEST_DATA].reverse();
    expect(kv(r.scan("r\0c2", "r\0b2", 20, { reverse: true }).kvs)).toEqual(rev.slice(10, 14));
    expect(kv(r.scan("r\0b2\0", "r\0b2", 20, { reverse: true }).kvs)).toEqual(TEST_DATA.slice(6, 7));
  });

  it("lower/upper bounds hold in both directions", () => {
    const { r } = fresh();
    const expected = TEST_DATA.slice(9, 15);
    expect(kv(r.scan("r\0c1", "r\0d3", 20).kvs)).toEqual(expected);
    expect(kv(r.scan("r\0d3", "r\0c1", 20, { reverse: true }).kvs)).toEqual([...expected].reverse());
  });

  it("limit 0 returns nothing", () => {
    const { r } = fresh();
    expect(r.scan("r\0", endKey, 0).kvs).toEqual([]);
    expect(r.scan("r\0z", endKeyReverse, 0, { reverse: true }).kvs).toEqual([]);
  });
});

describe.each([
  ["V1", APIVersion.V1],
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const)("raw batch scan on %s storage (test_raw_batch_scan)", (_n, storage) => {
  const v2 = storage === APIVersion.V2;
  // Outside V2 TiKV's test leaves end keys empty: each range ends at the next range's start.
  const ranges = (delims: string[]): [string, string][] =>
    delims.slice(0, -1).map((s, i) => [s, v2 ? delims[i + 1]! : ""]);
  const fresh = () => {
    const env = setup(storage);
    env.r.batchPut(TEST_DATA);
    return env;
  };
  const pick = (...keys: string[]) => keys.map((k) => TEST_DATA.find(([x]) => x === `r\0${k}`)!);

  it("forward, each_limit 5 and 3, with and without key_only", () => {
    const { r } = fresh();
    const rs = ranges(["r\0a", "r\0b", "r\0c", "r\0z"]);
    const five = pick("a", "a1", "a2", "a3", "b", "b1", "b2", "b3", "c", "c1", "c2", "c3", "d");
    expect(kv(r.batchScan(rs, 5).kvs)).toEqual(five);
    expect(keysOf(r.batchScan(rs, 5, { keyOnly: true }).kvs)).toEqual(five.map(([k]) => k));
    for (const p of r.batchScan(rs, 5, { keyOnly: true }).kvs) expect(p.value.length).toBe(0);
    const three = pick("a", "a1", "a2", "b", "b1", "b2", "c", "c1", "c2");
    expect(kv(r.batchScan(rs, 3).kvs)).toEqual(three);
    expect(keysOf(r.batchScan(rs, 3, { keyOnly: true }).kvs)).toEqual(three.map(([k]) => k));
  });

  it("reverse with explicit end keys", () => {
    const { r } = fresh();
    const rs: [string, string][] = [
      ["r\0a3", "r\0a"],
      ["r\0b3", "r\0b"],
      ["r\0c3", "r\0c"],
    ];
    const expected = pick("a2", "a1", "a", "b2", "b1", "b", "c2", "c1", "c");
    expect(kv(r.batchScan(rs, 5, { reverse: true }).kvs)).toEqual(expected);
    expect(keysOf(r.batchScan(rs, 5, { reverse: true, keyOnly: true }).kvs)).toEqual(
      expected.map(([k]) => k),
    );
  });

  it("reverse with ranges chained by the next start key", () => {
    const { r } = fresh();
    const rs = ranges(["r\0c3", "r\0b3", "r\0a3", "r\0"]);
    expect(kv(r.batchScan(rs, 2, { reverse: true }).kvs)).toEqual(pick("c2", "c1", "b2", "b1", "a2", "a1"));
  });

  it("rejects ranges that go the wrong way with 'Invalid KeyRanges'", () => {
    const { r } = fresh();
    const resp = r.batchScan(
      [
        ["r\0a3", "r\0a"],
        ["r\0b3", "r\0b"],
      ],
      5,
    );
    expect(resp.kvs).toHaveLength(1);
    expect(resp.kvs[0]!.error?.abort).toBe('Error(Other("Invalid KeyRanges"))');
  });

  it("each_limit 0 returns nothing", () => {
    const { r } = fresh();
    expect(r.batchScan(ranges(["r\0a", "r\0b", "r\0z"]), 0).kvs).toEqual([]);
  });
});

describe("check_key_ranges (test_check_key_ranges)", () => {
  const mk = (rs: [string, string][]) => rs.map(([s, e]) => ({ startKey: b(s), endKey: b(e) }));
  it.each([
    [
      [
        ["a", "a3"],
        ["b", "b3"],
        ["c", "c3"],
      ],
      false,
      true,
    ],
    [
      [
        ["a", ""],
        ["b", ""],
        ["c", ""],
      ],
      false,
      true,
    ],
    [
      [
        ["a3", "a"],
        ["b3", "b"],
        ["c3", "c"],
      ],
      false,
      false,
    ],
    [
      [
        ["c", ""],
        ["b", ""],
        ["a", ""],
      ],
      false,
      false,
    ],
    [
      [
        ["a3", "a"],
        ["b3", "b"],
        ["c3", "c"],
      ],
      true,
      true,
    ],
    [
      [
        ["c3", ""],
        ["b3", ""],
        ["a3", ""],
      ],
      true,
      true,
    ],
    [
      [
        ["a", "a3"],
        ["b", "b3"],
        ["c", "c3"],
      ],
      true,
      false,
    ],
    [
      [
        ["a3", ""],
        ["b3", ""],
        ["c3", ""],
      ],
      true,
      false,
    ],
  ] as [[string, string][], boolean, boolean][])("%j reverse=%s -> %s", (rs, reverse, ok) => {
    expect(checkKeyRanges(mk(rs), reverse)).toBe(ok);
  });
});

describe("region clamp", () => {
  it("forward scans stop at the region end and start no lower than the region start", () => {
    const { r } = setup();
    r.batchPut([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
      ["d", "4"],
    ]);
    expect(keysOf(r.scan("", "", 10, {}, { start: "b", end: "d" }).kvs)).toEqual(["b", "c"]);
    expect(keysOf(r.scan("a", "c", 10, {}, { start: "b", end: "" }).kvs)).toEqual(["b"]);
  });

  it("reverse scans start below min(start, region end) and stop at the region start", () => {
    const { r } = setup();
    r.batchPut([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
      ["d", "4"],
    ]);
    expect(keysOf(r.scan("z", "", 10, { reverse: true }, { start: "b", end: "d" }).kvs)).toEqual(["c", "b"]);
    expect(keysOf(r.scan("c", "a", 10, { reverse: true }, { start: "", end: "" }).kvs)).toEqual(["b", "a"]);
  });

  it("reverse scan from an empty start key finds nothing (nothing sorts below it)", () => {
    const { r } = setup();
    r.put("a", "1");
    expect(r.scan("", "", 10, { reverse: true }).kvs).toEqual([]);
  });

  it("batch scan and checksum honour the region range", () => {
    const { r } = setup();
    r.batchPut([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
    ]);
    expect(keysOf(r.batchScan([["", ""]], 10, {}, { start: "b", end: "c" }).kvs)).toEqual(["b"]);
    expect(r.checksum([["", ""]], { start: "b", end: "c" }).totalKvs).toBe(1n);
  });
});

/** A split cluster: region boundaries at `splits`; regions are [start, end) user-key ranges. */
function regionsOf(splits: string[]) {
  const bounds = ["", ...splits, ""];
  return bounds.slice(0, -1).map((start, i) => ({ start, end: bounds[i + 1]! }));
}

describe("client-go api_mock_test TestScan / TestReverseScan across splits", () => {
  const scanAll = (splits: string[]) => {
    const { r } = setup();
    for (const k of ["k1", "k3", "k5", "k7"]) r.put(k, `v${k[1]}`);
    const regions = regionsOf(splits);
    const locate = (key: string) => regions.find((g) => g.start <= key && (g.end === "" || key < g.end))!;
    const locateEnd = (key: string) => regions.find((g) => g.start < key && (g.end === "" || key <= g.end))!;
    // client-go rawkv.go Scan: one request per region until limit or end key.
    const scan = (start: string, end: string, limit: number): string[] => {
      const out: [string, string][] = [];
      let s = start;
      while (out.length < limit && (end === "" || s < end)) {
        const loc = locate(s);
        out.push(...kv(r.scan(s, end, limit - out.length, {}, loc).kvs));
        s = loc.end;
        if (s === "") break;
      }
      return out.flat();
    };
    // client-go rawkv.go ReverseScan: walks regions downwards from start.
    const reverse = (start: string, end: string, limit: number): string[] => {
      const out: [string, string][] = [];
      let s = start;
      while (out.length < limit && s > end) {
        const loc = locateEnd(s);
        out.push(...kv(r.scan(s, end, limit - out.length, { reverse: true }, loc).kvs));
        s = loc.start;
        if (s === "") break;
      }
      return out.flat();
    };
    return { scan, reverse };
  };

  it.each([[[]], [["k2"]], [["k2", "k5"]]])("forward scans with splits %j", (splits) => {
    const { scan } = scanAll(splits);
    expect(scan("", "", 1)).toEqual(["k1", "v1"]);
    expect(scan("k1", "", 2)).toEqual(["k1", "v1", "k3", "v3"]);
    expect(scan("", "", 10)).toEqual(["k1", "v1", "k3", "v3", "k5", "v5", "k7", "v7"]);
    expect(scan("k2", "", 2)).toEqual(["k3", "v3", "k5", "v5"]);
    expect(scan("k2", "", 3)).toEqual(["k3", "v3", "k5", "v5", "k7", "v7"]);
    expect(scan("", "k1", 1)).toEqual([]);
    expect(scan("k1", "k3", 2)).toEqual(["k1", "v1"]);
    expect(scan("k1", "k5", 10)).toEqual(["k1", "v1", "k3", "v3"]);
    expect(scan("k1", "k5\0", 10)).toEqual(["k1", "v1", "k3", "v3", "k5", "v5"]);
    expect(scan("k5\0", "k5\0\0", 10)).toEqual([]);
  });

  it.each([[[]], [["k2"]], [["k2", "k5"]]])("reverse scans with splits %j", (splits) => {
    const { reverse } = scanAll(splits);
    expect(reverse("", "", 10)).toEqual([]);
    expect(reverse("z", "", 1)).toEqual(["k7", "v7"]);
    expect(reverse("z", "", 2)).toEqual(["k7", "v7", "k5", "v5"]);
    expect(reverse("z", "", 10)).toEqual(["k7", "v7", "k5", "v5", "k3", "v3", "k1", "v1"]);
    expect(reverse("k2", "", 10)).toEqual(["k1", "v1"]);
    expect(reverse("k6", "", 2)).toEqual(["k5", "v5", "k3", "v3"]);
    expect(reverse("k5", "", 1)).toEqual(["k3", "v3"]);
    expect(reverse("k5\0", "", 1)).toEqual(["k5", "v5"]);
    expect(reverse("k6", "", 3)).toEqual(["k5", "v5", "k3", "v3", "k1", "v1"]);
    expect(reverse("z", "k3", 10)).toEqual(["k7", "v7", "k5", "v5", "k3", "v3"]);
    expect(reverse("k7", "k3\0", 10)).toEqual(["k5", "v5"]);
  });
});

describe("scan agrees with a sorted-array model (property)", () => {
  const key = fc.string({ unit: fc.constantFrom("a", "b", "c", "\0", "\xff"), maxLength: 3 });
  const op = fc.oneof(
    fc.record({ t: fc.constant("put" as const), k: key, v: fc.string({ maxLength: 2 }) }),
    fc.record({ t: fc.constant("del" as const), k: key }),
    fc.record({ t: fc.constant("range" as const), s: key, e: key }),
  );
  const query = fc.record({
    start: key,
    end: key,
    limit: fc.integer({ min: 0, max: 6 }),
    reverse: fc.boolean(),
    regionStart: key,
    regionEnd: key,
  });

  it("forward/reverse scans with bounds, limits and region ranges", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.array(query, { maxLength: 5 }), (ops, queries) => {
        const { r } = setup();
        const model = new Map<string, string>();
        for (const o of ops) {
          if (o.t === "put") {
            r.put(o.k, o.v);
            model.set(o.k, o.v);
          } else if (o.t === "del") {
            r.del(o.k);
            model.delete(o.k);
          } else if (o.e === "" || o.s < o.e) {
            r.deleteRange(o.s, o.e);
            for (const k of [...model.keys()]) if (k >= o.s && (o.e === "" || k < o.e)) model.delete(k);
          }
        }
        const sorted = [...model.entries()].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
        for (const q of queries) {
          const inRegion = (k: string) => k >= q.regionStart && (q.regionEnd === "" || k < q.regionEnd);
          let expected: [string, string][];
          if (q.reverse) {
            expected = sorted
              .filter(([k]) => k < q.start && (q.end === "" || k >= q.end) && inRegion(k))
              .reverse();
          } else {
            expected = sorted.filter(([k]) => k >= q.start && (q.end === "" || k < q.end) && inRegion(k));
          }
          const got = kv(
            r.scan(
              q.start,
              q.end,
              q.limit,
              { reverse: q.reverse },
              { start: q.regionStart, end: q.regionEnd },
            ).kvs,
          );
          expect(got).toEqual(expected.slice(0, q.limit));
        }
      }),
      { numRuns: 300 },
    );
  });
});
