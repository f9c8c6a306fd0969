import { describe, expect, it } from "vitest";
import { DeadlockDetector } from "../../../../../src/cluster/engine/txn/pessimistic/deadlock-detector.js";
import { keyHash } from "../../../../../src/cluster/engine/txn/pessimistic/key-hash.js";

function manualClock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

function pairs(d: DeadlockDetector, txn: bigint): number {
  let n = 0;
  for (const hashes of d.edgesOf(txn).values()) n += hashes.length;
  return n;
}

describe("DeadlockDetector", () => {
  // Port of tikv src/server/lock_manager/deadlock.rs test_detect_table.
  it("detects cycles and tracks edges per (lock_ts, key hash) (tikv test_detect_table)", () => {
    const d = new DeadlockDetector({ ttlMs: 10_000, now: manualClock().now });
    expect(d.detect(1n, 2n, 2n)).toBeUndefined();
    expect(d.detect(2n, 1n, 1n)?.deadlockKeyHash).toBe(2n);
    expect(d.detect(2n, 3n, 3n)).toBeUndefined();
    expect(d.detect(3n, 1n, 1n)?.deadlockKeyHash).toBe(3n);
    d.cleanUp(2n);
    expect(d.edgesOf(2n).size).toBe(0);

    // After the cycle is broken, no deadlock.
    expect(d.detect(3n, 1n, 1n)).toBeUndefined();
    expect(d.edgesOf(3n).size).toBe(1);
    expect(d.edgesOf(3n).get(1n)).toEqual([1n]);
    // A different key hash grows the key list, the same one does not.
    expect(d.detect(3n, 1n, 2n)).toBeUndefined();
    expect(d.edgesOf(3n).get(1n)).toEqual([1n, 2n]);
    expect(d.detect(3n, 1n, 2n)).toBeUndefined();
    expect(d.edgesOf(3n).get(1n)).toEqual([1n, 2n]);
    // A different lock ts grows the map.
    expect(d.detect(3n, 2n, 2n)).toBeUndefined();
    expect(d.edgesOf(3n).size).toBe(2);
    expect(d.edgesOf(3n).get(2n)).toEqual([2n]);

    d.cleanUpWaitFor(3n, 1n, 1n);
    expect(d.edgesOf(3n).get(1n)).toEqual([2n]);
    d.cleanUpWaitFor(3n, 1n, 2n);
    expect(d.edgesOf(3n).size).toBe(1);
    d.cleanUpWaitFor(3n, 2n, 2n);
    expect(d.edgesOf(3n).size).toBe(0);
    expect(d.size).toBe(1);
    // Cleaning up absent entries is a no-op.
    d.cleanUp(3n);
    d.cleanUpWaitFor(3n, 1n, 1n);
    expect(d.size).toBe(1);
  });

  // Port of tikv deadlock.rs test_detect_table_expire (sleeps replaced by a manual clock).
  it("expires edges ttl after their last detect (tikv test_detect_table_expire)", () => {
    const clock = manualClock();
    const d = new DeadlockDetector({ ttlMs: 100, now: clock.now });
    expect(d.detect(1n, 2n, 1n)).toBeUndefined();
    expect(d.detect(2n, 1n, 2n)).toBeDefined();
    clock.t += 500;
    expect(d.size).toBe(1);
    expect(d.detect(2n, 1n, 2n)).toBeUndefined();
    expect(d.size).toBe(1);

    // Detect refreshes the edge, so it does not expire.
    d.clear();
    expect(d.detect(1n, 2n, 1n)).toBeUndefined();
    clock.t += 500;
    expect(d.detect(1n, 2n, 1n)).toBeUndefined();
    expect(d.detect(2n, 1n, 2n)).toBeDefined();

    // Expired edges are removed while searching, shrinking the map.
    d.clear();
    expect(d.detect(1n, 2n, 1n)).toBeUndefined();
    expect(d.detect(1n, 3n, 1n)).toBeUndefined();
    expect(d.size).toBe(1);
    clock.t += 500;
    expect(d.detect(1n, 3n, 2n)).toBeUndefined();
    expect(d.detect(2n, 1n, 2n)).toBeUndefined();
    expect(d.edgesOf(1n).size).toBe(1);
    expect(d.edgesOf(1n).get(3n)).toEqual([1n, 2n]);
    clock.t += 500;
    expect(d.detect(3n, 2n, 3n)).toBeUndefined();
    expect(d.size).toBe(2);
    expect(d.detect(3n, 1n, 3n)).toBeUndefined();
    expect(d.size).toBe(1);
  });

  // Port of tikv deadlock.rs test_deadlock_generating_wait_chain.
  describe("wait chain (tikv test_deadlock_generating_wait_chain)", () => {
    type E = [ts: number, lockTs: number, hash: number, key: string, tag: string];
    const testOnce = (edges: E[]) => {
      const d = new DeadlockDetector({ ttlMs: 100, now: () => 0 });
      const byPair = new Map<string, E>();
      for (const e of edges.slice(0, -1)) {
        expect(
          d.detect(BigInt(e[0]), BigInt(e[1]), BigInt(e[2]), Buffer.from(e[3]), Buffer.from(e[4])),
        ).toBeUndefined();
        byPair.set(`${e[0]}-${e[1]}`, e);
      }
      const last = edges[edges.length - 1];
      const res = d.detect(
        BigInt(last[0]),
        BigInt(last[1]),
        BigInt(last[2]),
        Buffer.from(last[3]),
        Buffer.from(last[4]),
      );
      expect(res).toBeDefined();
      let pos = last[1];
      for (const entry of res?.waitChain ?? []) {
        const expected = byPair.get(`${entry.txn}-${entry.waitForTxn}`);
        expect(expected).toBeDefined();
        expect([
          Number(entry.txn),
          Number(entry.waitForTxn),
          Number(entry.keyHash),
          entry.key.toString(),
          entry.resourceGroupTag.toString(),
        ]).toEqual(expected);
        expect(Number(entry.txn)).toBe(pos);
        pos = Number(entry.waitForTxn);
      }
      expect(pos).toBe(last[0]);
    };
    it("two txns", () =>
      testOnce([
        [1, 2, 11, "k1", "tag1"],
        [2, 1, 12, "k2", "tag2"],
      ]));
    it("three txns", () =>
      testOnce([
        [1, 2, 11, "k1", "tag1"],
        [2, 3, 12, "k2", "tag2"],
        [3, 1, 13, "k3", "tag3"],
      ]));
    it("branching graph", () =>
      testOnce([
        [1, 2, 11, "k12", "tag12"],
        [2, 3, 12, "k23", "tag23"],
        [2, 4, 13, "k24", "tag24"],
        [4, 1, 14, "k41", "tag41"],
      ]));
    const big: E[] = [
      [1, 2, 11, "k12", "tag12"],
      [1, 3, 12, "k13", "tag13"],
      [2, 4, 13, "k24", "tag24"],
      [3, 5, 14, "k35", "tag35"],
      [2, 5, 15, "k25", "tag25"],
      [5, 6, 16, "k56", "tag56"],
      [6, 1, 17, "k61", "tag61"],
    ];
    it("diamond graph", () => testOnce(big));
    it("diamond graph, edges registered in rotated orders", () => {
      const head = big.slice(0, -1);
      for (let r = 0; r < head.length; r++) {
        testOnce([...head.slice(r), ...head.slice(0, r), big[big.length - 1]]);
        testOnce([...head.slice(r), ...head.slice(0, r)].reverse().concat([big[big.length - 1]]));
      }
    });
  });

  // Port of client-go internal/mockstore/deadlock/deadlock_test.go TestDeadlock.
  it("client-go TestDeadlock", () => {
    const d = new DeadlockDetector({ now: () => 0 });
    expect(d.detect(1n, 2n, 100n)).toBeUndefined();
    expect(d.detect(2n, 3n, 200n)).toBeUndefined();
    const dl = d.detect(3n, 1n, 300n);
    expect(dl?.deadlockKeyHash).toBe(200n);
    d.cleanUp(2n);
    expect(d.edgesOf(2n).size).toBe(0);

    // After the cycle is broken, no deadlock now.
    expect(d.detect(3n, 1n, 300n)).toBeUndefined();
    expect(pairs(d, 3n)).toBe(1);
    // A different key hash grows the list; the same waitFor and key hash does not.
    expect(d.detect(3n, 1n, 400n)).toBeUndefined();
    expect(pairs(d, 3n)).toBe(2);
    expect(d.detect(3n, 1n, 400n)).toBeUndefined();
    expect(pairs(d, 3n)).toBe(2);

    d.cleanUpWaitFor(3n, 1n, 300n);
    expect(pairs(d, 3n)).toBe(1);
    d.cleanUpWaitFor(3n, 1n, 400n);
    expect(d.edgesOf(3n).size).toBe(0);
    d.expire(1n);
    expect(d.size).toBe(1);
    d.expire(2n);
    expect(d.size).toBe(0);
  });

  it("reports the whole cycle with keys and dumps edges", () => {
    const d = new DeadlockDetector({ now: () => 0 });
    const k1 = Buffer.from("k1");
    const k2 = Buffer.from("k2");
    expect(d.detect(10n, 20n, keyHash(k1), k1)).toBeUndefined();
    const dl = d.detect(20n, 10n, keyHash(k2), k2);
    expect(dl?.deadlockKeyHash).toBe(keyHash(k1));
    expect(dl?.waitChain.map((e) => [e.txn, e.waitForTxn, e.key.toString()])).toEqual([[10n, 20n, "k1"]]);
    expect(d.dump().map((e) => [e.txn, e.waitForTxn])).toEqual([[10n, 20n]]);
  });

  it("hashes keys with farmhash fingerprint64 like TiKV", () => {
    // Fingerprint64("") is farmhash's k2 constant.
    expect(keyHash(Buffer.alloc(0))).toBe(0x9ae16a3b2f90404fn);
    expect(keyHash(Buffer.from("k1"))).not.toBe(keyHash(Buffer.from("k2")));
  });
});
