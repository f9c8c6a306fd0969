/**
 * RawEngine against a simple model (a plain Map with expiry times) under random
 * writes, deletes, range deletes, CAS and clock advances on V1TTL storage:
 * get, GetKeyTTL, batch get, forward/reverse scans and checksum must agree.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc64Xz } from "../../../../src/cluster/engine/raw/crc64.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { b, kv, setup } from "./helpers.js";

interface ModelValue {
  value: string;
  /** Unix seconds; undefined = no TTL. */
  expireAt: number | undefined;
}

const key = fc.string({ unit: fc.constantFrom("a", "b", "c", "\0", "\xff"), minLength: 0, maxLength: 3 });
const ttl = fc.constantFrom(0n, 1n, 2n, 5n);
const op = fc.oneof(
  fc.record({ t: fc.constant("put" as const), k: key, v: fc.string({ maxLength: 3 }), ttl }),
  fc.record({ t: fc.constant("del" as const), k: key }),
  fc.record({ t: fc.constant("range" as const), s: key, e: key }),
  fc.record({
    t: fc.constant("cas" as const),
    k: key,
    prev: fc.option(fc.string({ maxLength: 3 })),
    v: fc.string({ maxLength: 3 }),
    ttl,
  }),
  fc.record({ t: fc.constant("tick" as const), s: fc.integer({ min: 0, max: 3 }) }),
);

describe("RawEngine vs model with TTL (property)", () => {
  it("agrees on every read after any sequence of writes and clock advances", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { r, clock } = setup(APIVersion.V1TTL);
        const model = new Map<string, ModelValue>();
        const nowSec = () => Math.floor(clock.ms / 1000);
        const live = (k: string) => {
          const m = model.get(k);
          return m !== undefined && (m.expireAt === undefined || m.expireAt > nowSec()) ? m : undefined;
        };
        const check = () => {
          const sorted = [...model.keys()]
            .filter((k) => live(k))
            .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
          expect(kv(r.scan("", "", 100).kvs)).toEqual(sorted.map((k) => [k, live(k)!.value]));
          expect(kv(r.scan("\xff\xff\xff\xff", "", 100, { reverse: true }).kvs)).toEqual(
            [...sorted].reverse().map((k) => [k, live(k)!.value]),
          );
          for (const k of ["", "a", "b", "ab", "\0", "\xff"]) {
            const m = live(k);
            const g = r.get(k);
            expect(g.notFound).toBe(m === undefined);
            if (m) expect(g.value.toString("latin1")).toBe(m.value);
            const t = r.ttl(k);
            expect(t.notFound).toBe(m === undefined);
            if (m) expect(t.ttl).toBe(m.expireAt === undefined ? 0n : BigInt(m.expireAt - nowSec()));
          }
          let checksum = 0n;
          for (const k of sorted) checksum ^= crc64Xz(b(k), b(live(k)!.value));
          expect(r.checksum([["", ""]]).checksum).toBe(checksum);
        };
        for (const o of ops) {
          switch (o.t) {
            case "put":
              r.put(o.k, o.v, { ttl: o.ttl });
              model.set(o.k, { value: o.v, expireAt: o.ttl === 0n ? undefined : nowSec() + Number(o.ttl) });
              break;
            case "del":
              r.del(o.k);
              model.delete(o.k);
              break;
            case "range":
              if (o.e !== "" && o.s >= o.e) break;
              r.deleteRange(o.s, o.e);
              for (const k of [...model.keys()]) if (k >= o.s && (o.e === "" || k < o.e)) model.delete(k);
              break;
            case "cas": {
              const cur = live(o.k);
              const resp = r.cas(o.k, o.prev, o.v, { ttl: o.ttl });
              const ok = o.prev === null ? cur === undefined : cur?.value === o.prev;
              expect(resp.succeed).toBe(ok);
              expect(resp.previousNotExist).toBe(cur === undefined);
              if (ok)
                model.set(o.k, { value: o.v, expireAt: o.ttl === 0n ? undefined : nowSec() + Number(o.ttl) });
              break;
            }
            case "tick":
              clock.advanceSeconds(o.s);
              break;
          }
          check();
        }
      }),
      { numRuns: 150 },
    );
  });
});
