// GC, DeleteRange, UnsafeDestroyRange, MvccGetByKey/StartTs, Flush / BufferBatchGet (pipelined
// DML) and BroadcastTxnStatus. Cases follow tikv src/storage/txn/actions/gc.rs (test_gc),
// src/storage/txn/commands/flush.rs tests and src/storage/mvcc/txn.rs (test_seek_ts).
import { describe, expect, it } from "vitest";
import { Assertion, AssertionLevel, Op } from "../../../../src/proto/kvrpcpb.js";
import {
  b,
  lockOf,
  mustCommit,
  mustGet,
  mustPrewrite,
  mustPut,
  mut,
  newEngine,
  prewrite,
  putPessimisticLock,
  puts,
  rollback,
  scanKV,
  writesOf,
} from "./helpers.js";

type Engine = ReturnType<typeof newEngine>;

function flush(
  e: Engine,
  key: string,
  value: string,
  startTs: bigint,
  generation: bigint,
  op = Op.Put,
  assertion = Assertion.None,
) {
  return e.flush({
    context: undefined,
    mutations: [mut(op, key, value, assertion)],
    primaryKey: b(key),
    startTs,
    minCommitTs: 0n,
    generation,
    lockTtl: 3000n,
    assertionLevel: assertion === Assertion.None ? AssertionLevel.Off : AssertionLevel.Strict,
  });
}

describe("gc (test_gc)", () => {
  it.each([
    ["short values", ["v1", "v2", "v3", "v4"]],
    ["long values", ["x", "y", "z", "v"].map((c) => c.repeat(256))],
  ])("keeps the version visible at the safe point (%s)", (_name, [v1, v2, v3, v4]) => {
    const e = newEngine();
    const k = "k";
    mustPut(e, k, v1 as string, 5n, 10n);
    mustPut(e, k, v2 as string, 15n, 20n);
    mustPrewrite(e, [mut(Op.Del, k)], 25n);
    mustCommit(e, [k], 25n, 30n);
    mustPut(e, k, v3 as string, 35n, 40n);
    mustPrewrite(e, [mut(Op.Lock, k)], 45n);
    mustCommit(e, [k], 45n, 50n);
    mustPrewrite(e, puts(k, v4 as string), 55n);
    expect(rollback(e, [k], 55n)).toBeUndefined();

    e.gc(12n);
    expect(mustGet(e, k, 12n)).toBe(v1);
    e.gc(22n);
    expect(mustGet(e, k, 22n)).toBe(v2);
    expect(mustGet(e, k, 12n)).toBeUndefined();
    e.gc(32n);
    expect(mustGet(e, k, 22n)).toBeUndefined();
    expect(mustGet(e, k, 35n)).toBeUndefined();
    e.gc(60n);
    expect(mustGet(e, k, 62n)).toBe(v3);
    // Only the Put at 40 is left; its long value (if any) too.
    expect(writesOf(e, k).map((w) => [w.commitTs, w.write.writeType])).toEqual([[40n, "Put"]]);
    expect((e.store.defaultCf.get(k) ?? []).map((v) => v.startTs)).toEqual(
      (v1 as string).length > 255 ? [35n] : [],
    );
  });

  it("leaves locks and versions above the safe point alone", () => {
    const e = newEngine();
    mustPut(e, "a", "1", 1n, 2n);
    mustPut(e, "a", "2", 3n, 4n);
    mustPrewrite(e, puts("a", "3"), 5n);
    expect(e.gc(3n)).toBe(0);
    expect(e.gc(10n)).toBe(1);
    expect(lockOf(e, "a")?.startTs).toBe(5n);
    // A delete at or below the safe point removes the key entirely.
    mustPut(e, "d", "1", 1n, 2n);
    mustPrewrite(e, [mut(Op.Del, "d")], 3n);
    mustCommit(e, ["d"], 3n, 4n);
    e.gc(10n);
    expect(writesOf(e, "d")).toEqual([]);
  });
});

