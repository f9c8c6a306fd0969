import { describe, expect, it } from "vitest";
import {
  isProtectedRollback,
  type Lock,
  MvccReader,
  MvccStore,
  MvccTxn,
  newLock,
  newRollback,
  newWrite,
} from "../../../../src/cluster/engine/mvcc/index.js";

const k = (s: string) => Buffer.from(s);

describe("mvcc storage core", () => {
  it("orders keys bytewise and versions newest first", () => {
    const store = new MvccStore();
    const txn = new MvccTxn(10n);
    txn.putWrite(k("a"), 20n, newWrite("Put", 10n, k("v1")));
    txn.putWrite(k("a"), 40n, newWrite("Put", 30n, k("v2")));
    txn.putWrite(k("\xff"), 20n, newWrite("Put", 10n, k("x")));
    txn.putWrite(k("a\x00"), 20n, newWrite("Put", 10n, k("y")));
    store.write(txn);
    const r = new MvccReader(store);
    expect(r.writesOf(k("a")).map((w) => w.commitTs)).toEqual([40n, 20n]);
    expect(r.seekWrite(k("a"), 39n)?.commitTs).toBe(20n);
    expect(r.seekWrite(k("a"), 19n)).toBeUndefined();
    expect(r.get(k("a"), 100n)?.toString()).toBe("v2");
    expect(r.get(k("a"), 25n)?.toString()).toBe("v1");
    expect(store.keysInRange(Buffer.alloc(0), Buffer.alloc(0)).map((b) => b.toString("hex"))).toEqual([
      "61",
      "6100",
      "c3bf",
    ]);
  });

  it("skips Lock and Rollback records and stops at Delete", () => {
    const store = new MvccStore();
    const txn = new MvccTxn(1n);
    txn.putWrite(k("a"), 10n, newWrite("Put", 5n, k("v")));
    txn.putWrite(k("a"), 20n, newWrite("Lock", 15n));
    txn.putWrite(k("a"), 25n, newRollback(25n, true));
    txn.putWrite(k("a"), 30n, newWrite("Delete", 28n));
    store.write(txn);
    const r = new MvccReader(store);
    expect(r.get(k("a"), 27n)?.toString()).toBe("v");
    expect(r.get(k("a"), 30n)).toBeUndefined();
    expect(isProtectedRollback(r.seekWrite(k("a"), 25n)!.write)).toBe(true);
  });

  it("loads long values from the default CF and reports missing ones", () => {
    const store = new MvccStore();
    const txn = new MvccTxn(5n);
    const long = Buffer.alloc(300, 1);
    txn.putValue(k("a"), 5n, long);
    txn.putWrite(k("a"), 10n, newWrite("Put", 5n));
    txn.putWrite(k("b"), 10n, newWrite("Put", 5n));
    store.write(txn);
    const r = new MvccReader(store);
    expect(r.get(k("a"), 10n)).toEqual(long);
    expect(() => r.get(k("b"), 10n)).toThrow(/default not found/);
  });

  it("finds commit records, overlapped rollbacks and released locks", () => {
    const store = new MvccStore();
    const released: bigint[] = [];
    store.onLocksReleased((ls) => released.push(...ls.map((l) => l.startTs)));
    const txn = new MvccTxn(10n);
    txn.putLock(k("a"), newLock({ lockType: "Put", primary: k("a"), startTs: 10n }), true);
    store.write(txn);
    const r = new MvccReader(store);
    expect((r.loadLock(k("a")) as Lock | undefined)?.startTs).toBe(10n);
    const c = new MvccTxn(10n);
    c.unlockKey(k("a"), false, 20n);
    c.putWrite(k("a"), 20n, { ...newWrite("Put", 10n, k("v")), hasOverlappedRollback: true });
    store.write(c);
    expect(released).toEqual([10n]);
    expect(r.loadLock(k("a"))).toBeUndefined();
    expect(r.getTxnCommitRecord(k("a"), 10n)).toMatchObject({ kind: "single", commitTs: 20n });
    expect(r.getTxnCommitRecord(k("a"), 20n)).toEqual({ kind: "overlappedRollback", commitTs: 20n });
    expect(r.getTxnCommitRecord(k("a"), 5n)).toEqual({ kind: "none" });
  });

  it("destroys ranges in every CF", () => {
    const store = new MvccStore();
    const txn = new MvccTxn(1n);
    for (const s of ["a", "b", "c"]) {
      txn.putLock(k(s), newLock({ lockType: "Put", primary: k(s), startTs: 1n }));
      txn.putWrite(k(s), 2n, newWrite("Put", 1n, k("v")));
    }
    store.write(txn);
    store.destroyRange(k("b"), Buffer.alloc(0));
    expect(store.keysInRange(Buffer.alloc(0), Buffer.alloc(0)).map(String)).toEqual(["a"]);
  });
});
