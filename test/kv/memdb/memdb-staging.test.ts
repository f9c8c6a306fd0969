// Nested staging, checkpoints, flags across cleanup, dirty, stage inspection and value history.
// Ported by meaning from client-go internal/unionstore/memdb_test.go (see test/ported/memdb.md).

import { describe, expect, it } from "vitest";
import {
  FlagsOp,
  hasLocked,
  hasNeedConstraintCheckInPrewrite,
  hasPresumeKeyNotExists,
  InvalidCheckpointError,
  InvalidStagingHandleError,
  KeyFlag,
  MemDb,
  type MemDbCheckpoint,
} from "../../../src/kv/memdb/index.js";

const u32 = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};
const b = (...bytes: number[]) => Buffer.from(bytes);
const s = (x: string) => Buffer.from(x);

function deriveAndFill(db: MemDb, start: number, end: number, valueBase: number): number {
  const h = db.staging();
  for (let i = start; i < end; i++) db.set(u32(i), u32(i + valueBase));
  return h;
}

/** Every [key, value] as u32 numbers, ascending; checks the reverse walk agrees. */
function contents(db: MemDb): [number, number][] {
  const fwd = [...db.iterate()].map((e): [number, number] => [e.key.readUInt32BE(), e.value.readUInt32BE()]);
  const rev = [...db.iterateReverse()].map((e): [number, number] => [
    e.key.readUInt32BE(),
    e.value.readUInt32BE(),
  ]);
  expect(rev.reverse()).toEqual(fwd);
  return fwd;
}

const range = (start: number, end: number, f: (i: number) => number): [number, number][] =>
  Array.from({ length: end - start }, (_, j): [number, number] => [start + j, f(start + j)]);

describe("cleanup and release (TestDiscard, TestFlushOverwrite, TestComplexUpdate, TestNestedSandbox)", () => {
  it("cleanup restores the previous values, len and size; cleaning the first stage empties the buffer", () => {
    const db = new MemDb();
    const cnt = 10_000;
    const base = deriveAndFill(db, 0, cnt, 0);
    const sz = db.size;
    db.cleanup(deriveAndFill(db, 0, cnt, 1));
    expect(db.len).toBe(cnt);
    expect(db.size).toBe(sz);
    expect(Array.from({ length: cnt }, (_, i) => db.get(u32(i))?.readUInt32BE())).toEqual(
      range(0, cnt, (i) => i).map(([, v]) => v),
    );
    expect(contents(db)).toEqual(range(0, cnt, (i) => i));
    db.cleanup(base);
    expect(Array.from({ length: cnt }, (_, i) => db.get(u32(i))).filter((v) => v !== undefined)).toEqual([]);
    expect(db.iterate().next().done).toBe(true);
    expect(db.len).toBe(0);
    expect(db.size).toBe(0);
  });

  it("release keeps the newer values", () => {
    const db = new MemDb();
    const cnt = 10_000;
    db.release(deriveAndFill(db, 0, cnt, 0));
    const sz = db.size;
    db.release(deriveAndFill(db, 0, cnt, 1));
    expect(db.len).toBe(cnt);
    expect(db.size).toBe(sz);
    expect(contents(db)).toEqual(range(0, cnt, (i) => i + 1));
  });

  it("overlapping released stages: kept keys, overwritten keys and inserted keys", () => {
    const db = new MemDb();
    db.release(deriveAndFill(db, 0, 6000, 0));
    expect(db.len).toBe(6000);
    db.release(deriveAndFill(db, 3000, 9000, 1));
    expect(db.len).toBe(9000);
    for (let i = 0; i < 9000; i += 7) expect(db.get(u32(i))).toEqual(u32(i >= 3000 ? i + 1 : i));
  });

  it("nested stages: cleanup and release compose", () => {
    const db = new MemDb();
    const h0 = deriveAndFill(db, 0, 200, 0);
    const h1 = deriveAndFill(db, 0, 100, 1);
    const h2 = deriveAndFill(db, 50, 150, 2);
    const h3 = deriveAndFill(db, 100, 120, 3);
    const h4 = deriveAndFill(db, 0, 150, 4);
    db.cleanup(h4); // discard 0..150 -> +4
    db.release(h3); // keep 100..120 -> +3 (into h2)
    db.cleanup(h2); // discard 100..120 -> +3 and 50..150 -> +2
    db.release(h1); // keep 0..100 -> +1
    db.release(h0); // keep 0..100 -> +1 and 0..200 -> +0
    expect(contents(db)).toEqual(range(0, 200, (i) => (i < 100 ? i + 1 : i)));
    expect(db.stagingDepth).toBe(0);
  });
});

