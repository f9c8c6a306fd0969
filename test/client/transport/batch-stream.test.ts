import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { GetResponse } from "../../../src/proto/kvrpcpb.js";
import { GetRequest, RawBatchScanRequest, RawGetRequest } from "../../../src/proto/kvrpcpb.js";
import { TikvClient } from "../../../src/proto/tikvpb.js";
import { BatchCommandsStream } from "../../../src/rpc/batch-stream.js";
import { channelCredentials } from "../../../src/rpc/channel.js";
import {
  AbortedError,
  GrpcError,
  ShuttingDownError,
  TimeoutError,
  wasNotSent,
} from "../../../src/rpc/errors.js";
import { TikvConnection } from "../../../src/rpc/tikv-connection.js";
import { FakeTikv } from "./fake-tikv.js";

const get = (s: BatchCommandsStream, key: string, opts?: { timeoutMs?: number; signal?: AbortSignal }) =>
  new Promise<GetResponse>((resolve, reject) =>
    s.send("Get", GetRequest.fromPartial({ key: Buffer.from(key), version: 1n }), opts, (err, resp) =>
      err ? reject(err) : resolve(resp as GetResponse),
    ),
  );

describe("BatchCommandsStream", () => {
  let server: FakeTikv;
  let client: TikvClient;
  let stream: BatchCommandsStream;

  beforeEach(async () => {
    server = new FakeTikv({ slowScore: 7, storeId: 3 });
    await server.start();
    client = new TikvClient(server.address, channelCredentials());
    stream = new BatchCommandsStream(client, { address: server.address });
  });
  afterEach(() => {
    stream.close();
    client.close();
    server.stop();
  });

  it("sends all requests of one event-loop turn in one message and routes replies by id", async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const resps = await Promise.all(keys.map((k) => get(stream, k)));
    expect(resps.map((r) => r.value.toString())).toEqual(keys.map((k) => `v:${k}`));
    expect(server.batches).toEqual([50]);
    expect(stream.stats.writes).toBe(1);
  });

  it("splits a turn larger than MaxBatchSize (128) into several writes", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    const resps = await Promise.all(keys.map((k) => get(stream, k)));
    expect(resps[299]?.value.toString()).toBe("v:k299");
    expect(server.batches).toEqual([128, 128, 44]);
  });

  it("honours a custom maxBatchSize", async () => {
    const small = new BatchCommandsStream(client, { maxBatchSize: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => get(small, `x${i}`)));
    expect(server.batches).toEqual([4, 4, 2]);
    small.close();
  });

  it("flushes once per turn: requests from two turns are two writes", async () => {
    const a = get(stream, "a");
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    const b = get(stream, "b");
    await Promise.all([a, b]);
    expect(server.batches).toEqual([1, 1]);
  });

  it("surfaces health feedback from responses", async () => {
    const seen: Array<[bigint, number]> = [];
    stream.onHealthFeedback((fb) => seen.push([fb.storeId, fb.slowScore]));
    await get(stream, "a");
    expect(seen).toEqual([[3n, 7]]);
  });

  it("fails a request that gets no reply within its timeout, and ignores the late reply", async () => {
    server.hold = true;
    const p = get(stream, "slow", { timeoutMs: 30 });
    const timedOut = await p.catch((e) => e);
    expect(timedOut).toBeInstanceOf(TimeoutError);
    // it was written: the server may have executed it
    expect(wasNotSent(timedOut)).toBe(false);
    expect(stream.inFlight).toBe(0);
    server.releaseHeld();
    // a later request still works and the late reply is counted as outdated
    server.hold = false;
    await get(stream, "next");
    expect(stream.stats.outdated).toBe(1);
  });

  it("aborts through an AbortSignal (before and after the write)", async () => {
    const pre = new AbortController();
    const bye = new Error("bye");
    pre.abort(bye);
    const before = await get(stream, "a", { signal: pre.signal }).catch((e) => e);
    expect(before).toBeInstanceOf(AbortedError);
    expect(before.cause).toBe(bye);
    expect(wasNotSent(before)).toBe(true);
    server.hold = true;
    const ac = new AbortController();
    const p = get(stream, "b", { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(wasNotSent(err)).toBe(false);
    expect(stream.inFlight).toBe(0);
  });

  it("a request aborted before the flush is never written", async () => {
    const ac = new AbortController();
    const p = get(stream, "a", { signal: ac.signal });
    const q = get(stream, "b");
    ac.abort();
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(wasNotSent(err)).toBe(true);
    await q;
    expect(server.batches).toEqual([1]);
  });

  it("fails every in-flight request with a GrpcError when the stream is lost, then fails fast", async () => {
    server.hold = true;
    let lost: Error | undefined;
    stream.onClose((e) => {
      lost = e;
    });
    const ps = ["a", "b", "c"].map((k) => get(stream, k).catch((e) => e));
    for (let i = 0; i < 500 && server.held.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.held.length).toBe(3);
    server.breakStreams();
    const errs = await Promise.all(ps);
    for (const e of errs) {
      expect(e).toBeInstanceOf(GrpcError);
      expect((e as GrpcError).grpcCode).toBe(GrpcStatus.UNAVAILABLE);
      expect(wasNotSent(e)).toBe(false);
    }
    expect(lost).toBeInstanceOf(GrpcError);
    expect(stream.isClosed).toBe(true);
    // later requests are refused without being written, with an error of their own
    const after = await get(stream, "d").catch((e) => e);
    expect(after).toBeInstanceOf(GrpcError);
    expect((after as GrpcError).grpcCode).toBe(GrpcStatus.UNAVAILABLE);
    expect(wasNotSent(after)).toBe(true);
    expect(after.cause).toBe(lost);
  });

  it("a zero timeout fails with TimeoutError (TestCancelTimeoutRetErr)", async () => {
    server.hold = true;
    await expect(get(stream, "a", { timeoutMs: 0 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it("a response entry without a command is an error for that request only (TestBatchResponse)", async () => {
    server.emptyReplies = true;
    const err = await get(stream, "a").catch((e) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect((err as GrpcError).grpcCode).toBe(GrpcStatus.INTERNAL);
    server.emptyReplies = false;
    expect((await get(stream, "b")).value.toString()).toBe("v:b");
  });

  it("ignores responses for unknown request ids", async () => {
    await get(stream, "a");
    server.sendStray(999n);
    await get(stream, "b");
    expect(stream.stats.outdated).toBe(1);
    expect(stream.stats.responses).toBe(2);
  });

  it("close() fails waiting requests with ShuttingDownError", async () => {
    server.hold = true;
    const p = get(stream, "a");
    await new Promise((r) => setTimeout(r, 20));
    stream.close();
    await expect(p).rejects.toBeInstanceOf(ShuttingDownError);
    const later = await get(stream, "b").catch((e) => e);
    expect(later).toBeInstanceOf(ShuttingDownError);
    expect(wasNotSent(later)).toBe(true);
  });
});

describe("TikvSession routing", () => {
  it("sends batchable commands on the stream and the others unary, like client-go", async () => {
    const server = new FakeTikv();
    await server.start();
    const conn = new TikvConnection(server.address);
    await conn.waitForReady(2000);
    const session = conn.openSession();
    const call = <T>(cmd: "RawGet" | "RawBatchScan", req: unknown) =>
      new Promise<T>((res, rej) =>
        session.send(cmd, req as never, undefined, (e, r) => (e ? rej(e) : res(r as T))),
      );
    const got = await call<{ value: Buffer }>("RawGet", RawGetRequest.fromPartial({ key: Buffer.from("k") }));
    expect(got.value.toString()).toBe("v:k");
    await call("RawBatchScan", RawBatchScanRequest.fromPartial({}));
    expect(server.batches).toEqual([1]);
    expect(server.unaryCalls).toEqual(["RawBatchScan"]);
    session.close();
    conn.close();
    server.stop();
  });

  it("with batching off every command is unary", async () => {
    const server = new FakeTikv();
    await server.start();
    // maxBatchSize 0 turns batching off, as in client-go
    const conn = new TikvConnection(`http://${server.address}`, { maxBatchSize: 0 });
    const session = conn.openSession();
    const resp = await new Promise<{ value: Buffer }>((res, rej) =>
      session.send(
        "RawGet",
        RawGetRequest.fromPartial({ key: Buffer.from("z") }),
        { timeoutMs: 2000 },
        (e, r) => (e ? rej(e) : res(r as { value: Buffer })),
      ),
    );
    expect(resp.value.toString()).toBe("v:z");
    expect(server.batches).toEqual([]);
    expect(server.unaryCalls).toEqual(["RawGet:z"]);
    conn.close();
    server.stop();
  });
});
