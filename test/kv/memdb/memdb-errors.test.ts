// Every bad input to the buffer gets a typed error (client-go panics or takes them blindly).
// Each case says which error it gets.

import { describe, expect, it } from "vitest";
import {
  CannotSetNilValueError,
  EntryTooLargeError,
  InvalidArgumentError,
  KeyTooLargeError,
  TikvError,
  TxnTooLargeError,
} from "../../../src/errors/index.js";
import {
  FlagsOp,
  InvalidCheckpointError,
  InvalidStagingHandleError,
  MemDb,
  type MemDbCheckpoint,
  StaleSnapshotError,
  ValuesDiscardedError,
} from "../../../src/kv/memdb/index.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
/** Lets tests pass what the types forbid, as a JS caller could. */
const bad = <T>(v: unknown) => v as T;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("bad input gets a typed error", () => {
  const db = new MemDb();
  db.set(b(1), b(1));

  const cases: [string, () => unknown, new (...args: never[]) => TikvError, string][] = [
    ["non-Buffer key (string) to get", () => db.get(bad("k")), InvalidArgumentError, "key"],
    [
      "non-Buffer key (Uint8Array) to set",
      () => db.set(bad(new Uint8Array([1])), b(1)),
      InvalidArgumentError,
      "key",
    ],
    ["null key to getFlags", () => db.getFlags(bad(null)), InvalidArgumentError, "key"],
    ["non-Buffer value to set", () => db.set(b(1), bad("v")), InvalidArgumentError, "value"],
    ["undefined value to set", () => db.set(b(1), bad(undefined)), InvalidArgumentError, "value"],
    ["empty value to set (use delete)", () => db.set(b(1), Buffer.alloc(0)), CannotSetNilValueError, ""],
    ["ops not an array", () => db.set(b(1), b(1), bad(FlagsOp.setKeyLocked)), InvalidArgumentError, "ops"],
    [
      "unknown flags op",
      () => db.updateFlags(b(1), bad([FlagsOp.setKeyLocked, 99])),
      InvalidArgumentError,
      "ops[1]",
    ],
    ["non-Buffer lower bound", () => db.iterate(bad("a")), InvalidArgumentError, "lower"],
    ["non-Buffer upper bound", () => db.iterateReverseWithFlags(bad(1)), InvalidArgumentError, "upper"],
    ["key over 65535 bytes", () => db.set(Buffer.alloc(65536), b(1)), KeyTooLargeError, ""],
    ["release of a non-integer handle", () => db.release(1.5), InvalidStagingHandleError, "handle"],
    ["release of a negative handle", () => db.release(-1), InvalidStagingHandleError, "handle"],
    ["release of a handle that is not the top", () => db.release(1), InvalidStagingHandleError, "handle"],
    ["cleanup of a string handle", () => db.cleanup(bad("1")), InvalidStagingHandleError, "handle"],
    [
      "inspectStage of a handle that is not open",
      () => db.inspectStage(1, () => {}),
      InvalidStagingHandleError,
      "handle",
    ],
    [
      "revert to a non-checkpoint",
      () => db.revertToCheckpoint(bad<MemDbCheckpoint>(3)),
      InvalidCheckpointError,
      "checkpoint",
    ],
    ["negative entry limit", () => db.setEntrySizeLimit(-1, 0), InvalidArgumentError, "entryLimit"],
    ["fractional total limit", () => db.setEntrySizeLimit(0, 0.5), InvalidArgumentError, "totalLimit"],
    [
      "hook that is not a function",
      () => db.setMemoryFootprintChangeHook(bad(1)),
      InvalidArgumentError,
      "hook",
    ],
    [
      "predicate that is not a function",
      () => db.selectValueHistory(b(1), bad(null)),
      InvalidArgumentError,
      "predicate",
    ],
    [
      "bad constructor limits",
      () => new MemDb({ entrySizeLimit: Number.NaN }),
      InvalidArgumentError,
      "entryLimit",
    ],
    [
      "bad batch size (checked before the first batch)",
      () => db.getSnapshot().batches(undefined, undefined, { firstBatchSize: 0 }),
      InvalidArgumentError,
      "firstBatchSize",
    ],
    [
      "visitor that is not a function",
      () => db.getSnapshot().forEachInRange(undefined, undefined, bad(1)),
      InvalidArgumentError,
      "visitor",
    ],
  ];
  for (const [name, f, cls, argument] of cases) {
    it(`${name}: ${cls.name}`, () => {
      const before = [...db.iterateWithFlags()];
      const e = thrown(f);
      expect(e).toBeInstanceOf(cls);
      expect(e).toBeInstanceOf(TikvError);
      if (argument !== "") expect((e as InvalidArgumentError).argument).toBe(argument);
      expect([...db.iterateWithFlags()]).toEqual(before);
    });
  }

  it("size limits: EntryTooLargeError / TxnTooLargeError (code ENTRY_TOO_LARGE / TXN_TOO_LARGE)", () => {
    const d = new MemDb({ entrySizeLimit: 4, totalSizeLimit: 6 });
    expect((thrown(() => d.set(b(1), b(1, 2, 3, 4))) as TikvError).code).toBe("ENTRY_TOO_LARGE");
    d.set(b(1), b(1, 2, 3));
    expect((thrown(() => d.set(b(2), b(1, 2))) as TikvError).code).toBe("TXN_TOO_LARGE");
    expect(thrown(() => d.set(b(2), b(1, 2)))).toBeInstanceOf(TxnTooLargeError);
    expect(thrown(() => d.delete(b(1, 2, 3, 4, 5)))).toBeInstanceOf(EntryTooLargeError);
  });

  it("stale snapshot: StaleSnapshotError (code INVALID_TXN)", () => {
    const d = new MemDb();
    const snap = d.getSnapshot();
    d.set(b(1), b(1));
    const e = thrown(() => snap.get(b(1)));
    expect(e).toBeInstanceOf(StaleSnapshotError);
    expect((e as TikvError).code).toBe("INVALID_TXN");
  });

  it("use after discardValues: ValuesDiscardedError (code INVALID_TXN)", () => {
    const d = new MemDb();
    d.discardValues();
    const e = thrown(() => d.set(b(1), b(1)));
    expect(e).toBeInstanceOf(ValuesDiscardedError);
    expect((e as ValuesDiscardedError).operation).toBe("set");
    expect((e as TikvError).code).toBe("INVALID_TXN");
  });
});
