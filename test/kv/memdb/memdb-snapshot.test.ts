// The stage-0 read view (MemDb.getSnapshot). Ported by meaning from client-go
// internal/unionstore/memdb_test.go (see test/ported/memdb.md).

import { describe, expect, it } from "vitest";
import { FlagsOp, MemDb, StaleSnapshotError } from "../../../src/kv/memdb/index.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
const keys = (it: Iterable<{ key: Buffer }>) => [...it].map((e) => [...e.key]);

describe("snapshot reads (TestSnapshotGetIter)", () => {
  it("a snapshot taken while a stage is open keeps showing stage 0", () => {
    const db = new MemDb();
    const snaps = [];
    for (let i = 0; i < 100; i++) {
      db.set(b(0), b(i));
      db.set(b(1), b(i));
      if (i >= 50) {
        const snap = db.getSnapshot();
        expect(snap.get(b(0))).toEqual(b(50));
        const fwd = snap.iterate().next().value;
        expect(fwd?.key).toEqual(b(0));
        expect(fwd?.value).toEqual(b(50));
        const rev = snap.iterateReverse().next().value;
        expect(rev?.key).toEqual(b(1));
        expect(rev?.value).toEqual(b(50));
        snaps.push({ snap, fwd: snap.iterate(), rev: snap.iterateReverse() });
      }
      // writes after this staging are not visible to snapshots
      if (i === 50) db.staging();
    }
    for (const { snap, fwd, rev } of snaps) {
      expect(snap.isValid).toBe(true);
      expect(snap.get(b(0))).toEqual(b(50));
      expect(fwd.next().value).toEqual({ key: b(0), value: b(50) });
      expect(rev.next().value).toEqual({ key: b(1), value: b(50) });
    }
  });

  it("a snapshot taken with no stage open goes stale on the next write (client-go silently shows the new value)", () => {
    const db = new MemDb();
    db.set(b(0), b(1));
    const snap = db.getSnapshot();
    const it = snap.iterate();
    expect(snap.get(b(0))).toEqual(b(1));
    db.set(b(0), b(2));
    expect(snap.isValid).toBe(false);
    expect(() => snap.get(b(0))).toThrow(StaleSnapshotError);
    expect(() => it.next()).toThrow(StaleSnapshotError);
    expect(() => snap.iterate()).toThrow(StaleSnapshotError);
  });

  it("hides staged writes, flags-only keys and keys created in stages", () => {
    const db = new MemDb();
    db.updateFlags(b(255), [FlagsOp.setPresumeKeyNotExists]);
    // (2,2) (4,4) ... (98,98) in stage 0
    for (let i = 1; i < 50; i++) db.set(b(2 * i), b(2 * i));
    db.staging();
    // (0,0) (1,2) (2,4) ... (99,198) staged
    for (let i = 0; i < 100; i++) db.set(b(i), b((2 * i) & 0xff));
    const snap = db.getSnapshot();
    expect(snap.get(b(2))).toEqual(b(2));
    expect(snap.get(b(1))).toBeUndefined();
    expect(snap.get(b(254))).toBeUndefined();
    expect(snap.get(b(255))).toBeUndefined();
    const expected = Array.from({ length: 49 }, (_, j) => ({ key: b(2 * (j + 1)), value: b(2 * (j + 1)) }));
    expect([...snap.iterate()]).toEqual(expected);
    expect([...snap.iterateReverse()]).toEqual(expected.reverse());
  });

  it("shows stage-0 deletes as empty values and hides keys only deleted in a stage", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    db.delete(b(2));
    db.staging();
    db.delete(b(1));
    db.delete(b(3));
    const snap = db.getSnapshot();
    expect(snap.get(b(1))).toEqual(b(1));
    expect(snap.get(b(2))).toEqual(Buffer.alloc(0));
    expect(snap.get(b(3))).toBeUndefined();
    expect([...snap.iterate()].map((e) => [e.key[0], e.value.length])).toEqual([
      [1, 1],
      [2, 0],
    ]);
  });
});

describe("snapshot iterators while writing (TestSnapshotReaderWithWrite, TestBatchedSnapshotIter)", () => {
  for (const num of [3, 4, 16, 17, 48, 64]) {
    it(`iterates stage 0 across staged writes (${num} keys)`, () => {
      const db = new MemDb();
      for (let i = 0; i < num; i++) db.set(b(0, i), b(0, i));
      const h = db.staging();
      const snap = db.getSnapshot();
      const it = snap.iterate(b(0, 0), b(0, 255));
      const first = it.next();
      expect(first.value?.key).toEqual(b(0, 0));
      db.set(b(0, num), b(0, num));
      for (let i = 0; i < num; i++) db.set(b(1, i), b(1, i));
      const rest = keys(it);
      expect([[0, 0], ...rest]).toEqual(Array.from({ length: num }, (_, i) => [0, i]));

      const rit = snap.iterateReverse(b(0, 255), b(0, 0));
      expect(rit.next().value?.key).toEqual(b(0, num - 1));
      db.set(b(0, num + 1), b(0, num + 1));
      expect(keys(rit).length).toBe(num - 1);

      const fromBatches = [...snap.batches(b(0, 0), b(0, 255))].flat();
      expect(fromBatches.map((e) => [...e.value])).toEqual(Array.from({ length: num }, (_, i) => [0, i]));
      db.release(h);
    });
  }
});

