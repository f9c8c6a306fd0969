// Size limits, memory accounting and the footprint hook, discardValues. Ported by meaning from
// client-go internal/unionstore/memdb_test.go (see test/ported/memdb.md).

import { describe, expect, it } from "vitest";
import { EntryTooLargeError, KeyTooLargeError, TxnTooLargeError } from "../../../src/errors/index.js";
import {
  FlagsOp,
  hasLocked,
  MAX_KEY_LENGTH,
  MemDb,
  ValuesDiscardedError,
} from "../../../src/kv/memdb/index.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
const s = (x: string) => Buffer.from(x);

/** The buffer's observable state, to check that a refused write changed nothing. */
function state(db: MemDb) {
  return {
    len: db.len,
    size: db.size,
    mem: db.mem,
    dirty: db.dirty,
    entries: [...db.iterateWithFlags()].map((e) => [
      e.key.toString("hex"),
      e.value?.toString("hex"),
      e.flags,
    ]),
  };
}

describe("size limits (TestBufferLimit, TestKeyValueOversize)", () => {
  it("entry limit, then total limit, as client-go", () => {
    const db = new MemDb();
    db.setEntrySizeLimit(500, 1000);
    // key + value = 501 > 500: EntryTooLargeError
    expect(() => db.set(s("x"), Buffer.alloc(500))).toThrow(EntryTooLargeError);
    db.set(s("x"), Buffer.alloc(499));
    // 2 + 499 = 501 > 500: EntryTooLargeError as well (client-go's comment calls it the buffer limit)
    expect(() => db.set(s("yz"), Buffer.alloc(499))).toThrow(EntryTooLargeError);
    db.delete(Buffer.alloc(499)); // size 500 + 499 = 999
    // the entry fits (500) but the total would be 1499 > 1000: TxnTooLargeError
    expect(() => db.delete(Buffer.alloc(500))).toThrow(TxnTooLargeError);
    expect(db.getEntrySizeLimit()).toEqual({ entryLimit: 500, totalLimit: 1000 });
  });

  it("errors carry the sizes", () => {
    const db = new MemDb({ entrySizeLimit: 10, totalSizeLimit: 12 });
    try {
      db.set(s("k"), Buffer.alloc(10));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EntryTooLargeError);
      expect((e as EntryTooLargeError).limit).toBe(10);
      expect((e as EntryTooLargeError).size).toBe(11);
    }
    db.set(s("k"), Buffer.alloc(9));
    try {
      db.set(s("j"), Buffer.alloc(2));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TxnTooLargeError);
      expect((e as TxnTooLargeError).size).toBe(13);
    }
    // overwriting with a smaller value shrinks the total, so this fits
    db.set(s("k"), Buffer.alloc(1));
    db.set(s("j"), Buffer.alloc(2));
    expect(db.size).toBe(5);
  });

  it("a refused write leaves the buffer unchanged (client-go applies it, then reports TxnTooLarge)", () => {
    const db = new MemDb({ totalSizeLimit: 10 });
    db.set(s("a"), s("1234"));
    const h = db.staging();
    db.set(s("b"), s("12"), [FlagsOp.setKeyLocked]);
    const before = state(db);
    expect(() => db.set(s("c"), s("123"), [FlagsOp.setKeyLocked])).toThrow(TxnTooLargeError);
    expect(() => db.set(s("a"), s("1234567"))).toThrow(TxnTooLargeError);
    expect(() => db.set(Buffer.alloc(MAX_KEY_LENGTH + 1), s("1"))).toThrow(KeyTooLargeError);
    expect(state(db)).toEqual(before);
    db.cleanup(h);
    expect(db.get(s("a"))).toEqual(s("1234"));
  });

  it("0 means unlimited; the limits apply to later writes only", () => {
    const db = new MemDb();
    db.set(s("k"), Buffer.alloc(100_000));
    db.setEntrySizeLimit(10, 0);
    expect(db.get(s("k"))?.length).toBe(100_000);
    expect(() => db.set(s("j"), Buffer.alloc(10))).toThrow(EntryTooLargeError);
    db.setEntrySizeLimit(0, 0);
    db.set(s("j"), Buffer.alloc(1_000_000));
  });

  it("keys up to 65535 bytes are accepted, longer ones get KeyTooLargeError with the size", () => {
    const db = new MemDb();
    const key = Buffer.alloc(MAX_KEY_LENGTH);
    const oversize = Buffer.alloc(MAX_KEY_LENGTH + 1);
    db.set(key, oversize); // a long value is fine
    try {
      db.set(oversize, key);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KeyTooLargeError);
      expect((e as KeyTooLargeError).keySize).toBe(MAX_KEY_LENGTH + 1);
    }
    // delete and updateFlags check the key too
    expect(() => db.delete(oversize)).toThrow(KeyTooLargeError);
    expect(() => db.updateFlags(oversize, [FlagsOp.setKeyLocked])).toThrow(KeyTooLargeError);
    expect(db.len).toBe(1);
  });

  it("flag updates are never refused by the size limits (client-go ignores the error)", () => {
    const db = new MemDb({ totalSizeLimit: 3 });
    db.set(s("ab"), s("c"));
    db.updateFlags(s("xyz"), [FlagsOp.setKeyLocked]);
    expect(db.size).toBe(6);
    expect(hasLocked(db.getFlags(s("xyz"))!)).toBe(true);
  });
});

