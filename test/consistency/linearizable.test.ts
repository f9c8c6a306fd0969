// The linearizable-register checker on hand-built histories: valid ones pass, each anomaly class
// is named, and indeterminate operations are taken both ways (they may or may not have happened).

import { describe, expect, it } from "vitest";
import { checkRegisterHistory, searchKey } from "../../src/consistency/checkers/linearizable.js";
import { hasGo, porcupineChecker } from "../../src/consistency/checkers/porcupine.js";
import { registerOps } from "../../src/consistency/checkers/register-ops.js";
import { classify, describeError } from "../../src/consistency/classify.js";
import {
  HistoryError,
  HistoryRecorder,
  pairOps,
  parseJsonl,
  toJsonl,
} from "../../src/consistency/history.js";
import { between, createRng } from "../../src/consistency/rng.js";
import type { HistoryEvent, OpValue } from "../../src/consistency/types.js";
import { InvalidArgumentError } from "../../src/errors/base.js";
import {
  AbortedError,
  BackoffExhaustedError,
  GrpcError,
  ServerBusyError,
  ShuttingDownError,
  TimeoutError,
  UnknownError,
} from "../../src/errors/server.js";
import { ResultUndeterminedError } from "../../src/errors/txn.js";

/** A tiny DSL: each step is [process, "invoke" | outcome, f, value, error?]. */
type Step = [number, "invoke" | "ok" | "fail" | "info", string, OpValue];

function hist(steps: Step[]): HistoryEvent[] {
  const h = new HistoryRecorder({ now: () => 0 });
  for (const [p, t, f, v] of steps) {
    if (t === "invoke") h.invoke(p, f, v);
    else h.complete(p, t, v, t === "ok" ? undefined : "Error: test");
  }
  return h.events;
}

const put = (key: string, value: string): OpValue => ({ key, value });
const get = (key: string, value?: string | null): OpValue => (value === undefined ? { key } : { key, value });
const cas = (
  key: string,
  expected: string | null,
  nv: string,
  previous?: string | null,
  swapped?: boolean,
): OpValue =>
  previous === undefined
    ? { key, expected, new: nv }
    : { key, expected, new: nv, previous, swapped: swapped ?? false };

function kinds(events: HistoryEvent[]): string[] {
  return checkRegisterHistory(events).verdict.anomalies.map((a) => a.kind);
}

