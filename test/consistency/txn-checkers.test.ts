// The transactional checkers on hand-built histories: each anomaly class is detected, valid
// histories pass, and (fast-check) serial executions always pass while one mutated read fails.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkBank } from "../../src/consistency/checkers/bank.js";
import {
  checkListAppend,
  type Element,
  type MicroOp,
} from "../../src/consistency/checkers/elle-list-append.js";
import { checkLongFork } from "../../src/consistency/checkers/long-fork.js";
import { checkMonotonic } from "../../src/consistency/checkers/monotonic.js";
import { HistoryRecorder, NEMESIS_PROCESS } from "../../src/consistency/history.js";
import type { HistoryEvent, OpValue, Verdict } from "../../src/consistency/types.js";

type Done = "ok" | "fail" | "info";
type Mop = MicroOp;

/** Builds histories by hand: invoke / complete per process, interleaved as the test says. */
class H {
  readonly rec = new HistoryRecorder({ now: () => 0 });
  get events(): HistoryEvent[] {
    return this.rec.events;
  }
  begin(p: number, f: string, value: OpValue): this {
    this.rec.invoke(p, f, value);
    return this;
  }
  end(p: number, type: Done, value?: OpValue): this {
    this.rec.complete(p, type, value, type === "ok" ? undefined : "boom");
    return this;
  }
  /** Invoke of a list-append txn (reads null). */
  tBegin(p: number, mops: readonly Mop[]): this {
    return this.begin(p, "txn", mops.map((m) => (m[0] === "r" ? ["r", m[1], null] : [...m])) as OpValue);
  }
  tEnd(p: number, type: Done, mops: readonly Mop[]): this {
    return this.end(
      p,
      type,
      type === "ok" ? (mops.map((m) => [m[0], m[1], m[2] as OpValue]) as OpValue) : undefined,
    );
  }
  /** A txn invoked and completed at once (serial). */
  t(p: number, mops: readonly Mop[], type: Done = "ok"): this {
    return this.tBegin(p, mops).tEnd(p, type, mops);
  }
}

const A = (k: string, e: Element): Mop => ["append", k, e];
const R = (k: string, l: Element[] | null): Mop => ["r", k, l];
const kinds = (v: Verdict): string[] => [...new Set(v.anomalies.map((a) => a.kind))].sort();