describe("memory (TestReadOnlyZeroMem, TestSetMemoryFootprintChangeHook, TestMemDBLeafFragmentation)", () => {
  it("a new buffer holds nothing", () => {
    expect(new MemDb().mem).toBe(0);
    const db = new MemDb();
    db.get(s("x"));
    [...db.iterate()];
    db.getSnapshot().get(s("x"));
    expect(db.mem).toBe(0);
  });

  it("the hook reports mem after each change", () => {
    const db = new MemDb();
    const seen: number[] = [];
    expect(db.memHookSet).toBe(false);
    db.setMemoryFootprintChangeHook((m) => seen.push(m));
    expect(db.memHookSet).toBe(true);
    expect(seen).toEqual([]);
    db.set(b(1), b(1));
    expect(seen.length).toBe(1);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(db.mem);
    const h = db.staging();
    db.set(b(2), Buffer.alloc(1000));
    expect(seen.at(-1)).toBe(db.mem);
    expect(db.mem).toBeGreaterThan(1000);
    db.cleanup(h);
    expect(seen.at(-1)).toBe(db.mem);
    expect(seen.at(-1)).toBe(seen[0]);
    // reads do not call it
    const n = seen.length;
    db.get(b(1));
    expect(seen.length).toBe(n);
    db.reset();
    expect(seen.at(-1)).toBe(0);
    db.setMemoryFootprintChangeHook(undefined);
    expect(db.memHookSet).toBe(false);
  });

  it("an exception from the hook reaches the writer; the write is applied", () => {
    const db = new MemDb();
    db.setMemoryFootprintChangeHook(() => {
      throw new Error("quota");
    });
    expect(() => db.set(b(1), b(1))).toThrow("quota");
    expect(db.get(b(1))).toEqual(b(1));
  });

  it("repeated stage + cleanup does not grow mem", () => {
    const db = new MemDb();
    let h = db.staging();
    let mem = 0;
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 100; k++) db.set(s(String(k).repeat(256)), s("value"));
      if (mem === 0) mem = db.mem;
      else expect(db.mem).toBeLessThanOrEqual(mem);
      db.cleanup(h);
      expect(db.mem).toBe(0);
      h = db.staging();
    }
  });

  it("rewriting a key in the same stage keeps one value, not its whole history", () => {
    const db = new MemDb();
    const h = db.staging();
    db.set(s("k"), Buffer.alloc(1000));
    const once = db.mem;
    for (let i = 0; i < 100; i++) db.set(s("k"), Buffer.alloc(1000, i));
    expect(db.mem).toBe(once);
    db.cleanup(h);
    expect(db.len).toBe(0);
  });
});

describe("discardValues (client-go DiscardValues)", () => {
  it("drops values, keeps keys and flags; value reads and writes throw ValuesDiscardedError", () => {
    const db = new MemDb();
    db.set(b(1), Buffer.alloc(100), [FlagsOp.setKeyLocked]);
    db.delete(b(2));
    db.updateFlags(b(3), [FlagsOp.setNeedLocked]);
    const h = db.staging();
    db.set(b(4), b(4));
    const memBefore = db.mem;
    const size = db.size;
    db.discardValues();
    expect(db.valuesDiscarded).toBe(true);
    expect(db.mem).toBeLessThan(memBefore);
    expect(db.len).toBe(4);
    expect(db.size).toBe(size);
    expect(hasLocked(db.getFlags(b(1))!)).toBe(true);
    expect([...db.iterateWithFlags()].map((e) => [e.key[0], e.value])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, undefined],
      [4, undefined],
    ]);
    for (const f of [
      () => db.get(b(1)),
      () => db.iterate(),
      () => db.iterateReverse(),
      () => db.getSnapshot(),
      () => db.selectValueHistory(b(1), () => true),
      () => db.inspectStage(h, () => {}),
      () => db.set(b(5), b(5)),
      () => db.delete(b(5)),
      () => db.updateFlags(b(5)),
    ]) {
      expect(f).toThrow(ValuesDiscardedError);
    }
    // stages still close (nothing to revert)
    db.cleanup(h);
    expect(db.len).toBe(4);
    db.reset();
    expect(db.valuesDiscarded).toBe(false);
    db.set(b(1), b(1));
    expect(db.get(b(1))).toEqual(b(1));
  });

  it("an open iterator throws on its next step after discardValues", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    db.set(b(2), b(2));
    const it = db.iterate();
    it.next();
    db.discardValues();
    expect(() => it.next()).toThrow(ValuesDiscardedError);
  });
});
