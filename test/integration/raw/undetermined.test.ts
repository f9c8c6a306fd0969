// Writes whose outcome the client cannot know (issue #9): a write that times out, is aborted or
// loses its connection AFTER one of its requests was sent may have been applied, so it rejects
// with ResultUndeterminedError (code RESULT_UNDETERMINED, the timeout/abort/gRPC failure as
// `cause`). Reads keep plain TimeoutError / AbortedError, and so does a write that failed before
// anything was sent. The abort reason of an aborted call is the AbortedError's `cause`.

import { status } from "@grpc/grpc-js";
import { describe, expect } from "vitest";
import {
  AbortedError,
  BackoffExhaustedError,
  GrpcError,
  isUndeterminedError,
  ResultUndeterminedError,
  TikvError,
  TimeoutError,
} from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function expectUndetermined(err: unknown, causeClass: abstract new (...a: never[]) => Error): void {
  expect(err).toBeInstanceOf(ResultUndeterminedError);
  expect(err).toBeInstanceOf(TikvError);
  expect((err as TikvError).code).toBe("RESULT_UNDETERMINED");
  expect(isUndeterminedError(err)).toBe(true);
  expect((err as Error).cause).toBeInstanceOf(causeClass);
  expect((err as Error).message).toContain((err as { cause: Error }).cause.message);
}