describe("elle list-append checker", () => {
  it("accepts a serial history", () => {
    const h = new H()
      .t(0, [A("x", 1), R("x", [1])])
      .t(1, [R("x", [1]), A("x", 2), A("y", 1)])
      .t(0, [R("x", [1, 2]), R("y", [1])]);
    const v = checkListAppend(h.events, { realtime: true, model: "serializable" });
    expect(v.anomalies).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.stats.txns).toBe(3);
  });

  it("G0: a write cycle (x ordered T1 < T2, y ordered T2 < T1)", () => {
    const h = new H()
      .tBegin(0, [A("x", 1), A("y", 1)])
      .tBegin(1, [A("x", 2), A("y", 2)])
      .tEnd(0, "ok", [A("x", 1), A("y", 1)])
      .tEnd(1, "ok", [A("x", 2), A("y", 2)])
      .t(2, [R("x", [1, 2]), R("y", [2, 1])]);
    const v = checkListAppend(h.events);
    expect(v.valid).toBe(false);
    expect(kinds(v)).toEqual(["G0"]);
    expect(v.anomalies[0]?.message).toMatch(/-ww\(x\)->.*-ww\(y\)->/);
  });

  it("G1a: a committed read of an aborted append", () => {
    const h = new H().t(0, [A("x", 1)], "fail").t(1, [R("x", [1])]);
    const v = checkListAppend(h.events);
    expect(kinds(v)).toEqual(["G1a"]);
  });

  it("an info append seen by a read is no anomaly (it may have committed)", () => {
    const h = new H().t(0, [A("x", 1)], "info").t(1, [R("x", [1])]);
    expect(checkListAppend(h.events, { realtime: true }).valid).toBe(true);
  });

  it("G1b: a read of another txn's intermediate append", () => {
    const h = new H()
      .tBegin(0, [A("x", 1), A("x", 2)])
      .t(1, [R("x", [1])])
      .tEnd(0, "ok", [A("x", 1), A("x", 2)]);
    expect(kinds(checkListAppend(h.events))).toEqual(["G1b"]);
  });

  it("G1c: a cycle of write-read dependencies", () => {
    const t0 = [A("x", 1), R("y", [1])];
    const t1 = [A("y", 1), R("x", [1])];
    const h = new H().tBegin(0, t0).tBegin(1, t1).tEnd(0, "ok", t0).tEnd(1, "ok", t1);
    const v = checkListAppend(h.events);
    expect(kinds(v)).toEqual(["G1c"]);
    expect(v.anomalies[0]?.message).toMatch(/-wr\(.\)->.*-wr\(.\)->/);
  });

  it("G-single: read skew (one anti-dependency in the cycle)", () => {
    const w = [A("x", 1), A("y", 1)];
    const r = [R("x", []), R("y", [1])];
    // the final read orders x: [] < [1] (Elle orders only what some read observed)
    const h = new H()
      .tBegin(0, w)
      .tBegin(1, r)
      .tEnd(0, "ok", w)
      .tEnd(1, "ok", r)
      .t(2, [R("x", [1])]);
    const v = checkListAppend(h.events);
    expect(kinds(v)).toEqual(["G-single"]);
    expect(v.anomalies[0]?.message).toMatch(/-rw\(x\)->/);
  });

  it("G2-item: write skew is allowed under snapshot isolation, not under serializable", () => {
    const t0 = [R("x", []), A("y", 1)];
    const t1 = [R("y", []), A("x", 1)];
    const h = new H()
      .tBegin(0, t0)
      .tBegin(1, t1)
      .tEnd(0, "ok", t0)
      .tEnd(1, "ok", t1)
      .t(2, [R("x", [1]), R("y", [1])]);
    const si = checkListAppend(h.events, { model: "snapshot-isolation", realtime: true });
    expect(si.valid).toBe(true);
    expect(si.stats["allowed:G2-item"]).toBe(1);
    const ser = checkListAppend(h.events, { model: "serializable" });
    expect(ser.valid).toBe(false);
    expect(kinds(ser)).toEqual(["G2-item"]);
  });

  it("lost append: an acknowledged append missing from a later read", () => {
    const h = new H()
      .t(0, [A("x", 1)])
      .t(1, [R("x", [])])
      .t(2, [R("x", [1])]);
    expect(kinds(checkListAppend(h.events))).toEqual(["lost-append"]);
    // with realtime edges the same history is also a G-single through the realtime edge
    expect(kinds(checkListAppend(h.events, { realtime: true }))).toEqual([
      "G-single-realtime",
      "lost-append",
    ]);
  });

  it("a concurrent read may miss an append (no anomaly)", () => {
    const h = new H()
      .tBegin(0, [A("x", 1)])
      .t(1, [R("x", [])])
      .tEnd(0, "ok", [A("x", 1)]);
    expect(checkListAppend(h.events, { realtime: true }).valid).toBe(true);
  });

  it("duplicate append: an element read twice", () => {
    const h = new H().t(0, [A("x", 1)]).t(1, [R("x", [1, 1])]);
    expect(kinds(checkListAppend(h.events))).toContain("duplicate-append");
  });

  it("incompatible orders: two reads that are not prefixes of one another", () => {
    const h = new H()
      .tBegin(0, [A("x", 1)])
      .tBegin(1, [A("x", 2)])
      .tEnd(0, "ok", [A("x", 1)])
      .tEnd(1, "ok", [A("x", 2)])
      .t(2, [R("x", [1, 2])])
      .t(3, [R("x", [2, 1])]);
    expect(kinds(checkListAppend(h.events))).toContain("incompatible-order");
  });

  it("internal: a txn not seeing its own append", () => {
    const h = new H().t(0, [A("x", 1), R("x", [])]);
    expect(kinds(checkListAppend(h.events))).toContain("internal");
  });

  it("garbage: an element nobody appended; malformed txns are reported", () => {
    const h = new H()
      .t(0, [R("x", [7])])
      .begin(1, "txn", "nonsense")
      .end(1, "ok", "nonsense");
    expect(kinds(checkListAppend(h.events))).toEqual(["garbage-read", "malformed"]);
  });

  it("ignores nemesis events and other operations", () => {
    const h = new H()
      .begin(NEMESIS_PROCESS, "split", null)
      .t(0, [A("x", 1)])
      .end(NEMESIS_PROCESS, "ok", null);
    h.begin(1, "other", 1).end(1, "ok", 1);
    expect(checkListAppend(h.events).valid).toBe(true);
  });

  // A random serial execution: each txn sees everything before it, so no checker may complain.
  interface Gen {
    steps: Array<{
      mops: Array<{ append: boolean; key: number }>;
      outcome: "ok" | "fail" | "info";
      applies: boolean;
    }>;
  }
  const genArb: fc.Arbitrary<Gen> = fc.record({
    steps: fc.array(
      fc.record({
        mops: fc.array(fc.record({ append: fc.boolean(), key: fc.integer({ min: 0, max: 3 }) }), {
          minLength: 1,
          maxLength: 5,
        }),
        outcome: fc.constantFrom<"ok" | "fail" | "info">("ok", "ok", "ok", "fail", "info"),
        applies: fc.boolean(),
      }),
      { minLength: 1, maxLength: 30 },
    ),
  });
  function serial(gen: Gen): H {
    const state = new Map<string, number[]>();
    let next = 1;
    const h = new H();
    gen.steps.forEach((s, i) => {
      const local = new Map([...state].map(([k, v]) => [k, [...v]]));
      const mops: Mop[] = s.mops.map((m) => {
        const k = `k${m.key}`;
        const l = local.get(k) ?? [];
        if (m.append) {
          const e = next++;
          local.set(k, [...l, e]);
          return A(k, e);
        }
        return R(k, [...l]);
      });
      const p = i % 3;
      if (s.outcome === "info") {
        // an info txn never completes; the process moves on under a fresh id
        h.tBegin(100 + i, mops);
        if (s.applies) for (const [k, v] of local) state.set(k, v);
        return;
      }
      h.t(p, mops, s.outcome);
      if (s.outcome === "ok") for (const [k, v] of local) state.set(k, v);
    });
    return h;
  }

  it("property: a serial execution of random txns always passes (serializable, realtime)", () => {
    fc.assert(
      fc.property(genArb, (gen) => {
        const v = checkListAppend(serial(gen).events, { model: "serializable", realtime: true });
        expect(v.anomalies).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("property: mutating one read of a serial execution is caught", () => {
    fc.assert(
      fc.property(genArb, fc.nat(), fc.constantFrom("duplicate", "garbage", "stale"), (gen, pick, how) => {
        const events = structuredClone(serial(gen).events);
        // candidate reads: non-empty reads of committed txns
        const cands: Array<{ e: HistoryEvent; m: [string, string, Element[]] }> = [];
        for (const e of events) {
          if (e.type !== "ok" || e.f !== "txn") continue;
          for (const m of e.value as Array<[string, string, Element[] | null]>) {
            if (m[0] === "r" && Array.isArray(m[2]) && m[2].length > 0)
              cands.push({ e, m: m as [string, string, Element[]] });
          }
        }
        fc.pre(cands.length > 0);
        const c = cands[pick % cands.length] as (typeof cands)[number];
        const list = c.m[2];
        if (how === "duplicate") list.push(list[0] as Element);
        else if (how === "garbage") list.push(-1);
        else {
          // drop an element another committed txn appended: it ended before this read began
          const own = new Set(
            (c.e.value as unknown as Mop[]).filter((m) => m[0] === "append").map((m) => m[2]),
          );
          const committed = new Set(
            events
              .filter((e) => e.type === "ok" && e.f === "txn")
              .flatMap((e) =>
                (e.value as unknown as Mop[]).filter((m) => m[0] === "append").map((m) => m[2]),
              ),
          );
          const i = list.findIndex((x) => !own.has(x) && committed.has(x));
          fc.pre(i >= 0);
          list.splice(i, 1);
        }
        expect(checkListAppend(events).valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("finds cycles in a large history quickly", () => {
    // 3000 serial txns plus one G-single at the end
    const h = new H();
    for (let i = 0; i < 3000; i++) h.t(i % 4, [A(`k${i % 50}`, i), R(`k${(i + 1) % 50}`, null)].slice(0, 1));
    const w = [A("x", 1), A("y", 1)];
    const r = [R("x", []), R("y", [1])];
    h.tBegin(0, w)
      .tBegin(1, r)
      .tEnd(0, "ok", w)
      .tEnd(1, "ok", r)
      .t(2, [R("x", [1])]);
    const t0 = Date.now();
    const v = checkListAppend(h.events, { realtime: true });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(kinds(v)).toEqual(["G-single"]);
  });
});

describe("bank checker", () => {
  const opts = { accounts: ["a", "b", "c"], total: 30 };
  const read = (h: H, p: number, balances: Record<string, number | null>): H =>
    h.begin(p, "read", null).end(p, "ok", balances);

  it("accepts reads with the right total", () => {
    const h = new H().begin(0, "transfer", { from: "a", to: "b", amount: 5 }).end(0, "ok");
    read(h, 1, { a: 5, b: 15, c: 10 });
    const v = checkBank(h.events, opts);
    expect(v.valid).toBe(true);
    expect(v.stats).toMatchObject({ reads: 1, transfersOk: 1 });
  });

  it("reports a partial transfer, a wrong total and a negative balance", () => {
    const h = new H().begin(0, "transfer", { from: "a", to: "b", amount: 5 }).end(0, "info");
    read(h, 1, { a: 5, b: 10, c: 10 }); // debit seen, credit not
    read(h, 1, { a: 10, b: 10, c: 11 });
    read(h, 1, { a: -5, b: 25, c: 10 });
    const v = checkBank(h.events, opts);
    expect(kinds(v)).toEqual(["negative-balance", "partial-transfer", "wrong-total"]);
    expect(
      checkBank(h.events, { ...opts, negativeAllowed: true }).anomalies.map((a) => a.kind),
    ).not.toContain("negative-balance");
  });

  it("reports missing and unknown accounts and malformed reads", () => {
    const h = new H();
    read(h, 0, { a: 10, b: null, c: 10 });
    read(h, 0, { a: 10, b: 10, c: 10, zz: 0 });
    h.begin(0, "read", null).end(0, "ok", "x");
    expect(kinds(checkBank(h.events, opts))).toEqual(["malformed", "missing-account", "unexpected-account"]);
  });
});

describe("long-fork checker", () => {
  const ins = (h: H, p: number, key: string, value: number): H =>
    h.begin(p, "insert", { key, value }).end(p, "ok");
  const read = (h: H, p: number, values: Record<string, number | null>, ts = "1"): H =>
    h.begin(p, "read", null).end(p, "ok", { ts, values });

  it("accepts reads ordered by inclusion (fresh and stale)", () => {
    const h = new H();
    ins(h, 0, "x", 1);
    read(h, 1, { x: 1, y: null }, "10");
    ins(h, 0, "y", 2);
    read(h, 1, { x: 1, y: 2 }, "20");
    read(h, 2, { x: null, y: null }, "5"); // a stale read at an older ts
    expect(checkLongFork(h.events).valid).toBe(true);
  });

  it("reports a long fork: two reads seeing two inserts in opposite orders", () => {
    const h = new H().begin(0, "insert", { key: "x", value: 1 }).begin(1, "insert", { key: "y", value: 2 });
    read(h, 2, { x: 1, y: null });
    read(h, 3, { x: null, y: 2 });
    h.end(0, "ok").end(1, "ok");
    const v = checkLongFork(h.events);
    expect(kinds(v)).toEqual(["long-fork"]);
    expect(v.anomalies[0]?.events).toHaveLength(4);
  });

  it("reports values never inserted", () => {
    const h = new H();
    ins(h, 0, "x", 1);
    read(h, 1, { x: 9 });
    expect(kinds(checkLongFork(h.events))).toEqual(["garbage-read"]);
  });
});

describe("monotonic checker", () => {
  const inc = (h: H, p: number, key: string, type: Done = "ok"): H => h.begin(p, "inc", { key }).end(p, type);
  const read = (h: H, p: number, ts: number, values: Record<string, number>, stale = false): H =>
    h.begin(p, "read", null).end(p, "ok", { ts: String(ts), stale, values });

  it("accepts growing reads, and stale reads of older states", () => {
    const h = new H();
    read(h, 0, 10, { x: 0 });
    inc(h, 1, "x");
    read(h, 0, 20, { x: 1 });
    read(h, 0, 15, { x: 0 }, true);
    inc(h, 1, "x", "info");
    read(h, 2, 30, { x: 2 });
    expect(checkMonotonic(h.events).anomalies).toEqual([]);
  });

  it("reports a process reading an older state (non-monotonic)", () => {
    const h = new H();
    inc(h, 1, "x", "info");
    read(h, 0, 20, { x: 1 });
    read(h, 0, 25, { x: 0 });
    expect(kinds(checkMonotonic(h.events))).toEqual(["non-monotonic", "ts-order"]);
  });

  it("reports reads disagreeing with their timestamps (stale reads included)", () => {
    const h = new H();
    inc(h, 1, "x", "info");
    read(h, 0, 20, { x: 1 }, true);
    read(h, 2, 30, { x: 0 }, true);
    expect(kinds(checkMonotonic(h.events))).toEqual(["ts-order"]);
  });

  it("reports lost increments and impossible values", () => {
    const h = new H();
    inc(h, 1, "x");
    inc(h, 1, "x");
    read(h, 0, 20, { x: 1 });
    read(h, 2, 30, { x: 5 });
    expect(kinds(checkMonotonic(h.events))).toEqual(["impossible-value", "lost-increment"]);
  });
});
