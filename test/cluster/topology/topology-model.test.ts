// Property test: random sequences of topology operations keep the region map a partition of
// the key space, lookups agree with a linear search, and epochs never go back.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bootstrapTopology,
  type ClusterTopology,
  TopologyError,
} from "../../../src/cluster/topology/index.js";

type Op =
  | { kind: "split"; key: number[] }
  | { kind: "merge"; at: number }
  | { kind: "leader"; at: number; store: number }
  | { kind: "learner"; at: number; store: number }
  | { kind: "promote"; at: number; store: number }
  | { kind: "remove"; at: number; store: number };

const keyArb = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("split" as const), key: keyArb }),
  fc.record({ kind: fc.constant("merge" as const), at: fc.nat(20) }),
  fc.record({ kind: fc.constant("leader" as const), at: fc.nat(20), store: fc.nat(3) }),
  fc.record({ kind: fc.constant("learner" as const), at: fc.nat(20), store: fc.nat(3) }),
  fc.record({ kind: fc.constant("promote" as const), at: fc.nat(20), store: fc.nat(3) }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat(20), store: fc.nat(3) }),
);

function apply(t: ClusterTopology, op: Op): void {
  const regions = t.regions();
  const stores = t.stores();
  const r = op.kind === "split" ? undefined : regions[op.at % regions.length]!;
  const store = "store" in op ? stores[op.store % stores.length]!.id : 0n;
  const before = t.regions();
  try {
    switch (op.kind) {
      case "split": {
        const key = Buffer.from(op.key);
        const target = t.locateKey(key)!;
        t.splitRegion(target.id, [key]);
        break;
      }
      case "merge": {
        const next = regions[(op.at % regions.length) + 1];
        if (next) t.merge(r!.id, next.id);
        break;
      }
      case "leader":
        t.transferLeader(r!.id, store);
        break;
      case "learner":
        t.addLearner(r!.id, store);
        break;
      case "promote":
        t.promoteLearner(r!.id, store);
        break;
      case "remove":
        t.removePeer(r!.id, store);
        break;
    }
  } catch (e) {
    // Impossible operations must be refused with a typed error and change nothing.
    expect(e).toBeInstanceOf(TopologyError);
    // Snapshots are cached until a region changes, so identity shows nothing moved.
    expect(t.regions()).toEqual(before);
    t.regions().forEach((r, i) => {
      expect(r).toBe(before[i]);
    });
  }
}

function checkInvariants(t: ClusterTopology, seen: Map<bigint, { confVer: bigint; version: bigint }>): void {
  const regions = t.regions();
  expect(regions[0]!.startKey.length).toBe(0);
  expect(regions[regions.length - 1]!.endKey.length).toBe(0);
  for (let i = 0; i + 1 < regions.length; i++) {
    expect(regions[i]!.endKey.equals(regions[i + 1]!.startKey)).toBe(true);
    expect(Buffer.compare(regions[i]!.startKey, regions[i]!.endKey)).toBeLessThan(0);
  }
  for (const r of regions) {
    const prev = seen.get(r.id);
    if (prev) {
      expect(r.epoch.confVer >= prev.confVer).toBe(true);
      expect(r.epoch.version >= prev.version).toBe(true);
    }
    seen.set(r.id, r.epoch);
    if (r.leader) {
      const p = r.peers.find((x) => x.id === r.leader!.id);
      expect(p?.role).toBe("voter");
    }
    expect(new Set(r.peers.map((p) => p.storeId)).size).toBe(r.peers.length);
  }
  // Point lookups agree with a linear search.
  for (const k of [[], [0], [1, 2], [2], [3, 3, 3], [1]]) {
    const key = Buffer.from(k);
    const linear = regions.find(
      (r) =>
        Buffer.compare(r.startKey, key) <= 0 && (r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0),
    );
    expect(t.locateKey(key)!.id).toBe(linear!.id);
  }
}

describe("topology model", () => {
  it("random operation sequences keep a consistent region map", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const t = bootstrapTopology({ stores: 4, replicas: 2 });
        const seen = new Map<bigint, { confVer: bigint; version: bigint }>();
        checkInvariants(t, seen);
        for (const op of ops) {
          apply(t, op);
          checkInvariants(t, seen);
        }
      }),
      { numRuns: 150 },
    );
  });
});
