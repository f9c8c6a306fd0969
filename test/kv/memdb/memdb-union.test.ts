// What the transaction's union of buffer + snapshot needs from the buffer, ported by meaning from
// client-go internal/unionstore/union_store_test.go. We have no UnionStore: the transaction will
// merge the two itself. As upstream, the "snapshot" is another buffer (mockSnapshot over a MemDB);
// the merge below is a minimal test-only one, enough to show that the buffer's answers (undefined
// = not buffered, empty value = deleted, ordered iteration both ways) make the union correct.

import { describe, expect, it } from "vitest";
import { MemDb, type MemDbKeyValue } from "../../../src/kv/memdb/index.js";

const s = (x: string) => Buffer.from(x);

/** Buffer first: an empty value is a delete; undefined falls through to the snapshot. */
function unionGet(buffer: MemDb, snapshot: MemDb, key: Buffer): Buffer | undefined {
  const v = buffer.get(key);
  if (v !== undefined) return v.length === 0 ? undefined : v;
  return snapshot.get(key);
}

/** Merges both ordered streams; buffer entries win; deletes hide the key. */
function unionScan(
  buffer: MemDb,
  snapshot: MemDb,
  lower: Buffer | undefined,
  upper: Buffer | undefined,
  reverse: boolean,
) {
  const a = [...(reverse ? buffer.iterateReverse(upper, lower) : buffer.iterate(lower, upper))];
  const bb = [...(reverse ? snapshot.iterateReverse(upper, lower) : snapshot.iterate(lower, upper))];
  const out: MemDbKeyValue[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < bb.length) {
    const x = a[i];
    const y = bb[j];
    const c = x === undefined ? 1 : y === undefined ? -1 : Buffer.compare(x.key, y.key) * (reverse ? -1 : 1);
    if (c <= 0) {
      if (x!.value.length > 0) out.push({ key: x!.key, value: x!.value });
      i++;
      if (c === 0) j++;
    } else {
      out.push({ key: y!.key, value: y!.value });
      j++;
    }
  }
  return out.map((e) => [e.key.toString(), e.value.toString()]);
}

describe("union of buffer and snapshot", () => {
  it("TestUnionStoreGetSet: the buffer shadows the snapshot", () => {
    const store = new MemDb();
    const buffer = new MemDb();
    store.set(s("1"), s("1"));
    expect(unionGet(buffer, store, s("1"))).toEqual(s("1"));
    buffer.set(s("1"), s("2"));
    expect(unionGet(buffer, store, s("1"))).toEqual(s("2"));
    expect(buffer.size).toBe(2);
    expect(buffer.len).toBe(1);
  });

  it("TestUnionStoreDelete: a buffered delete hides the snapshot's value; a later set shows again", () => {
    const store = new MemDb();
    const buffer = new MemDb();
    store.set(s("1"), s("1"));
    buffer.delete(s("1"));
    expect(buffer.get(s("1"))).toEqual(Buffer.alloc(0));
    expect(unionGet(buffer, store, s("1"))).toBeUndefined();
    buffer.set(s("1"), s("2"));
    expect(unionGet(buffer, store, s("1"))).toEqual(s("2"));
  });

  it("TestUnionStoreSeek: forward scans merge both, buffered deletes hide keys", () => {
    const store = new MemDb();
    const buffer = new MemDb();
    for (const k of ["1", "2", "3"]) store.set(s(k), s(k));
    const kv = (...ks: string[]) => ks.map((k) => [k, k]);
    expect(unionScan(buffer, store, undefined, undefined, false)).toEqual(kv("1", "2", "3"));
    expect(unionScan(buffer, store, s("2"), undefined, false)).toEqual(kv("2", "3"));
    buffer.set(s("4"), s("4"));
    expect(unionScan(buffer, store, s("2"), undefined, false)).toEqual(kv("2", "3", "4"));
    buffer.delete(s("3"));
    expect(unionScan(buffer, store, s("2"), undefined, false)).toEqual(kv("2", "4"));
  });

  it("TestUnionStoreIterReverse: reverse scans merge both, bounds as upstream", () => {
    const store = new MemDb();
    const buffer = new MemDb();
    for (const k of ["1", "2", "3"]) store.set(s(k), s(k));
    const kv = (...ks: string[]) => ks.map((k) => [k, k]);
    expect(unionScan(buffer, store, undefined, undefined, true)).toEqual(kv("3", "2", "1"));
    expect(unionScan(buffer, store, s("1"), s("3"), true)).toEqual(kv("2", "1"));
    expect(unionScan(buffer, store, undefined, s("3"), true)).toEqual(kv("2", "1"));
    buffer.set(s("0"), s("0"));
    expect(unionScan(buffer, store, undefined, s("3"), true)).toEqual(kv("2", "1", "0"));
    buffer.delete(s("1"));
    expect(unionScan(buffer, store, undefined, s("3"), true)).toEqual(kv("2", "0"));
    expect(unionScan(buffer, store, s("1"), s("3"), true)).toEqual(kv("2"));
  });
});
