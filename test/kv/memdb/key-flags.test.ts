// Key flags and flag operations: client-go kv/keyflags.go ApplyFlagsOps and the Has* predicates.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  andPersistent,
  applyFlagsOp,
  applyFlagsOps,
  FlagsOp,
  hasAssertExist,
  hasAssertionFlags,
  hasAssertNotExist,
  hasAssertUnknown,
  hasIgnoredIn2PC,
  hasLocked,
  hasLockedInShareMode,
  hasLockedValueExists,
  hasNeedCheckExists,
  hasNeedConstraintCheckInPrewrite,
  hasNeedLocked,
  hasNewlyInserted,
  hasPresumeKeyNotExists,
  hasPrewriteOnly,
  hasReadable,
  isFlagsOp,
  isKeyFlags,
  KeyFlag,
  type KeyFlags,
  PERSISTENT_FLAGS,
} from "../../../src/kv/memdb/index.js";

const ALL_OPS = Object.values(FlagsOp);

describe("flag operations (client-go ApplyFlagsOps)", () => {
  it("setPresumeKeyNotExists also sets needCheckExists; del clears both", () => {
    const f = applyFlagsOp(0, FlagsOp.setPresumeKeyNotExists);
    expect(hasPresumeKeyNotExists(f)).toBe(true);
    expect(hasNeedCheckExists(f)).toBe(true);
    const g = applyFlagsOp(f, FlagsOp.delPresumeKeyNotExists);
    expect(hasPresumeKeyNotExists(g)).toBe(false);
    expect(hasNeedCheckExists(g)).toBe(false);
    expect(hasNeedCheckExists(applyFlagsOp(f, FlagsOp.delNeedCheckExists))).toBe(false);
    expect(hasPresumeKeyNotExists(applyFlagsOp(f, FlagsOp.delNeedCheckExists))).toBe(true);
  });

  it("previousPresumeKeyNotExists counts as presumed absent", () => {
    expect(hasPresumeKeyNotExists(applyFlagsOp(0, FlagsOp.setPreviousPresumeKeyNotExists))).toBe(true);
    // and delPresumeKeyNotExists does not remove it (it is not to be unset)
    const f = applyFlagsOps(0, [FlagsOp.setPreviousPresumeKeyNotExists, FlagsOp.delPresumeKeyNotExists]);
    expect(hasPresumeKeyNotExists(f)).toBe(true);
  });

  it("lock flags", () => {
    let f = applyFlagsOps(0, [FlagsOp.setKeyLocked, FlagsOp.setNeedLocked, FlagsOp.setKeyLockedInShareMode]);
    expect([hasLocked(f), hasNeedLocked(f), hasLockedInShareMode(f)]).toEqual([true, true, true]);
    f = applyFlagsOps(f, [FlagsOp.setKeyLockedInExclusiveMode, FlagsOp.delNeedLocked]);
    expect([hasLocked(f), hasNeedLocked(f), hasLockedInShareMode(f)]).toEqual([true, false, false]);
    expect(hasLocked(applyFlagsOp(f, FlagsOp.delKeyLocked))).toBe(false);
  });

  it("recording the lock's existence check clears needConstraintCheckInPrewrite", () => {
    const base = applyFlagsOp(0, FlagsOp.setNeedConstraintCheckInPrewrite);
    expect(hasNeedConstraintCheckInPrewrite(base)).toBe(true);
    const exists = applyFlagsOp(base, FlagsOp.setKeyLockedValueExists);
    expect(hasLockedValueExists(exists)).toBe(true);
    expect(hasNeedConstraintCheckInPrewrite(exists)).toBe(false);
    const notExists = applyFlagsOp(
      applyFlagsOp(exists, FlagsOp.setNeedConstraintCheckInPrewrite),
      FlagsOp.setKeyLockedValueNotExists,
    );
    expect(hasLockedValueExists(notExists)).toBe(false);
    expect(hasNeedConstraintCheckInPrewrite(notExists)).toBe(false);
    expect(
      hasNeedConstraintCheckInPrewrite(applyFlagsOp(base, FlagsOp.delNeedConstraintCheckInPrewrite)),
    ).toBe(false);
  });

  it("one-way flags", () => {
    const f = applyFlagsOps(0, [
      FlagsOp.setPrewriteOnly,
      FlagsOp.setIgnoredIn2PC,
      FlagsOp.setReadable,
      FlagsOp.setNewlyInserted,
    ]);
    expect([hasPrewriteOnly(f), hasIgnoredIn2PC(f), hasReadable(f), hasNewlyInserted(f)]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(hasPrewriteOnly(0) || hasIgnoredIn2PC(0) || hasReadable(0) || hasNewlyInserted(0)).toBe(false);
  });

  it("assertions: exist / not-exist / unknown / none, each replacing the previous one", () => {
    const state = (f: KeyFlags) => [
      hasAssertExist(f),
      hasAssertNotExist(f),
      hasAssertUnknown(f),
      hasAssertionFlags(f),
    ];
    expect(state(0)).toEqual([false, false, false, false]);
    const exist = applyFlagsOp(0, FlagsOp.setAssertExist);
    expect(state(exist)).toEqual([true, false, false, true]);
    const notExist = applyFlagsOp(exist, FlagsOp.setAssertNotExist);
    expect(state(notExist)).toEqual([false, true, false, true]);
    expect(state(applyFlagsOp(notExist, FlagsOp.setAssertExist))).toEqual([true, false, false, true]);
    const unknown = applyFlagsOp(exist, FlagsOp.setAssertUnknown);
    expect(state(unknown)).toEqual([false, false, true, true]);
    expect(state(applyFlagsOp(unknown, FlagsOp.setAssertNone))).toEqual([false, false, false, false]);
  });

  it("persistent flags are keyLocked, keyLockedValueExists/Known, needConstraintCheckInPrewrite, lockedInShareMode", () => {
    expect(PERSISTENT_FLAGS).toBe(
      KeyFlag.keyLocked |
        KeyFlag.keyLockedValueExists |
        KeyFlag.keyLockedValueKnown |
        KeyFlag.needConstraintCheckInPrewrite |
        KeyFlag.lockedInShareMode,
    );
    const all = Object.values(KeyFlag).reduce((a, x) => a | x, 0);
    expect(andPersistent(all)).toBe(PERSISTENT_FLAGS);
    expect(andPersistent(KeyFlag.presumeKeyNotExists | KeyFlag.needLocked)).toBe(0);
  });

  it("the bits are distinct and the ops are 1..22", () => {
    const bits = Object.values(KeyFlag);
    expect(new Set(bits).size).toBe(bits.length);
    for (const x of bits) expect(x & (x - 1)).toBe(0);
    expect(ALL_OPS).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
  });

  it("property: ops only touch their own bits and stay valid flags", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ALL_OPS), { maxLength: 30 }), (ops) => {
        const f = applyFlagsOps(0, ops);
        expect(isKeyFlags(f)).toBe(true);
        // applying one at a time is the same as applying the list
        expect(ops.reduce(applyFlagsOp, 0)).toBe(f);
      }),
    );
  });

  it("isFlagsOp / isKeyFlags reject garbage", () => {
    for (const op of ALL_OPS) expect(isFlagsOp(op)).toBe(true);
    for (const bad of [0, 23, -1, 1.5, "1", null, undefined]) expect(isFlagsOp(bad)).toBe(false);
    expect(isKeyFlags(0)).toBe(true);
    for (const bad of [-1, 1 << 20, 0.5, "0"]) expect(isKeyFlags(bad)).toBe(false);
  });
});