describe("batches (TestBatchedSnapshotIterEdgeCase)", () => {
  it("empty and single-element ranges", () => {
    const db = new MemDb();
    let h = db.staging();
    let snap = db.getSnapshot();
    expect([...snap.batches(b(1), b(1))]).toEqual([]);
    expect([...snap.batches(b(0), b(1))]).toEqual([]);
    db.set(b(1), b(1));
    db.release(h);
    h = db.staging();
    snap = db.getSnapshot();
    expect([...snap.batches(b(1), b(2))]).toEqual([[{ key: b(1), value: b(1) }]]);
    db.set(b(2), b(2));
    db.set(b(3), b(3));
    db.set(b(4), b(4));
    db.release(h);
    db.staging();
    snap = db.getSnapshot();
    expect(keys([...snap.batches(b(2), b(4))].flat())).toEqual([[2], [3]]);
    expect(keys([...snap.batches(b(2), b(4), { reverse: true })].flat())).toEqual([[3], [2]]);
  });

  it("lower bound included, upper bound excluded, both directions", () => {
    const db = new MemDb();
    for (const k of [0, 2, 4, 6, 8]) db.set(b(1, k), b(1, k));
    db.staging();
    const snap = db.getSnapshot();
    const seconds = (bs: Iterable<{ key: Buffer }[]>) => [...bs].flat().map((e) => e.key[1]);
    expect(seconds(snap.batches(b(1, 2), b(1, 9)))).toEqual([2, 4, 6, 8]);
    expect(seconds(snap.batches(b(1, 0), b(1, 6)))).toEqual([0, 2, 4]);
    expect(seconds(snap.batches(b(1, 0), b(1, 6), { reverse: true }))).toEqual([4, 2, 0]);
  });

  it("prefix keys in byte order", () => {
    const db = new MemDb();
    const ks = [b(2), b(2, 1), b(2, 1, 1), b(2, 1, 1, 1)];
    for (const k of ks) db.set(k, k);
    db.staging();
    const snap = db.getSnapshot();
    expect(keys([...snap.batches(b(2), b(3))].flat())).toEqual(ks.map((k) => [...k]));
    expect(keys([...snap.batches(b(2), b(3), { reverse: true })].flat())).toEqual(
      ks.map((k) => [...k]).reverse(),
    );
  });

  it("batch sizes grow from the first size up to the maximum", () => {
    const db = new MemDb();
    for (let i = 0; i < 100; i++) db.set(b(3, i), b(3, i));
    db.staging();
    const snap = db.getSnapshot();
    const sizes = [...snap.batches(b(3, 0), b(3, 255))].map((x) => x.length);
    expect(sizes).toEqual([32, 64, 4]);
    const capped = [
      ...snap.batches(undefined, undefined, { firstBatchSize: 10, maxBatchSize: 25, reverse: true }),
    ];
    expect(capped.map((x) => x.length)).toEqual([10, 20, 25, 25, 20]);
    expect(capped.flat()[0]?.key).toEqual(b(3, 99));
  });

  it("releasing stage 1 makes the snapshot stale; its batches then throw", () => {
    const db = new MemDb();
    db.set(b(0), b(0));
    const h = db.staging();
    const snap = db.getSnapshot();
    db.set(b(1), b(1));
    const batches = snap.batches(b(0), b(255), { firstBatchSize: 1 });
    expect(batches.next().value).toEqual([{ key: b(0), value: b(0) }]);
    db.release(h);
    db.staging();
    expect(snap.isValid).toBe(false);
    expect(() => batches.next()).toThrow(StaleSnapshotError);
  });
});

describe("snapshot validity", () => {
  it("stays valid across staged writes, inner stages and the cleanup of stage 1", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    const h1 = db.staging();
    const snap = db.getSnapshot();
    db.set(b(1), b(2));
    const h2 = db.staging();
    db.set(b(1), b(3));
    db.release(h2);
    const cp = db.checkpoint();
    db.set(b(2), b(2));
    db.revertToCheckpoint(cp);
    db.cleanup(h1); // stage 0 is unchanged by a cleanup
    db.staging();
    db.set(b(1), b(4));
    expect(snap.isValid).toBe(true);
    expect(snap.get(b(1))).toEqual(b(1));
  });

  it("goes stale on release of stage 1 with writes, a revert at stage 0, reset", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    let h = db.staging();
    let snap = db.getSnapshot();
    db.release(h); // nothing written in the stage: still valid
    expect(snap.isValid).toBe(true);
    h = db.staging();
    db.set(b(1), b(2));
    db.release(h);
    expect(snap.isValid).toBe(false);

    const cp = db.checkpoint();
    db.set(b(2), b(2));
    snap = db.getSnapshot();
    db.revertToCheckpoint(cp);
    expect(snap.isValid).toBe(false);

    snap = db.getSnapshot();
    db.updateFlags(b(9), [FlagsOp.setKeyLocked]); // flags are not part of the view
    expect(snap.isValid).toBe(true);
    db.reset();
    expect(snap.isValid).toBe(false);
  });

  it("forEachInRange visits in order and stops when the visitor returns true", () => {
    const db = new MemDb();
    for (let i = 0; i < 10; i++) db.set(b(i), b(i));
    db.staging();
    db.set(b(3), b(33));
    const snap = db.getSnapshot();
    const seen: number[] = [];
    snap.forEachInRange(b(2), b(8), (k, v) => {
      seen.push(k[0]!);
      expect(v).toEqual(k);
      return k[0] === 5;
    });
    expect(seen).toEqual([2, 3, 4, 5]);
    const rev: number[] = [];
    snap.forEachInRange(
      b(2),
      b(8),
      (k) => {
        rev.push(k[0]!);
        return undefined;
      },
      true,
    );
    expect(rev).toEqual([7, 6, 5, 4, 3, 2]);
  });
});