describe("staging handles (TestMemDBStaging, TestMemDBMultiLevelStaging, TestInvalidStagingHandle)", () => {
  it("a released inner stage is undone with its parent", () => {
    const db = new MemDb();
    db.set(s("x"), Buffer.alloc(2));
    const h1 = db.staging();
    db.set(s("x"), Buffer.alloc(3));
    const h2 = db.staging();
    db.set(s("yz"), Buffer.alloc(1));
    expect(db.get(s("x"))?.length).toBe(3);
    db.release(h2);
    expect(db.get(s("yz"))?.length).toBe(1);
    db.cleanup(h1);
    expect(db.get(s("x"))?.length).toBe(2);
    expect(db.get(s("yz"))).toBeUndefined();
  });

  it("100 levels, alternately released and cleaned up", () => {
    const db = new MemDb();
    const key = b(0);
    for (let i = 0; i < 100; i++) {
      expect(db.staging()).toBe(i + 1);
      db.set(key, b(i));
      expect(db.get(key)).toEqual(b(i));
    }
    for (let i = 99; i >= 0; i--) {
      let expected = i;
      if (i % 2 === 1) {
        expected = i - 1;
        db.cleanup(i + 1);
      } else {
        db.release(i + 1);
      }
      expect(db.get(key)).toEqual(b(expected));
    }
  });

  it("release takes only the top handle; cleanup ignores closed handles; 0 is a no-op", () => {
    const db = new MemDb();
    const h1 = db.staging();
    const h2 = db.staging();
    expect(h1).toBeGreaterThan(0);
    expect(h2).toBe(h1 + 1);
    expect([db.isStaging, db.stagingDepth]).toEqual([true, 2]);
    // release(h2 + 1) and release(h2 - 1): InvalidStagingHandleError (client-go panics)
    expect(() => db.release(h2 + 1)).toThrow(InvalidStagingHandleError);
    expect(() => db.release(h2 - 1)).toThrow(InvalidStagingHandleError);
    db.release(0);
    db.release(h2);
    db.release(0);
    db.release(h1);
    db.release(0);
    expect([db.isStaging, db.stagingDepth]).toEqual([false, 0]);

    const g1 = db.staging();
    const g2 = db.staging();
    db.cleanup(g2 + 1); // above the depth: already closed, no-op
    // cleanup below the top: InvalidStagingHandleError (client-go panics)
    expect(() => db.cleanup(g2 - 1)).toThrow(InvalidStagingHandleError);
    db.cleanup(0);
    db.cleanup(g2);
    db.cleanup(0);
    db.cleanup(g1);
    db.cleanup(0);
    expect(db.stagingDepth).toBe(0);
  });

  it("the error says which operation, handle and depth", () => {
    const db = new MemDb();
    db.staging();
    const err = (() => {
      try {
        db.release(3);
      } catch (e) {
        return e;
      }
    })() as InvalidStagingHandleError;
    expect(err).toBeInstanceOf(InvalidStagingHandleError);
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect([err.operation, err.handle, err.depth]).toEqual(["release", 3, 1]);
  });
});

