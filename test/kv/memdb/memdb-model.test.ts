// Model-based property test of the buffer: random sequences of writes, flag updates, staging,
// checkpoints, iteration, snapshots, limits and resets, run against MemDb and against a plain
// model (a Map of keys plus, per stage and checkpoint, a copy of the values it can restore).
// After every step both must agree on get, getFlags, len, size, dirty, depth and full iteration
// in both directions, with and without flags-only keys.
//
// The model states the semantics directly instead of mirroring the implementation's undo log:
// undoing back to a saved point restores every key's value as saved; a key that had no value
// then loses its non-persistent flags and disappears if none are left; flags are otherwise kept.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EntryTooLargeError, TxnTooLargeError } from "../../../src/errors/index.js";
import {
  applyFlagsOps,
  FlagsOp,
  InvalidCheckpointError,
  InvalidStagingHandleError,
  KeyFlag,
  type KeyFlags,
  MemDb,
  type MemDbCheckpoint,
  type MemDbIterator,
  type MemDbSnapshot,
  PERSISTENT_FLAGS,
  StaleSnapshotError,
} from "../../../src/kv/memdb/index.js";

// ---- the model ----

interface MEntry {
  key: Buffer;
  value: Buffer | undefined;
  flags: KeyFlags;
}

/** Values (only keys that have one) at some moment, keyed by hex. */
type SavedValues = Map<string, Buffer>;

interface MStage {
  pos: number;
  values: SavedValues;
}

interface MCheckpoint {
  pos: number;
  values: SavedValues;
  gen: number;
  alive: boolean;
  real: MemDbCheckpoint;
}

interface MSnapshot {
  version: number;
  real: MemDbSnapshot;
}

interface MIter {
  real: MemDbIterator<{ key: Buffer; value: Buffer | undefined; flags: KeyFlags }>;
  lower: Buffer | undefined;
  upper: Buffer | undefined;
  reverse: boolean;
  withFlags: boolean;
  last: Buffer | undefined;
  done: boolean;
}

class Model {
  map = new Map<string, MEntry>();
  stages: MStage[] = [];
  /** Number of value writes not undone: orders stages and checkpoints. */
  pos = 0;
  dirty = false;
  gen = 0;
  /** Bumped when the stage-0 values change (what snapshots show). */
  s0version = 0;
  entryLimit = 0;
  totalLimit = 0;

  get depth(): number {
    return this.stages.length;
  }

  get size(): number {
    let n = 0;
    for (const e of this.map.values()) n += e.key.length + (e.value?.length ?? 0);
    return n;
  }

  saveValues(): SavedValues {
    const out: SavedValues = new Map();
    for (const [h, e] of this.map) if (e.value !== undefined) out.set(h, e.value);
    return out;
  }

  /** Value write; returns the error class expected, or undefined when it is applied. */
  write(key: Buffer, value: Buffer, ops: readonly FlagsOp[]): (new (...a: never[]) => Error) | undefined {
    const h = key.toString("hex");
    const e = this.map.get(h);
    if (this.entryLimit > 0 && key.length + value.length > this.entryLimit) return EntryTooLargeError;
    const projected = this.size + (e === undefined ? key.length : 0) + value.length - (e?.value?.length ?? 0);
    if (this.totalLimit > 0 && projected > this.totalLimit) return TxnTooLargeError;
    const entry = e ?? { key, value: undefined, flags: 0 };
    entry.flags = applyFlagsOps(entry.flags & ~KeyFlag.needConstraintCheckInPrewrite, ops);
    entry.value = Buffer.from(value);
    this.map.set(h, entry);
    this.pos++;
    if (this.depth === 0) this.s0version++;
    if (this.depth === 0 || (entry.flags & PERSISTENT_FLAGS) !== 0) this.dirty = true;
    return undefined;
  }

  updateFlags(key: Buffer, ops: readonly FlagsOp[]): void {
    const h = key.toString("hex");
    const entry = this.map.get(h) ?? { key, value: undefined, flags: 0 };
    entry.flags = applyFlagsOps(entry.flags, ops);
    this.map.set(h, entry);
    if (this.depth === 0 || (entry.flags & PERSISTENT_FLAGS) !== 0) this.dirty = true;
  }

