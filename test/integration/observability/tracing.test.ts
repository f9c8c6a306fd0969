// OpenTelemetry tracing (the `tracing` option) against the embedded cluster, spans caught by the
// SDK's InMemorySpanExporter: the span tree of a commit whose prewrite meets a region error (the
// retry and its backoff as events), a lock resolution under a read, a raw get with its region
// load, all parented to the application's span; and a client without the API package.
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  SpanKind,
  trace,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadTracing } from "../../../src/actors/runtime/tracing.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { InvalidArgumentError, TikvClient } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, engineOps, lockKey } from "../txn/ported-lock-helpers.js";

// The application's context manager (what @opentelemetry/context-async-hooks provides), so
// that context.with() makes the test's span the active one across awaits.
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const appTracer = provider.getTracer("app");

// runs `fn` inside an application span; resolves with what fn returned and the span's id
async function inAppSpan<T>(fn: () => Promise<T>): Promise<{ value: T; spanId: string }> {
  const span = appTracer.startSpan("app");
  try {
    const value = await context.with(trace.setSpan(context.active(), span), fn);
    return { value, spanId: span.spanContext().spanId };
  } finally {
    span.end();
  }
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const children = (spans: ReadableSpan[], parent: ReadableSpan) =>
  spans.filter((s) => parentOf(s) === parent.spanContext().spanId);
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const spanOf = (spans: ReadableSpan[], id: string | undefined) =>
  spans.find((s) => s.spanContext().spanId === id) as ReadableSpan;
function one(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = named(spans, name);
  expect(found, `exactly one span ${name} in ${spans.map((s) => s.name).join(", ")}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}
// every span below `root` (root included)
function subtree(spans: ReadableSpan[], root: ReadableSpan): ReadableSpan[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...children(spans, out[i] as ReadableSpan));
  return out;
}

describe.skipIf(skipOnRealCluster("v1"))("tracing: OpenTelemetry spans", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);
  const manager = new AlsContextManager();
  let client: TikvClient;

  beforeAll(async () => {
    context.setGlobalContextManager(manager);
    client = await env.connect({ tracing: { tracerProvider: provider } });
  });
  afterAll(() => {
    context.disable();
  });
  beforeEach(() => exporter.reset());

  itFault(
    "a commit is one span with a child per phase; a region error and its backoff are events",
    async () => {
      const p = uniquePrefix("tr");
      const keys = ["a", "h", "q"].map((c) => `${c}${p}`);
      const t = client.txn();
      const txn = await t.begin();
      for (const k of keys) txn.set(k, "v");
      // the prewrite of the second region is refused once: the region sender backs off and retries
      const region = env.cluster.topology.locateKey(b(keys[1] as string));
      env.cluster.faults.failNext({
        rpc: "KvPrewrite",
        regionId: region?.id,
        error: { regionError: RegionErrors.proposalInMergingMode(region?.id ?? 0n) },
      });
      const { spanId } = await inAppSpan(() => txn.commit());
      await t.whenIdle();
      const spans = exporter.getFinishedSpans();

      const commit = one(spans, "tikvTxn.Commit");
      expect(parentOf(commit)).toBe(spanId);
      expect(commit.attributes).toMatchObject({
        "db.system": "tikv",
        "tikv.txn.start_ts": txn.startTs.toString(),
        "tikv.txn.keys": 3,
      });
      const phases = children(spans, commit).map((s) => s.name);
      expect(phases).toEqual(
        expect.arrayContaining([
          "twoPhaseCommitter.prewriteMutations",
          "twoPhaseCommitter.getCommitTs",
          "twoPhaseCommitter.commitPrimary",
          "twoPhaseCommitter.commitSecondaries",
        ]),
      );
      const prewrite = one(spans, "twoPhaseCommitter.prewriteMutations");
      // one region request per region, each holding its attempts: one each, and the retried one
      const regionReqs = children(spans, prewrite).filter((s) => !s.name.startsWith("load"));
      expect(regionReqs.map((s) => s.name)).toEqual(Array(3).fill("regionRequest.SendReqCtx"));
      const rpcs = regionReqs.flatMap((r) => children(spans, r));
      expect(rpcs.map((s) => s.name)).toEqual(Array(4).fill("rpcClient.SendRequest Prewrite"));
      for (const r of rpcs) {
        expect(r.attributes).toMatchObject({ "tikv.command": "Prewrite", "db.system": "tikv" });
        expect(r.attributes["tikv.region_id"]).toMatch(/^\d+$/);
        expect(r.attributes["tikv.store_id"]).toMatch(/^\d+$/);
      }
      const refused = rpcs.filter((r) => r.events.some((e) => e.name === "tikv.region_error"));
      expect(refused).toHaveLength(1);
      expect(refused[0]?.attributes["tikv.region_id"]).toBe(String(region?.id));
      expect(refused[0]?.attributes["tikv.region_error"]).toBe("proposalInMergingMode");
      const retried = rpcs.find(
        (r) => r.attributes["tikv.region_id"] === String(region?.id) && r !== refused[0],
      );
      expect(retried?.attributes["tikv.attempt"]).toBe(1);
      // the backoff is an event of the region request that retried
      const retrying = regionReqs.find((r) => r.attributes["tikv.region_id"] === String(region?.id));
      const backoffs = (retrying?.events ?? []).filter((e) => e.name === "tikv.backoff");
      expect(backoffs.map((e) => e.attributes?.["tikv.backoff.kind"])).toEqual(["regionScheduling"]);
      expect(backoffs[0]?.attributes?.["tikv.backoff.sleep_ms"]).toBeGreaterThan(0);
      expect(children(spans, retrying as ReadableSpan)).toHaveLength(2);
      // the primary commit and the secondaries each send Commit under their own phase
      const primary = one(spans, "twoPhaseCommitter.commitPrimary");
      expect(subtree(spans, primary).map((s) => s.name)).toEqual([
        "twoPhaseCommitter.commitPrimary",
        "regionRequest.SendReqCtx",
        "rpcClient.SendRequest Commit",
      ]);
      expect(subtree(spans, commit).length).toBe(spans.length - 1); // every span but the app's
    },
  );

  itFault("async commit and 1PC name their prewrite", async () => {
    const p = uniquePrefix("tr1");
    const t = client.txn();
    for (const [opts, name] of [
      [{ asyncCommit: true }, "twoPhaseCommitter.prewriteMutations.asyncCommit"],
      [{ onePC: true }, "twoPhaseCommitter.prewriteMutations.1pc"],
    ] as const) {
      exporter.reset();
      const txn = await t.begin(opts);
      txn.set(`a${p}1`, "1");
      await txn.commit();
      await t.whenIdle();
      const spans = exporter.getFinishedSpans();
      const commit = one(spans, "tikvTxn.Commit");
      expect(children(spans, commit).map((s) => s.name)).toContain(name);
    }
  });

  itFault("a pipelined transaction's flush and commit are spans over their RPCs", async () => {
    const p = uniquePrefix("trpl");
    const t = client.txn();
    const txn = await t.begin({ pipelined: true });
    txn.set(`a${p}`, "1");
    txn.set(`q${p}`, "2");
    exporter.reset();
    await txn.commit();
    await t.whenIdle();
    const spans = exporter.getFinishedSpans();
    const flush = named(spans, "pipelinedDML.flush");
    expect(flush.length).toBeGreaterThanOrEqual(1);
    expect(flush.flatMap((f) => subtree(spans, f)).map((s) => s.name)).toContain(
      "rpcClient.SendRequest Flush",
    );
    const commit = one(spans, "tikvTxn.Commit");
    expect(commit.attributes["tikv.txn.protocol"]).toBe("pipelined");
    expect(subtree(spans, commit).map((s) => s.name)).toContain("rpcClient.SendRequest Commit");
  });

  itFault("a pessimistic rollback is traced with its RPC", async () => {
    const t = client.txn();
    const txn = await t.begin({ pessimistic: true });
    await txn.lockKeys([`a${uniquePrefix("trp")}`]);
    exporter.reset();
    await txn.rollback();
    await t.whenIdle();
    const spans = exporter.getFinishedSpans();
    const rb = one(spans, "twoPhaseCommitter.pessimisticRollback");
    expect(subtree(spans, rb).map((s) => s.name)).toContain("rpcClient.SendRequest PessimisticRollback");
  });

  itFault("a read meeting an abandoned lock opens a lock resolution span under the caller's", async () => {
    const p = uniquePrefix("trl");
    const t = client.txn();
    await lockKey(t, ops, {
      key: `b${p}k`,
      value: "x",
      primary: `b${p}pk`,
      primaryValue: "y",
      ttlMs: 1n,
      commitPrimary: false,
    });
    await new Promise((r) => setTimeout(r, 5));
    exporter.reset();
    const snap = await t.snapshot();
    const { value, spanId } = await inAppSpan(() => snap.get(`b${p}k`));
    expect(value).toBeUndefined();
    const spans = exporter.getFinishedSpans();
    const resolve = named(spans, "LockResolver.resolveLocks");
    expect(resolve.length).toBeGreaterThanOrEqual(1);
    const first = resolve[0] as ReadableSpan;
    expect(first.attributes["tikv.locks"]).toBe(1);
    // the read's RPCs and the resolution hang off the application's span
    const get = named(spans, "rpcClient.SendRequest Get");
    expect(get.length).toBeGreaterThanOrEqual(2);
    for (const g of get) expect(parentOf(spanOf(spans, parentOf(g)))).toBe(spanId);
    expect(parentOf(first)).toBe(spanId);
    const inside = subtree(spans, first).map((s) => s.name);
    expect(inside).toContain("rpcClient.SendRequest CheckTxnStatus");
  });

  itFault(
    "a raw get on a fresh client: a region load span, then the RPC span with its attributes",
    async () => {
      const fresh = await env.connect({ tracing: { tracerProvider: provider } });
      exporter.reset();
      const raw = fresh.raw();
      const { spanId } = await inAppSpan(() => raw.get(`z${uniquePrefix("trr")}`));
      const spans = exporter.getFinishedSpans();
      const load = one(spans, "loadRegion");
      expect(parentOf(load)).toBe(spanId);
      const get = one(spans, "rpcClient.SendRequest RawGet");
      const regionReq = one(spans, "regionRequest.SendReqCtx");
      expect(parentOf(get)).toBe(regionReq.spanContext().spanId);
      expect(parentOf(regionReq)).toBe(spanId);
      expect(regionReq.attributes).toMatchObject({ "tikv.command": "RawGet" });
      const region = env.cluster.topology.locateKey(b("z"));
      expect(get.attributes).toMatchObject({
        "db.system": "tikv",
        "tikv.command": "RawGet",
        "tikv.region_id": String(region?.id),
        "tikv.store_id": String(region?.leader?.storeId),
        "tikv.attempt": 0,
        "db.operation.name": "RawGet",
      });
      expect(get.attributes["server.address"]).toMatch(/:\d+$/);
      expect(get.kind).toBe(SpanKind.CLIENT);
      expect(load.kind).toBe(SpanKind.CLIENT);
      expect(regionReq.kind).toBe(SpanKind.INTERNAL);
    },
  );

  it("without the tracing option nothing is traced and no tracer is made", async () => {
    const plain = await env.connect();
    exporter.reset();
    await plain.raw().get("k");
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it("the API package missing: no tracer, no crash", async () => {
    const missing = () => Promise.reject(new Error("Cannot find package '@opentelemetry/api'"));
    expect(await loadTracing(provider, missing)).toBeUndefined();
    // a module without the API's shape is no tracer either
    expect(await loadTracing(provider, () => Promise.resolve({}))).toBeUndefined();
    // the real package: a tracer
    expect(await loadTracing(provider)).toBeDefined();
  });

  it("a bad tracerProvider is refused at connect", async () => {
    await expect(
      TikvClient.connect({ pdEndpoints: env.pdEndpoints, tracing: { tracerProvider: {} as never } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
