// placePairs (src/actors/runtime/place-pairs.ts) puts a batch-get answer's values at the positions
// of the keys asked: checked against a map-based model on random answers in request order,
// shuffled, and with keys repeated in the request.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { placePairs } from "../../../src/actors/runtime/place-pairs.js";
import { KeyError, type KvPair } from "../../../src/proto/kvrpcpb.js";

const pair = (key: Buffer, value: Buffer, error?: KeyError): KvPair => ({ key, value, commitTs: 0n, error });
const never = (): never => {
  throw new Error("key error");
};

describe("placePairs", () => {
  it("matches the map-based model for any subset of keys, in order or not", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        fc.infiniteStream(fc.boolean()),
        fc.boolean(),
        (raw, foundFlags, shuffle) => {
          const keys = raw.map((k) => Buffer.from(k));
          const batch = keys.map((_, i) => i);
          const flags = foundFlags.take(keys.length);
          // the server answers each distinct key found once, with a value derived from the key
          // (or, half the time, every key asked: the fast path)
          const all = foundFlags.take(1).next().value === true;
          const seen = new Set<string>();
          const pairs: KvPair[] = [];
          let f = flags.next();
          for (const k of keys) {
            const s = k.toString("hex");
            if (all) pairs.push(pair(k, Buffer.from(`v${s}`)));
            else if (!f.done && f.value && !seen.has(s)) pairs.push(pair(k, Buffer.from(`v${s}`)));
            seen.add(s);
            f = flags.next();
          }
          if (shuffle) pairs.reverse();
          const out = new Array<Buffer | undefined>(keys.length).fill(undefined);
          placePairs(pairs, batch, keys, out, never);
          const model = new Map(pairs.map((p) => [p.key.toString("hex"), p.value]));
          expect(out).toEqual(keys.map((k) => model.get(k.toString("hex"))));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("writes only the positions of its batch", () => {
    const keys = ["a", "b", "c", "d"].map((k) => Buffer.from(k));
    const out: Array<Buffer | undefined> = [undefined, Buffer.from("keep"), undefined, undefined];
    placePairs([pair(keys[2] as Buffer, Buffer.from("C"))], [0, 2], keys, out, never);
    expect(out.map((v) => v?.toString())).toEqual([undefined, "keep", "C", undefined]);
  });

  it("hands a pair carrying a key error to onError before placing anything", () => {
    const keys = [Buffer.from("a"), Buffer.from("b")];
    const out = new Array<Buffer | undefined>(2).fill(undefined);
    const bad = pair(keys[1] as Buffer, Buffer.alloc(0), KeyError.fromPartial({ abort: "x" }));
    expect(() =>
      placePairs([pair(keys[0] as Buffer, Buffer.from("A")), bad], [0, 1], keys, out, never),
    ).toThrow("key error");
    expect(out).toEqual([undefined, undefined]);
  });
});