describe("checkpoints (TestMemDBCheckpoint)", () => {
  it("reverting to a checkpoint undoes later writes, released stages included", () => {
    const db = new MemDb();
    const cp1 = db.checkpoint();
    db.set(s("x"), s("x"));
    const cp2 = db.checkpoint();
    db.set(s("y"), s("y"));
    const h = db.staging();
    db.set(s("z"), s("z"));
    db.release(h);
    for (const k of ["x", "y", "z"]) expect(db.get(s(k))).toEqual(s(k));
    db.revertToCheckpoint(cp2);
    expect(db.get(s("x"))).toEqual(s("x"));
    expect(db.get(s("y"))).toBeUndefined();
    expect(db.get(s("z"))).toBeUndefined();
    db.revertToCheckpoint(cp1);
    expect(db.get(s("x"))).toBeUndefined();
    expect(db.len).toBe(0);
  });

  it("a checkpoint inside a stage reverts only that stage's later writes", () => {
    const db = new MemDb();
    db.set(s("a"), s("0"));
    const h = db.staging();
    db.set(s("a"), s("1"));
    const cp = db.checkpoint();
    db.set(s("a"), s("2"));
    db.set(s("b"), s("2"));
    db.revertToCheckpoint(cp);
    expect(db.get(s("a"))).toEqual(s("1"));
    expect(db.get(s("b"))).toBeUndefined();
    // reverting again to the same checkpoint is fine (nothing to undo)
    db.revertToCheckpoint(cp);
    db.cleanup(h);
    expect(db.get(s("a"))).toEqual(s("0"));
  });

  it("keeps the value a checkpoint needs even when the key is rewritten in the same stage", () => {
    const db = new MemDb();
    db.set(s("k"), s("1"));
    db.set(s("k"), s("2")); // same stage, no checkpoint: replaces in place
    const cp = db.checkpoint();
    db.set(s("k"), s("3"));
    db.set(s("k"), s("4"));
    db.revertToCheckpoint(cp);
    expect(db.get(s("k"))).toEqual(s("2"));
  });

  it("refuses checkpoints it cannot revert to, with a reason", () => {
    const db = new MemDb();
    const reason = (f: () => void) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidCheckpointError);
        return (e as InvalidCheckpointError).reason;
      }
      return "no error";
    };
    // not a checkpoint at all
    expect(reason(() => db.revertToCheckpoint({} as MemDbCheckpoint))).toBe("not-a-checkpoint");
    // another buffer's
    expect(reason(() => db.revertToCheckpoint(new MemDb().checkpoint()))).toBe("other-buffer");
    // from before reset()
    const old = db.checkpoint();
    db.reset();
    expect(reason(() => db.revertToCheckpoint(old))).toBe("reset");
    // reverted past: an earlier checkpoint was restored, then other writes reused the positions
    const early = db.checkpoint();
    db.set(s("a"), s("1"));
    const late = db.checkpoint();
    db.set(s("b"), s("1"));
    db.revertToCheckpoint(early);
    expect(reason(() => db.revertToCheckpoint(late))).toBe("reverted");
    db.set(s("c"), s("1"));
    db.set(s("d"), s("1"));
    expect(reason(() => db.revertToCheckpoint(late))).toBe("reverted");
    // below the current stage: it would undo the parent stage's writes
    const below = db.checkpoint();
    db.set(s("e"), s("1"));
    const h = db.staging();
    expect(reason(() => db.revertToCheckpoint(below))).toBe("below-current-stage");
    db.release(h);
    db.revertToCheckpoint(below);
    expect(db.get(s("e"))).toBeUndefined();
    expect(db.get(s("d"))).toEqual(s("1"));
  });
});

