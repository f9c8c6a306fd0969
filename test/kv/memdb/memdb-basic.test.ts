// Reads, writes and iteration of the transaction buffer, without staging. Ported by meaning from
// client-go internal/unionstore/memdb_test.go (see test/ported/memdb.md).

import { describe, expect, it } from "vitest";
import { MemDb } from "../../../src/kv/memdb/index.js";

const u32 = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};
const b = (...bytes: number[]) => Buffer.from(bytes);
const s = (x: string) => Buffer.from(x);
const keys = (it: Iterable<{ key: Buffer }>) => [...it].map((e) => e.key);
/** [key, value] as u32 numbers (one comparison for the whole walk: expect per item is slow). */
const nums = (it: Iterable<{ key: Buffer; value: Buffer }>) =>
  [...it].map((e): [number, number] => [e.key.readUInt32BE(), e.value.readUInt32BE()]);
const range = (start: number, end: number, f: (i: number) => number): [number, number][] =>
  Array.from({ length: end - start }, (_, j): [number, number] => [start + j, f(start + j)]);

/** Writes u32(i) -> u32(i + valueBase) for i in [start, end) in a new stage; returns its handle. */
function deriveAndFill(db: MemDb, start: number, end: number, valueBase: number): number {
  const h = db.staging();
  for (let i = start; i < end; i++) db.set(u32(i), u32(i + valueBase));
  return h;
}

function fill(db: MemDb, count: number): void {
  db.release(deriveAndFill(db, 0, count, 0));
}

describe("get / set (TestGetSet, TestKVGetSet)", () => {
  it("reads back every written key", () => {
    const db = new MemDb();
    fill(db, 10_000);
    const got = Array.from({ length: 10_000 }, (_, i) => db.get(u32(i))?.readUInt32BE());
    expect(got).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(db.len).toBe(10_000);
    expect(db.size).toBe(80_000);
  });

  it("reads back fixed-width decimal keys", () => {
    const db = new MemDb();
    const enc = (n: number) => s(n.toString().padStart(10, "0"));
    for (let i = 0; i < 2; i++) db.set(enc(i * 2), enc(i * 2));
    for (let i = 0; i < 2; i++) expect(db.get(enc(i * 2))?.toString()).toBe(enc(i * 2).toString());
  });

  it("get is undefined for absent keys and an empty Buffer for deleted ones", () => {
    const db = new MemDb();
    expect(db.get(s("x"))).toBeUndefined();
    db.set(s("x"), s("1"));
    db.delete(s("x"));
    expect(db.get(s("x"))).toEqual(Buffer.alloc(0));
    expect(db.len).toBe(1);
    expect(db.size).toBe(1);
  });

  it("copies keys and values: the caller may reuse its Buffers", () => {
    const db = new MemDb();
    const k = s("key");
    const v = s("val");
    db.set(k, v);
    k[0] = 0x7a;
    v[0] = 0x7a;
    expect(db.get(s("key"))?.toString()).toBe("val");
    expect(db.get(s("zey"))).toBeUndefined();
  });
});

