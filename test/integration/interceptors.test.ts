// RPC interceptors against the cluster: per client, per transaction and per snapshot, composing
// client → transaction/snapshot; observing requests, responses and errors; refusing calls.
// Ports client-go integration_tests/interceptor_test.go (TestInterceptor) and
// internal/client/client_interceptor_test.go (TestInterceptedClient).

import { describe, expect, it } from "vitest";
import {
  AbortedError,
  findError,
  InvalidArgumentError,
  type RpcInterceptor,
  RpcRejectedError,
  type RpcRequest,
  rpcInterceptor,
} from "../../src/index.js";
import { itFault, uniquePrefix, useCluster } from "../support/cluster.js";
import { engineOps } from "./txn/ported-lock-helpers.js";

interface Seen {
  name: string;
  command: string;
  regionId: bigint;
  storeId: bigint;
  address: string;
  attempt: number;
  outcome: "ok" | "error";
  resp?: unknown;
  error?: unknown;
}

// records every RPC it wraps, before (in `order`) and after (in `seen`, with the outcome)
function recorder(name: string, order: string[] = []) {
  const seen: Seen[] = [];
  const it = rpcInterceptor(name, (next) => async (req: RpcRequest) => {
    order.push(`${name}:before:${req.command}`);
    const base = {
      name,
      command: req.command,
      regionId: req.regionId,
      storeId: req.storeId,
      address: req.address,
      attempt: req.attempt,
    };
    try {
      const resp = await next(req);
      seen.push({ ...base, outcome: "ok", resp });
      return resp;
    } catch (error) {
      seen.push({ ...base, outcome: "error", error });
      throw error;
    } finally {
      order.push(`${name}:after:${req.command}`);
    }
  });
  return { it, seen, order };
}