describe("flags across cleanup (TestFlags, TestCleanupKeepPersistentFlag, TestUnsetTemporaryFlag)", () => {
  it("cleanup keeps the keys with persistent flags, without values", () => {
    const db = new MemDb();
    const cnt = 10_000;
    const h = db.staging();
    for (let i = 0; i < cnt; i++) {
      if (i % 2 === 0) db.set(u32(i), u32(i), [FlagsOp.setPresumeKeyNotExists, FlagsOp.setKeyLocked]);
      else db.set(u32(i), u32(i), [FlagsOp.setPresumeKeyNotExists]);
    }
    db.cleanup(h);
    const all = Array.from({ length: cnt }, (_, i) => i);
    expect(all.filter((i) => db.get(u32(i)) !== undefined)).toEqual([]);
    // even keys: locked (persistent), presumeKeyNotExists gone; odd keys: gone
    const flags = all.map((i) => db.getFlags(u32(i)));
    expect(
      flags.filter((f, i) =>
        i % 2 === 0 ? f === undefined || !hasLocked(f) || hasPresumeKeyNotExists(f) : f !== undefined,
      ),
    ).toEqual([]);
    expect(db.len).toBe(5000);
    expect(db.size).toBe(20_000);
    expect(db.iterate().next().done).toBe(true);
    for (const it of [db.iterateWithFlags(), db.iterateReverseWithFlags()]) {
      const seen = [...it];
      expect(seen.length).toBe(5000);
      expect(seen.filter((e) => e.key.readUInt32BE() % 2 !== 0 || e.value !== undefined)).toEqual([]);
    }
    for (let i = 0; i < cnt; i++) db.updateFlags(u32(i), [FlagsOp.delKeyLocked]);
    expect(all.filter((i) => db.get(u32(i)) !== undefined)).toEqual([]);
    // updateFlags creates missing keys
    expect(all.filter((i) => db.getFlags(u32(i)) === undefined || hasLocked(db.getFlags(u32(i))!))).toEqual(
      [],
    );
    expect(db.len).toBe(cnt);
  });

  it("keeps persistent flags only, per key", () => {
    const db = new MemDb();
    const h = db.staging();
    db.set(b(1), b(1), [FlagsOp.setKeyLocked]);
    db.set(b(2), b(2), [FlagsOp.setPresumeKeyNotExists]);
    db.set(b(3), b(3), [FlagsOp.setKeyLocked, FlagsOp.setPresumeKeyNotExists]);
    db.cleanup(h);
    for (const k of [b(1), b(2), b(3)]) expect(db.get(k)).toBeUndefined();
    expect(hasLocked(db.getFlags(b(1))!)).toBe(true);
    expect(db.getFlags(b(2))).toBeUndefined();
    expect(hasLocked(db.getFlags(b(3))!)).toBe(true);
    expect(hasPresumeKeyNotExists(db.getFlags(b(3))!)).toBe(false);
  });

  it("flags of keys that had a value before the stage are not rolled back", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    const h = db.staging();
    db.set(b(1), b(2), [FlagsOp.setPresumeKeyNotExists]);
    db.updateFlags(b(4), [FlagsOp.setNeedLocked]); // created in the stage, flags only: no value to undo
    db.cleanup(h);
    expect(db.get(b(1))).toEqual(b(1));
    expect(hasPresumeKeyNotExists(db.getFlags(b(1))!)).toBe(true);
    expect(db.getFlags(b(4))).toBe(KeyFlag.needLocked);
  });

  it("a value write clears needConstraintCheckInPrewrite, updateFlags does not", () => {
    const db = new MemDb();
    db.set(b(1), b(2), [FlagsOp.setNeedConstraintCheckInPrewrite]);
    expect(hasNeedConstraintCheckInPrewrite(db.getFlags(b(1))!)).toBe(true);
    db.updateFlags(b(1), [FlagsOp.setNeedLocked]);
    expect(hasNeedConstraintCheckInPrewrite(db.getFlags(b(1))!)).toBe(true);
    db.set(b(1), b(2));
    expect(hasNeedConstraintCheckInPrewrite(db.getFlags(b(1))!)).toBe(false);
    // the ops of the same write apply after the clearing
    db.delete(b(1), [FlagsOp.setNeedConstraintCheckInPrewrite]);
    expect(hasNeedConstraintCheckInPrewrite(db.getFlags(b(1))!)).toBe(true);
  });
});

describe("dirty (TestDirty)", () => {
  it("follows client-go's rule", () => {
    let db = new MemDb();
    expect(db.dirty).toBe(false);
    db.set(b(1), b(1));
    expect(db.dirty).toBe(true);

    db = new MemDb();
    let h = db.staging();
    db.set(b(1), b(1));
    db.cleanup(h);
    expect(db.dirty).toBe(false);
    h = db.staging();
    db.set(b(1), b(1));
    db.release(h);
    expect(db.dirty).toBe(true);

    // persistent flags make the buffer dirty
    db = new MemDb();
    h = db.staging();
    db.set(b(1), b(1), [FlagsOp.setKeyLocked]);
    db.cleanup(h);
    expect(db.dirty).toBe(true);

    // non-persistent ones do not
    db = new MemDb();
    h = db.staging();
    db.set(b(1), b(1), [FlagsOp.setPresumeKeyNotExists]);
    db.cleanup(h);
    expect(db.dirty).toBe(false);
  });

  it("a flags update with no stage open is a write; releasing an empty stage 1 is not", () => {
    const db = new MemDb();
    const h = db.staging();
    db.updateFlags(b(1), [FlagsOp.setNeedLocked]);
    db.release(h);
    expect(db.dirty).toBe(false);
    db.updateFlags(b(2));
    expect(db.dirty).toBe(true);
  });
});

