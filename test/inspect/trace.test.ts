// Transaction traces: `trace: true` records the path (committer states, RPCs with outcomes,
// backoffs, timings) as JSON; a failed commit's error carries it (traceOf); the JSON survives a
// round trip and validates; every kind of bad trace gets an InvalidTraceError naming the field.
import { describe, expect, it } from "vitest";
import { parseTrace, traceOf, tracePath, validateTrace } from "../../src/actors/observe/trace.js";
import { InvalidArgumentError } from "../../src/errors/base.js";
import { InvalidTraceError } from "../../src/errors/trace.js";
import { itFault, uniquePrefix, useCluster } from "../support/cluster.js";

const env = useCluster({ stores: 3, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

describe("txn.trace()", () => {
  it("records a committed transaction's path; untraced ones record nothing", async () => {
    const client = await env.connect();
    const p = uniquePrefix("tr");
    const txn = await client.txn().begin({ trace: true });
    txn.set(`a${p}`, "1");
    txn.set(`z${p}`, "2"); // the other region (split at "m"): two prewrite batches
    await txn.commit();
    await client.txn().whenIdle();
    const trace = validateTrace(JSON.parse(JSON.stringify(txn.trace())));
    expect(trace).toMatchObject({ txn: txn.startTs.toString(), kind: "optimistic", outcome: "committed" });
    expect(trace.machines).toEqual(["committer"]);
    expect(tracePath(trace, "committer")).toEqual({
      states: ["prewriting", "gettingCommitTs", "committingPrimary", "committed", "resting.done"],
      events: ["PREWRITE_OK", "COMMIT_TS", "PRIMARY_COMMITTED", "SECONDARIES_DONE"],
    });
    const prewrites = trace.events.filter((e) => e.type === "rpc" && e.command === "Prewrite");
    expect(prewrites).toHaveLength(2);
    expect(new Set(prewrites.map((e) => (e.type === "rpc" ? e.regionId : "")).values()).size).toBe(2);
    // timings are in order
    const ats = trace.events.map((e) => e.at);
    expect(Math.min(...ats)).toBe(trace.startedAt);
    expect(trace.endedAt).toBeGreaterThanOrEqual(trace.startedAt);

    const plain = await client.txn().begin();
    plain.set(`${p}c`, "3");
    await plain.commit();
    expect(plain.trace()).toBeUndefined();
  });

  itFault("a failed commit's error carries the trace of the path it took", async () => {
    const client = await env.connect();
    const p = uniquePrefix("trf");
    env.cluster.faults.failNext({ rpc: "KvPrewrite", count: 1, error: { keyError: { abort: "injected" } } });
    const txn = await client.txn().begin({ trace: true });
    txn.set(`${p}k`, "v");
    const err = await txn.commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const attached = traceOf(err);
    expect(attached).toBeDefined();
    const trace = parseTrace(JSON.stringify(attached));
    expect(trace.outcome).toBe("failed");
    // the path up to the failure: the prewrite, its key error, then the cleanup
    expect(tracePath(trace, "committer").states).toEqual(["prewriting", "cleaningUp"]);
    const rpc = trace.events.find((e) => e.type === "rpc");
    expect(rpc).toMatchObject({ command: "Prewrite", outcome: "keyError", detail: "abort" });
    const end = trace.events.at(-1);
    expect(end).toMatchObject({ type: "rollback", reason: "commitFailed", mode: "2pc" });
    expect(end?.type === "rollback" && end.error?.name).toBe((err as Error).name);
    // the transaction's own trace goes on: the cleanup ends in rolledBack
    await client.txn().whenIdle();
    expect(tracePath(txn.trace() as never, "committer").states.at(-1)).toBe("resting.rolledBack");
    expect(traceOf(new Error("other"))).toBeUndefined();
  });

  it("refuses a non-boolean trace option", async () => {
    const client = await env.connect();
    await expect(client.txn().begin({ trace: "yes" as unknown as boolean })).rejects.toThrow(
      InvalidArgumentError,
    );
  });
});

describe("trace validation", () => {
  const good = {
    format: "tikv-ts/txn-trace",
    version: 1,
    txn: "42",
    kind: "optimistic",
    startedAt: 1,
    outcome: "committed",
    machines: ["committer"],
    events: [
      { type: "begin", txn: "42", at: 1, kind: "optimistic", asyncCommit: false, onePC: false },
      {
        type: "rpc",
        txn: "42",
        at: 2,
        command: "Prewrite",
        regionId: "2",
        storeId: "1",
        address: "a:1",
        attempt: 0,
        outcome: "ok",
        durationMs: 1,
      },
    ],
  };
  const rpc = good.events[1] as Record<string, unknown>;
  const withEvent = (e: unknown) => ({ ...good, events: [e] });
  const cases: Array<[string, unknown, string, RegExp]> = [
    ["an array", [], "", /must be a JSON object, got array/],
    ["null", null, "", /got null/],
    ["another format", { ...good, format: "zipkin" }, "format", /tikv-ts\/txn-trace/],
    ["a newer version", { ...good, version: 2 }, "version", /unsupported version 2/],
    ["a numeric txn", { ...good, txn: 42 }, "txn", /must be a string, got number/],
    ["a non-decimal txn", { ...good, txn: "0x2a" }, "txn", /decimal/],
    ["an unknown kind", { ...good, kind: "lazy" }, "kind", /optimistic, pessimistic or pipelined/],
    ["an unknown outcome", { ...good, outcome: "maybe" }, "outcome", /must be one of/],
    ["machines not strings", { ...good, machines: [1] }, "machines", /array of strings/],
    ["events not an array", { ...good, events: {} }, "events", /must be an array, got object/],
    ["an event not an object", withEvent(3), "events[0]", /must be an object, got number/],
    [
      "an unknown event type",
      withEvent({ ...rpc, type: "explode" }),
      "events[0].type",
      /unknown event type "explode"/,
    ],
    [
      "an event without its ts",
      withEvent({ ...rpc, at: "now" }),
      "events[0].at",
      /must be a number, got string/,
    ],
    [
      "an rpc without regionId",
      withEvent({ ...rpc, regionId: undefined }),
      "events[0].regionId",
      /got undefined/,
    ],
    [
      "an rpc with a bad outcome",
      withEvent({ ...rpc, outcome: "meh" }),
      "events[0].outcome",
      /ok, regionError/,
    ],
    [
      "an infinite duration",
      withEvent({ ...rpc, durationMs: Number.POSITIVE_INFINITY }),
      "events[0].durationMs",
      /number/,
    ],
  ];
  it.each(cases)("rejects %s with InvalidTraceError at its field", (_what, doc, path, message) => {
    let caught: unknown;
    try {
      validateTrace(doc);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidTraceError);
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as InvalidTraceError).path).toBe(path);
    expect((caught as InvalidTraceError).code).toBe("INVALID_ARGUMENT");
    expect((caught as Error).message).toMatch(message);
  });

  it("rejects text that is not JSON, and accepts a good trace", () => {
    expect(() => parseTrace("{not json")).toThrow(/not JSON/);
    expect(() => parseTrace("{not json")).toThrow(InvalidTraceError);
    expect(parseTrace(JSON.stringify(good)).events).toHaveLength(2);
  });
});