describe("iteration (TestIterator, TestNewIterator, TestIterNextUntil, TestBasicNewIterator, TestNewIteratorMin)", () => {
  it("iterates all keys in order, both directions, and with bounds", () => {
    const db = new MemDb();
    fill(db, 10_000);
    expect(nums(db.iterate())).toEqual(range(0, 10_000, (i) => i));
    expect(nums(db.iterateReverse())).toEqual(range(0, 10_000, (i) => i).reverse());
    // upper bound is exclusive
    expect(keys(db.iterate(undefined, u32(400)))).toEqual(Array.from({ length: 400 }, (_, j) => u32(j)));
    // reverse: lower bound is inclusive
    const rev = keys(db.iterateReverse(undefined, u32(400)));
    expect(rev.length).toBe(10_000 - 400);
    expect(rev[0]).toEqual(u32(9999));
    expect(rev.at(-1)).toEqual(u32(400));
  });

  it("an empty buffer iterates nothing; seeks land on the first key >= lower", () => {
    const db = new MemDb();
    expect(db.iterate().next().done).toBe(true);
    const enc = (n: number) => s(n.toString().padStart(10, "0"));
    db.set(enc(0), enc(0));
    db.set(enc(2), enc(2));
    for (const n of [0, 2]) {
      const it = db.iterate(enc(n));
      const first = it.next();
      expect(first.done).toBe(false);
      expect(first.value?.key).toEqual(enc(n));
      expect(first.value?.value).toEqual(enc(n));
    }
    const it0 = db.iterate(enc(0));
    it0.next();
    expect(it0.next().value?.key).toEqual(enc(2));
    // beyond the maximum
    expect(db.iterate(enc(4)).next().done).toBe(true);
    // between two keys: the next larger one
    expect(db.iterate(enc(1)).next().value?.key).toEqual(enc(2));
    // running to the end (NextUntil with a never-true condition)
    const all = db.iterate();
    let n = 0;
    while (!all.next().done) n++;
    expect(n).toBe(2);
    expect(all.next().done).toBe(true);
  });

  it("a seek past every key is empty (TestBasicNewIterator)", () => {
    expect(new MemDb().iterate(s("2")).next().done).toBe(true);
  });

  it("prefix keys sort before their extensions (TestNewIteratorMin)", () => {
    const db = new MemDb();
    const p = "DATA_test_main_db_tbl_tbl_test_record__0000000000000000000";
    const kvs: [string, string][] = [
      [`${p}1`, "lock-version"],
      [`${p}1_0002`, "1"],
      [`${p}1_0003`, "hello"],
      [`${p}2`, "lock-version"],
      [`${p}2_0002`, "2"],
      [`${p}2_0003`, "hello"],
    ];
    for (const [k, v] of kvs) db.set(s(k), s(v));
    expect(keys(db.iterate()).map(String)).toEqual(kvs.map(([k]) => k));
    expect(
      db
        .iterate(s(`${p}0`))
        .next()
        .value?.key.toString(),
    ).toBe(`${p}1`);
  });

  it("empty and inverted ranges yield nothing, both directions (TestIterNoResult)", () => {
    const db = new MemDb();
    db.set(b(1, 1), b(1, 1));
    const check = (lower: Buffer, upper: Buffer) => {
      expect(keys(db.iterate(lower, upper))).toEqual([]);
      expect(keys(db.iterateReverse(upper, lower))).toEqual([]);
    };
    check(b(1, 1), b(1, 1));
    check(b(1, 0, 0), b(1, 0, 1));
    check(b(1, 0, 1), b(1, 0, 0));
  });

  it("treats empty Buffers as unbounded", () => {
    const db = new MemDb();
    for (const k of [b(0), b(5), b(255)]) db.set(k, k);
    expect(keys(db.iterate(Buffer.alloc(0), Buffer.alloc(0)))).toEqual([b(0), b(5), b(255)]);
    expect(keys(db.iterateReverse(Buffer.alloc(0), Buffer.alloc(0)))).toEqual([b(255), b(5), b(0)]);
    expect(keys(db.iterateReverse(b(255)))).toEqual([b(5), b(0)]);
    expect(keys(db.iterate(b(0, 0)))).toEqual([b(5), b(255)]);
  });

  it("iterate yields deletes as empty values and skips flags-only keys", async () => {
    const { FlagsOp } = await import("../../../src/kv/memdb/index.js");
    const db = new MemDb();
    db.set(b(1), b(1));
    db.delete(b(2));
    db.updateFlags(b(3), [FlagsOp.setKeyLocked]);
    expect([...db.iterate()].map((e) => [e.key[0], e.value.length])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect([...db.iterateWithFlags()].map((e) => [e.key[0], e.value?.length])).toEqual([
      [1, 1],
      [2, 0],
      [3, undefined],
    ]);
    expect([...db.iterateReverseWithFlags()].map((e) => e.key[0])).toEqual([3, 2, 1]);
    expect([...db.iterateReverseWithFlags(b(3), b(2))].map((e) => e.key[0])).toEqual([2]);
  });
});

describe("overwrite (TestOverwrite)", () => {
  it("overwriting keeps len and size and is seen by get and iteration", () => {
    const db = new MemDb();
    const cnt = 10_000;
    fill(db, cnt);
    const sz = db.size;
    for (let i = 0; i < cnt; i += 3) db.set(u32(i), u32(i * 10));
    expect(db.len).toBe(cnt);
    expect(db.size).toBe(sz);
    const expected = range(0, cnt, (i) => (i % 3 === 0 ? i * 10 : i));
    expect(Array.from({ length: cnt }, (_, i) => db.get(u32(i))?.readUInt32BE())).toEqual(
      expected.map(([, v]) => v),
    );
    expect(nums(db.iterate())).toEqual(expected);
    expect(nums(db.iterateReverse())).toEqual(expected.reverse());
  });

  it("size follows value length changes", () => {
    const db = new MemDb();
    db.set(s("k"), s("abc"));
    expect(db.size).toBe(4);
    db.set(s("k"), s("a"));
    expect(db.size).toBe(2);
    db.delete(s("k"));
    expect(db.size).toBe(1);
  });
});

describe("reset (TestReset)", () => {
  it("empties the buffer", async () => {
    const { FlagsOp } = await import("../../../src/kv/memdb/index.js");
    const db = new MemDb();
    fill(db, 1000);
    db.updateFlags(u32(5), [FlagsOp.setKeyLocked]);
    const h = db.staging();
    db.set(u32(1), u32(2));
    expect(h).toBe(1);
    db.reset();
    expect(db.get(u32(0))).toBeUndefined();
    expect(db.getFlags(u32(0))).toBeUndefined();
    expect(db.getFlags(u32(5))).toBeUndefined();
    expect(db.iterate().next().done).toBe(true);
    expect(db.len).toBe(0);
    expect(db.size).toBe(0);
    expect(db.mem).toBe(0);
    expect(db.dirty).toBe(false);
    expect(db.stagingDepth).toBe(0);
    // usable again
    db.set(u32(1), u32(1));
    expect(db.get(u32(1))).toEqual(u32(1));
  });
});
