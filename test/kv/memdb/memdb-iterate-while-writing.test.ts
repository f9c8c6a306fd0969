// Iterators stay correct while the buffer is written (client-go panics instead): each step returns
// the first visible key after the last returned one, as the buffer is at that moment.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlagsOp, MemDb } from "../../../src/kv/memdb/index.js";

const b = (...bytes: number[]) => Buffer.from(bytes);

describe("iterators while writing", () => {
  it("sees keys added ahead of the cursor, not behind it", () => {
    const db = new MemDb();
    for (const k of [10, 20, 30]) db.set(b(k), b(k));
    const it = db.iterate();
    expect(it.next().value?.key).toEqual(b(10));
    db.set(b(5), b(5)); // behind
    db.set(b(15), b(15)); // ahead
    expect([...it].map((e) => e.key[0])).toEqual([15, 20, 30]);
  });

  it("reverse: the same, mirrored", () => {
    const db = new MemDb();
    for (const k of [10, 20, 30]) db.set(b(k), b(k));
    const it = db.iterateReverse();
    expect(it.next().value?.key).toEqual(b(30));
    db.set(b(35), b(35));
    db.set(b(25), b(25));
    expect([...it].map((e) => e.key[0])).toEqual([25, 20, 10]);
  });

  it("yields the value current when the cursor reaches a key", () => {
    const db = new MemDb();
    for (const k of [1, 2, 3]) db.set(b(k), b(0));
    const it = db.iterate();
    it.next();
    db.set(b(2), b(9));
    db.delete(b(3));
    expect([...it].map((e) => [e.key[0], [...e.value]])).toEqual([
      [2, [9]],
      [3, []],
    ]);
  });

  it("does not return keys removed before the cursor reaches them (cleanup)", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    db.set(b(9), b(9));
    const h = db.staging();
    db.set(b(5), b(5));
    const it = db.iterate();
    expect(it.next().value?.key).toEqual(b(1));
    db.cleanup(h);
    expect([...it].map((e) => e.key[0])).toEqual([9]);
  });

  it("writing the key just returned, many times, never repeats or skips", () => {
    const db = new MemDb();
    for (let i = 0; i < 100; i++) db.set(b(i), b(i));
    const seen: number[] = [];
    for (const e of db.iterate()) {
      seen.push(e.key[0]!);
      db.set(e.key, b(0)); // overwrite in place
      db.set(b(e.key[0]!, 0), b(1)); // a new key just after the cursor: seen next
      db.updateFlags(b(200 + (e.key[0]! % 10)), [FlagsOp.setKeyLocked]); // flags-only keys are skipped
    }
    const expected: number[] = [];
    for (let i = 0; i < 100; i++) expected.push(i, i);
    expect(seen).toEqual(expected);
  });

  it("once done, stays done", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    const it = db.iterate();
    expect(it.next().done).toBe(false);
    expect(it.next().done).toBe(true);
    db.set(b(2), b(2));
    expect(it.next().done).toBe(true);
  });

  it("after reset, an open iterator finds nothing left", () => {
    const db = new MemDb();
    for (let i = 0; i < 5; i++) db.set(b(i), b(i));
    const it = db.iterateWithFlags();
    it.next();
    db.reset();
    expect(it.next().done).toBe(true);
  });

  it("property: every step equals 'first visible key past the cursor' of the current buffer", () => {
    const keyArb = fc.integer({ min: 0, max: 30 }).map((n) => b(n));
    const action = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: keyArb, v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("del" as const), key: keyArb }),
      fc.record({ kind: fc.constant("lock" as const), key: keyArb }),
      fc.record({ kind: fc.constant("stage" as const) }),
      fc.record({ kind: fc.constant("cleanup" as const) }),
      fc.record({ kind: fc.constant("step" as const) }),
      fc.record({ kind: fc.constant("step" as const) }),
    );
    fc.assert(
      fc.property(
        fc.array(action, { maxLength: 80 }),
        fc.boolean(),
        fc.boolean(),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        (actions, reverse, withFlags, lower, upper) => {
          const db = new MemDb();
          for (let i = 0; i < 30; i += 3) db.set(b(i), b(i));
          const it = reverse
            ? withFlags
              ? db.iterateReverseWithFlags(upper, lower)
              : db.iterateReverse(upper, lower)
            : withFlags
              ? db.iterateWithFlags(lower, upper)
              : db.iterate(lower, upper);
          let last: number | undefined;
          let done = false;
          for (const a of actions) {
            if (a.kind === "set") db.set(a.key, b(a.v));
            else if (a.kind === "del") db.delete(a.key);
            else if (a.kind === "lock") db.updateFlags(a.key, [FlagsOp.setKeyLocked]);
            else if (a.kind === "stage") db.staging();
            else if (a.kind === "cleanup") db.cleanup(db.stagingDepth);
            else {
              // expected: scan the whole buffer now
              const all = [...db.iterateWithFlags()].filter((e) => withFlags || e.value !== undefined);
              const inBounds = all.filter(
                (e) =>
                  (lower === undefined || Buffer.compare(e.key, lower) >= 0) &&
                  (upper === undefined || Buffer.compare(e.key, upper) < 0),
              );
              const ahead = inBounds.filter(
                (e) => last === undefined || (reverse ? e.key[0]! < last : e.key[0]! > last),
              );
              const want = done ? undefined : reverse ? ahead.at(-1) : ahead[0];
              const got = it.next();
              if (want === undefined) {
                expect(got.done).toBe(true);
                done = true;
              } else {
                expect(got.done).toBe(false);
                expect(got.value).toEqual(want);
                last = want.key[0]!;
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