describe("delete_range / unsafe_destroy_range", () => {
  it("notify_only deletes nothing; otherwise every CF in the range is cleared", () => {
    const e = newEngine();
    mustPut(e, "a", "1", 1n, 2n);
    mustPut(e, "b", "1", 1n, 2n);
    mustPrewrite(e, puts("c", "x".repeat(300)), 5n);
    e.deleteRange({ context: undefined, startKey: b("a"), endKey: b("z"), notifyOnly: true });
    expect(scanKV(e, "", "", 10, 3n)).toEqual(["a", "1", "b", "1"]);
    e.deleteRange(
      { context: undefined, startKey: b("b"), endKey: b(""), notifyOnly: false },
      { start: b(""), end: b("c") },
    );
    expect(scanKV(e, "", "", 10, 3n)).toEqual(["a", "1"]);
    expect(lockOf(e, "c")).toBeDefined();
    e.unsafeDestroyRange(b("a"), b(""));
    expect(e.store.keysInRange(b(""), b(""))).toEqual([]);
  });
});

describe("mvcc debug", () => {
  it("MvccGetByKey lists lock, writes and values newest first", () => {
    const e = newEngine();
    const long = "L".repeat(300);
    mustPut(e, "k", long, 1n, 2n);
    mustPut(e, "k", "short", 3n, 4n);
    mustPrewrite(e, puts("k", "locked"), 5n, { primaryLock: b("p") });
    const info = e.mvccGetByKey({ context: undefined, key: b("k") }).info;
    expect(info?.lock).toMatchObject({ type: Op.Put, startTs: 5n, primary: b("p"), shortValue: b("locked") });
    expect(info?.writes.map((w) => [w.commitTs, w.startTs, w.type, w.shortValue.toString()])).toEqual([
      [4n, 3n, Op.Put, "short"],
      [2n, 1n, Op.Put, ""],
    ]);
    expect(info?.values).toEqual([{ startTs: 1n, value: b(long) }]);
  });

  it("MvccGetByStartTs finds the first key written by the txn (test_seek_ts)", () => {
    const e = newEngine();
    mustPut(e, "b", "1", 7n, 8n);
    mustPut(e, "c", "1", 7n, 8n);
    mustPut(e, "a", "1", 9n, 10n);
    const r = e.mvccGetByStartTs({ context: undefined, startTs: 7n });
    expect(r.key).toEqual(b("b"));
    expect(r.info?.writes[0]?.startTs).toBe(7n);
    const none = e.mvccGetByStartTs({ context: undefined, startTs: 99n });
    expect([none.key.length, none.info?.writes]).toEqual([0, []]);
  });
});