  /** Undo back to a saved point. */
  undoTo(saved: SavedValues, pos: number, cps: MCheckpoint[]): void {
    for (const [h, e] of [...this.map]) {
      const v = saved.get(h);
      if (v !== undefined) {
        e.value = v;
      } else if (e.value !== undefined) {
        e.value = undefined;
        e.flags &= PERSISTENT_FLAGS;
        if (e.flags === 0) this.map.delete(h);
      }
    }
    this.pos = pos;
    for (const cp of cps) if (cp.pos > pos) cp.alive = false;
  }

  /** Stage-0 value of a key (what a snapshot shows). */
  stageZero(h: string): Buffer | undefined {
    return this.depth === 0 ? this.map.get(h)?.value : this.stages[0]!.values.get(h);
  }

  sorted(): MEntry[] {
    return [...this.map.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  }
}

// ---- operations ----

const KEYS = [[], [0], [0, 0], [1], [1, 0], [1, 255], [2], [255], [255, 255], [3, 3, 3]].map((k) =>
  Buffer.from(k),
);
const OPS = [
  FlagsOp.setKeyLocked,
  FlagsOp.delKeyLocked,
  FlagsOp.setPresumeKeyNotExists,
  FlagsOp.setNeedConstraintCheckInPrewrite,
  FlagsOp.delNeedConstraintCheckInPrewrite,
  FlagsOp.setKeyLockedValueExists,
  FlagsOp.setKeyLockedInShareMode,
  FlagsOp.setNeedLocked,
  FlagsOp.setAssertExist,
];

const keyArb = fc.constantFrom(...KEYS);
const boundArb = fc.option(keyArb, { nil: undefined });
const valueArb = fc.uint8Array({ minLength: 1, maxLength: 3 }).map((u) => Buffer.from(u));
const opsArb = fc.array(fc.constantFrom(...OPS), { maxLength: 2 });
const handleArb = fc.constantFrom(
  "top" as const,
  "top" as const,
  "above" as const,
  "below" as const,
  "zero" as const,
);

const stepArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant("set" as const), k: keyArb, v: valueArb, ops: opsArb }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("del" as const), k: keyArb, ops: opsArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("flags" as const), k: keyArb, ops: opsArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("staging" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("release" as const), h: handleArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("cleanup" as const), h: handleArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("checkpoint" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("revert" as const), i: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("iterate" as const),
      lo: boundArb,
      hi: boundArb,
      reverse: fc.boolean(),
      withFlags: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("snapshot" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("snapRead" as const),
      i: fc.nat(),
      lo: boundArb,
      hi: boundArb,
      reverse: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("openIter" as const),
      lo: boundArb,
      hi: boundArb,
      reverse: fc.boolean(),
      withFlags: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("stepIter" as const), i: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("limits" as const),
      entry: fc.constantFrom(0, 3, 5),
      total: fc.constantFrom(0, 12, 25),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reset" as const) }) },
);

type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never;

// ---- checks ----

const inBounds = (k: Buffer, lo: Buffer | undefined, hi: Buffer | undefined) =>
  (lo === undefined || lo.length === 0 || Buffer.compare(k, lo) >= 0) &&
  (hi === undefined || hi.length === 0 || Buffer.compare(k, hi) < 0);

const show = (es: Iterable<{ key: Buffer; value?: Buffer | undefined; flags?: KeyFlags }>) =>
  [...es].map((e) => [e.key.toString("hex"), e.value?.toString("hex"), e.flags]);

function expectThrows(f: () => unknown, cls: new (...a: never[]) => Error): void {
  expect(f).toThrow(cls);
}

function checkSame(db: MemDb, m: Model, hookMem: { last: number }): void {
  for (const k of KEYS) {
    const e = m.map.get(k.toString("hex"));
    expect(db.get(k)).toEqual(e?.value);
    expect(db.getFlags(k)).toBe(e?.flags);
    // the current value is the newest of its history
    expect(db.selectValueHistory(k, () => true)).toEqual(e?.value);
    // the values the first and the top stage can restore are still in the history
    for (const st of new Set([m.stages[0], m.stages.at(-1)])) {
      if (st === undefined) continue;
      const v = st.values.get(k.toString("hex"));
      if (v !== undefined && e?.value !== undefined)
        expect(db.selectValueHistory(k, (x) => x.equals(v))).toEqual(v);
    }
  }
  expect(db.len).toBe(m.map.size);
  expect(db.size).toBe(m.size);
  expect(db.dirty).toBe(m.dirty);
  expect(db.stagingDepth).toBe(m.depth);
  expect(db.mem).toBeGreaterThanOrEqual(0);
  if (m.map.size === 0) expect(db.mem).toBe(0);
  expect(hookMem.last).toBe(db.mem);
  const all = m.sorted();
  const withValues = all.filter((e) => e.value !== undefined);
  expect(show(db.iterate())).toEqual(show(withValues));
  expect(show(db.iterateReverse())).toEqual(show(withValues).reverse());
  expect(show(db.iterateWithFlags())).toEqual(show(all));
  expect(show(db.iterateReverseWithFlags())).toEqual(show(all).reverse());
}

function handleOf(h: "top" | "above" | "below" | "zero", depth: number): number {
  if (h === "top") return depth;
  if (h === "above") return depth + 1;
  if (h === "below") return Math.max(0, depth - 1);
  return 0;
}

function run(steps: Step[]): void {
  const db = new MemDb();
  const m = new Model();
  const cps: MCheckpoint[] = [];
  const snaps: MSnapshot[] = [];
  const iters: MIter[] = [];
  const hookMem = { last: 0 };
  db.setMemoryFootprintChangeHook((mem) => {
    hookMem.last = mem;
  });

  for (const st of steps) {
    switch (st.t) {
      case "set":
      case "del": {
        const value = st.t === "set" ? st.v : Buffer.alloc(0);
        const want = m.write(st.k, value, st.ops);
        const call = () => (st.t === "set" ? db.set(st.k, st.v, st.ops) : db.delete(st.k, st.ops));
        if (want === undefined) call();
        else expectThrows(call, want);
        break;
      }
      case "flags":
        m.updateFlags(st.k, st.ops);
        db.updateFlags(st.k, st.ops);
        break;
      case "staging":
        m.stages.push({ pos: m.pos, values: m.saveValues() });
        expect(db.staging()).toBe(m.depth);
        break;
      case "release": {
        const h = handleOf(st.h, m.depth);
        if (h === 0) db.release(h);
        else if (h !== m.depth) expectThrows(() => db.release(h), InvalidStagingHandleError);
        else {
          const top = m.stages.pop()!;
          if (h === 1 && m.pos !== top.pos) {
            m.dirty = true;
            m.s0version++;
          }
          db.release(h);
        }
        break;
      }
      case "cleanup": {
        const h = handleOf(st.h, m.depth);
        if (h === 0 || h > m.depth) db.cleanup(h);
        else if (h < m.depth) expectThrows(() => db.cleanup(h), InvalidStagingHandleError);
        else {
          const top = m.stages.pop()!;
          m.undoTo(top.values, top.pos, cps);
          db.cleanup(h);
        }
        break;
      }
      case "checkpoint":
        cps.push({ pos: m.pos, values: m.saveValues(), gen: m.gen, alive: true, real: db.checkpoint() });
        break;
      case "revert": {
        if (cps.length === 0) break;
        const cp = cps[st.i % cps.length]!;
        const top = m.stages.at(-1);
        const valid = cp.alive && cp.gen === m.gen && (top === undefined || cp.pos >= top.pos);
        if (!valid) {
          expectThrows(() => db.revertToCheckpoint(cp.real), InvalidCheckpointError);
          break;
        }
        if (cp.pos < m.pos && m.depth === 0) m.s0version++;
        m.undoTo(cp.values, cp.pos, cps);
        db.revertToCheckpoint(cp.real);
        break;
      }
      case "iterate": {
        const want = m
          .sorted()
          .filter((e) => inBounds(e.key, st.lo, st.hi) && (st.withFlags || e.value !== undefined));
        if (st.reverse) want.reverse();
        const got = st.withFlags
          ? st.reverse
            ? db.iterateReverseWithFlags(st.hi, st.lo)
            : db.iterateWithFlags(st.lo, st.hi)
          : st.reverse
            ? db.iterateReverse(st.hi, st.lo)
            : db.iterate(st.lo, st.hi);
        expect(show(got)).toEqual(show(want));
        break;
      }
      case "snapshot":
        snaps.push({ version: m.s0version, real: db.getSnapshot() });
        break;
      case "snapRead": {
        if (snaps.length === 0) break;
        const sn = snaps[st.i % snaps.length]!;
        if (sn.version !== m.s0version) {
          expect(sn.real.isValid).toBe(false);
          expectThrows(() => sn.real.get(KEYS[1]!), StaleSnapshotError);
          expectThrows(() => sn.real.iterate(), StaleSnapshotError);
          break;
        }
        expect(sn.real.isValid).toBe(true);
        for (const k of KEYS) expect(sn.real.get(k)).toEqual(m.stageZero(k.toString("hex")));
        const want = m
          .sorted()
          .filter((e) => inBounds(e.key, st.lo, st.hi))
          .map((e) => ({ key: e.key, value: m.stageZero(e.key.toString("hex")) }))
          .filter((e) => e.value !== undefined);
        if (st.reverse) want.reverse();
        const got = st.reverse ? sn.real.iterateReverse(st.hi, st.lo) : sn.real.iterate(st.lo, st.hi);
        expect(show(got)).toEqual(show(want));
        break;
      }
      case "openIter": {
        const real = st.withFlags
          ? st.reverse
            ? db.iterateReverseWithFlags(st.hi, st.lo)
            : db.iterateWithFlags(st.lo, st.hi)
          : st.reverse
            ? db.iterateReverse(st.hi, st.lo)
            : db.iterate(st.lo, st.hi);
        iters.push({
          real,
          lower: st.lo,
          upper: st.hi,
          reverse: st.reverse,
          withFlags: st.withFlags,
          last: undefined,
          done: false,
        });
        break;
      }
      case "stepIter": {
        if (iters.length === 0) break;
        const it = iters[st.i % iters.length]!;
        // first visible key past the cursor, in the buffer as it is now
        const ahead = m
          .sorted()
          .filter((e) => inBounds(e.key, it.lower, it.upper) && (it.withFlags || e.value !== undefined))
          .filter(
            (e) =>
              it.last === undefined ||
              (it.reverse ? Buffer.compare(e.key, it.last) < 0 : Buffer.compare(e.key, it.last) > 0),
          );
        const want = it.done ? undefined : it.reverse ? ahead.at(-1) : ahead[0];
        const got = it.real.next();
        if (want === undefined) {
          expect(got.done).toBe(true);
          it.done = true;
        } else {
          expect(got.done).toBe(false);
          expect(show([got.value!])).toEqual(show([want]));
          it.last = want.key;
        }
        break;
      }
      case "limits":
        m.entryLimit = st.entry;
        m.totalLimit = st.total;
        db.setEntrySizeLimit(st.entry, st.total);
        break;
      case "reset":
        m.map.clear();
        m.stages = [];
        m.pos = 0;
        m.dirty = false;
        m.gen++;
        m.s0version++;
        db.reset();
        break;
    }
    checkSame(db, m, hookMem);
  }
}

describe("MemDb against a model (property)", () => {
  it("agrees with the model after every step", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => run(steps)),
      { numRuns: 500 },
    );
  });

  it("agrees on long runs with many stages", () => {
    const heavy = fc.oneof(stepArb, fc.record({ t: fc.constant("staging" as const) }));
    fc.assert(
      fc.property(fc.array(heavy, { minLength: 100, maxLength: 200 }), (steps) => run(steps)),
      { numRuns: 40 },
    );
  });
});
