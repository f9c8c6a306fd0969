// Property test: optimistic 2PC steps against a plain serial model of MVCC (versions per key,
// locks per key). Checks prewrite outcomes (locked keys collected, the first write conflict
// failing the whole request), commits, rollbacks and SI reads at arbitrary timestamps.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Op } from "../../../../src/proto/kvrpcpb.js";
import { b, commit, newEngine, prewrite, rollback } from "./helpers.js";

const KEYS = ["a", "b", "c", "d"];

type Step =
  | { kind: "prewrite"; writes: [number, number | null][] }
  | { kind: "commit"; txn: number }
  | { kind: "rollback"; txn: number }
  | { kind: "read"; key: number; back: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("prewrite" as const),
    writes: fc.uniqueArray(
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.option(fc.integer({ min: 0, max: 99 }))),
      {
        minLength: 1,
        maxLength: 3,
        selector: ([k]) => k,
      },
    ),
  }),
  fc.record({ kind: fc.constant("commit" as const), txn: fc.nat(20) }),
  fc.record({ kind: fc.constant("rollback" as const), txn: fc.nat(20) }),
  fc.record({ kind: fc.constant("read" as const), key: fc.integer({ min: 0, max: 3 }), back: fc.nat(6) }),
);

interface ModelTxn {
  startTs: bigint;
  keys: number[];
  writes: Map<number, number | null>;
}

describe("MVCC vs a serial model", () => {
  it("agrees on prewrite, commit, rollback and reads", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), (steps) => {
        const e = newEngine();
        let clock = 0n;
        const versions = KEYS.map(() => [] as { commitTs: bigint; value: number | null }[]);
        const locks = KEYS.map(() => undefined as ModelTxn | undefined);
        const open: ModelTxn[] = [];
        for (const step of steps) {
          if (step.kind === "prewrite") {
            const txn: ModelTxn = {
              startTs: ++clock,
              keys: step.writes.map(([k]) => k),
              writes: new Map(step.writes),
            };
            const muts = step.writes.map(([k, v]) =>
              v === null
                ? { op: Op.Del, key: b(KEYS[k] as string), value: b(""), assertion: 0 }
                : { op: Op.Put, key: b(KEYS[k] as string), value: b(String(v)), assertion: 0 },
            );
            const r = prewrite(e, muts, txn.startTs);
            // Model: walk keys in order; a lock is collected, a newer commit fails the request.
            const lockedKeys: string[] = [];
            let conflict: string | undefined;
            for (const k of txn.keys) {
              if (locks[k]) lockedKeys.push(KEYS[k] as string);
              else if ((versions[k]?.at(-1)?.commitTs ?? 0n) > txn.startTs) {
                conflict = KEYS[k];
                break;
              }
            }
            if (conflict !== undefined) {
              expect(r.errors.map((x) => x.conflict?.key.toString())).toEqual([conflict]);
            } else if (lockedKeys.length > 0) {
              expect(r.errors.map((x) => x.locked?.key.toString())).toEqual(lockedKeys);
            } else {
              expect(r.errors).toEqual([]);
              for (const k of txn.keys) locks[k] = txn;
              open.push(txn);
            }
          } else if (step.kind === "commit" || step.kind === "rollback") {
            const txn = open[step.txn % Math.max(open.length, 1)];
            if (!txn) continue;
            open.splice(open.indexOf(txn), 1);
            const keys = txn.keys.map((k) => KEYS[k] as string);
            if (step.kind === "commit") {
              const commitTs = ++clock;
              expect(commit(e, keys, txn.startTs, commitTs)).toBeUndefined();
              for (const k of txn.keys) versions[k]?.push({ commitTs, value: txn.writes.get(k) ?? null });
            } else {
              expect(rollback(e, keys, txn.startTs)).toBeUndefined();
            }
            for (const k of txn.keys) locks[k] = undefined;
          } else {
            const ts = clock - BigInt(step.back) > 0n ? clock - BigInt(step.back) : 0n;
            const r = e.get({
              context: undefined,
              key: b(KEYS[step.key] as string),
              version: ts,
              needCommitTs: false,
            });
            const lock = locks[step.key];
            if (lock && lock.startTs <= ts) {
              expect(r.error?.locked?.lockVersion).toBe(lock.startTs);
              continue;
            }
            const visible = [...(versions[step.key] ?? [])].reverse().find((v) => v.commitTs <= ts);
            const expected = visible?.value ?? null;
            expect(r.error).toBeUndefined();
            expect(r.notFound ? null : Number(r.value.toString())).toBe(expected);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