describe.skipIf(skipOnRealCluster("v1"))("undetermined writes (fault injection)", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  async function client(extra = {}) {
    const c = await env.connect(extra);
    const raw = c.raw();
    // warm the cache of both regions: the writes below are sent at once
    await raw.batchGet(["a", "z"]);
    return { c, raw, cas: c.raw({ atomic: true }) };
  }

  // Each write is executed by the store, then its reply is lost: the client times out after the
  // write was applied.
  const hangCases: Array<{
    name: string;
    rpc: "RawPut" | "RawBatchPut" | "RawDelete" | "RawBatchDelete" | "RawDeleteRange" | "RawCompareAndSwap";
    run: (r: Awaited<ReturnType<typeof client>>, p: string, timeoutMs: number) => Promise<unknown>;
    applied: (r: Awaited<ReturnType<typeof client>>, p: string) => Promise<void>;
    setup?: (r: Awaited<ReturnType<typeof client>>, p: string) => Promise<void>;
  }> = [
    {
      name: "put",
      rpc: "RawPut",
      run: ({ raw }, p, timeoutMs) => raw.put(`${p}k`, "new", { timeoutMs }),
      applied: async ({ raw }, p) => expect((await raw.get(`${p}k`))?.toString()).toBe("new"),
    },
    {
      name: "batchPut (one of its two regions hangs)",
      rpc: "RawBatchPut",
      run: ({ raw }, p, timeoutMs) => raw.batchPut([`a${p}`, `z${p}`], ["1", "2"], { timeoutMs }),
      applied: async ({ raw }, p) =>
        expect((await raw.batchGet([`a${p}`, `z${p}`])).map((v) => v?.toString())).toEqual(["1", "2"]),
    },
    {
      name: "delete",
      rpc: "RawDelete",
      setup: ({ raw }, p) => raw.put(`${p}k`, "old"),
      run: ({ raw }, p, timeoutMs) => raw.delete(`${p}k`, { timeoutMs }),
      applied: async ({ raw }, p) => expect(await raw.get(`${p}k`)).toBeUndefined(),
    },
    {
      name: "batchDelete",
      rpc: "RawBatchDelete",
      setup: ({ raw }, p) => raw.batchPut([`a${p}`, `z${p}`], ["1", "2"]),
      run: ({ raw }, p, timeoutMs) => raw.batchDelete([`a${p}`, `z${p}`], { timeoutMs }),
      applied: async ({ raw }, p) =>
        expect(await raw.batchGet([`a${p}`, `z${p}`])).toEqual([undefined, undefined]),
    },
    {
      name: "deleteRange",
      rpc: "RawDeleteRange",
      setup: ({ raw }, p) => raw.batchPut([`${p}1`, `${p}2`], ["1", "2"]),
      run: ({ raw }, p, timeoutMs) => raw.deleteRange(`${p}`, `${p}~`, { timeoutMs }),
      applied: async ({ raw }, p) => expect(await raw.scan(p, `${p}~`, 10)).toEqual([]),
    },
    {
      name: "compareAndSwap",
      rpc: "RawCompareAndSwap",
      setup: ({ cas }, p) => cas.put(`${p}k`, "old"),
      run: ({ cas }, p, timeoutMs) => cas.compareAndSwap(`${p}k`, "old", "new", { timeoutMs }),
      applied: async ({ raw }, p) => expect((await raw.get(`${p}k`))?.toString()).toBe("new"),
    },
  ];

  for (const c of hangCases) {
    itFault(
      `${c.name}: reply lost after apply, then timeout -> ResultUndeterminedError(TimeoutError), and the write was applied`,
      async () => {
        const r = await client();
        const p = uniquePrefix(c.name.split(" ")[0] as string);
        await c.setup?.(r, p);
        const drop = env.cluster.faults.dropReply({ rpc: c.rpc, outcome: "hang" });
        const err = await c.run(r, p, 300).catch((e) => e);
        expect(drop.fired).toBe(1);
        expectUndetermined(err, TimeoutError);
        await c.applied(r, p);
      },
    );
  }

  itFault("a write delayed past its timeout is undetermined, and lands later", async () => {
    const { raw } = await client();
    const p = uniquePrefix("late");
    const d = env.cluster.faults.delay({ rpc: "RawPut", ms: 600, count: 1 });
    const err = await raw.put(`${p}k`, "late", { timeoutMs: 150 }).catch((e) => e);
    expectUndetermined(err, TimeoutError);
    expect(d.fired).toBe(1);
    await sleep(700);
    expect((await raw.get(`${p}k`))?.toString()).toBe("late");
  });

  itFault(
    "an aborted write in flight is undetermined; the abort reason is the AbortedError's cause",
    async () => {
      const { raw } = await client();
      const p = uniquePrefix("abort");
      env.cluster.faults.dropReply({ rpc: "RawBatchPut", outcome: "hang" });
      const ac = new AbortController();
      const reason = new Error("user gave up");
      const call = raw.batchPut([`a${p}`, `z${p}`], ["1", "2"], { signal: ac.signal });
      setTimeout(() => ac.abort(reason), 50);
      const err = await call.catch((e) => e);
      expectUndetermined(err, AbortedError);
      const aborted = (err as ResultUndeterminedError).cause as AbortedError;
      expect(aborted.cause).toBe(reason);
      expect(aborted.reason).toBe(reason);
      expect((await raw.batchGet([`a${p}`, `z${p}`])).map((v) => v?.toString())).toEqual(["1", "2"]);
    },
  );

  itFault("a gRPC failure after the write was applied, until the deadline, is undetermined", async () => {
    const { raw } = await client({ maxBackoffMs: 300 });
    const p = uniquePrefix("grpc");
    // every attempt is applied, then its stream fails with UNAVAILABLE
    const drop = env.cluster.faults.dropReply({
      rpc: "RawPut",
      count: 1_000,
      outcome: { grpcStatus: status.UNAVAILABLE, message: "connection reset after apply" },
    });
    const err = await raw.put(`${p}k`, "v", { timeoutMs: 1_500 }).catch((e) => e);
    drop.cancel();
    expect(drop.fired).toBeGreaterThanOrEqual(1);
    expect(err).toBeInstanceOf(ResultUndeterminedError);
    // the retry budget or the deadline ran out while retrying the lost sends
    const cause = (err as Error).cause;
    expect(
      cause instanceof BackoffExhaustedError || cause instanceof TimeoutError || cause instanceof GrpcError,
    ).toBe(true);
    expect((await raw.get(`${p}k`))?.toString()).toBe("v");
  });

  itFault("reads that time out or are aborted stay plain TimeoutError / AbortedError", async () => {
    const { raw } = await client();
    const p = uniquePrefix("read");
    await raw.put(`${p}k`, "v");
    env.cluster.faults.dropReply({ rpc: "RawGet", outcome: "hang" });
    const e1 = await raw.get(`${p}k`, { timeoutMs: 200 }).catch((e) => e);
    expect(e1).toBeInstanceOf(TimeoutError);
    expect(isUndeterminedError(e1)).toBe(false);
    env.cluster.faults.dropReply({ rpc: "RawBatchGet", outcome: "hang" });
    const e2 = await raw.batchGet([`a${p}`, `z${p}`], { timeoutMs: 200 }).catch((e) => e);
    expect(e2).toBeInstanceOf(TimeoutError);
    env.cluster.faults.dropReply({ rpc: "RawScan", outcome: "hang" });
    const ac = new AbortController();
    const reason = new Error("not needed any more");
    setTimeout(() => ac.abort(reason), 50);
    const e3 = await raw.scan(p, `${p}~`, 10, { signal: ac.signal }).catch((e) => e);
    expect(e3).toBeInstanceOf(AbortedError);
    expect((e3 as AbortedError).cause).toBe(reason);
    env.cluster.faults.clear();
  });

  itFault(
    "a write that times out while still waiting for PD was not sent: plain TimeoutError, not applied",
    async () => {
      const c = await env.connect();
      const raw = c.raw();
      const p = uniquePrefix("pd");
      env.cluster.pd.faults.setDelay("GetRegion", 800);
      try {
        const err = await raw.put(`${p}k`, "v", { timeoutMs: 150 }).catch((e) => e);
        expect(err).toBeInstanceOf(TimeoutError);
        expect(isUndeterminedError(err)).toBe(false);
      } finally {
        env.cluster.pd.faults.setDelay("GetRegion", 0);
      }
      await sleep(900);
      expect(await (await env.connect()).raw().get(`${p}k`)).toBeUndefined();
    },
  );

  itFault("a write aborted before it starts is a plain AbortedError with the reason as cause", async () => {
    const { raw } = await client();
    const ac = new AbortController();
    const reason = new Error("cancelled early");
    ac.abort(reason);
    const err = await raw.put(uniquePrefix("pre"), "v", { signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).cause).toBe(reason);
  });

  itFault(
    "a write refused by stores that are down (nothing sent) times out as a plain TimeoutError",
    async () => {
      const { raw } = await client({ maxBackoffMs: 5_000 });
      const p = uniquePrefix("down");
      const stores = env.cluster.topology.stores().map((s) => s.id);
      for (const id of stores) await env.cluster.stopStore(id);
      try {
        // let the client notice the lost streams: its store actors refuse requests from then on
        await sleep(300);
        const err = await raw.put(`${p}k`, "v", { timeoutMs: 400 }).catch((e) => e);
        expect(err).toBeInstanceOf(TimeoutError);
        expect(isUndeterminedError(err)).toBe(false);
      } finally {
        for (const id of stores) await env.cluster.startStore(id);
      }
      // requests held while a store connected were withdrawn: nothing is written once it is back
      await sleep(1_500);
      expect(await raw.get(`${p}k`)).toBeUndefined();
    },
  );
});