describe("RPC interceptors", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  it("a client interceptor sees each raw RPC with its target, context and response", async () => {
    const rec = recorder("client");
    const client = await env.connect({ interceptors: rec.it });
    const raw = client.raw();
    const k = `${uniquePrefix("ic-raw")}a`;
    await raw.put(k, "v1");
    expect(await raw.get(k)).toEqual(Buffer.from("v1"));
    expect(rec.seen.map((s) => s.command)).toEqual(["RawPut", "RawGet"]);
    const region = client.regionCache.tryLocateKey(Buffer.from(k));
    expect(region).toBeDefined();
    for (const s of rec.seen) {
      expect(s.outcome).toBe("ok");
      expect(s.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(s.storeId > 0n).toBe(true);
      expect(s.attempt).toBe(0);
      expect(s.regionId).toBe(region?.id);
    }
    // the response is what the call decoded
    expect((rec.seen[1]?.resp as { value: Buffer }).value).toEqual(Buffer.from("v1"));
  });

  it("the request carries the routing context (region id and epoch of the target)", async () => {
    const contexts: RpcRequest["context"][] = [];
    const client = await env.connect({
      interceptors: rpcInterceptor("ctx", (next) => (req) => {
        contexts.push(req.context);
        expect(req.context.regionId).toBe(req.regionId);
        return next(req);
      }),
    });
    await client.raw().put(`${uniquePrefix("ic-ctx")}a`, "v");
    expect(contexts).toHaveLength(1);
    expect(contexts[0]?.regionEpoch).toBeDefined();
  });

  it("an interceptor that waits sees the call's abort signal fire (resource-group token waits use it)", async () => {
    let seenSignal: AbortSignal | undefined;
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const client = await env.connect({
      interceptors: rpcInterceptor("waits", () => (req) => {
        seenSignal = req.signal;
        entered();
        // never calls next: waits until the call is aborted
        return new Promise((_, reject) =>
          req.signal?.addEventListener("abort", () => reject(new AbortedError(req.signal?.reason))),
        );
      }),
    });
    const ac = new AbortController();
    const call = client
      .raw()
      .put(`${uniquePrefix("ic-signal")}a`, "v", { signal: ac.signal })
      .catch((e: unknown) => e);
    await inside;
    expect(seenSignal?.aborted).toBe(false);
    ac.abort(new Error("gave up"));
    const err = await call;
    expect(findError(err, AbortedError), String(err)).toBeDefined();
    expect(seenSignal?.aborted).toBe(true);
  });

  it("several client interceptors run in the order given", async () => {
    const order: string[] = [];
    const a = recorder("a", order);
    const b = recorder("b", order);
    const client = await env.connect({ interceptors: [a.it, b.it] });
    await client.raw().get(`${uniquePrefix("ic-many")}k`);
    expect(order).toEqual(["a:before:RawGet", "b:before:RawGet", "b:after:RawGet", "a:after:RawGet"]);
  });

  itFault(
    "an interceptor that refuses a call fails it with RpcRejectedError, unsent and not retried",
    async () => {
      let calls = 0;
      const deny: RpcInterceptor = rpcInterceptor("deny-writes", (next) => (req) => {
        calls++;
        if (req.command === "RawPut") throw new RpcRejectedError("writes are not allowed");
        return next(req);
      });
      const client = await env.connect({ interceptors: deny });
      const raw = client.raw();
      const k = `${uniquePrefix("ic-deny")}k`;
      env.cluster.faults.resetCounters();
      const err = await raw.put(k, "v").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcRejectedError);
      expect((err as RpcRejectedError).code).toBe("RPC_REJECTED");
      expect(calls).toBe(1);
      expect(env.cluster.faults.calls({ rpc: "RawPut" })).toBe(0);
      // reads still pass, and the refused write left nothing
      expect(await raw.get(k)).toBeUndefined();
    },
  );

  itFault(
    "an interceptor throwing a plain error refuses the call: RpcRejectedError with it as cause",
    async () => {
      const boom = new Error("boom");
      const client = await env.connect({
        interceptors: rpcInterceptor("broken", () => () => {
          throw boom;
        }),
      });
      env.cluster.faults.resetCounters();
      const err = await client
        .raw()
        .get("ic-broken")
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcRejectedError);
      expect((err as Error).cause).toBe(boom);
      expect(env.cluster.faults.calls({ rpc: "RawGet" })).toBe(0);
    },
  );

  itFault("an interceptor observes a failed attempt and the retry that follows", async () => {
    const rec = recorder("obs");
    const client = await env.connect({ interceptors: rec.it });
    const raw = client.raw();
    const k = `${uniquePrefix("ic-retry")}k`;
    await raw.put(k, "v");
    rec.seen.length = 0;
    env.cluster.faults.failNext({ rpc: "RawGet", key: k, error: { grpcStatus: 14, message: "injected" } });
    expect(await raw.get(k)).toEqual(Buffer.from("v"));
    // the failed attempt, then the retries (another peer may answer NotLeader first)
    expect(rec.seen[0]).toMatchObject({ command: "RawGet", outcome: "error", attempt: 0 });
    expect((rec.seen[0]?.error as Error).message).toMatch(/injected/);
    const last = rec.seen.at(-1);
    expect(last).toMatchObject({ command: "RawGet", outcome: "ok" });
    expect(rec.seen.length).toBeGreaterThanOrEqual(2);
    expect((last?.resp as { regionError?: unknown }).regionError).toBeUndefined();
  });

  itFault("an interceptor sees a region error response, then the retried attempt", async () => {
    const rec = recorder("region");
    const client = await env.connect({ interceptors: rec.it });
    const raw = client.raw();
    const k = `${uniquePrefix("ic-region")}k`;
    await raw.put(k, "v");
    rec.seen.length = 0;
    env.cluster.faults.failNext({
      rpc: "RawGet",
      key: k,
      error: { regionError: { serverIsBusy: { reason: "x" } } },
    });
    expect(await raw.get(k)).toEqual(Buffer.from("v"));
    expect(rec.seen).toHaveLength(2);
    expect((rec.seen[0]?.resp as { regionError?: unknown }).regionError).toBeDefined();
    expect((rec.seen[1]?.resp as { regionError?: unknown }).regionError).toBeUndefined();
  });

  it("bad interceptor options get InvalidArgumentError", async () => {
    await expect(env.connect({ interceptors: {} as never })).rejects.toThrow(/argument interceptors/);
    await expect(env.connect({ interceptors: [rpcInterceptor("a", (n) => n), 3 as never] })).rejects.toThrow(
      /argument interceptors\[1\]/,
    );
  });
});