describe("flush and buffer_batch_get (pipelined DML)", () => {
  it("test_flush / test_flush_overwrite", () => {
    const e = newEngine();
    expect(flush(e, "key", "value", 1n, 1n).errors).toEqual([]);
    expect(lockOf(e, "key")).toMatchObject({
      generation: 1n,
      minCommitTs: 2n,
      txnSize: 0xffff_ffff_ffff_ffffn,
    });
    expect(flush(e, "key", "value2", 1n, 2n).errors).toEqual([]);
    mustCommit(e, ["key"], 1n, 2n);
    expect(mustGet(e, "key", 3n)).toBe("value2");
  });

  it("test_write_conflict: flushes meet other txns' locks", () => {
    const e = newEngine();
    expect(flush(e, "key", "v", 1n, 1n).errors).toEqual([]);
    expect(flush(e, "key", "v", 2n, 2n).errors[0]?.locked?.lockVersion).toBe(1n);
    expect(prewrite(e, puts("key", "v"), 2n).errors[0]?.locked).toBeDefined();
    putPessimisticLock(e, "key2", "key2", 1n, 1n);
    expect(flush(e, "key2", "v", 2n, 3n).errors[0]?.locked?.lockType).toBe(Op.PessimisticLock);
    mustPrewrite(e, puts("key3", "v"), 1n);
    expect(flush(e, "key3", "v", 2n, 4n).errors[0]?.locked?.lockVersion).toBe(1n);
  });

  it("writes the keys that succeed even when others are locked", () => {
    const e = newEngine();
    mustPrewrite(e, puts("b", "v"), 1n);
    const r = e.flush({
      context: undefined,
      mutations: [mut(Op.Put, "a", "1"), mut(Op.Put, "b", "2")],
      primaryKey: b("a"),
      startTs: 5n,
      minCommitTs: 0n,
      generation: 1n,
      lockTtl: 3000n,
      assertionLevel: AssertionLevel.Off,
    });
    expect(r.errors).toHaveLength(1);
    expect(lockOf(e, "a")?.startTs).toBe(5n);
  });

  it("test_flush_out_of_order: generation 0 is rejected, older generations are ignored", () => {
    const e = newEngine();
    expect(flush(e, "key", "value", 1n, 0n).errors[0]?.abort).toMatch(/generation should be greater than 0/);
    expect(flush(e, "key", "value", 1n, 2n).errors).toEqual([]);
    expect(flush(e, "key", "value2", 1n, 1n).errors).toEqual([]);
    mustCommit(e, ["key"], 1n, 2n);
    expect(mustGet(e, "key", 3n)).toBe("value");
  });

  it("test_flushed_existence_check", () => {
    const e = newEngine();
    expect(flush(e, "key", "value", 1n, 1n).errors).toEqual([]);
    expect(flush(e, "key", "value", 1n, 2n, Op.Insert).errors[0]?.alreadyExist).toEqual({ key: b("key") });
    mustCommit(e, ["key"], 1n, 2n);
    expect(flush(e, "key", "value", 3n, 1n, Op.Insert).errors[0]?.alreadyExist).toEqual({ key: b("key") });
  });

  it("test_flush_overwrite_assertion: only the first flush's assertion is checked", () => {
    const e = newEngine();
    expect(flush(e, "key", "value", 1n, 1n, Op.Put, Assertion.NotExist).errors).toEqual([]);
    expect(flush(e, "key", "value2", 1n, 2n, Op.Put, Assertion.Exist).errors).toEqual([]);
    mustCommit(e, ["key"], 1n, 2n);
    expect(mustGet(e, "key", 3n)).toBe("value2");
  });

  it("buffer_batch_get returns the txn's own flushed values (deletes as empty)", () => {
    const e = newEngine();
    const long = "x".repeat(400);
    flush(e, "a", "1", 10n, 1n);
    flush(e, "b", long, 10n, 1n);
    flush(e, "c", "", 10n, 1n, Op.Del);
    mustPrewrite(e, puts("d", "other"), 11n);
    const r = e.bufferBatchGet({ context: undefined, keys: ["a", "b", "c", "d", "e"].map(b), version: 10n });
    expect(r.error).toBeUndefined();
    expect(r.pairs.map((p) => [p.key.toString(), p.value.toString()])).toEqual([
      ["a", "1"],
      ["b", long],
      ["c", ""],
    ]);
  });
});

describe("broadcast_txn_status", () => {
  it("records committed txns so a stale pessimistic prewrite re-checks constraints", () => {
    const e = newEngine();
    expect(
      e.broadcastTxnStatus({
        context: undefined,
        txnStatus: [
          { startTs: 10n, minCommitTs: 0n, commitTs: 20n, rolledBack: false, isCompleted: true },
          { startTs: 30n, minCommitTs: 35n, commitTs: 0n, rolledBack: false, isCompleted: false },
          { startTs: 40n, minCommitTs: 0n, commitTs: 0n, rolledBack: true, isCompleted: true },
        ],
      }),
    ).toEqual({});
    expect(e.txnStatusCache.get(10n)).toEqual({ kind: "committed", commitTs: 20n });
    expect(e.txnStatusCache.get(30n)).toEqual({ kind: "ongoing", minCommitTs: 35n });
    expect(e.txnStatusCache.get(40n)).toEqual({ kind: "rolledBack" });
  });
});