describe("inspectStage (TestInspectStage)", () => {
  it("visits the latest value of each key written in the stage or above", () => {
    const db = new MemDb();
    const h1 = deriveAndFill(db, 0, 1000, 0);
    const h2 = deriveAndFill(db, 500, 1000, 1);
    for (let i = 500; i < 1500; i++) {
      const v = Buffer.alloc(5); // a different length than before
      v.writeUInt32BE(i + 2);
      db.set(u32(i), v);
    }
    const h3 = deriveAndFill(db, 1000, 2000, 3);

    const visit = (h: number) => {
      const seen = new Map<number, number>();
      db.inspectStage(h, (key, _flags, value) => {
        const k = key.readUInt32BE();
        expect(seen.has(k)).toBe(false);
        seen.set(k, value.readUInt32BE());
      });
      return seen;
    };
    const s3 = visit(h3);
    expect(s3.size).toBe(1000);
    for (const [k, v] of s3) {
      expect(k >= 1000 && k < 2000).toBe(true);
      expect(v - k).toBe(3);
    }
    const s2 = visit(h2);
    expect(s2.size).toBe(1500);
    for (const [k, v] of s2) {
      expect(k >= 500 && k < 2000).toBe(true);
      expect(v - k).toBe(k < 1000 ? 2 : 3);
    }
    db.cleanup(h3);
    db.release(h2);
    const s1 = visit(h1);
    expect(s1.size).toBe(1500);
    for (const [k, v] of s1) {
      expect(k >= 0 && k < 1500).toBe(true);
      expect(v - k).toBe(k < 500 ? 0 : 2);
    }
    db.release(h1);
  });

  it("passes flags and skips flags-only keys; handle must be an open stage", () => {
    const db = new MemDb();
    const h = db.staging();
    db.set(b(1), b(1), [FlagsOp.setKeyLocked]);
    db.updateFlags(b(2), [FlagsOp.setKeyLocked]);
    const seen: [number, number][] = [];
    db.inspectStage(h, (k, f) => seen.push([k[0]!, f]));
    expect(seen).toEqual([[1, KeyFlag.keyLocked]]);
    // handles 0 and depth + 1: InvalidStagingHandleError
    expect(() => db.inspectStage(0, () => {})).toThrow(InvalidStagingHandleError);
    expect(() => db.inspectStage(2, () => {})).toThrow(InvalidStagingHandleError);
  });

  it("survives a visitor that undoes the stage", () => {
    const db = new MemDb();
    db.staging();
    const h = db.staging();
    for (let i = 0; i < 10; i++) db.set(b(i), b(i));
    let calls = 0;
    db.inspectStage(h, () => {
      calls++;
      db.cleanup(h);
    });
    expect(calls).toBe(1);
    expect(db.len).toBe(0);
  });
});

describe("selectValueHistory (TestSelectValueHistory)", () => {
  it("finds the newest matching value among the ones stages can restore", () => {
    const db = new MemDb();
    db.set(b(1), b(1));
    const h = db.staging();
    db.set(b(1), b(1, 1));
    const eq = (v: Buffer) => (x: Buffer) => x.equals(v);
    expect(db.selectValueHistory(b(1), eq(b(1)))).toEqual(b(1));
    expect(db.selectValueHistory(b(1), eq(b(1, 1)))).toEqual(b(1, 1));
    // no match: null; no value for the key: undefined (client-go ErrNotExist)
    expect(db.selectValueHistory(b(1), eq(b(1, 1, 1)))).toBeNull();
    expect(db.selectValueHistory(b(2), () => false)).toBeUndefined();
    db.cleanup(h);
    expect(db.selectValueHistory(b(1), eq(b(1)))).toEqual(b(1));
    expect(db.selectValueHistory(b(1), eq(b(1, 1)))).toBeNull();
  });

  it("sees deletes as empty values and treats flags-only keys as valueless", () => {
    const db = new MemDb();
    db.set(b(1), b(9));
    const h = db.staging();
    db.delete(b(1));
    db.updateFlags(b(2), [FlagsOp.setKeyLocked]);
    expect(db.selectValueHistory(b(1), (v) => v.length === 0)).toEqual(Buffer.alloc(0));
    expect(db.selectValueHistory(b(1), (v) => v.length > 0)).toEqual(b(9));
    expect(db.selectValueHistory(b(2), () => true)).toBeUndefined();
    db.release(h);
  });
});