describe("RPC interceptors: transactions and snapshots", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  it("a transaction's interceptor sees its commit and its reads (TestInterceptor)", async () => {
    const client = await env.connect();
    const t = client.txn();
    const key = `${uniquePrefix("ic-txn")}KEY-1`;
    const rec1 = recorder("INTERCEPTOR-1");
    const txn = await t.begin({ interceptor: rec1.it });
    txn.set(key, "VALUE-1");
    await txn.commit();
    // prewrite + commit of the primary: 2 RPCs, as client-go's test counts
    expect(rec1.seen.map((s) => s.command)).toEqual(["Prewrite", "Commit"]);
    expect(rec1.seen.every((s) => s.outcome === "ok")).toBe(true);

    const rec2 = recorder("INTERCEPTOR-2");
    const txn2 = await t.begin({ interceptor: rec2.it });
    expect(await txn2.get(key)).toEqual(Buffer.from("VALUE-1"));
    await txn2.rollback();
    expect(rec2.seen.map((s) => s.command)).toEqual(["Get"]);
    // the first transaction's interceptor saw nothing of the second
    expect(rec1.seen).toHaveLength(2);
  });

  it("a pessimistic transaction's interceptor sees its lock RPCs too", async () => {
    const client = await env.connect();
    const rec = recorder("pess");
    const txn = await client.txn().begin({ pessimistic: true, interceptor: rec.it });
    const key = `${uniquePrefix("ic-pess")}k`;
    await txn.lockKeys([key]);
    txn.set(key, "v");
    await txn.commit();
    const cmds = rec.seen.map((s) => s.command);
    expect(cmds[0]).toBe("PessimisticLock");
    expect(cmds).toContain("Prewrite");
    expect(cmds).toContain("Commit");
  });

  it("a snapshot's interceptor sees only that snapshot's reads", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("ic-snap");
    const w = await t.begin();
    w.set(`${p}a`, "1");
    w.set(`${p}z`, "2");
    await w.commit();
    const rec = recorder("snap");
    const snap = await t.snapshot(undefined, { interceptor: rec.it });
    const other = await t.snapshot();
    expect(await snap.get(`${p}a`)).toEqual(Buffer.from("1"));
    await snap.batchGet([`${p}a`, `${p}z`]);
    await other.get(`${p}a`);
    expect(rec.seen.map((s) => s.command)).toEqual(["Get", "BatchGet"]);
  });

  it("client and transaction interceptors compose client → transaction, as an onion", async () => {
    const order: string[] = [];
    const outer = recorder("client", order);
    const inner = recorder("txn", order);
    const client = await env.connect({ interceptors: outer.it });
    const txn = await client.txn().begin({ interceptor: inner.it });
    await txn.get(`${uniquePrefix("ic-order")}k`);
    await txn.rollback();
    expect(order).toEqual(["client:before:Get", "txn:before:Get", "txn:after:Get", "client:after:Get"]);
  });

  itFault("a transaction's refusing interceptor fails its commit; nothing is written", async () => {
    const client = await env.connect();
    const t = client.txn();
    const key = `${uniquePrefix("ic-deny-txn")}k`;
    const txn = await t.begin({
      interceptor: rpcInterceptor("no-prewrite", (next) => (req) => {
        if (req.command === "Prewrite") return Promise.reject(new RpcRejectedError("read-only"));
        return next(req);
      }),
    });
    txn.set(key, "v");
    const err = await txn.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcRejectedError);
    const check = await t.begin();
    expect(await check.get(key)).toBeUndefined();
    await check.rollback();
  });

  itFault("a snapshot's interceptor sees the lock resolution its read needs", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("ic-lock");
    // a lock left by a transaction that is gone: TTL 0 is resolved at once
    const startTs = await t.currentTimestamp();
    engineOps(env).prewrite({
      startTs,
      primary: `${p}a`,
      writes: [
        [`${p}a`, "x"],
        [`${p}b`, "y"],
      ],
      ttlMs: 0n,
    });
    const rec = recorder("snap");
    const snap = await t.snapshot(undefined, { interceptor: rec.it });
    // the secondary: its primary is checked (and rolled back), then the secondary resolved
    expect(await snap.get(`${p}b`)).toBeUndefined();
    // (a reader leaves the cleanup to the background: wait for it)
    await t.whenIdle();
    const cmds = rec.seen.map((s) => s.command);
    expect(cmds.slice(0, 2)).toEqual(["Get", "CheckTxnStatus"]);
    expect(cmds.filter((c) => c === "Get")).toHaveLength(2);
    expect(cmds).toContain("ResolveLock");
  });

  it("a pipelined transaction's interceptor sees its flushes, commit and range resolve", async () => {
    const client = await env.connect();
    const t = client.txn();
    const p = uniquePrefix("ic-pipe");
    const rec = recorder("pipe");
    const txn = await t.begin({ pipelined: true, interceptor: rec.it });
    txn.set(`${p}a`, "1");
    txn.set(`${p}z`, "2");
    await txn.commit();
    await t.whenIdle();
    const cmds = new Set(rec.seen.map((s) => s.command));
    expect(cmds.has("Flush")).toBe(true);
    expect(cmds.has("Commit")).toBe(true);
    expect(cmds.has("ResolveLock")).toBe(true);
  });

  it("bad interceptor options get InvalidArgumentError", async () => {
    const t = (await env.connect()).txn();
    await expect(t.begin({ interceptor: "x" as never })).rejects.toThrow(InvalidArgumentError);
    await expect(t.snapshot(undefined, { interceptor: { name: "n" } as never })).rejects.toThrow(
      /argument interceptor/,
    );
  });
});