describe("linearizable register checker", () => {
  it("accepts sequential and concurrent valid histories", () => {
    const seq = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
      [0, "invoke", "cas", cas("k", "a", "b")],
      [0, "ok", "cas", cas("k", "a", "b", "a", true)],
      [1, "invoke", "delete", { key: "k" }],
      [1, "ok", "delete", { key: "k" }],
      [0, "invoke", "get", get("k")],
      [0, "ok", "get", get("k", null)],
    ]);
    const v = checkRegisterHistory(seq).verdict;
    expect(v.valid).toBe(true);
    expect(v.anomalies).toEqual([]);
    // Concurrent write and reads: either order of the overlap is fine.
    const conc = hist([
      [0, "invoke", "put", put("k", "a")],
      [1, "invoke", "get", get("k")],
      [2, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
      [2, "ok", "get", get("k", null)],
      [0, "ok", "put", put("k", "a")],
    ]);
    expect(checkRegisterHistory(conc).verdict.valid).toBe(true);
  });

  it("checks batch operations key by key", () => {
    const h = hist([
      [
        0,
        "invoke",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [
        0,
        "ok",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [1, "invoke", "batch-get", { keys: ["x", "y", "z"] }],
      [1, "ok", "batch-get", { keys: ["x", "y", "z"], values: ["1", "2", null] }],
    ]);
    const r = checkRegisterHistory(h);
    expect(r.verdict.valid).toBe(true);
    expect([...r.perKey.keys()].sort()).toEqual(["x", "y", "z"]);
    // The old batch-grouping bug: one key of an acknowledged batch never written.
    const lost = hist([
      [
        0,
        "invoke",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [
        0,
        "ok",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [1, "invoke", "batch-get", { keys: ["x", "y"] }],
      [1, "ok", "batch-get", { keys: ["x", "y"], values: ["1", null] }],
    ]);
    const v = checkRegisterHistory(lost).verdict;
    expect(v.valid).toBe(false);
    expect(v.anomalies).toHaveLength(1);
    expect(v.anomalies[0]?.kind).toBe("lost-write");
    expect(v.anomalies[0]?.message).toContain("key y");
    expect(v.anomalies[0]?.events).toEqual([0, 1, 2, 3]);
  });

  it("names a lost write: acknowledged, never read, a later read sees the older value", () => {
    const h = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [0, "invoke", "put", put("k", "b")],
      [0, "ok", "put", put("k", "b")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
    ]);
    expect(kinds(h)).toEqual(["lost-write"]);
  });

  it("names a stale read: the newer value was seen, then the older one", () => {
    const h = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [0, "invoke", "put", put("k", "b")],
      [0, "ok", "put", put("k", "b")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "b")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
    ]);
    expect(kinds(h)).toEqual(["stale-read"]);
  });

  it("names a write that took effect twice (seen, overwritten, seen again)", () => {
    const h = hist([
      [0, "invoke", "put", put("k", "a")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
      [2, "invoke", "put", put("k", "b")],
      [2, "ok", "put", put("k", "b")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "b")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
      [0, "ok", "put", put("k", "a")],
    ]);
    expect(kinds(h)).toEqual(["duplicate-write"]);
  });

  it("names a read of a value never written, and of a write that failed", () => {
    const garbage = hist([
      [0, "invoke", "get", get("k")],
      [0, "ok", "get", get("k", "zzz")],
    ]);
    expect(kinds(garbage)).toEqual(["unwritten-value"]);
    const failed = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "fail", "put", put("k", "a")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
    ]);
    expect(kinds(failed)).toEqual(["failed-write-visible"]);
  });

  it("reports other violations as nonlinearizable (a CAS outcome that fits no state, readers disagreeing on the order of writes)", () => {
    // cas claims it swapped from "a" although the register held "b".
    const badCas = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [0, "invoke", "put", put("k", "b")],
      [0, "ok", "put", put("k", "b")],
      [1, "invoke", "cas", cas("k", "a", "c")],
      [1, "ok", "cas", cas("k", "a", "c", "a", true)],
    ]);
    // (b was never read, so this names b's write lost.)
    expect(kinds(badCas)).toEqual(["lost-write"]);
    // cas says it did not swap although the register held the expected value.
    const noSwap = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "cas", cas("k", "a", "c")],
      [1, "ok", "cas", cas("k", "a", "c", "a", false)],
    ]);
    expect(kinds(noSwap)).toEqual(["nonlinearizable"]);
    // Two concurrent writes a and b; one reader sees a then b, another b then a, their reads
    // overlapping pairwise: each order of the writes contradicts one reader.
    const flipFlop = hist([
      [0, "invoke", "put", put("k", "a")],
      [1, "invoke", "put", put("k", "b")],
      [2, "invoke", "get", get("k")],
      [3, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "a")],
      [3, "ok", "get", get("k", "b")],
      [2, "invoke", "get", get("k")],
      [3, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "b")],
      [3, "ok", "get", get("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "ok", "put", put("k", "b")],
    ]);
    const v = checkRegisterHistory(flipFlop).verdict;
    expect(v.anomalies.map((a) => a.kind)).toEqual(["nonlinearizable"]);
    expect(v.anomalies[0]?.message).toContain("key k");
  });

  it("takes an indeterminate write as having happened when a read shows it", () => {
    const h = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "info", "put", put("k", "a")],
      [1, "invoke", "get", get("k")],
      [1, "ok", "get", get("k", "a")],
    ]);
    expect(checkRegisterHistory(h).verdict.valid).toBe(true);
  });

  it("takes an indeterminate write as not having happened when reads never show it", () => {
    const h = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "put", put("k", "b")],
      [1, "info", "put", put("k", "b")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "a")],
    ]);
    expect(checkRegisterHistory(h).verdict.valid).toBe(true);
  });

  it("lets an indeterminate write take effect late, but not before its invoke", () => {
    // Read a, then b (the info write lands after the first read), then a again: not allowed.
    const late = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "put", put("k", "b")],
      [1, "info", "put", put("k", "b")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "a")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "b")],
    ]);
    expect(checkRegisterHistory(late).verdict.valid).toBe(true);
    const early = hist([
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "b")],
      [1, "invoke", "put", put("k", "b")],
      [1, "info", "put", put("k", "b")],
    ]);
    expect(checkRegisterHistory(early).verdict.valid).toBe(false);
  });

  it("takes an indeterminate cas both ways", () => {
    const swapped = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "cas", cas("k", "a", "c")],
      [1, "info", "cas", cas("k", "a", "c")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "c")],
    ]);
    expect(checkRegisterHistory(swapped).verdict.valid).toBe(true);
    const notApplied = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "cas", cas("k", "a", "c")],
      [1, "info", "cas", cas("k", "a", "c")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "a")],
    ]);
    expect(checkRegisterHistory(notApplied).verdict.valid).toBe(true);
    // An indeterminate cas whose expectation never held cannot have written its value.
    const impossible = hist([
      [0, "invoke", "put", put("k", "a")],
      [0, "ok", "put", put("k", "a")],
      [1, "invoke", "cas", cas("k", "x", "c")],
      [1, "info", "cas", cas("k", "x", "c")],
      [2, "invoke", "get", get("k")],
      [2, "ok", "get", get("k", "c")],
    ]);
    expect(checkRegisterHistory(impossible).verdict.valid).toBe(false);
  });

  it("ignores failed reads and nemesis events, and treats an unfinished operation as info", () => {
    const h = hist([
      [-1, "invoke", "nemesis", { action: "start", fault: "split" }],
      [-1, "info", "nemesis", { action: "start", fault: "split" }],
      [1, "invoke", "get", get("k")],
      [1, "fail", "get", get("k")],
      [0, "invoke", "put", put("k", "a")],
    ]);
    expect(checkRegisterHistory(h).verdict.valid).toBe(true);
    const ops = registerOps(h).get("k") ?? [];
    expect(ops.map((o) => o.outcome)).toEqual(["info"]);
  });

  it("gives up with an undecided anomaly past its step budget", () => {
    const steps: Step[] = [];
    for (let p = 0; p < 8; p++) steps.push([p, "invoke", "put", put("k", `v${p}`)]);
    for (let p = 0; p < 8; p++) steps.push([p, "ok", "put", put("k", `v${p}`)]);
    steps.push([9, "invoke", "get", get("k")], [9, "ok", "get", get("k", "nope")]);
    const ops = registerOps(hist(steps)).get("k") ?? [];
    expect(searchKey(ops, 10).result).toBe("unknown");
    expect(searchKey(ops, 1_000_000).result).toBe("illegal");
  });

  it("searches a long concurrent history quickly", () => {
    // 5 processes writing and reading one key for 2,000 operations, generated valid by serialising.
    const steps: Step[] = [];
    let cur: string | null = null;
    for (let i = 0; i < 2000; i++) {
      const p = i % 5;
      if (i % 3 === 0) {
        steps.push([p, "invoke", "get", get("k")], [p, "ok", "get", get("k", cur)]);
      } else {
        cur = `v${i}`;
        steps.push([p, "invoke", "put", put("k", cur)], [p, "ok", "put", put("k", cur)]);
      }
    }
    const t0 = performance.now();
    expect(checkRegisterHistory(hist(steps)).verdict.valid).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("history recorder", () => {
  it("keeps one operation open per process and round-trips JSONL", () => {
    const h = new HistoryRecorder();
    h.invoke(0, "put", put("k", "a"));
    expect(() => h.invoke(0, "get", get("k"))).toThrow(HistoryError);
    expect(() => h.complete(1, "ok")).toThrow(HistoryError);
    h.activeNemesis = "split";
    h.complete(0, "info", undefined, "TimeoutError: x");
    const back = parseJsonl(toJsonl(h.events));
    expect(back).toEqual(h.events);
    expect(back[1]).toMatchObject({
      type: "info",
      nemesis: "split",
      value: put("k", "a"),
      error: "TimeoutError: x",
    });
    expect(() => parseJsonl("{]")).toThrow(/line 1: not JSON/);
    expect(() => parseJsonl('{"a":1}')).toThrow(/line 1: not a history event/);
  });

  it("refuses histories where a process overlaps its own operations", () => {
    const bad: HistoryEvent[] = [
      { index: 0, type: "invoke", process: 0, time: 0, f: "get", value: null },
      { index: 1, type: "invoke", process: 0, time: 0, f: "get", value: null },
    ];
    expect(() => pairOps(bad)).toThrow(/invoked while an operation is open/);
    expect(() => pairOps([{ index: 0, type: "ok", process: 3, time: 0, f: "get", value: null }])).toThrow(
      /completed without invoking/,
    );
  });
});

describe.skipIf(!hasGo())("porcupine cross-check", () => {
  it("agrees with the linearizable checker on valid, invalid and indeterminate histories", async () => {
    const valid = hist([
      [0, "invoke", "put", put("k", "a")],
      [1, "invoke", "cas", cas("k", "a", "b")],
      [0, "ok", "put", put("k", "a")],
      [1, "info", "cas", cas("k", "a", "b")],
      [2, "invoke", "batch-get", { keys: ["k", "j"] }],
      [2, "ok", "batch-get", { keys: ["k", "j"], values: ["b", null] }],
    ]);
    const lost = hist([
      [
        0,
        "invoke",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [
        0,
        "ok",
        "batch-put",
        {
          pairs: [
            ["x", "1"],
            ["y", "2"],
          ],
        },
      ],
      [1, "invoke", "delete", { key: "x" }],
      [1, "ok", "delete", { key: "x" }],
      [1, "invoke", "batch-get", { keys: ["x", "y"] }],
      [1, "ok", "batch-get", { keys: ["x", "y"], values: [null, null] }],
    ]);
    const ok = await porcupineChecker(valid);
    expect(ok).toMatchObject({ checker: "porcupine", valid: true, anomalies: [] });
    expect(ok.stats.keys).toBe(2);
    const bad = await porcupineChecker(lost);
    expect(bad.valid).toBe(false);
    expect(bad.anomalies).toEqual([
      { kind: "nonlinearizable", message: "key y: porcupine finds no linearization", events: [] },
    ]);
  }, 120_000);
});

describe("classify", () => {
  it("fails reads whatever happened, and writes only on a definite refusal", () => {
    const timeout = new TimeoutError("RawPut", 10);
    expect(classify(timeout, "read")).toEqual({
      type: "fail",
      error: "TimeoutError(TIMEOUT): RawPut timed out after 10ms",
    });
    expect(classify(timeout, "write").type).toBe("info");
    expect(classify(new ResultUndeterminedError({ cause: timeout }), "write").type).toBe("info");
    expect(classify(new GrpcError(14, "unavailable"), "write").type).toBe("info");
    expect(classify(new AbortedError("stop"), "write").type).toBe("info");
    expect(classify(new ShuttingDownError(), "write").type).toBe("info");
    expect(classify(new UnknownError("weird"), "write").type).toBe("info");
    expect(classify(new TypeError("bug"), "write")).toEqual({ type: "info", error: "TypeError: bug" });
    expect(
      classify(new BackoffExhaustedError("tikvRPC", 10, 10, [new GrpcError(14, "x")]), "write").type,
    ).toBe("info");
    expect(
      classify(new BackoffExhaustedError("regionMiss", 10, 10, [new ServerBusyError()]), "write").type,
    ).toBe("fail");
    expect(classify(new InvalidArgumentError("bad", "key"), "write").type).toBe("fail");
    expect(classify(new ServerBusyError(), "write").type).toBe("fail");
    expect(describeError("plain")).toBe("plain");
  });
});

describe("rng", () => {
  it("reproduces a stream from its seed and keeps streams independent", () => {
    const a = createRng(7, "p0");
    const b = createRng(7, "p0");
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    expect(createRng(7, "p1").next()).not.toBe(xs[0]);
    expect(createRng("7", "p0").next()).not.toBe(xs[0]);
    const r = createRng(1);
    for (let i = 0; i < 200; i++) {
      const n = r.int(5);
      expect(n >= 0 && n < 5).toBe(true);
      const m = between(r, 3, 4);
      expect(m === 3 || m === 4).toBe(true);
    }
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.pick([])).toThrow(RangeError);
  });
});
